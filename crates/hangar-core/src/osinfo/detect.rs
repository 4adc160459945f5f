//! Which operating system an installation image holds, from the labels of its Primary Volume
//! Descriptor matched against the `<media><iso>` rules of osinfo-db.
//!
//! A rule matches when every identifier it gives matches the image's (unanchored regular
//! expression, ASCII case-insensitive) and its `<volume-size>`, if any, is the image's size,
//! as libosinfo does. Hangar also wants a volume id in the rule, or an application id plus a
//! size (the oldest Fedora media), so that a lone `LINUX` system id identifies nothing.
//!
//! When several systems match, the best is chosen by: final release over catch-all entries
//! (`fedora-unknown`, prereleases), x86_64 media over i686 over other architectures, more
//! identifiers matched, the longer (more specific) volume-id rule, then the newest release.
//! Systems that tie with the winner on everything but the date are reported as alternatives:
//! Windows 10 and 11 images carry the same labels, and the newer system's needs cover both.

use std::path::Path;

use super::db::OsDb;
use super::entry::{is_x86_arch, Media, OsEntry};
use super::iso::{read_iso_info, IsoError, IsoInfo};

/// How sure the match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// Matched a catch-all or prerelease entry, or only media for another architecture.
    Low,
    /// Other systems match as well (see [`OsMatch::alternatives`]).
    Medium,
    /// One final release matched x86 media.
    High,
}

/// The system an image holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsMatch {
    pub os: OsEntry,
    /// Architecture of the matched media (`x86_64`, `i686`, … or `all`).
    pub media_arch: String,
    pub confidence: Confidence,
    /// Short ids (or names) of other systems the image matches just as well, newest first.
    pub alternatives: Vec<String>,
    /// What the image says about itself.
    pub iso: IsoInfo,
}

impl OsMatch {
    /// The image is for an architecture Hangar's `qemu-system-x86_64` cannot run natively.
    pub fn foreign_arch(&self) -> bool {
        !is_x86_arch(&self.media_arch)
    }
}

/// Read the image at `path` and identify it. `Ok(None)`: a readable ISO the database does not
/// know (such as a custom or too recent image); the wizard then offers the system list.
pub fn detect_iso(db: &OsDb, path: &Path) -> Result<Option<OsMatch>, IsoError> {
    let iso = read_iso_info(path)?;
    let found = detect_info(db, &iso);
    tracing::debug!(
        path = %path.display(),
        volume_id = %iso.volume_id,
        os = found.as_ref().and_then(|m| m.os.short_id()).unwrap_or("-"),
        "image identified"
    );
    Ok(found)
}

/// Ranking key of a match; larger is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    final_release: bool,
    arch: u8,
    fields: u8,
    specificity: usize,
}

/// Identify already read labels.
pub fn detect_info(db: &OsDb, iso: &IsoInfo) -> Option<OsMatch> {
    if iso.volume_id.is_empty() && iso.application_id.is_empty() {
        return None;
    }
    let mut found: Vec<(Rank, &OsEntry, &Media)> = db
        .entries()
        .iter()
        .filter_map(|os| {
            os.media
                .iter()
                .filter_map(|m| media_rank(os, m, iso).map(|r| (r, m)))
                .max_by_key(|(r, _)| *r)
                .map(|(r, m)| (r, os, m))
        })
        .collect();
    // Best rank first; among equals, the newest release (undated last), then by id.
    found.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1.release_date.cmp(&a.1.release_date))
            .then_with(|| a.1.id.cmp(&b.1.id))
    });
    let (best, os, media) = *found.first()?;
    let alternatives: Vec<String> = found[1..]
        .iter()
        .filter(|(r, _, _)| *r == best)
        .map(|(_, o, _)| o.short_id().unwrap_or(&o.name).to_string())
        .collect();
    let confidence = if !best.final_release || best.arch == 0 {
        Confidence::Low
    } else if !alternatives.is_empty() {
        Confidence::Medium
    } else {
        Confidence::High
    };
    Some(OsMatch {
        os: os.clone(),
        media_arch: media.arch.clone(),
        confidence,
        alternatives,
        iso: iso.clone(),
    })
}

/// The rank of `media` for `iso`, or `None` when it does not match.
fn media_rank(os: &OsEntry, media: &Media, iso: &IsoInfo) -> Option<Rank> {
    let usable = media.volume_id.is_some() || (media.application_id.is_some() && media.volume_size.is_some());
    if !usable {
        return None;
    }
    let mut fields = 0u8;
    // Volume id first: it rules out nearly everything, so the other patterns are rarely compiled.
    for (pattern, value) in [
        (&media.volume_id, &iso.volume_id),
        (&media.application_id, &iso.application_id),
        (&media.system_id, &iso.system_id),
        (&media.publisher_id, &iso.publisher_id),
    ] {
        if let Some(p) = pattern {
            if value.is_empty() || !p.is_match(value) {
                return None;
            }
            fields += 1;
        }
    }
    if let Some(size) = media.volume_size {
        if size != iso.volume_size {
            return None;
        }
        fields += 1;
    }
    let arch = match media.arch.as_str() {
        "x86_64" => 2,
        a if is_x86_arch(a) => 1,
        _ => 0,
    };
    Some(Rank {
        final_release: !os.is_prerelease(),
        arch,
        fields,
        specificity: media.volume_id.as_ref().map_or(0, |p| p.source().len()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::db::fixture;
    use super::super::iso::testing::{write_iso, Pvd};
    use super::*;

    fn db() -> OsDb {
        OsDb::load(&[fixture("system")]).unwrap()
    }

    fn info(volume: &str) -> IsoInfo {
        IsoInfo {
            volume_id: volume.into(),
            ..IsoInfo::default()
        }
    }

    fn short(m: &Option<OsMatch>) -> Option<&str> {
        m.as_ref().and_then(|m| m.os.short_id())
    }

    #[test]
    fn volume_id_identifies_a_release() {
        let db = db();
        let m = detect_info(&db, &info("Demo Debian 12.5.0 amd64 n")).unwrap();
        assert_eq!(m.os.short_id(), Some("demodeb12"));
        assert_eq!(
            (m.media_arch.as_str(), m.confidence),
            ("x86_64", Confidence::High)
        );
        assert!(m.alternatives.is_empty());
        let m = detect_info(&db, &info("Demo Debian 12.5.0 i386 n")).unwrap();
        assert_eq!((m.media_arch.as_str(), m.confidence), ("i686", Confidence::High));
        let m = detect_info(&db, &info("Demo Debian 12.5.0 arm64 n")).unwrap();
        assert!(m.foreign_arch());
        assert_eq!(m.confidence, Confidence::Low);
        assert_eq!(short(&detect_info(&db, &info("Demo Debian 12 amd64 n"))), None);
    }

    #[test]
    fn every_given_identifier_must_match() {
        let db = db();
        // The DVD rule also wants system and publisher ids.
        assert_eq!(
            short(&detect_info(&db, &info("Demo Debian 12.1.0 amd64 DVD"))),
            None
        );
        let dvd = IsoInfo {
            system_id: "LINUX".into(),
            publisher_id: "demo debian".into(),
            ..info("Demo Debian 12.1.0 amd64 DVD")
        };
        assert_eq!(short(&detect_info(&db, &dvd)), Some("demodeb12"));
    }

    #[test]
    fn final_releases_beat_catch_all_entries() {
        let db = db();
        let m = detect_info(&db, &info("Demo Debian 13.1.0 amd64 n")).unwrap();
        assert_eq!(m.os.short_id(), Some("demodeb13"));
        assert_eq!(m.confidence, Confidence::High);
        // Only the catch-all knows release 14.
        let m = detect_info(&db, &info("Demo Debian 14.0.0 amd64 n")).unwrap();
        assert_eq!(m.os.short_id(), Some("demodeb-unknown"));
        assert_eq!(m.confidence, Confidence::Low);
    }

    #[test]
    fn shared_labels_pick_the_newest_and_list_the_others() {
        let db = db();
        let win = IsoInfo {
            publisher_id: "MICROSOFT CORPORATION".into(),
            application_id: "CDIMAGE 2.56 (01/01/2005 TM)".into(),
            ..info("CCCOMA_X64FRE_EN-US_DV9")
        };
        let m = detect_info(&db, &win).unwrap();
        assert_eq!(m.os.short_id(), Some("win11"));
        assert_eq!(m.alternatives, ["demowin10"]);
        assert_eq!(m.confidence, Confidence::Medium);
        // Without the publisher the Windows rules do not match.
        assert_eq!(short(&detect_info(&db, &info("CCCOMA_X64FRE_EN-US_DV9"))), None);
    }

    #[test]
    fn unknown_and_empty_labels_match_nothing() {
        let db = db();
        assert_eq!(short(&detect_info(&db, &info("HANGAR_GUEST"))), None);
        assert_eq!(short(&detect_info(&db, &IsoInfo::default())), None);
    }

    #[test]
    fn detect_reads_the_image() {
        let db = db();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xp.iso");
        write_iso(
            &path,
            &Pvd {
                volume: "WXPFPP_EN",
                publisher: "MICROSOFT CORPORATION",
                ..Default::default()
            },
        );
        let m = detect_iso(&db, &path).unwrap().unwrap();
        assert_eq!(m.os.short_id(), Some("demowinxp"));
        assert_eq!(m.iso.volume_id, "WXPFPP_EN");
        let bad = dir.path().join("bad.iso");
        std::fs::write(&bad, b"nope").unwrap();
        assert!(matches!(detect_iso(&db, &bad), Err(IsoError::TooSmall { .. })));
    }
}
