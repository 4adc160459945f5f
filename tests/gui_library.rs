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

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";
/// The whole scenario must end within this time.
const LIMIT: Duration = Duration::from_secs(85);

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A child process killed when the guard goes away (also on test failure).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether an X client can open display `number` (the way GTK connects, abstract socket
/// first), tried for up to `within`.
fn x_answers(number: &str, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        let probe = Command::new("xdpyinfo")
            .args(["-display", &format!(":{number}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match probe {
            Ok(status) if status.success() => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(err) => panic!("cannot run xdpyinfo ({err}); install it (Debian package: x11-utils)"),
        }
    }
    false
}

/// Starts Xvfb on a free display. Not with `-displayfd`: on a machine where the lock files of
/// displays in use were removed, that Xvfb reports a display it does not (reliably) listen
/// on. Random high numbers are tried instead, each checked with a real X client; a number
/// taken meanwhile makes Xvfb exit, and the next one is tried.
fn start_xvfb(xvfb: &Path, log: &Path) -> (Reaped, String) {
    for attempt in 0..8u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let number = (200 + (std::process::id() ^ nanos ^ attempt.wrapping_mul(7919)) % 700).to_string();
        let taken = [
            format!("/tmp/.X11-unix/X{number}"),
            format!("/tmp/.X{number}-lock"),
        ];
        if taken.iter().any(|p| Path::new(p).exists()) {
            continue;
        }
        let log = std::fs::File::create(log).expect("Xvfb log file");
        let child = Command::new(xvfb)
            .arg(format!(":{number}"))
            .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start Xvfb");
        let mut guard = Reaped(child);
        if x_answers(&number, Duration::from_secs(10)) && matches!(guard.0.try_wait(), Ok(None)) {
            return (guard, format!(":{number}"));
        }
        eprintln!("Xvfb did not answer on display :{number}; trying another display");
    }
    panic!("Xvfb did not start on any display");
}

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

/// A process group (the driver, hangar and the D-Bus daemon) killed when the guard goes away.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

#[test]
fn library_follows_vms_started_and_stopped_anywhere() {
    let xvfb = find_program("Xvfb").expect("Xvfb is needed for this test (Debian package: xvfb)");
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
    let (mut xvfb, display) = start_xvfb(&xvfb, &xvfb_log);
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
