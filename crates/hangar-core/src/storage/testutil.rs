//! Helpers shared by the storage tests.

use std::ffi::OsStr;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command as StdCommand;

/// Run qemu-img directly (test setup), asserting success.
pub(crate) fn raw_qemu_img(argv: &[&OsStr]) {
    let out = StdCommand::new("qemu-img").args(argv).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img {argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// No leftover temporary files in `dir`.
pub(crate) fn assert_no_temp_files(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().contains(".hangar-tmp-")),
        "leftovers: {names:?}"
    );
}

/// Overwrite `bytes` at `offset` of an existing file.
pub(crate) fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(bytes).unwrap();
}

/// A QEMU process holding `image` open for writing, killed on drop.
pub(crate) struct RunningVm(std::process::Child);

impl RunningVm {
    pub(crate) fn start(image: &Path, format: &str) -> Self {
        let drive = format!("file={},format={format},if=none,id=d0", image.display());
        let child = StdCommand::new("qemu-system-x86_64")
            .args([
                "-machine",
                "none",
                "-accel",
                "tcg",
                "-nodefaults",
                "-display",
                "none",
                "-S",
            ])
            .args(["-drive", &drive])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let vm = RunningVm(child);
        // Wait until the write lock is visible (QEMU opens images during start-up; a loaded
        // CI machine can take many seconds).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let out = StdCommand::new("qemu-img")
                .args(["info", "-f", format])
                .arg(image)
                .output()
                .unwrap();
            if !out.status.success() {
                return vm;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("QEMU did not lock {image:?}");
    }
}

impl Drop for RunningVm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
