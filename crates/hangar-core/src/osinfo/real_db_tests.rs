//! Tests against the installed osinfo-db (`/usr/share/osinfo`, or `$OSINFO_SYSTEM_DIR`). CI
//! installs it (build-aux/dev.sh deps). Labels are those of real images; the expectations hold
//! for Debian 12's osinfo-db 20221130 and for newer databases that know newer releases.

use std::path::Path;
use std::time::Instant;

use super::iso::testing::{write_iso, Pvd};
use super::*;
use crate::config::{DiskBus, FirmwareKind, NicModel, VideoModel};

fn real_db() -> OsDb {
    let root = OsDb::default_roots().swap_remove(0);
    assert!(
        root.join("os").is_dir(),
        "{} has no osinfo database: install osinfo-db (`sudo apt install osinfo-db`, or \
         `bash build-aux/dev.sh deps`)",
        root.display()
    );
    OsDb::load(&[root]).unwrap()
}

fn label(db: &OsDb, volume: &str) -> Option<OsMatch> {
    detect_info(
        db,
        &IsoInfo {
            volume_id: volume.into(),
            ..IsoInfo::default()
        },
    )
}

fn short(m: &Option<OsMatch>) -> Option<String> {
    m.as_ref().and_then(|m| m.os.short_id()).map(str::to_string)
}

/// Expect `newer` when the database knows it, else `fallback`.
fn expect_if_known(db: &OsDb, newer: &str, fallback: Option<&str>) -> Option<String> {
    Some(newer)
        .filter(|s| db.by_short_id(s).is_some())
        .or(fallback)
        .map(str::to_string)
}

const BIG_HOST: HostLimits = HostLimits {
    cpus: 8,
    memory_mib: 32 * 1024,
    free_disk_bytes: Some(1 << 40),
    uefi: true,
    secure_boot: true,
    tpm: true,
};

#[test]
fn loads_the_whole_database_quickly() {
    let start = Instant::now();
    let db = real_db();
    let load = start.elapsed();
    assert!(db.len() > 500, "only {} systems", db.len());
    assert!(db.skipped().is_empty(), "{:?}", db.skipped());
    // The first detection compiles the volume-id rules it needs; later ones reuse them.
    let start = Instant::now();
    assert!(label(&db, "Debian 11.7.0 amd64 n").is_some());
    let cold = start.elapsed();
    let start = Instant::now();
    assert!(label(&db, "Fedora-WS-Live-37-1-7").is_some());
    let warm = start.elapsed();
    eprintln!(
        "osinfo-db {} from {}: {} systems loaded in {load:?}; first detection {cold:?}, next {warm:?}",
        db.version().unwrap_or("?"),
        db.roots()[0].display(),
        db.len(),
    );
    assert!(load.as_secs() < 10, "loading took {load:?}");
    // Every image rule must be usable.
    let broken: Vec<String> = db
        .entries()
        .iter()
        .flat_map(|e| &e.media)
        .flat_map(|m| [&m.volume_id, &m.system_id, &m.publisher_id, &m.application_id])
        .flatten()
        .filter(|p| !p.compiles())
        .map(|p| p.source().to_string())
        .collect();
    assert!(broken.is_empty(), "patterns regex-lite rejects: {broken:?}");
}

#[test]
fn debian_images() {
    let db = real_db();
    let m = label(&db, "Debian 11.7.0 amd64 n").unwrap();
    assert_eq!(m.os.short_id(), Some("debian11"));
    assert_eq!(
        (m.media_arch.as_str(), m.confidence),
        ("x86_64", Confidence::High)
    );
    assert_eq!(
        short(&label(&db, "Debian 11.7.0 amd64 1")).as_deref(),
        Some("debian11")
    );
    // osinfo-db 20221130 predates Debian 12: then nothing may match (rather than a wrong guess).
    assert_eq!(
        short(&label(&db, "Debian 12.5.0 amd64 n")),
        expect_if_known(&db, "debian12", None)
    );
}

#[test]
fn fedora_images() {
    let db = real_db();
    assert_eq!(
        short(&label(&db, "Fedora-WS-Live-37-1-7")).as_deref(),
        Some("fedora37")
    );
    let m = label(&db, "Fedora-WS-Live-39-1-5").unwrap();
    if db.by_short_id("fedora39").is_some() {
        assert_eq!(m.os.short_id(), Some("fedora39"));
    } else {
        // The catch-all entry for releases newer than the database.
        assert_eq!(m.os.distro, "fedora");
        assert!(m.os.is_prerelease(), "{:?}", m.os.short_ids);
        assert_eq!(m.confidence, Confidence::Low);
    }
}

#[test]
fn ubuntu_images() {
    let db = real_db();
    assert_eq!(
        short(&label(&db, "Ubuntu 22.04.3 LTS amd64")).as_deref(),
        Some("ubuntu22.04")
    );
    assert_eq!(
        short(&label(&db, "Ubuntu 24.04 LTS amd64")),
        expect_if_known(&db, "ubuntu24.04", None)
    );
}

#[test]
fn windows_11_image_and_recommendation() {
    let db = real_db();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Win11_23H2_English_x64.iso");
    write_iso(
        &path,
        &Pvd {
            volume: "CCCOMA_X64FRE_EN-US_DV9",
            publisher: "MICROSOFT CORPORATION",
            application: "CDIMAGE 2.56 (01/01/2005 TM)",
            blocks: 3_000_000,
            boot_platforms: Some(&[0xEF]),
            ..Pvd::default()
        },
    );
    let m = detect_iso(&db, &path).unwrap().unwrap();
    assert_eq!(
        m.os.short_id(),
        Some("win11"),
        "alternatives {:?}",
        m.alternatives
    );
    assert!(m.iso.efi_boot);
    assert!(m.os.needs_tpm_and_secure_boot);
    let r = recommended_config(Some(&m.os), BIG_HOST);
    assert_eq!(r.firmware.kind, FirmwareKind::Uefi);
    assert!(r.firmware.secure_boot && r.firmware.tpm, "{:?}", r.firmware);
    assert!(r.memory_mib >= 4096, "{r:?}");
    assert!(r.disk_bytes >= 64 << 30, "{r:?}");
    assert!(r.cpus >= 2, "{r:?}");
    assert_eq!(
        (r.disk_bus, r.nic_model, r.video),
        (DiskBus::Sata, NicModel::E1000e, VideoModel::Std)
    );
}

#[test]
fn older_windows_and_linux_recommendations() {
    let db = real_db();
    let r = recommended_config(db.by_short_id("win7"), BIG_HOST);
    assert_eq!(r.firmware.kind, FirmwareKind::Bios);
    assert_eq!(
        (r.disk_bus, r.nic_model, r.video),
        (DiskBus::Sata, NicModel::E1000e, VideoModel::Std)
    );
    let xp = db.by_short_id("winxp").unwrap();
    let r = recommended_config(Some(xp), BIG_HOST);
    assert_eq!((r.disk_bus, r.nic_model), (DiskBus::Sata, NicModel::Rtl8139));
    assert_eq!(r.memory_mib, 512);
    let r = recommended_config(db.by_short_id("debian11"), BIG_HOST);
    assert_eq!(r.firmware.kind, FirmwareKind::Bios);
    assert_eq!(
        (r.disk_bus, r.nic_model, r.video),
        (DiskBus::Virtio, NicModel::Virtio, VideoModel::Virtio)
    );
    assert_eq!((r.cpus, r.memory_mib, r.disk_bytes), (2, 1024, 20 << 30));
}

#[test]
fn test_guest_is_not_recognised() {
    let db = real_db();
    assert!(label(&db, "HANGAR_GUEST").is_none());
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-guest/guest.iso");
    if guest.exists() {
        assert!(detect_iso(&db, &guest).unwrap().is_none());
    } else {
        eprintln!("{} not built: only the label was checked", guest.display());
    }
}

#[test]
fn search_the_real_list() {
    let db = real_db();
    let hits = search(&db, "windows 11");
    assert_eq!(
        hits[0].short_id(),
        Some("win11"),
        "{:?}",
        hits.iter().map(|e| &e.name).collect::<Vec<_>>()
    );
    let hits = search(&db, "debian");
    assert!(hits.len() > 10);
    assert!(hits[..10].iter().all(|e| e.distro == "debian"));
    assert_eq!(search(&db, "fedora37")[0].short_id(), Some("fedora37"));
}

#[test]
fn system_db_is_loaded_once() {
    let _ = real_db();
    let first = system_db().unwrap();
    let again = system_db().unwrap();
    assert!(std::ptr::eq(first, again));
    assert!(first.by_short_id("win11").is_some());
}
