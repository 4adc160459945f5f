//! Opt-in end-to-end test with a REAL Debian 12 guest running the stock `spice-vdagent` and
//! `qemu-guest-agent` (no test doubles in the guest): Hangar's own host side of the vdagent
//! protocol shares the clipboard with it over a VNC VM, both ways, and each policy switch stops
//! its direction; the guest agent answers (hostname, OS) and "Shut Down" goes through it.
//!
//! Not part of the default run (it needs root once to build the guest and ≈3–5 minutes of TCG):
//!
//! ```text
//! sudo tests/debian-guest/build.sh target/debian-guest
//! HANGAR_DEBIAN_GUEST=target/debian-guest cargo test --test agent_debian -- --ignored --nocapture
//! ```
//!
//! The guest's serial console is a root shell; its clipboard is the CLIPBOARD selection of the
//! guest's Xvfb `:0`, read and set with `xclip` (see tests/debian-guest/build.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hangar_core::agent::AgentError;
use hangar_core::config::{Accel, ClipboardConfig, DisplayKind, VmConfig};
use hangar_core::host::HostCaps;
use hangar_core::manager::{Event, Manager, StartOptions, StopMode};
use hangar_core::paths::Paths;
use hangar_core::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::broadcast;

const VM: &str = "debian";
const BOOT_LIMIT: Duration = Duration::from_secs(600);

const BOTH: ClipboardConfig = ClipboardConfig {
    host_to_guest: true,
    guest_to_host: true,
};

fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("HANGAR_DEBIAN_GUEST")
        .map(PathBuf::from)
        .expect("set HANGAR_DEBIAN_GUEST to a folder built by `sudo tests/debian-guest/build.sh DIR`");
    for f in ["root.img", "vmlinuz", "initrd.img"] {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: build the guest first",
            dir.join(f).display()
        );
    }
    dir
}

/// The guest's serial console: a root shell (no echo). Commands are wrapped so their answer
/// comes back as one line `@@TAG:<answer>`.
struct Shell(BufReader<UnixStream>);

impl Shell {
    async fn open(path: &Path) -> Shell {
        Shell(BufReader::new(
            UnixStream::connect(path).await.expect("serial socket"),
        ))
    }

    async fn line(&mut self, prefix: &str, timeout: Duration) -> String {
        let mut seen: Vec<String> = vec![];
        let read = async {
            loop {
                let mut line = String::new();
                let n = self.0.read_line(&mut line).await.expect("serial read");
                assert!(n > 0, "serial closed");
                let line = line.trim_end_matches(['\r', '\n']);
                if let Some(i) = line.find(prefix) {
                    return line[i + prefix.len()..].to_string();
                }
                seen.push(line.to_string());
            }
        };
        let answer = tokio::time::timeout(timeout, read).await;
        answer.unwrap_or_else(|_| {
            let tail = seen.len().saturating_sub(20);
            panic!(
                "no {prefix:?} line from the guest within {timeout:?}; last lines:\n{}",
                seen[tail..].join("\n")
            )
        })
    }

    /// Runs `command` in the guest's shell; returns its output joined on one line.
    async fn run(&mut self, tag: &str, command: &str) -> String {
        let line = format!("echo \"@@{tag}:$({command} 2>&1 | tr '\\n' '|')\"\n");
        self.0
            .get_mut()
            .write_all(line.as_bytes())
            .await
            .expect("serial write");
        self.line(&format!("@@{tag}:"), Duration::from_secs(30)).await
    }

    /// Polls the guest's clipboard until it is `want` (trailing `|` from tr stripped).
    async fn wait_clipboard(&mut self, want: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.run("CLIP", "xclip -o -selection clipboard").await;
            if got.trim_end_matches('|') == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(got);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A guest command that copies `text` (xclip stays in the background to own the selection:
/// its output must not hold the answer's pipe open).
fn set_clipboard(text: &str) -> String {
    format!("printf '{text}' | xclip -selection clipboard >/dev/null 2>&1; echo copied")
}

async fn wait_event(rx: &mut broadcast::Receiver<Event>, limit: Duration, pred: impl Fn(&Event) -> bool) {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .expect("no matching event in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "opt-in: needs a Debian guest built with sudo tests/debian-guest/build.sh (see the file's docs)"]
async fn stock_spice_vdagent_shares_the_clipboard_both_ways_over_vnc() {
    let g = guest_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let runtime = tempfile::Builder::new()
        .prefix("hgd")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let overlay = tmp.path().join("root.qcow2");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(g.join("root.img"))
        .arg(&overlay)
        .status()
        .expect("qemu-img");
    assert!(status.success());

    let paths = Paths::new(tmp.path().join("vms"), runtime.path().join("rt"));
    let m = Manager::new(Store::new(paths), HostCaps::probe());
    let mut c = VmConfig::new(VM);
    c.machine.cpus = 2;
    c.machine.memory_mib = 1024;
    c.machine.accel = Accel::Tcg;
    c.display.kind = DisplayKind::Vnc;
    c.networks.clear();
    c.channels.guest_agent = true;
    let drive = format!("file={},if=virtio,format=qcow2", overlay.display());
    let kernel = g.join("vmlinuz").display().to_string();
    let initrd = g.join("initrd.img").display().to_string();
    for a in [
        "-kernel",
        &kernel,
        "-initrd",
        &initrd,
        "-append",
        "root=/dev/vda rw console=ttyS0,115200 quiet",
        "-drive",
        &drive,
    ] {
        c.advanced.extra_args.push(a.to_string());
    }
    m.store().create(&c).expect("create the VM");

    let t0 = Instant::now();
    let mut events = m.subscribe();
    m.start(VM, &StartOptions::default()).await.expect("start");
    let handle = m.clipboard(VM).await.expect("clipboard channel");
    let mut shell = Shell::open(&m.runtime(VM).serial).await;
    // The login shell prints its marker once systemd reached the serial getty.
    shell.line("HANGAR-DEBIAN-SHELL", BOOT_LIMIT).await;
    eprintln!("Debian shell after {:.0} s", t0.elapsed().as_secs_f64());
    wait_event(
        &mut events,
        Duration::from_secs(180),
        |e| matches!(e, Event::Agent { name, status } if name == VM && status.guest_agent_active),
    )
    .await;
    eprintln!(
        "spice-vdagent announced itself after {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    eprintln!(
        "guest: {}",
        shell
            .run(
                "VER",
                "dpkg-query -W -f '${Package} ${Version}, ' spice-vdagent qemu-guest-agent; cat /etc/debian_version"
            )
            .await
    );

    // Host → guest.
    m.set_clipboard_policy(VM, BOTH).await.expect("policy");
    handle.offer_text("host → guest ✓".into()).expect("offer");
    shell
        .wait_clipboard("host → guest ✓", Duration::from_secs(30))
        .await
        .unwrap_or_else(|got| panic!("guest clipboard is {got:?}"));
    eprintln!("host → guest: ok");

    // Guest → host.
    shell.run("SET", &set_clipboard("from the guest")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match handle.request_guest_text().await {
            Ok(text) if text == "from the guest" => break,
            other => assert!(Instant::now() < deadline, "no guest text: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("guest → host: ok");

    // Host → guest off: refused, and the guest keeps its clipboard.
    m.set_clipboard_policy(
        VM,
        ClipboardConfig {
            host_to_guest: false,
            ..BOTH
        },
    )
    .await
    .expect("policy");
    assert_eq!(
        handle.offer_text("secret".into()),
        Err(AgentError::HostToGuestOff)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = shell.run("CLIP", "xclip -o -selection clipboard").await;
    assert!(!now.contains("secret"), "host text crossed while off: {now:?}");
    // Guest → host off: the guest's new copy does not reach the host.
    m.set_clipboard_policy(
        VM,
        ClipboardConfig {
            guest_to_host: false,
            ..BOTH
        },
    )
    .await
    .expect("policy");
    shell.run("SET", &set_clipboard("blocked")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(handle.request_guest_text().await, Err(AgentError::GuestToHostOff));
    eprintln!("both switches stop their direction: ok");

    // qemu-guest-agent: the details' guest info, then a shut down through the agent.
    let info = m.guest_info(VM).await.expect("guest agent answers");
    eprintln!("guest agent: {info:?}");
    assert_eq!(info.hostname.as_deref(), Some("hangar-debian"));
    let t_stop = Instant::now();
    m.stop(
        VM,
        StopMode::Acpi {
            timeout: Duration::from_secs(240),
        },
    )
    .await
    .expect("shut down");
    assert!(m.pid(VM).is_none(), "QEMU still runs after stop");
    eprintln!("shut down in {:.0} s", t_stop.elapsed().as_secs_f64());
    eprintln!("whole run {:.0} s", t0.elapsed().as_secs_f64());
}
