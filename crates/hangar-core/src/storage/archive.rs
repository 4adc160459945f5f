//! Archiving a VM's disks: each disk becomes a standalone, compressed qcow2
//! (`qemu-img convert -c -O qcow2`, which reads through and so flattens any backing chain) in a
//! new folder `<dest_root>/<YYYYMMDD-HHMMSS>/` (local time), next to copies of small files such
//! as vm.toml. The folder is built as `<stamp>.partial` and renamed when complete, so a folder
//! without that suffix is always a finished archive.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::error::{Result, StorageError};
use super::fsutil::{absolute, check_format, discard, rename_no_clobber, sync_path};
use super::qemu_img::QemuImg;
use super::timestamp::local_stamp;

/// Share of the progress bar used by the disks; the rest is copying files and finishing.
const DISKS_SHARE: f64 = 99.0;

/// One archived disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedDisk {
    /// The disk that was archived.
    pub source: PathBuf,
    /// Its format.
    pub source_format: String,
    /// The compressed qcow2 in the archive folder (named `<source stem>.qcow2`).
    pub archived: PathBuf,
    /// Virtual size in bytes.
    pub virtual_size: u64,
}

/// A finished archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveReport {
    /// The archive folder.
    pub dir: PathBuf,
    /// The disks, in the order given.
    pub disks: Vec<ArchivedDisk>,
    /// Copies of the extra files, in the order given.
    pub files: Vec<PathBuf>,
}

/// Archive `disks` (path, format) and copies of `files` into a new timestamped folder under
/// `dest_root` (created if needed). The disks must not be in use by a running VM. `progress`
/// gets increasing percentages over the whole job, weighted by disk size, ending with 100.
/// On failure nothing is left in `dest_root` but the folders that were already there.
pub async fn archive_disks(
    qemu: &QemuImg,
    disks: &[(PathBuf, String)],
    files: &[PathBuf],
    dest_root: &Path,
    mut progress: impl FnMut(f64),
) -> Result<ArchiveReport> {
    // Validate everything before creating anything.
    let mut used = HashSet::new();
    let mut plan = Vec::with_capacity(disks.len());
    for (path, format) in disks {
        check_format(format)?;
        let source = absolute(path)?;
        let info = qemu.ensure_not_in_use(&source, format).await?;
        let mut name = source
            .file_stem()
            .ok_or_else(|| StorageError::InvalidPath { path: source.clone() })?
            .to_os_string();
        name.push(".qcow2");
        let name = unique_name(&mut used, &name);
        plan.push((source, format.clone(), name, info.virtual_size));
    }
    let mut extra = Vec::with_capacity(files.len());
    for file in files {
        let source = absolute(file)?;
        let meta = std::fs::metadata(&source).map_err(|e| StorageError::io("read", &source, e))?;
        if !meta.is_file() {
            return Err(StorageError::InvalidPath { path: source });
        }
        let name = source
            .file_name()
            .ok_or_else(|| StorageError::InvalidPath { path: source.clone() })?;
        let name = unique_name(&mut used, name);
        extra.push((source, name));
    }

    let root = absolute(dest_root)?;
    std::fs::create_dir_all(&root).map_err(|e| StorageError::io("create folder", &root, e))?;
    let (partial, final_dir) = reserve_dir(&root, &local_stamp(SystemTime::now()))?;
    let result = fill(qemu, &plan, &extra, &partial, &final_dir, &mut progress).await;
    match result {
        Ok((disks, files)) => {
            progress(100.0);
            tracing::info!(dir = %final_dir.display(), disks = disks.len(), "archive complete");
            Ok(ArchiveReport {
                dir: final_dir,
                disks,
                files,
            })
        }
        Err(e) => {
            discard(&partial);
            Err(e)
        }
    }
}

type Plan = (PathBuf, String, OsString, u64);

/// Convert and copy everything into `partial`, then rename it to `final_dir`.
async fn fill(
    qemu: &QemuImg,
    plan: &[Plan],
    extra: &[(PathBuf, OsString)],
    partial: &Path,
    final_dir: &Path,
    progress: &mut impl FnMut(f64),
) -> Result<(Vec<ArchivedDisk>, Vec<PathBuf>)> {
    let total: u128 = plan.iter().map(|p| u128::from(p.3)).sum::<u128>().max(1);
    let mut done: u128 = 0;
    let mut last = -1.0f64;
    let mut report = |value: f64| {
        if value > last {
            last = value;
            progress(value);
        }
    };
    let mut disks = Vec::with_capacity(plan.len());
    for (source, format, name, size) in plan {
        let target = partial.join(name);
        let (before, weight) = (done as f64, *size as f64);
        qemu.convert(source, Some(format), &target, "qcow2", true, |p| {
            report((before + weight * p / 100.0) / total as f64 * DISKS_SHARE)
        })
        .await?;
        sync_path(&target)?;
        done += u128::from(*size);
        disks.push(ArchivedDisk {
            source: source.clone(),
            source_format: format.clone(),
            archived: final_dir.join(name),
            virtual_size: *size,
        });
    }
    let mut files = Vec::with_capacity(extra.len());
    for (source, name) in extra {
        let target = partial.join(name);
        tokio::fs::copy(source, &target)
            .await
            .map_err(|e| StorageError::io("copy", source, e))?;
        sync_path(&target)?;
        files.push(final_dir.join(name));
    }
    sync_path(partial)?;
    rename_no_clobber(partial, final_dir)?;
    if let Some(root) = final_dir.parent() {
        sync_path(root)?;
    }
    Ok((disks, files))
}

/// Create `<root>/<stamp>.partial` for an archive to be named `<stamp>` (or `<stamp>-N` when an
/// archive of that second exists already). Returns (partial folder, final folder).
fn reserve_dir(root: &Path, stamp: &str) -> Result<(PathBuf, PathBuf)> {
    for n in 0..1000u32 {
        let name = if n == 0 {
            stamp.to_string()
        } else {
            format!("{stamp}-{n}")
        };
        let final_dir = root.join(&name);
        if final_dir.exists() {
            continue;
        }
        let partial = root.join(format!("{name}.partial"));
        match std::fs::create_dir(&partial) {
            Ok(()) => return Ok((partial, final_dir)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StorageError::io("create folder", &partial, e)),
        }
    }
    Err(StorageError::DestinationExists {
        path: root.join(stamp),
    })
}

/// `name`, or `stem-2.ext`, `stem-3.ext`, … whichever is not yet in `used`.
fn unique_name(used: &mut HashSet<OsString>, name: &OsStr) -> OsString {
    let path = Path::new(name);
    let (stem, ext) = match (path.file_stem(), path.extension()) {
        (Some(stem), ext) => (stem, ext),
        (None, _) => (name, None),
    };
    let mut candidate = name.to_os_string();
    let mut n = 2u32;
    while used.contains(&candidate) {
        candidate = stem.to_os_string();
        candidate.push(format!("-{n}"));
        if let Some(ext) = ext {
            candidate.push(".");
            candidate.push(ext);
        }
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::clone::linked_clone;
    use crate::storage::testutil::{raw_qemu_img, write_at, RunningVm};
    use crate::storage::FailureKind;

    const MIB: u64 = 1 << 20;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn compressed_clusters(image: &Path) -> u64 {
        let out = std::process::Command::new("qemu-img")
            .args(["check", "--output=json", "-f", "qcow2"])
            .arg(image)
            .output()
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        value["compressed-clusters"].as_u64().unwrap_or(0)
    }

    #[tokio::test]
    async fn archive_flattens_and_compresses_a_linked_clone() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let base = dir.path().join("base.raw");
        qemu.create(&base, "raw", 8 * MIB).await.unwrap();
        write_at(&base, MIB, &vec![b'h'; 2 * MIB as usize]);
        let vm_dir = dir.path().join("vm");
        std::fs::create_dir(&vm_dir).unwrap();
        let disk = vm_dir.join("disk.qcow2");
        linked_clone(&qemu, &base, "raw", &disk).await.unwrap();
        let data = vm_dir.join("data.raw");
        qemu.create(&data, "raw", 4 * MIB).await.unwrap();
        write_at(&data, 0, b"second disk");
        let toml = vm_dir.join("vm.toml");
        std::fs::write(&toml, "name = \"demo\"\n").unwrap();

        let root = dir.path().join("archives");
        let mut seen = Vec::new();
        let disks = [
            (disk.clone(), "qcow2".to_string()),
            (data.clone(), "raw".to_string()),
        ];
        let report = archive_disks(&qemu, &disks, std::slice::from_ref(&toml), &root, |p| {
            seen.push(p)
        })
        .await
        .unwrap();

        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(seen.last(), Some(&100.0));
        assert!(seen.len() >= 2);
        // One finished folder, named by the timestamp, nothing partial.
        let names = entries(&root);
        assert_eq!(names.len(), 1, "{names:?}");
        let stamp = &names[0];
        assert!(stamp.len() == 15 && stamp.as_bytes()[8] == b'-', "{stamp}");
        assert_eq!(report.dir, root.join(stamp));
        assert_eq!(entries(&report.dir), vec!["data.qcow2", "disk.qcow2", "vm.toml"]);
        assert_eq!(
            std::fs::read_to_string(report.dir.join("vm.toml")).unwrap(),
            "name = \"demo\"\n"
        );

        let archived = &report.disks[0].archived;
        assert_eq!(archived, &report.dir.join("disk.qcow2"));
        let info = qemu.info_as(archived, "qcow2").await.unwrap();
        assert_eq!(info.backing_filename, None, "archive must be standalone");
        assert_eq!(info.virtual_size, 8 * MIB);
        assert!(compressed_clusters(archived) > 0, "archive must be compressed");
        assert!(info.actual_size.unwrap() < MIB, "{info:?}");
        // Same content as base + overlay, even once the base is gone.
        raw_qemu_img(&[
            "compare".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-F".as_ref(),
            "raw".as_ref(),
            archived.as_os_str(),
            base.as_os_str(),
        ]);
        std::fs::remove_file(&base).unwrap();
        assert!(qemu.check(archived, Some("qcow2")).await.unwrap().is_clean());
        raw_qemu_img(&[
            "compare".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-F".as_ref(),
            "raw".as_ref(),
            report.disks[1].archived.as_os_str(),
            data.as_os_str(),
        ]);
    }

    #[tokio::test]
    async fn failures_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let disk = dir.path().join("disk.qcow2");
        qemu.create(&disk, "qcow2", 4 * MIB).await.unwrap();
        let root = dir.path().join("archives");
        let disks = [(disk.clone(), "qcow2".to_string())];

        let missing = dir.path().join("missing.toml");
        let err = archive_disks(&qemu, &disks, &[missing], &root, |_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Io { .. }), "{err:?}");

        let err = archive_disks(&qemu, &[(disk.clone(), "raw,x".to_string())], &[], &root, |_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::InvalidFormat { .. }));

        {
            let _vm = RunningVm::start(&disk, "qcow2");
            let err = archive_disks(&qemu, &disks, &[], &root, |_| {})
                .await
                .unwrap_err();
            assert_eq!(err.failure_kind(), Some(FailureKind::Locked));
        }
        assert!(
            !root.exists() || entries(&root).is_empty(),
            "{:?}",
            entries(&root)
        );

        // A failure half-way (the second disk's backing file is gone, which only the copy
        // notices) removes the partial folder with the first disk already in it.
        let base = dir.path().join("base.qcow2");
        qemu.create(&base, "qcow2", 4 * MIB).await.unwrap();
        let orphan = dir.path().join("orphan.qcow2");
        linked_clone(&qemu, &base, "qcow2", &orphan).await.unwrap();
        std::fs::remove_file(&base).unwrap();
        let mut seen = Vec::new();
        let both = [disks[0].clone(), (orphan, "qcow2".to_string())];
        let err = archive_disks(&qemu, &both, &[], &root, |p| seen.push(p))
            .await
            .unwrap_err();
        assert_eq!(err.failure_kind(), Some(FailureKind::NotFound), "{err:?}");
        assert!(
            seen.iter().any(|&p| p > 0.0),
            "the first disk should have been converted: {seen:?}"
        );
        assert!(
            !root.exists() || entries(&root).is_empty(),
            "{:?}",
            entries(&root)
        );
    }

    #[test]
    fn reserve_dir_never_reuses_a_name() {
        let root = tempfile::tempdir().unwrap();
        let stamp = "20260101-000000";
        std::fs::create_dir(root.path().join(stamp)).unwrap();
        std::fs::create_dir(root.path().join("20260101-000000-1.partial")).unwrap();
        let (partial, final_dir) = reserve_dir(root.path(), stamp).unwrap();
        assert_eq!(final_dir, root.path().join("20260101-000000-2"));
        assert_eq!(partial, root.path().join("20260101-000000-2.partial"));
        assert!(partial.is_dir() && !final_dir.exists());
    }

    #[test]
    fn names_are_unique() {
        let mut used = HashSet::new();
        let names: Vec<_> = [
            "disk.qcow2",
            "disk.qcow2",
            "disk-2.qcow2",
            "vm.toml",
            "vm.toml",
            "README",
        ]
        .into_iter()
        .map(|n| unique_name(&mut used, n.as_ref()).into_string().unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "disk.qcow2",
                "disk-2.qcow2",
                "disk-2-2.qcow2",
                "vm.toml",
                "vm-2.toml",
                "README"
            ]
        );
        assert_eq!(unique_name(&mut used, "README".as_ref()), "README-2");
    }
}
