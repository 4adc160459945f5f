//! Typed views of `qemu-img info --output=json` and `qemu-img check --output=json`.

use std::time::Duration;

use serde::Deserialize;

/// What `qemu-img info` says about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The file name as qemu-img printed it.
    pub filename: String,
    /// Format driver, e.g. `qcow2` or `raw`.
    pub format: String,
    /// Size the guest sees, in bytes.
    pub virtual_size: u64,
    /// Bytes allocated on the host, when known.
    pub actual_size: Option<u64>,
    /// Backing file name exactly as stored in the image.
    pub backing_filename: Option<String>,
    /// Backing file resolved by qemu-img (relative names made absolute).
    pub full_backing_filename: Option<String>,
    /// Format recorded for the backing file.
    pub backing_format: Option<String>,
    /// Internal snapshots (qcow2 only); empty when there are none.
    pub snapshots: Vec<SnapshotInfo>,
    /// The image is encrypted.
    pub encrypted: bool,
    /// The image was not closed cleanly (qcow2 lazy refcounts).
    pub dirty: bool,
    /// qcow2 marked itself corrupt.
    pub corrupt: bool,
    /// Cluster size, for formats that have one.
    pub cluster_size: Option<u64>,
}

/// One internal snapshot of a qcow2 image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Numeric id qemu assigned, as a string ("1", "2", …).
    pub id: String,
    /// The user's name for it (the tag).
    pub name: String,
    /// Bytes of saved VM state (RAM and devices); 0 for a disk-only snapshot.
    pub vm_state_size: u64,
    /// Creation time, seconds since the Unix epoch.
    pub date_sec: i64,
    /// Nanoseconds part of the creation time.
    pub date_nsec: u32,
    /// Guest clock at the time of the snapshot.
    pub vm_clock: Duration,
    /// The snapshot includes VM state and can be resumed live (`vm_state_size > 0`).
    pub has_ram: bool,
}

/// Result of `qemu-img check`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckReport {
    /// `false` when the format has no consistency checks (raw); all counters are then 0.
    pub supported: bool,
    /// Format that was checked.
    pub format: String,
    /// Corruptions found (data at risk).
    pub corruptions: u64,
    /// Leaked clusters (wasted space, harmless; `qemu-img check -r leaks` reclaims them).
    pub leaks: u64,
    /// Errors that prevented a complete check.
    pub check_errors: u64,
    /// Where the image data ends, when reported.
    pub image_end_offset: Option<u64>,
}

impl CheckReport {
    /// Nothing wrong was found (or the format cannot be checked).
    pub fn is_clean(&self) -> bool {
        self.corruptions == 0 && self.leaks == 0 && self.check_errors == 0
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawInfo {
    filename: String,
    format: String,
    virtual_size: u64,
    actual_size: Option<u64>,
    backing_filename: Option<String>,
    full_backing_filename: Option<String>,
    backing_filename_format: Option<String>,
    #[serde(default)]
    snapshots: Vec<RawSnapshot>,
    #[serde(default)]
    encrypted: bool,
    #[serde(default)]
    dirty_flag: bool,
    cluster_size: Option<u64>,
    format_specific: Option<RawFormatSpecific>,
}

#[derive(Deserialize)]
struct RawFormatSpecific {
    data: Option<RawFormatData>,
}

#[derive(Deserialize)]
struct RawFormatData {
    #[serde(default)]
    corrupt: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawSnapshot {
    id: String,
    name: String,
    vm_state_size: u64,
    date_sec: i64,
    date_nsec: u32,
    #[serde(default)]
    vm_clock_sec: u64,
    #[serde(default)]
    vm_clock_nsec: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCheck {
    format: String,
    #[serde(default)]
    corruptions: u64,
    #[serde(default)]
    leaks: u64,
    #[serde(default)]
    check_errors: u64,
    image_end_offset: Option<u64>,
}

/// Parse the JSON of `qemu-img info --output=json`.
pub(crate) fn parse_info(json: &str) -> Result<ImageInfo, serde_json::Error> {
    let raw: RawInfo = serde_json::from_str(json)?;
    Ok(ImageInfo {
        filename: raw.filename,
        format: raw.format,
        virtual_size: raw.virtual_size,
        actual_size: raw.actual_size,
        backing_filename: raw.backing_filename,
        full_backing_filename: raw.full_backing_filename,
        backing_format: raw.backing_filename_format,
        snapshots: raw
            .snapshots
            .into_iter()
            .map(|s| SnapshotInfo {
                has_ram: s.vm_state_size > 0,
                id: s.id,
                name: s.name,
                vm_state_size: s.vm_state_size,
                date_sec: s.date_sec,
                date_nsec: s.date_nsec,
                vm_clock: Duration::new(s.vm_clock_sec, s.vm_clock_nsec),
            })
            .collect(),
        encrypted: raw.encrypted,
        dirty: raw.dirty_flag,
        corrupt: raw
            .format_specific
            .and_then(|f| f.data)
            .is_some_and(|d| d.corrupt),
        cluster_size: raw.cluster_size,
    })
}

/// Parse the JSON of `qemu-img check --output=json`.
pub(crate) fn parse_check(json: &str) -> Result<CheckReport, serde_json::Error> {
    let raw: RawCheck = serde_json::from_str(json)?;
    Ok(CheckReport {
        supported: true,
        format: raw.format,
        corruptions: raw.corruptions,
        leaks: raw.leaks,
        check_errors: raw.check_errors,
        image_end_offset: raw.image_end_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from qemu-img 7.2 (an overlay, and a base with one internal snapshot).
    const OVERLAY: &str = r#"{
        "backing-filename-format": "qcow2", "virtual-size": 1073741824, "filename": "b.qcow2",
        "cluster-size": 65536, "format": "qcow2", "actual-size": 200704,
        "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "compression-type": "zlib",
            "lazy-refcounts": false, "refcount-bits": 16, "corrupt": false, "extended-l2": false}},
        "full-backing-filename": "/tmp/qi/a.qcow2", "backing-filename": "/tmp/qi/a.qcow2",
        "dirty-flag": false}"#;
    const WITH_SNAPSHOTS: &str = r#"{
        "snapshots": [
            {"icount": 0, "vm-clock-nsec": 0, "name": "snap1", "date-sec": 1795297180,
             "date-nsec": 244556000, "vm-clock-sec": 0, "id": "1", "vm-state-size": 0},
            {"vm-clock-nsec": 500, "name": "live", "date-sec": 1795297190,
             "date-nsec": 1, "vm-clock-sec": 12, "id": "2", "vm-state-size": 123456}],
        "virtual-size": 1073741824, "filename": "a.qcow2", "cluster-size": 65536, "format": "qcow2",
        "actual-size": 208896, "dirty-flag": true, "encrypted": true,
        "format-specific": {"type": "qcow2", "data": {"corrupt": true}}}"#;

    #[test]
    fn parses_overlay_info() {
        let info = parse_info(OVERLAY).unwrap();
        assert_eq!(info.format, "qcow2");
        assert_eq!(info.virtual_size, 1 << 30);
        assert_eq!(info.actual_size, Some(200704));
        assert_eq!(info.backing_filename.as_deref(), Some("/tmp/qi/a.qcow2"));
        assert_eq!(info.backing_format.as_deref(), Some("qcow2"));
        assert!(info.snapshots.is_empty());
        assert!(!info.dirty && !info.encrypted && !info.corrupt);
    }

    #[test]
    fn parses_snapshots_and_flags() {
        let info = parse_info(WITH_SNAPSHOTS).unwrap();
        assert!(info.dirty && info.encrypted && info.corrupt);
        assert_eq!(info.backing_filename, None);
        assert_eq!(info.snapshots.len(), 2);
        let (disk_only, live) = (&info.snapshots[0], &info.snapshots[1]);
        assert_eq!((disk_only.id.as_str(), disk_only.name.as_str()), ("1", "snap1"));
        assert!(!disk_only.has_ram);
        assert_eq!(disk_only.date_sec, 1795297180);
        assert!(live.has_ram);
        assert_eq!(live.vm_state_size, 123456);
        assert_eq!(live.vm_clock, Duration::new(12, 500));
    }

    #[test]
    fn raw_image_minimal_fields() {
        let info =
            parse_info(r#"{"virtual-size": 512, "filename": "r", "format": "raw", "dirty-flag": false}"#)
                .unwrap();
        assert_eq!(
            (info.format.as_str(), info.virtual_size, info.actual_size),
            ("raw", 512, None)
        );
        assert!(parse_info(r#"{"filename": "r"}"#).is_err());
        assert!(parse_info("not json").is_err());
    }

    #[test]
    fn parses_check() {
        let clean = parse_check(
            r#"{"image-end-offset": 393216, "total-clusters": 16384, "check-errors": 0,
                "filename": "a.qcow2", "format": "qcow2"}"#,
        )
        .unwrap();
        assert!(clean.supported && clean.is_clean());
        assert_eq!(clean.image_end_offset, Some(393216));
        let leaky =
            parse_check(r#"{"leaks": 3, "check-errors": 0, "filename": "a", "format": "qcow2"}"#).unwrap();
        assert!(!leaky.is_clean());
        assert_eq!(leaky.leaks, 3);
    }
}
