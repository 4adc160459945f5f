//! GUI test of the live library: runs the built `hangar` on a private Xvfb display with an
//! empty temporary VM folder, and drives it through AT-SPI with tests/gui/library.py: a VM
//! created by `hangarctl` shows up, starting it from its row menu shows "Running",
//! `hangarctl stop --force` shows "Stopped", `hangarctl start` shows "Running" again, and
//! closing the window leaves the VM running with a thumbnail saved.
//!
//! QEMU runs with TCG and no disk (SeaBIOS finds nothing to boot, which is enough for states).
//! Needs Xvfb, dbus-run-session, /usr/bin/python3 with pyatspi, QEMU and the `hangarctl`
//! binary (built next to `hangar`, or built here). A missing tool fails the test with the
//! Debian package to install (`build-aux/dev.sh deps` installs them all).

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::x11::{find_program, start_xvfb, Group};

const PYTHON: &str = "/usr/bin/python3";
/// The whole scenario must end within this time.
const LIMIT: Duration = Duration::from_secs(85);

/// `hangarctl` built by the same cargo run, or built now.
fn hangarctl() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_hangar")).with_file_name("hangarctl");
    if !path.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "hangarctl"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build -p hangarctl");
        assert!(status.success(), "cargo build -p hangarctl failed");
    }
    assert!(path.is_file(), "no hangarctl at {}", path.display());
    path
}

#[test]
fn library_follows_vms_started_and_stopped_anywhere() {
    assert!(
        find_program("Xvfb").is_some(),
        "Xvfb is needed for this test (Debian package: xvfb)"
    );
    let pyatspi = Command::new(PYTHON).args(["-c", "import pyatspi"]).output();
    assert!(
        pyatspi.is_ok_and(|o| o.status.success()),
        "{PYTHON} cannot import pyatspi (Debian package: python3-pyatspi)"
    );
    assert!(
        find_program("qemu-system-x86_64").is_some(),
        "QEMU is needed for this test (Debian package: qemu-system-x86)"
    );
    let runner = find_program("dbus-run-session")
        .expect("dbus-run-session is needed for an AT-SPI bus (Debian package: dbus-daemon)");
    let hangarctl = hangarctl();

    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("vms");
    std::fs::create_dir_all(&home).expect("mkdir");
    // Runtime sockets need short paths: a private folder under /tmp.
    let runtime = tempfile::Builder::new()
        .prefix("hgl")
        .tempdir_in("/tmp")
        .expect("runtime tempdir");
    let log = tmp.path().join("hangar.log");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gui/library.py");

    let xvfb_log = tmp.path().join("xvfb.log");
    let (mut xvfb, display) = start_xvfb(Some(&xvfb_log));
    let started = Instant::now();
    let mut command = Command::new(runner);
    command
        .arg("--")
        .arg(PYTHON)
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_hangar"))
        .arg(&hangarctl)
        .arg(&log)
        .env("DISPLAY", &display)
        .env("GDK_BACKEND", "x11")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("GTK_A11Y")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("HANGAR_HOME", &home)
        .env("HANGAR_RUNTIME_DIR", runtime.path())
        .env("HANGAR_ACCEL", "tcg")
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("LC_ALL", "C.UTF-8")
        .env("RUST_LOG", "hangar=debug,hangar_core=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut driver = Group(command.spawn().expect("start the AT-SPI driver"));

    let status = loop {
        if let Some(status) = driver.0.try_wait().expect("wait for the driver") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut report = String::new();
    if let Some(mut out) = driver.0.stdout.take() {
        out.read_to_string(&mut report).ok();
    }
    // Whatever happened, no QEMU of this test may outlive it.
    let _ = Command::new(&hangarctl)
        .args(["stop", "t", "--force"])
        .env("HANGAR_HOME", &home)
        .env("HANGAR_RUNTIME_DIR", runtime.path())
        .output();
    let hangar_log = std::fs::read_to_string(&log).unwrap_or_default();
    let xvfb_state = match xvfb.0.try_wait() {
        Ok(Some(status)) => format!("Xvfb {display} exited ({status})"),
        _ => format!("Xvfb {display} runs"),
    };
    let xvfb_log = std::fs::read_to_string(&xvfb_log).unwrap_or_default();
    let tail: String = {
        let lines: Vec<&str> = hangar_log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    match status {
        None => panic!(
            "the scenario did not end within {} s:\n{report}\nhangar's log:\n{tail}\n{xvfb_state}:\n{xvfb_log}",
            LIMIT.as_secs()
        ),
        Some(status) => assert!(
            status.success(),
            "{report}\nhangar's log (last lines):\n{tail}\n{xvfb_state}:\n{xvfb_log}"
        ),
    }
    assert!(report.contains("thumbnail saved"), "{report}");
    eprintln!("{report}finished in {:.1} s", started.elapsed().as_secs_f64());
}
