//! A private X server and process guards for the tests that run the real `hangar` binary
//! (tests/gui_flow.rs, tests/gui_library.rs) and for `benches/launch.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `name` found on `$PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A child process killed when the guard goes away (also on test failure).
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child started as its own process group (`process_group(0)`): the whole group (a driver,
/// the programs it started, their D-Bus daemons) is killed when the guard goes away.
pub struct Group(pub Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

/// Whether an X client can open `display` (the way GTK connects, abstract socket first), tried
/// for up to `within`.
pub fn x_answers(display: &str, within: Duration) -> bool {
    let start = Instant::now();
    loop {
        let probe = Command::new("xdpyinfo")
            .args(["-display", display])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match probe {
            Ok(status) if status.success() => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(err) => panic!("cannot run xdpyinfo ({err}); install it (Debian package: x11-utils)"),
        }
        if start.elapsed() >= within {
            return false;
        }
    }
}

/// Starts Xvfb (1280x800x24) on a free display; its messages go to `log` when given. Not with
/// `-displayfd`: on a machine where the lock files of displays in use were removed, that Xvfb
/// reports a display it does not (reliably) listen on. Random high numbers are tried instead,
/// each checked with a real X client; a number taken meanwhile makes Xvfb exit, and the next
/// one is tried.
pub fn start_xvfb(log: Option<&Path>) -> (Reaped, String) {
    for attempt in 0..8u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let number = 200 + (std::process::id() ^ nanos ^ attempt.wrapping_mul(7919)) % 700;
        let display = format!(":{number}");
        if Path::new(&format!("/tmp/.X11-unix/X{number}")).exists()
            || Path::new(&format!("/tmp/.X{number}-lock")).exists()
        {
            continue;
        }
        let stderr = match log {
            Some(log) => Stdio::from(std::fs::File::create(log).expect("Xvfb log file")),
            None => Stdio::null(),
        };
        let child = Command::new("Xvfb")
            .arg(&display)
            .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start Xvfb (Debian package: xvfb)");
        let mut guard = Reaped(child);
        if x_answers(&display, Duration::from_secs(10)) && matches!(guard.0.try_wait(), Ok(None)) {
            return (guard, display);
        }
        eprintln!("Xvfb did not answer on display {display}; trying another display");
    }
    panic!("Xvfb did not start on any display");
}
