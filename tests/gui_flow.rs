//! End-to-end GUI test of the "done when" of the app: the real `hangar` binary on a private
//! Xvfb (with openbox, so keyboard focus follows windows as on a desktop) and its own D-Bus
//! session, an empty temporary `HANGAR_HOME`, QEMU on TCG, driven by `tests/gui/flow.py`
//! through AT-SPI and xdotool keys:
//!
//! New VM (Ctrl+N) → wizard from the tiny test ISO → Create → the VM starts, its console
//! connects, the guest boots from the CD-ROM → Shut Down → Stopped → details (Alt+2): memory up,
//! vm.toml changed → Add Disk, image exists → Start, snapshots (Alt+3): take (Return), change the
//! guest, revert (confirmed) → state restored → Shut Down, back (Alt+Left), row menu (Menu key)
//! → Delete… → confirmed (Alt+D) → folder gone. The steps are listed in flow.py.
//!
//! Screenshots of every screen: `target/screenshots/flow-*.png`.
//! Needs Xvfb, openbox, xdotool, xdpyinfo, ImageMagick, dbus-run-session, /usr/bin/python3 with
//! pyatspi, QEMU and the test guest (built by tests/guest/build.sh). A missing tool fails the
//! test with its Debian package; only `HANGAR_SKIP_QEMU_TESTS=1` skips it.

mod common;

use common::x11::{find_program, start_xvfb, Group, Reaped};

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";
/// The whole scenario (two guest boots under TCG on 2 loaded cores) must end within this.
const LIMIT: Duration = Duration::from_secs(420);

/// Kills every process whose command line mentions `dir` (QEMUs of this test).
fn kill_mentioning(dir: &Path) {
    let mut needle = dir.as_os_str().to_owned();
    needle.push("/");
    for pid in common::pids_with_arg_containing(&needle) {
        common::kill_hard(pid);
    }
}

#[test]
fn a_vm_lives_its_whole_life_in_the_window() {
    if std::env::var("HANGAR_SKIP_QEMU_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: HANGAR_SKIP_QEMU_TESTS=1");
        return;
    }
    for (tool, package) in [
        ("Xvfb", "xvfb"),
        ("openbox", "openbox"),
        ("xdotool", "xdotool"),
        ("xdpyinfo", "x11-utils"),
        ("import", "imagemagick"),
        ("dbus-run-session", "dbus-daemon"),
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("qemu-img", "qemu-utils"),
    ] {
        assert!(
            find_program(tool).is_some(),
            "{tool} is needed for this test (Debian package: {package})"
        );
    }
    let pyatspi = Command::new(PYTHON).args(["-c", "import pyatspi"]).output();
    assert!(
        pyatspi.is_ok_and(|o| o.status.success()),
        "{PYTHON} cannot import pyatspi (Debian package: python3-pyatspi)"
    );
    let iso = common::guest().iso();
    let shots = common::target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("mkdir target/screenshots");
    for old in std::fs::read_dir(&shots).into_iter().flatten().flatten() {
        if old.file_name().to_string_lossy().starts_with("flow-") {
            let _ = std::fs::remove_file(old.path());
        }
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("vms");
    std::fs::create_dir_all(&home).expect("mkdir");
    // Runtime sockets need short paths: a private folder under /tmp.
    let runtime = tempfile::Builder::new()
        .prefix("hgf")
        .tempdir_in("/tmp")
        .expect("runtime tempdir");
    let log = tmp.path().join("hangar.log");
    let xvfb_log = tmp.path().join("xvfb.log");
    let (_xvfb, display) = start_xvfb(Some(&xvfb_log));
    let _wm = Reaped(
        Command::new("openbox")
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openbox"),
    );

    let started = Instant::now();
    let script = common::workspace().join("tests/gui/flow.py");
    let mut command = Command::new("dbus-run-session");
    command
        .arg("--")
        .arg(PYTHON)
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_hangar"))
        .arg(&log)
        .arg(&iso)
        .arg(&shots)
        .env("DISPLAY", &display)
        .env("GDK_BACKEND", "x11")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("GTK_A11Y")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("HANGAR_USB_ROOT")
        .env("HANGAR_HOME", &home)
        .env("HANGAR_RUNTIME_DIR", runtime.path())
        .env("HANGAR_ACCEL", "tcg")
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("XDG_DATA_HOME", tmp.path().join("data"))
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .env("LC_ALL", "C.UTF-8")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "hangar=debug,hangar_core=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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
    kill_mentioning(runtime.path());
    let hangar_log = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = {
        let lines: Vec<&str> = hangar_log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    };
    let vm_logs: String = ["qemu.log", "serial.log"]
        .iter()
        .map(|f| {
            let path = home.join("flow").join(f);
            format!("--- {f} ---\n{}\n", common::tail(&path, 1500))
        })
        .collect();
    match status {
        None => panic!(
            "the scenario did not end within {} s:\n{report}\nhangar's log:\n{tail}\n{vm_logs}",
            LIMIT.as_secs()
        ),
        Some(status) => assert!(
            status.success(),
            "{report}\nhangar's log (last lines):\n{tail}\n{vm_logs}"
        ),
    }
    assert_eq!(report.matches("ok: ").count(), 10, "steps missing:\n{report}");
    assert!(!home.join("flow").exists(), "the VM folder is still there");
    eprintln!("{report}finished in {:.1} s", started.elapsed().as_secs_f64());
}
