//! Cross-implementation round trips: the driver against the separately written
//! `hangar-test-agent` binary (crates/hangar-test-agent, built here with cargo), joined by a
//! relay that plays QEMU's virtio-serial port.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixListener;
use tokio::process::{Child, ChildStdout, Command};

use super::*;

const WAIT: Duration = Duration::from_secs(20);

fn build_test_agent() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hangar-test-agent");
    let target = dir.join("target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cargo must be available to build hangar-test-agent");
    assert!(status.success(), "building hangar-test-agent failed");
    target.join("debug/hangar-test-agent")
}

struct Agent {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Agent {
    /// The next stdout line starting with `prefix` (other lines are skipped).
    async fn expect(&mut self, prefix: &str) -> String {
        tokio::time::timeout(WAIT, async {
            loop {
                let line = self.lines.next_line().await.unwrap().expect("test agent exited");
                if line.starts_with(prefix) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the test agent never printed {prefix:?}"))
    }

    async fn command(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }
}

#[tokio::test]
async fn round_trips_with_the_test_agent_binary() {
    let binary = build_test_agent();
    let dir = tempfile::tempdir().unwrap();
    let host_sock = dir.path().join("vdagent.sock");
    let guest_sock = dir.path().join("guest.sock");
    let host_listener = UnixListener::bind(&host_sock).unwrap();
    let guest_listener = UnixListener::bind(&guest_sock).unwrap();
    // The relay: QEMU's chardev on one side, the guest's port on the other.
    tokio::spawn(async move {
        let (mut host, _) = host_listener.accept().await.unwrap();
        let (mut guest, _) = guest_listener.accept().await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut host, &mut guest).await;
    });
    let handle = AgentHandle::spawn(AgentOptions::new(&host_sock, Policy::default()));
    let mut events = handle.subscribe();
    let mut child = Command::new(&binary)
        .arg("--port")
        .arg(&guest_sock)
        .args(["--grab", "guest says hi\\nline 2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut agent = Agent { child, lines };

    agent.expect("READY").await;
    // Guest → host: the agent grabs at start, the driver fetches at once.
    let text = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(AgentEvent::GuestClipboardText(t)) = events.recv().await {
                return t;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(text, "guest says hi\nline 2");
    agent.expect("SENT 20").await;

    // Host → guest, small and then larger than a chunk.
    handle.offer_text("host says ✓\tok".into()).unwrap();
    assert_eq!(agent.expect("HOST-GRAB").await, "HOST-GRAB 1");
    assert_eq!(
        agent.expect("HOST-CLIPBOARD").await,
        "HOST-CLIPBOARD host says ✓\\tok"
    );
    let big: String = (0..20_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    handle.offer_text(big.clone()).unwrap();
    assert_eq!(
        agent.expect("HOST-CLIPBOARD").await,
        format!("HOST-CLIPBOARD {big}")
    );

    // Guest copies again through its command interface.
    agent.command("grab second\\tcopy").await;
    agent.expect("SENT").await;
    assert_eq!(handle.request_guest_text().await.unwrap(), "second\tcopy");

    handle.resize_guest(1024, 768).await.unwrap();
    assert_eq!(agent.expect("HOST-MONITORS").await, "HOST-MONITORS 1024x768");
    agent.command("quit").await;
    let status = tokio::time::timeout(WAIT, agent.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
