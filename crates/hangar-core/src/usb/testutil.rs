//! Test helpers: fixture trees under `tests/fixtures/usb/`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::device::UsbDevice;
use super::sysfs::UsbReader;

/// `tests/fixtures/usb/<name>` in the workspace.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/usb")
        .join(name)
}

/// The devices of a fixture tree, read in place.
pub fn fixture_devices(name: &str) -> Vec<UsbDevice> {
    UsbReader::new(fixture(name)).list().unwrap()
}

/// Copies a fixture tree into a temporary folder and applies its `modes.txt` (git keeps no modes).
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture(name);
    copy_tree(&src, tmp.path());
    if let Ok(modes) = fs::read_to_string(src.join("modes.txt")) {
        for line in modes
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (path, mode) = line.split_once(' ').unwrap();
            let mode = u32::from_str_radix(mode.trim(), 8).unwrap();
            fs::set_permissions(tmp.path().join(path), fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    tmp
}

pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// The device with this kernel name.
pub fn by_name<'a>(devices: &'a [UsbDevice], sysname: &str) -> &'a UsbDevice {
    devices.iter().find(|d| d.sysname == sysname).unwrap()
}
