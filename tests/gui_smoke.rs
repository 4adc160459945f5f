//! GUI smoke test: runs the built `hangar` on a private Xvfb display with a temporary VM
//! folder (one good VM, one broken), checks that its window appears, then quits it with Ctrl+Q
//! and checks that it exits cleanly and saved its window size.
//!
//! Needs Xvfb, xdotool and a D-Bus session (`dbus-run-session` is used when no session bus is
//! set). Fails, naming the Debian package, when Xvfb is not installed.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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

/// Starts Xvfb on a free display chosen by the server itself (`-displayfd`).
fn start_xvfb(xvfb: &Path) -> (Reaped, String) {
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe for -displayfd");
    let child = Command::new(xvfb)
        .args(["-displayfd", &write_end.as_raw_fd().to_string()])
        .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let guard = Reaped(child);
    drop(write_end);
    // Xvfb writes "N\n" and closes its copy once it accepts connections; ours is closed above,
    // so the read ends there. Nothing read means Xvfb failed to start.
    let mut number = String::new();
    std::fs::File::from(read_end).read_to_string(&mut number).ok();
    let number = number.trim().to_owned();
    assert!(!number.is_empty(), "Xvfb did not report a display number");
    (guard, format!(":{number}"))
}

fn xdotool(display: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(value) = probe() {
            return Some(value);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    wait_for(timeout, || child.try_wait().ok().flatten())
}

#[test]
fn window_appears_lists_vms_and_quits_with_ctrl_q() {
    let xvfb = find_program("Xvfb").expect("Xvfb is needed for this test (Debian package: xvfb)");
    assert!(
        find_program("xdotool").is_some(),
        "xdotool is needed for this test (Debian package: xdotool)"
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let vms = tmp.path().join("vms");
    std::fs::create_dir_all(vms.join("alpha")).expect("mkdir");
    std::fs::write(
        vms.join("alpha/vm.toml"),
        "name = \"alpha\"\nos = \"Debian 12\"\n",
    )
    .expect("write");
    std::fs::create_dir_all(vms.join("broken")).expect("mkdir");
    std::fs::write(vms.join("broken/vm.toml"), "name = [\n").expect("write");
    let config = tmp.path().join("config");

    let (_xvfb, display) = start_xvfb(&xvfb);

    let hangar = env!("CARGO_BIN_EXE_hangar");
    let mut command = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        Command::new(hangar)
    } else {
        let runner = find_program("dbus-run-session")
            .expect("no D-Bus session and no dbus-run-session (Debian package: dbus-daemon)");
        let mut c = Command::new(runner);
        c.args(["--", hangar]);
        c
    };
    command
        .env("DISPLAY", &display)
        .env("GDK_BACKEND", "x11")
        .env_remove("WAYLAND_DISPLAY")
        .env("GTK_A11Y", "none")
        .env("HANGAR_HOME", &vms)
        .env("HANGAR_RUNTIME_DIR", tmp.path().join("run"))
        .env("XDG_CONFIG_HOME", &config)
        .env("LC_ALL", "C.UTF-8")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut app = Reaped(command.spawn().expect("start hangar"));

    let window = wait_for(Duration::from_secs(40), || {
        xdotool(&display, &["search", "--onlyvisible", "--name", "^Hangar$"])
            .and_then(|ids| ids.lines().next().map(str::to_owned))
    });
    let Some(window) = window else {
        let _ = app.0.kill();
        let mut log = String::new();
        if let Some(mut err) = app.0.stderr.take() {
            err.read_to_string(&mut log).ok();
        }
        panic!("no visible Hangar window within 40 s; hangar's stderr:\n{log}");
    };
    let geometry = xdotool(&display, &["getwindowgeometry", &window]).unwrap_or_default();
    assert!(
        geometry.contains("Geometry:"),
        "unexpected geometry output: {geometry}"
    );

    // Give the window the keyboard focus (there is no window manager) and press Ctrl+Q.
    std::thread::sleep(Duration::from_millis(500));
    xdotool(&display, &["windowfocus", &window]);
    xdotool(&display, &["key", "--clearmodifiers", "ctrl+q"]).expect("xdotool key");
    let status = wait_exit(&mut app.0, Duration::from_secs(15)).expect("hangar did not quit on Ctrl+Q");
    assert!(status.success(), "hangar exited with {status}");

    let schema_installed = ["/usr/share", "/usr/local/share"].iter().any(|d| {
        Path::new(d)
            .join("glib-2.0/schemas/org.hangar.Hangar.gschema.xml")
            .exists()
    });
    if !schema_installed {
        let saved = std::fs::read_to_string(config.join("hangar/settings.ini")).unwrap_or_default();
        assert!(
            saved.contains("window-width="),
            "window size not saved; settings.ini:\n{saved}"
        );
    }
}
