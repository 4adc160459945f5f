//! Launch time: from spawning `hangar` to its first window frame, beside `virt-manager`
//! launched the same way, on a private Xvfb. `cargo bench --bench launch` (prints figures, no
//! assertions). `cargo bench` builds `hangar` with the release profile; that is the binary
//! measured (`HANGAR_BENCH_BIN` measures another one, e.g. `target/debug/hangar`).
//!
//! What is measured, per run (N = `HANGAR_BENCH_RUNS`, default 7; one untimed warm-up run of
//! each program first, so both start with warm file caches; the programs alternate):
//! - **window mapped** (both programs, the same way): time from `spawn()` until the X server
//!   reports the `MapNotify` of the program's top-level window (titled "Hangar" / "Virtual
//!   Machine Manager"), seen by one `xev -root -event substructure` listening for the whole
//!   bench (event-driven: nothing polls the X server while the programs start);
//! - Hangar picks GTK's cairo renderer when the machine has no GPU render node (as here: see
//!   `hangar::renderer`); a second Hangar row forces `GSK_RENDERER=gl` to show the GL renderer
//!   on Mesa's llvmpipe, whose setup is part of the first frame;
//! - **first frame** (Hangar only): time until Hangar prints "first frame painted" on stderr
//!   (`RUST_LOG=hangar=debug`), logged by its window's frame clock after its first paint
//!   (`hangar::logging::log_first_frame`). GTK 4 maps the window, then paints on the next
//!   frame-clock cycle; GTK 3 (virt-manager) paints on the first expose right after the map,
//!   and has no such log line, so its figure is the map alone.
//!
//! Both run with one private D-Bus session bus, `GTK_A11Y=none` / `NO_AT_BRIDGE=1` (no
//! accessibility bus), an empty `HANGAR_HOME`, and fresh config folders. virt-manager runs as
//! `virt-manager --no-fork --connect test:///default` (libvirt's built-in test driver, so its
//! manager window opens without a libvirt daemon). virt-manager is not a CI package; install it
//! for the bench with `apt-get install --no-install-recommends virt-manager`. Without it, only
//! Hangar is measured. Needs Xvfb, xev and xdpyinfo (x11-utils), xdotool, stdbuf (coreutils) and dbus-daemon.

#[path = "../tests/common/x11.rs"]
#[allow(dead_code)]
mod x11;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use x11::{find_program, start_xvfb, Reaped};

/// A program that shows nothing within this time counts as failed.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A process started with `--fork` (dbus-daemon), killed by pid.
struct Pid(i32);

impl Drop for Pid {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) of a process this bench started.
        unsafe { libc::kill(self.0, libc::SIGTERM) };
    }
}

fn start_dbus() -> (Pid, String) {
    let out = Command::new("dbus-daemon")
        .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
        .output()
        .expect("run dbus-daemon (Debian package: dbus-daemon)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let address = lines.next().unwrap_or_default().to_owned();
    let pid = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("dbus-daemon pid");
    (Pid(pid), address)
}

/// `MapNotify` events of top-level windows, from one `xev` on the root window: (when the line
/// arrived, window id).
fn map_events(display: &str) -> (Reaped, mpsc::Receiver<(Instant, String)>) {
    let mut xev = Command::new("stdbuf")
        .args(["-oL", "xev", "-root", "-event", "substructure"])
        .env("DISPLAY", display)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start xev (Debian package: x11-utils)");
    let out = xev.stdout.take().expect("xev stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // "MapNotify event, serial 19, …" then "    event 0x50d, window 0xc00004, override NO".
        let mut in_map = false;
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let now = Instant::now();
            if line.starts_with("MapNotify") {
                in_map = true;
            } else if in_map {
                in_map = false;
                let window = line
                    .split(", ")
                    .find_map(|part| part.trim().strip_prefix("window "))
                    .map(str::to_owned);
                if let Some(window) = window {
                    if tx.send((now, window)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (Reaped(xev), rx)
}

fn window_name(display: &str, window: &str) -> String {
    Command::new("xdotool")
        .args(["getwindowname", window])
        .env("DISPLAY", display)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// One launch's times: window mapped, and the program's own first-frame line when it has one.
struct Launch {
    shown: Duration,
    first_frame: Option<Duration>,
}

struct Program {
    label: &'static str,
    argv: Vec<String>,
    /// Its main window's title.
    title: &'static str,
    /// A line on stderr that marks its first frame.
    frame_line: Option<&'static str>,
    /// Extra environment.
    env: Vec<(&'static str, &'static str)>,
}

fn launch(
    program: &Program,
    display: &str,
    bus: &str,
    maps: &mpsc::Receiver<(Instant, String)>,
    scratch: &Path,
    run: usize,
) -> Option<Launch> {
    let dir = scratch.join(format!("{}-{run}", program.label.replace([' ', '(', ')'], "")));
    std::fs::create_dir_all(dir.join("vms")).expect("scratch folder");
    let mut cmd = Command::new(&program.argv[0]);
    cmd.args(&program.argv[1..])
        .env("DISPLAY", display)
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("GDK_BACKEND", "x11")
        .env_remove("WAYLAND_DISPLAY")
        .env("GTK_A11Y", "none")
        .env("NO_AT_BRIDGE", "1")
        .env("HOME", &dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("HANGAR_HOME", dir.join("vms"))
        .env("HANGAR_RUNTIME_DIR", dir.join("run"))
        .env("RUST_LOG", "hangar=debug")
        .env("LC_ALL", "C.UTF-8")
        .envs(program.env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    while maps.try_recv().is_ok() {} // maps of earlier runs
    let started = Instant::now();
    let mut child = Reaped(cmd.spawn().expect("spawn the program"));
    // stderr is read on a thread: the first-frame line's arrival time, and no full pipe.
    let (tx, rx) = mpsc::channel();
    let stderr = child.0.stderr.take().expect("stderr");
    let marker = program.frame_line;
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if marker.is_some_and(|m| line.contains(m)) {
                let _ = tx.send(started.elapsed());
                if std::env::var_os("HANGAR_BENCH_VERBOSE").is_some() {
                    println!("  {:?}: {line}", started.elapsed());
                }
            }
        }
    });
    let shown = loop {
        let left = TIMEOUT.saturating_sub(started.elapsed());
        match maps.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok((when, window)) if window_name(display, &window) == program.title => {
                break Some(when.duration_since(started));
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if started.elapsed() > TIMEOUT || matches!(child.0.try_wait(), Ok(Some(_))) {
                    break None;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("xev ended"),
        }
    };
    let first_frame = program
        .frame_line
        .and_then(|_| rx.recv_timeout(Duration::from_secs(5)).ok());
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
    shown.map(|shown| Launch { shown, first_frame })
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    values.get(values.len() / 2).copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "—".to_owned(),
        |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0),
    )
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("launch: skipped (run it with `cargo bench --bench launch`)");
        return;
    }
    for (tool, package) in [
        ("Xvfb", "xvfb"),
        ("xdotool", "xdotool"),
        ("xdpyinfo", "x11-utils"),
    ] {
        assert!(
            find_program(tool).is_some(),
            "{tool} is needed (Debian package: {package})"
        );
    }
    let runs: usize = std::env::var("HANGAR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(7);
    let hangar =
        std::env::var("HANGAR_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hangar").to_owned());
    let mut programs = vec![
        Program {
            label: "hangar",
            argv: vec![hangar.clone()],
            title: "Hangar",
            frame_line: Some("first frame painted"),
            env: vec![],
        },
        // GTK's GL renderer on Mesa's llvmpipe (what GTK itself would pick here), whose setup
        // costs part of the first frame.
        Program {
            label: "hangar (GSK_RENDERER=gl)",
            argv: vec![hangar.clone()],
            title: "Hangar",
            frame_line: Some("first frame painted"),
            env: vec![("GSK_RENDERER", "gl")],
        },
    ];
    match find_program("virt-manager") {
        Some(path) => programs.push(Program {
            label: "virt-manager",
            argv: vec![
                path.to_string_lossy().into_owned(),
                "--no-fork".into(),
                "--connect".into(),
                "test:///default".into(),
            ],
            title: "Virtual Machine Manager",
            frame_line: None,
            env: vec![],
        }),
        None => println!(
            "launch: virt-manager is not installed; measuring Hangar only \
             (apt-get install --no-install-recommends virt-manager)"
        ),
    }

    let (_xvfb, display) = start_xvfb(None);
    let (_dbus, bus) = start_dbus();
    let (_xev, maps) = map_events(&display);
    std::thread::sleep(Duration::from_millis(300)); // xev selects its events
    let scratch = tempfile::tempdir().expect("scratch dir");
    println!("launch: {hangar}, Xvfb {display}, {runs} runs each (after one warm-up), alternating");
    let mut results: Vec<Vec<Launch>> = programs.iter().map(|_| vec![]).collect();
    for run in 0..=runs {
        for (program, out) in programs.iter().zip(&mut results) {
            match launch(program, &display, &bus, &maps, scratch.path(), run) {
                Some(l) if run > 0 => out.push(l),
                Some(_) => {}
                None => println!("launch: {} mapped no window within {TIMEOUT:?}", program.label),
            }
        }
    }
    println!(
        "{:<26} {:>14} {:>22}  runs (mapped / first frame)",
        "program", "window mapped", "first frame (own log)"
    );
    for (program, launches) in programs.iter().zip(&results) {
        let shown = median(launches.iter().map(|l| l.shown).collect());
        let frames: Vec<Duration> = launches.iter().filter_map(|l| l.first_frame).collect();
        let frame = if frames.is_empty() { None } else { median(frames) };
        let all: Vec<String> = launches
            .iter()
            .map(|l| match l.first_frame {
                Some(f) => format!("{} / {}", ms(Some(l.shown)), ms(Some(f))),
                None => ms(Some(l.shown)),
            })
            .collect();
        println!(
            "{:<26} {:>14} {:>22}  {}",
            program.label,
            ms(shown),
            ms(frame),
            all.join(", ")
        );
    }
    println!(
        "(medians; mapped = the X server's MapNotify of the titled window; first frame = Hangar's frame clock)"
    );
}
