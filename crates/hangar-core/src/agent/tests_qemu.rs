//! The driver against a real `qemu-system-x86_64` serving the port as a socket chardev
//! (paused with `-S`: no guest runs, so this covers connecting, QEMU exits and restarts).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

const WAIT: Duration = Duration::from_secs(20);

/// A QEMU child killed and reaped on drop.
struct Qemu(Child);

impl Qemu {
    fn start(sock: &Path) -> Qemu {
        let accel = std::env::var("HANGAR_ACCEL").unwrap_or_else(|_| "tcg".into());
        let child = Command::new("qemu-system-x86_64")
            .args([
                "-machine",
                "q35",
                "-accel",
                &accel,
                "-nodefaults",
                "-display",
                "none",
                "-S",
                "-m",
                "64",
            ])
            .arg("-chardev")
            .arg(format!(
                "socket,id=vdagent,path={},server=on,wait=off",
                sock.display()
            ))
            .args(["-device", "virtio-serial-pci"])
            .args([
                "-device",
                "virtserialport,chardev=vdagent,name=com.redhat.spice.0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 must be installed");
        let deadline = Instant::now() + WAIT;
        while !sock.exists() {
            assert!(
                Instant::now() < deadline,
                "QEMU did not create {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Qemu(child)
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_connected(handle: &AgentHandle, connected: bool) {
    let mut status = handle.watch_status();
    tokio::time::timeout(WAIT, status.wait_for(|s| s.connected == connected))
        .await
        .expect("connection state did not change")
        .unwrap();
}

#[tokio::test]
async fn follows_qemu_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("vdagent.sock");
    let mut options = AgentOptions::new(&sock, Policy::default());
    options.reconnect_max = Duration::from_millis(200);
    // Started before QEMU: keeps trying.
    let handle = AgentHandle::spawn(options);
    let mut events = handle.subscribe();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!handle.status().connected);

    let qemu = Qemu::start(&sock);
    wait_connected(&handle, true).await;
    assert_eq!(events.recv().await.unwrap(), AgentEvent::Connected);
    // No guest agent in a paused VM: offers are kept, requests say so.
    handle.offer_text("kept".into()).unwrap();
    assert_eq!(handle.request_guest_text().await, Err(AgentError::NoGuestAgent));

    drop(qemu);
    wait_connected(&handle, false).await;
    assert_eq!(events.recv().await.unwrap(), AgentEvent::Disconnected);

    let _qemu = Qemu::start(&sock);
    wait_connected(&handle, true).await;
    handle.shutdown();
    wait_connected(&handle, false).await;
}
