//! Starting the X server and the clients, sampling their CPU time and memory, and the table.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::ROLE_ENV;
use super::rfb::Server;

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ, 100 on Linux).
const USER_HZ: u64 = 100;

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Fails (naming the Debian package) when a tool the bench needs is missing.
pub fn require_tools() {
    for (tool, package) in [("Xvfb", "xvfb"), ("gvncviewer", "gvncviewer")] {
        assert!(
            find_program(tool).is_some(),
            "{tool} is needed for this benchmark (Debian package: {package})"
        );
    }
}

/// A child process killed when the guard goes away (also when the bench panics).
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Xvfb {
    pub display: String,
    proc: Reaped,
}

impl Xvfb {
    /// Starts Xvfb on a display number it picks itself (`-displayfd`).
    pub fn start() -> Xvfb {
        // The display number comes on Xvfb's stdout (`-displayfd 1`).
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "2048x1280x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Xvfb (Debian package: xvfb): {e}"));
        let stdout = child.stdout.take();
        let proc = Reaped(child);
        let mut number = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut number);
        }
        let number = number.trim();
        assert!(!number.is_empty(), "Xvfb did not report a display number");
        Xvfb {
            display: format!(":{number}"),
            proc,
        }
    }

    fn pid(&self) -> u32 {
        self.proc.0.id()
    }
}

/// CPU time (user + system, all threads) of a process.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // utime and stime are fields 14 and 15; count after the parenthesised command name.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / USER_HZ)
}

/// Peak resident set size (`VmHWM`) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

pub enum Client {
    /// This bench as Hangar's client, with `GSK_RENDERER` set when `renderer` is given.
    Hangar {
        renderer: Option<&'static str>,
    },
    Gvncviewer,
}

impl Client {
    fn label(&self) -> String {
        match self {
            Client::Hangar { renderer: None } => "Hangar (GTK default: GL)".to_owned(),
            Client::Hangar { renderer: Some(r) } => format!("Hangar (GSK_RENDERER={r})"),
            Client::Gvncviewer => "gvncviewer".to_owned(),
        }
    }
}

pub struct Plan {
    pub window: Duration,
    pub warmup: Duration,
    pub logs: PathBuf,
}

pub struct Row {
    label: String,
    hangar: bool,
    seconds: f64,
    painted: u64,
    sent: u64,
    cpu: Duration,
    xvfb_cpu: Duration,
    peak_rss_kib: u64,
}

impl Row {
    fn fps(&self) -> f64 {
        self.painted as f64 / self.seconds
    }

    fn ms_per_frame(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1000.0 / (self.painted.max(1) as f64)
    }
}

fn wait_for(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn tail_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let skip = text.chars().count().saturating_sub(1500);
    text.chars().skip(skip).collect()
}

/// Runs one client against the source and measures it.
pub fn run(client: &Client, plan: &Plan, server: &Server, xvfb: &Xvfb, socket: &Path) -> Row {
    let label = client.label();
    let log = plan.logs.join(format!(
        "client-{}.log",
        label.replace([' ', '(', ')', ':', '='], "_")
    ));
    let stderr =
        std::fs::File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let mut cmd = match client {
        Client::Hangar { renderer } => {
            let exe = std::env::current_exe().unwrap_or_else(|e| panic!("own path: {e}"));
            let mut cmd = Command::new(exe);
            cmd.env(ROLE_ENV, socket).env("GDK_BACKEND", "x11");
            match renderer {
                Some(r) => cmd.env("GSK_RENDERER", r),
                None => cmd.env_remove("GSK_RENDERER"),
            };
            cmd
        }
        Client::Gvncviewer => {
            let mut cmd = Command::new("gvncviewer");
            cmd.arg(format!("127.0.0.1:{}", server.tcp_port - 5900));
            cmd
        }
    };
    let mut child = cmd
        .env("DISPLAY", &xvfb.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("NO_AT_BRIDGE", "1")
        .env("GTK_A11Y", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
    let stdout = child.stdout.take();
    let child = Reaped(child);
    let pid = child.0.id();
    // Hangar's counters, from the client's stdout.
    let paints = Arc::new(AtomicU64::new(0));
    if let Some(out) = stdout {
        let p = paints.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let n = line
                    .strip_prefix("stats ")
                    .and_then(|r| r.split_whitespace().next()?.parse().ok());
                if let Some(n) = n {
                    p.store(n, Ordering::Relaxed);
                }
            }
        });
    }
    let hangar = matches!(client, Client::Hangar { .. });
    let painted_now = || {
        if hangar {
            paints.load(Ordering::Relaxed)
        } else {
            server.served.get()
        }
    };
    let first = server.served.get();
    let started = wait_for(Duration::from_secs(60), || server.served.get() > first + 1);
    assert!(
        started,
        "{label} received no frames within 60 s; its log ends with:\n{}",
        tail_of(&log)
    );
    std::thread::sleep(plan.warmup);
    let (p0, s0, c0, x0, t0) = (
        painted_now(),
        server.served.get(),
        cpu_time(pid),
        cpu_time(xvfb.pid()),
        Instant::now(),
    );
    std::thread::sleep(plan.window);
    let (p1, s1, c1, x1, seconds) = (
        painted_now(),
        server.served.get(),
        cpu_time(pid),
        cpu_time(xvfb.pid()),
        t0.elapsed().as_secs_f64(),
    );
    let peak = peak_rss_kib(pid);
    drop(child);
    // Let the server notice the closed connection before the next client.
    std::thread::sleep(Duration::from_millis(500));
    let row = Row {
        label,
        hangar,
        seconds,
        painted: p1.saturating_sub(p0),
        sent: s1.saturating_sub(s0),
        cpu: c1.saturating_sub(c0),
        xvfb_cpu: x1.saturating_sub(x0),
        peak_rss_kib: peak,
    };
    eprintln!(
        "{}: {:.1} painted/s, {:.1} ms CPU per frame",
        row.label,
        row.fps(),
        row.ms_per_frame(row.cpu)
    );
    row
}

pub fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| client | painted/s | sent/s | CPU ms/frame | +Xvfb ms/frame | CPU % (client) | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} |",
            r.label,
            r.fps(),
            r.sent as f64 / r.seconds,
            r.ms_per_frame(r.cpu),
            r.ms_per_frame(r.cpu + r.xvfb_cpu),
            r.cpu.as_secs_f64() * 100.0 / r.seconds,
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    let Some(base) = rows.iter().find(|r| !r.hangar) else {
        return;
    };
    println!();
    for r in rows.iter().filter(|r| r.hangar) {
        println!(
            "{} / gvncviewer: CPU per frame {:.2}× (with Xvfb {:.2}×), frame rate {:.2}×, peak RSS {:.2}×",
            r.label,
            r.ms_per_frame(r.cpu) / base.ms_per_frame(base.cpu),
            r.ms_per_frame(r.cpu + r.xvfb_cpu) / base.ms_per_frame(base.cpu + base.xvfb_cpu),
            r.fps() / base.fps().max(f64::MIN_POSITIVE),
            r.peak_rss_kib as f64 / (base.peak_rss_kib.max(1) as f64)
        );
    }
}
