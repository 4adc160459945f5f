use std::collections::HashSet;
use std::path::{Path, PathBuf};

use hangar_core::config::{DiskBus, FirmwareKind, NetMode, NicModel};
use hangar_core::manager::DiskSource;
use hangar_core::osinfo::{OsDb, OsEntry};

use super::*;

const HOST: HostLimits = HostLimits {
    cpus: 8,
    memory_mib: 32 * 1024,
    free_disk_bytes: Some(500 * GIB),
    uefi: true,
    secure_boot: true,
    tpm: true,
};

fn db() -> OsDb {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osinfo/system");
    OsDb::load(&[root]).expect("fixture osinfo database")
}

fn os(db: &OsDb, short_id: &str) -> OsEntry {
    db.by_short_id(short_id).cloned().expect("system in the fixture")
}

fn nothing_exists(_: &str) -> bool {
    false
}

/// A state whose ISO was read and recognised as `short_id`.
fn iso_state(db: &OsDb, short_id: Option<&str>) -> WizardState {
    let mut s = WizardState::new(HOST);
    s.iso_path = "/isos/installer.iso".into();
    s.set_os(short_id.map(|id| os(db, id)));
    s.iso = Check::Ready(None);
    s.sync_name(&nothing_exists);
    s
}

#[test]
fn windows_11_gets_uefi_secure_boot_tpm_sata_and_its_sizes() {
    let db = db();
    let state = iso_state(&db, Some("win11"));
    let req = state.build_request(&nothing_exists).expect("valid request");
    let fw = req.config.firmware;
    assert_eq!(fw.kind, FirmwareKind::Uefi);
    assert!(fw.secure_boot && fw.tpm, "{fw:?}");
    assert_eq!(state.effective_firmware(), fw);
    assert!(
        req.config.machine.memory_mib >= 4096,
        "{}",
        req.config.machine.memory_mib
    );
    match req.disk {
        DiskSource::New { size_bytes } => assert!(size_bytes >= 64 * GIB, "{size_bytes}"),
        other => panic!("expected a new disk, got {other:?}"),
    }
    assert_eq!(state.disk_bus(), DiskBus::Sata);
    // Manager::create keeps the bus of this stand-in for the first disk.
    assert_eq!(req.config.disks.len(), 1);
    assert_eq!(req.config.disks[0].bus, DiskBus::Sata);
    assert_eq!(req.config.networks[0].model, NicModel::E1000e);
    assert_eq!(req.config.os.as_deref(), Some("win11"));
    assert_eq!(req.config.name, "win11");
    assert_eq!(req.iso, Some(PathBuf::from("/isos/installer.iso")));
}

#[test]
fn a_chosen_firmware_overrides_the_automatic_one() {
    let db = db();
    let mut state = iso_state(&db, Some("win11"));
    state.firmware = FirmwareChoice::Bios;
    state.tpm = false;
    let fw = state.build_request(&nothing_exists).unwrap().config.firmware;
    assert_eq!(
        (fw.kind, fw.secure_boot, fw.tpm),
        (FirmwareKind::Bios, false, false)
    );
    state.firmware = FirmwareChoice::UefiSecureBoot;
    state.tpm = true;
    let fw = state.build_request(&nothing_exists).unwrap().config.firmware;
    assert_eq!(
        (fw.kind, fw.secure_boot, fw.tpm),
        (FirmwareKind::Uefi, true, true)
    );
}

#[test]
fn user_sizes_and_network_reach_the_config() {
    let db = db();
    let mut state = iso_state(&db, Some("demodeb12"));
    state.memory_mib = 512;
    state.cpus = 1;
    state.disk_gib = 3;
    state.network = NetMode::Bridge;
    state.bridge = "br0".into();
    let req = state.build_request(&nothing_exists).unwrap();
    assert_eq!((req.config.machine.memory_mib, req.config.machine.cpus), (512, 1));
    assert_eq!(req.disk, DiskSource::New { size_bytes: 3 * GIB });
    assert_eq!(req.config.networks[0].mode, NetMode::Bridge);
    assert_eq!(req.config.networks[0].bridge.as_deref(), Some("br0"));
    assert_eq!(req.config.firmware.kind, FirmwareKind::Bios);
    req.config.validate().expect("the config is valid");
}

#[test]
fn import_path_becomes_an_import_source_without_iso() {
    let mut state = WizardState::new(HOST);
    state.source = SourceKind::Import;
    state.iso_path = "/isos/ignored.iso".into();
    state.import_path = " /images/old server.qcow2 ".into();
    assert_eq!(
        state.validate_page(Page::Source, &nothing_exists),
        Err(PageProblem::ImageChecking)
    );
    state.import = Check::Ready(ImportedDisk {
        format: "qcow2".into(),
        virtual_size: 10 * GIB,
    });
    state.sync_name(&nothing_exists);
    assert_eq!(state.name, "old server");
    let req = state.build_request(&nothing_exists).unwrap();
    assert_eq!(
        req.disk,
        DiskSource::Import {
            path: "/images/old server.qcow2".into()
        }
    );
    assert_eq!(req.iso, None);
    // Formats QEMU does not open as disks are refused on the source page.
    state.import = Check::Ready(ImportedDisk {
        format: "dmg".into(),
        virtual_size: GIB,
    });
    assert_eq!(
        state.validate_page(Page::Source, &nothing_exists),
        Err(PageProblem::UnsupportedFormat("dmg".into()))
    );
}

#[test]
fn empty_vm_gets_a_new_disk_and_no_iso() {
    let mut state = WizardState::new(HOST);
    state.source = SourceKind::Empty;
    state.iso_path = "/isos/ignored.iso".into();
    state.sync_name(&nothing_exists);
    assert_eq!(state.name, "vm");
    let req = state.build_request(&nothing_exists).unwrap();
    assert_eq!(req.iso, None);
    assert_eq!(req.disk, DiskSource::New { size_bytes: 20 * GIB });
}

#[test]
fn names_follow_the_system_and_are_made_unique() {
    let db = db();
    let taken: HashSet<&str> = ["debian12", "demodeb12", "demodeb12-2"].into();
    let exists = |n: &str| taken.contains(n);
    let mut state = iso_state(&db, Some("demodeb12"));
    state.sync_name(&exists);
    assert_eq!(state.name, "demodeb12-3");
    // Unknown system: the file's name.
    state.set_os(None);
    state.sync_name(&exists);
    assert_eq!(state.name, "installer");
    // A typed name stays.
    state.name = "mine".into();
    state.name_edited = true;
    state.set_os(Some(os(&db, "win11")));
    state.sync_name(&exists);
    assert_eq!(state.name, "mine");
    assert_eq!(unique_name("x", &|n: &str| n == "x" || n == "x-2"), "x-3");
    assert_eq!(clean_name(" .a/b\tc "), "a-b-c");
}

#[test]
fn an_invalid_or_taken_name_blocks_next() {
    let mut state = WizardState::new(HOST);
    state.source = SourceKind::Empty;
    state.name_edited = true;
    for bad in ["", "a/b", ".hidden", " padded", &"x".repeat(65)] {
        state.name = bad.to_owned();
        let problem = state.validate_page(Page::Name, &nothing_exists).unwrap_err();
        assert!(
            matches!(problem, PageProblem::Name { .. }),
            "{bad:?}: {problem:?}"
        );
        assert_eq!(problem.page(), Page::Name);
        assert!(!problem.message().is_empty());
        assert_eq!(problem.is_quiet(), bad.is_empty(), "{bad:?}");
        assert!(state.build_request(&nothing_exists).is_err());
    }
    state.name = "Debian 12".into();
    assert_eq!(state.validate_page(Page::Name, &nothing_exists), Ok(()));
    let taken = |n: &str| n == "Debian 12";
    let problem = state.validate_page(Page::Name, &taken).unwrap_err();
    assert_eq!(problem, PageProblem::NameTaken("Debian 12".into()));
    assert!(problem.message().contains("Debian 12"));
    assert_eq!(state.first_problem(&taken), Some(problem));
}

#[test]
fn source_page_waits_for_a_readable_iso() {
    let mut state = WizardState::new(HOST);
    assert_eq!(
        state.validate_page(Page::Source, &nothing_exists),
        Err(PageProblem::NoIso)
    );
    assert!(PageProblem::NoIso.is_quiet());
    state.iso_path = "/isos/a.iso".into();
    state.iso = Check::Checking;
    assert_eq!(
        state.validate_page(Page::Source, &nothing_exists),
        Err(PageProblem::IsoChecking)
    );
    state.set_iso_checked(Err("not an ISO".into()));
    assert_eq!(
        state.validate_page(Page::Source, &nothing_exists),
        Err(PageProblem::IsoUnusable("not an ISO".into()))
    );
    state.set_iso_checked(Ok(None));
    assert_eq!(state.validate_page(Page::Source, &nothing_exists), Ok(()));
    assert_eq!(state.os, None);
}

#[test]
fn bridge_needs_a_valid_name_and_sizes_must_be_positive() {
    let mut state = WizardState::new(HOST);
    state.network = NetMode::Bridge;
    for bad in ["", "br 0", "averyveryverylongbridge", "br/0"] {
        state.bridge = bad.into();
        assert_eq!(
            state.validate_page(Page::System, &nothing_exists),
            Err(PageProblem::Bridge)
        );
    }
    state.bridge = "virbr0".into();
    assert_eq!(state.validate_page(Page::System, &nothing_exists), Ok(()));
    state.disk_gib = 0;
    assert_eq!(
        state.validate_page(Page::Resources, &nothing_exists),
        Err(PageProblem::Disk)
    );
    state.source = SourceKind::Import;
    assert_eq!(state.validate_page(Page::Resources, &nothing_exists), Ok(()));
    state.cpus = 0;
    assert_eq!(
        state.validate_page(Page::Resources, &nothing_exists),
        Err(PageProblem::Cpus)
    );
}

#[test]
fn late_host_figures_keep_edited_sizes() {
    let mut state = WizardState::new(HostLimits {
        free_disk_bytes: None,
        ..HOST
    });
    assert_eq!(state.disk_gib, 20);
    state.set_limits(HostLimits {
        free_disk_bytes: Some(5 * GIB),
        ..HOST
    });
    assert_eq!(state.disk_gib, 5, "capped by free space");
    state.disk_gib = 4;
    state.resources_edited = true;
    state.set_limits(HOST);
    assert_eq!(state.disk_gib, 4);
    state.use_recommended_resources();
    assert_eq!(state.disk_gib, 20);
}

#[test]
fn pages_are_in_order() {
    assert_eq!(Page::Source.previous(), None);
    assert_eq!(Page::Source.next(), Some(Page::Os));
    assert_eq!(Page::Summary.next(), None);
    assert_eq!(Page::Summary.previous(), Some(Page::Name));
    let ids: HashSet<&str> = Page::ALL.iter().map(|p| p.id()).collect();
    assert_eq!(ids.len(), Page::ALL.len());
}
