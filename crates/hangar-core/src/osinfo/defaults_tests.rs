use super::super::db::{fixture, OsDb};
use super::*;

fn db() -> OsDb {
    OsDb::load(&[fixture("system")]).unwrap()
}

const BIG_HOST: HostLimits = HostLimits {
    cpus: 16,
    memory_mib: 64 * 1024,
    free_disk_bytes: Some(1024 * GIB),
    uefi: true,
    secure_boot: true,
    tpm: true,
};

fn rec(db: &OsDb, short: &str, host: HostLimits) -> Recommendation {
    recommended_config(Some(db.by_short_id(short).unwrap()), host)
}

#[test]
fn generic_defaults_without_a_system() {
    let r = recommended_config(None, BIG_HOST);
    assert_eq!((r.cpus, r.memory_mib, r.disk_bytes), (2, 2048, 20 * GIB));
    assert_eq!(r.firmware, FirmwareConfig::default());
    assert_eq!(
        (r.disk_bus, r.nic_model, r.video, r.sound),
        (
            DiskBus::Virtio,
            NicModel::Virtio,
            VideoModel::Virtio,
            SoundModel::Hda
        )
    );
    assert_eq!(r.os, None);
    assert!(
        r.notes.iter().any(|n| n.contains("recent Linux")),
        "{:?}",
        r.notes
    );
}

#[test]
fn linux_with_virtio_gets_virtio_and_osinfo_sizes() {
    let db = db();
    let r = rec(&db, "demodeb12", BIG_HOST);
    assert_eq!(r.os.as_deref(), Some("demodeb12"));
    // Recommended RAM and storage; no recommended CPU count, minimum 1 < generic 2.
    assert_eq!((r.cpus, r.memory_mib, r.disk_bytes), (2, 2048, 20 * GIB));
    assert_eq!(r.firmware.kind, FirmwareKind::Bios);
    assert_eq!(
        (r.disk_bus, r.nic_model, r.video, r.sound),
        (
            DiskBus::Virtio,
            NicModel::Virtio,
            VideoModel::Virtio,
            SoundModel::Hda
        )
    );
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    // The derived release refuses virtio-gpu: standard VGA, the rest inherited.
    let r = rec(&db, "demodeb13", BIG_HOST);
    assert_eq!(
        (r.disk_bus, r.nic_model, r.video),
        (DiskBus::Virtio, NicModel::Virtio, VideoModel::Std)
    );
    assert_eq!(r.memory_mib, 2048);
}

#[test]
fn windows_11_gets_uefi_secure_boot_tpm_and_sata() {
    let db = db();
    for short in ["win11", "demowin12"] {
        let r = rec(&db, short, BIG_HOST);
        assert_eq!(
            r.firmware,
            FirmwareConfig {
                kind: FirmwareKind::Uefi,
                secure_boot: true,
                tpm: true
            },
            "{short}"
        );
        assert_eq!(
            (r.cpus, r.memory_mib, r.disk_bytes),
            (2, 4096, 64 * GIB),
            "{short}"
        );
        assert_eq!(
            (r.disk_bus, r.nic_model, r.video, r.sound),
            (DiskBus::Sata, NicModel::E1000e, VideoModel::Std, SoundModel::Hda)
        );
        assert!(r.notes.iter().any(|n| n.contains("virtio-win")), "{:?}", r.notes);
    }
}

#[test]
fn old_windows_gets_bios_and_old_devices() {
    let db = db();
    let r = rec(&db, "demowinxp", BIG_HOST);
    assert_eq!(r.firmware.kind, FirmwareKind::Bios);
    assert_eq!((r.memory_mib, r.disk_bytes), (512, 10 * GIB));
    assert_eq!(
        (r.disk_bus, r.nic_model, r.video, r.sound),
        (
            DiskBus::Sata,
            NicModel::Rtl8139,
            VideoModel::Std,
            SoundModel::Ac97
        )
    );
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn small_hosts_cap_with_notes() {
    let db = db();
    let host = HostLimits {
        cpus: 1,
        memory_mib: 4096,
        free_disk_bytes: Some(30 * GIB + 123),
        ..BIG_HOST
    };
    let r = rec(&db, "win11", host);
    assert_eq!((r.cpus, r.memory_mib, r.disk_bytes), (1, 2048, 30 * GIB));
    let all = r.notes.join("\n");
    assert!(all.contains("this computer has 1 CPU"), "{all}");
    assert!(all.contains("needs at least 2 CPU"), "{all}");
    assert!(all.contains("Memory lowered to 2 GiB"), "{all}");
    assert!(all.contains("needs at least 4096 MiB"), "{all}");
    assert!(all.contains("Disk limited to 30 GiB"), "{all}");
    assert!(all.contains("needs at least 64 GiB"), "{all}");
    // Within the host's means: no notes about caps.
    let r = rec(
        &db,
        "demodeb12",
        HostLimits {
            cpus: 2,
            memory_mib: 8192,
            ..BIG_HOST
        },
    );
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    // Unknown host figures cap nothing.
    let r = rec(
        &db,
        "win11",
        HostLimits {
            cpus: 0,
            memory_mib: 0,
            free_disk_bytes: None,
            ..BIG_HOST
        },
    );
    assert_eq!((r.cpus, r.memory_mib, r.disk_bytes), (2, 4096, 64 * GIB));
}

#[test]
fn missing_firmware_packages_are_named() {
    let db = db();
    let host = HostLimits {
        uefi: false,
        secure_boot: false,
        tpm: false,
        ..BIG_HOST
    };
    let all = rec(&db, "win11", host).notes.join("\n");
    assert!(all.contains("apt install ovmf"), "{all}");
    assert!(all.contains("apt install swtpm"), "{all}");
    assert!(rec(&db, "demodeb12", host).notes.is_empty());
}

#[test]
fn sizes_follow_recommended_then_minimum_then_generic() {
    assert_eq!(size(Some(3), Some(1), None, 2), 3);
    assert_eq!(size(None, Some(1), None, 2), 2);
    assert_eq!(size(None, Some(4), None, 2), 4);
    assert_eq!(size(None, None, None, 2), 2);
    assert_eq!(size(Some(1), Some(2), None, 2), 2, "never below the minimum");
    assert_eq!(size(None, None, Some(1), 2), 1, "never above the maximum");
}

#[test]
fn apply_writes_a_valid_config() {
    let db = db();
    let r = rec(&db, "win11", BIG_HOST);
    let mut c = VmConfig::new("w");
    c.disks.push(crate::config::DiskConfig {
        id: "disk0".into(),
        path: "disk0.qcow2".into(),
        format: "qcow2".into(),
        bus: DiskBus::Virtio,
        readonly: false,
    });
    r.apply(&mut c);
    c.validate().unwrap();
    assert_eq!(c.os.as_deref(), Some("win11"));
    assert_eq!((c.machine.cpus, c.machine.memory_mib), (2, 4096));
    assert!(c.firmware.secure_boot && c.firmware.tpm);
    assert_eq!(c.disks[0].bus, DiskBus::Sata);
    assert_eq!(c.networks[0].model, NicModel::E1000e);
    assert_eq!(
        (c.display.video, c.sound.model),
        (VideoModel::Std, SoundModel::Hda)
    );
}
