//! Clipboard sharing, typing and agent status against a real QEMU 7.2 (TCG) running the tiny test
//! guest with the static test clipboard agent (`tests/guest/build.sh --with-agent`): the agent
//! serves `com.redhat.spice.0` in the guest, and the guest's serial protocol reads its clipboard
//! (`clipget`) and copies in it (`clipset`). Both the manager API and `hangarctl` are driven.
//!
//! The guest comes from `$HANGAR_TEST_GUEST_AGENT`, else `target/test-guest-agent` (built when
//! out of date). `HANGAR_SKIP_QEMU_TESTS=1` skips this test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hangar_core::agent::AgentError;
use hangar_core::config::{Accel, ClipboardConfig, DisplayKind, VmConfig};
use hangar_core::host::HostCaps;
use hangar_core::manager::{ClipboardError, Event, Manager, StartOptions, StopMode};
use hangar_core::paths::Paths;
use hangar_core::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::broadcast;

const VM: &str = "clip";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn guest() -> PathBuf {
    let dir = std::env::var_os("HANGAR_TEST_GUEST_AGENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-guest-agent"));
    let status = Command::new("bash")
        .arg(repo().join("tests/guest/build.sh"))
        .arg("--with-agent")
        .arg(&dir)
        .status()
        .expect("cannot run tests/guest/build.sh");
    assert!(
        status.success(),
        "tests/guest/build.sh --with-agent failed: {status}"
    );
    dir
}

fn hangarctl() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "hangarctl", "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "cargo build -p hangarctl failed");
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("hangarctl")
}

struct Env {
    _home: tempfile::TempDir,
    _runtime: tempfile::TempDir,
    m: Manager,
    ctl: PathBuf,
}

impl Env {
    /// `hangarctl ARGS` on this home: (exit code, stdout, stderr).
    fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let paths = self.m.store().paths();
        let out = Command::new(&self.ctl)
            .args(args)
            .env("HANGAR_HOME", &paths.vms)
            .env("HANGAR_RUNTIME_DIR", &paths.runtime)
            .env("HANGAR_ACCEL", "tcg")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            !stderr.contains("panicked"),
            "hangarctl {args:?} panicked: {stderr}"
        );
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    /// Free the clipboard channel for a `hangarctl` process.
    async fn release_channel(&self) {
        self.m.close_clipboard(VM).await;
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(pid) = self.m.pid(VM) {
            // SAFETY: plain kill(2) of the QEMU this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The guest's serial console.
struct Serial(BufReader<UnixStream>);

impl Serial {
    async fn open(m: &Manager) -> Serial {
        let log = m.serial_log_path(VM);
        let deadline = Instant::now() + Duration::from_secs(90);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("HANGAR-BOOT-OK")
        {
            assert!(Instant::now() < deadline, "the guest did not boot within 90 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Serial(BufReader::new(
            UnixStream::connect(m.runtime(VM).serial).await.unwrap(),
        ))
    }

    /// Send `command`, return the first line starting with `prefix`.
    async fn ask(&mut self, command: &str, prefix: &str) -> String {
        self.0
            .get_mut()
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.line(prefix).await
    }

    async fn line(&mut self, prefix: &str) -> String {
        let read = async {
            loop {
                let mut line = String::new();
                assert!(self.0.read_line(&mut line).await.unwrap() > 0, "serial closed");
                let line = line.trim_end_matches(['\r', '\n']);
                if line.starts_with(prefix) {
                    return line.to_string();
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .unwrap_or_else(|_| panic!("no {prefix:?} line from the guest"))
    }

    /// What the guest's agent last received from the host, polled until it is `want`.
    async fn wait_clip(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.ask("clipget", "CLIP").await;
            if got == want {
                return;
            }
            if Instant::now() > deadline {
                let log = self.agent_log().await;
                panic!("guest clipboard is {got:?}, not {want:?}; agent log: {log:#?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn agent_log(&mut self) -> Vec<String> {
        self.0.get_mut().write_all(b"agentlog\n").await.unwrap();
        let mut out = vec![];
        loop {
            let line = self.line("AGENTLOG").await;
            if line == "AGENTLOG-END" {
                return out;
            }
            out.push(line);
        }
    }
}

async fn next_event(rx: &mut broadcast::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("no matching event within 30 s")
}

async fn setup() -> Env {
    let g = guest();
    let home = tempfile::tempdir().unwrap();
    let runtime = tempfile::Builder::new().prefix("hgc").tempdir_in("/tmp").unwrap();
    let paths = Paths::new(home.path().join("vms"), runtime.path().join("rt"));
    let m = Manager::new(Store::new(paths), HostCaps::probe());
    let mut c = VmConfig::new(VM);
    c.machine.cpus = 1;
    c.machine.memory_mib = 256;
    c.machine.accel = Accel::Tcg;
    c.display.kind = DisplayKind::None;
    c.networks.clear();
    c.channels.guest_agent = false;
    c.usb.controller = false;
    c.usb.tablet = false;
    let kernel = g.join("vmlinuz").display().to_string();
    let initrd = g.join("initrd.gz").display().to_string();
    for a in [
        "-kernel",
        &kernel,
        "-initrd",
        &initrd,
        "-append",
        "console=ttyS0,115200",
    ] {
        c.advanced.extra_args.push(a.to_string());
    }
    m.store().create(&c).unwrap();
    Env {
        _home: home,
        _runtime: runtime,
        m,
        ctl: hangarctl(),
    }
}

const BOTH: ClipboardConfig = ClipboardConfig {
    host_to_guest: true,
    guest_to_host: true,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clipboard_typing_and_agent_status_with_a_real_guest() {
    if std::env::var("HANGAR_SKIP_QEMU_TESTS").is_ok_and(|v| v == "1") {
        return;
    }
    let env = setup().await;
    let m = &env.m;
    let t0 = Instant::now();
    let mut events = m.subscribe();
    m.start(VM, &StartOptions::default()).await.unwrap();
    let handle = m.clipboard(VM).await.unwrap();
    let mut serial = Serial::open(m).await;

    // The agent status event when the guest agent starts.
    let ev = next_event(
        &mut events,
        |e| matches!(e, Event::Agent { name, status } if name == VM && status.guest_agent_active),
    )
    .await;
    let Event::Agent { status, .. } = ev else {
        unreachable!()
    };
    assert!(status.channel_open && status.caps.is_some(), "{status:?}");
    assert_eq!(m.agent_state(VM), Some(status));
    eprintln!("guest agent active after {:.1} s", t0.elapsed().as_secs_f64());

    // Host → guest off: refused at once, nothing reaches the guest.
    let off = ClipboardConfig {
        host_to_guest: false,
        ..BOTH
    };
    m.set_clipboard_policy(VM, off).await.unwrap();
    let e = handle.offer_text("secret".into()).unwrap_err();
    assert_eq!(e, AgentError::HostToGuestOff);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(serial.ask("clipget", "CLIP").await, "CLIP-NONE");
    // On: the guest's agent fetches it as soon as the host offers it.
    m.set_clipboard_policy(VM, BOTH).await.unwrap();
    handle.offer_text("host → guest ✓".into()).unwrap();
    serial.wait_clip("CLIP:host → guest ✓").await;

    // Guest → host off: the guest's copy does not cross.
    let mut agent_events = handle.subscribe();
    let off = ClipboardConfig {
        guest_to_host: false,
        ..BOTH
    };
    m.set_clipboard_policy(VM, off).await.unwrap();
    assert_eq!(serial.ask("clipset blocked", "CLIPSET").await, "CLIPSET:blocked");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(handle.request_guest_text().await, Err(AgentError::GuestToHostOff));
    assert_eq!(handle.ask_guest_text().await, Err(AgentError::GuestToHostOff));
    while let Ok(e) = agent_events.try_recv() {
        assert!(
            !matches!(e, hangar_core::agent::AgentEvent::GuestClipboardText(_)),
            "{e:?} crossed"
        );
    }
    // On: the next guest copy reaches the host.
    m.set_clipboard_policy(VM, BOTH).await.unwrap();
    serial.ask("clipset guest\\ncopy", "CLIPSET").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match handle.request_guest_text().await {
            Ok(text) => {
                assert_eq!(text, "guest\ncopy");
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "no guest text: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Typing: a US-layout string with shifted characters reaches the guest's tty1.
    let report = m.type_text(VM, "Hello, World!\n").await.unwrap();
    assert_eq!(report.typed, 14);
    assert!(report.skipped.is_empty());
    assert_eq!(serial.line("KEYLINE:").await, "KEYLINE:Hello, World!");
    eprintln!("typed 14 characters in {:.2} s", report.seconds);

    // While this process shares the clipboard, hangarctl is told the channel is taken.
    let (code, _, err) = env.ctl(&["clipboard", VM, "get", "--wait", "5"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another program is connected"), "{err}");
    // A policy change by another process reaches this one's clipboard within about a second.
    let (code, out, err) = env.ctl(&["clipboard", VM, "policy", "--host-to-guest", "off"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("host to guest: off"), "{out}");
    let mut status = handle.watch_status();
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| !s.policy.host_to_guest),
    )
    .await
    .expect("the policy edit did not reach the running clipboard")
    .unwrap();
    assert!(matches!(
        handle.offer_text("x".into()),
        Err(AgentError::HostToGuestOff)
    ));

    // hangarctl on its own connection.
    env.release_channel().await;
    let (code, _, err) = env.ctl(&["clipboard", VM, "send", "blocked by cli", "--wait", "5"]);
    assert_eq!(code, 1);
    assert!(err.contains("turned off"), "{err}");
    env.ctl(&["clipboard", VM, "policy", "--host-to-guest", "on"]);
    let (code, out, err) = env.ctl(&["clipboard", VM, "send", "from hangarctl", "--wait", "20"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pasted the text (14 bytes)"), "{out}");
    serial.wait_clip("CLIP:from hangarctl").await;
    serial.ask("clipset for the cli", "CLIPSET").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, out, err) = env.ctl(&["clipboard", VM, "get"]);
    assert_eq!((code, out.as_str()), (0, "for the cli\n"), "{err}");
    env.ctl(&["clipboard", VM, "policy", "--guest-to-host", "off"]);
    let (code, out, err) = env.ctl(&["clipboard", VM, "get"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("turned off"), "{err}");
    env.ctl(&["clipboard", VM, "policy", "--guest-to-host", "on"]);
    let (code, out, err) = env.ctl(&["--json", "type", VM, "Typed by CLI: 100% (ok)?\n"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"typed\": 25"), "{out}");
    assert_eq!(serial.line("KEYLINE:").await, "KEYLINE:Typed by CLI: 100% (ok)?");
    let (code, out, err) = env.ctl(&["agent", VM]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("spice-vdagent: running (clipboard: yes"), "{out}");
    assert!(out.contains("qemu-guest-agent: VM"), "{out}");

    // The shared clipboard ends with the VM.
    let handle = m.clipboard(VM).await.unwrap();
    m.stop(VM, StopMode::Force).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.agent_state(VM).is_some() {
        assert!(Instant::now() < deadline, "the clipboard outlived the VM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(matches!(
        handle.request_guest_text().await,
        Err(AgentError::Stopped)
    ));
    assert!(matches!(m.clipboard(VM).await, Err(ClipboardError::Manager(_))));
    eprintln!("whole test: {:.1} s", t0.elapsed().as_secs_f64());
}
