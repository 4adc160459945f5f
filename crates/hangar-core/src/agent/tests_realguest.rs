//! End to end through a real guest kernel's virtio_console driver: the tiny test guest
//! (tests/guest/build.sh) boots with an extra initramfs segment that adds the static
//! `hangar-test-agent` and starts it on `com.redhat.spice.0` beside the guest's own init.
//! Boots Linux under TCG (≈10 s measured), so it only runs on request:
//! `cargo test -p hangar-core --lib agent::tests_realguest -- --ignored`.
//! `HANGAR_TEST_GUEST_DIR` picks the guest build folder (default `target/test-guest`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::UnixStream;
use tokio::sync::broadcast;

use super::*;

const WAIT: Duration = Duration::from_secs(60);

/// Runs first in the guest: starts the agent in the background once the port exists, then
/// becomes the guest's own init.
const WRAPPER: &str = r#"#!/bin/sh
# The kernel starts /init without stdin/stdout/stderr when rootfs has no /dev/console; give
# the background job real descriptors (devtmpfs mounted again by init.orig is harmless).
mount -t devtmpfs devtmpfs /dev
(
    exec </dev/null >/dev/null 2>&1
    port=
    while [ -z "$port" ]; do
        sleep 0.2
        for p in /sys/class/virtio-ports/*; do
            [ "$(cat "$p/name")" = com.redhat.spice.0 ] && [ -c "/dev/${p##*/}" ] && port=/dev/${p##*/}
        done
    done
    grab=$(sed -n 's/.*hangar_grab=\([^ ]*\).*/\1/p' /proc/cmdline)
    exec /hangar-test-agent --port "$port" --grab "$grab" >/dev/ttyS0 2>&1
) &
exec /init.orig
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build_guest() -> PathBuf {
    let dir = std::env::var_os("HANGAR_TEST_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/test-guest"));
    let status = Command::new("bash")
        .arg(repo_root().join("tests/guest/build.sh"))
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .expect("bash must be available");
    assert!(
        status.success(),
        "tests/guest/build.sh failed ({status}); see its message above"
    );
    dir
}

/// The static agent: built from its own folder so its `.cargo/config.toml` (+crt-static) applies.
fn build_static_agent() -> PathBuf {
    let dir = repo_root().join("crates/hangar-test-agent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--release"])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cargo must be available to build hangar-test-agent");
    assert!(status.success(), "building hangar-test-agent failed");
    dir.join("target/release/hangar-test-agent")
}

/// One file in a `newc` cpio archive.
fn cpio_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
    let fields = [
        ino,
        mode,
        0,
        0,
        1,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out.extend_from_slice(data);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// The guest's initrd followed by a segment with the agent, the wrapper and the original init.
fn initrd_with_agent(guest: &Path, agent: &Path, out: &Path) {
    let mut initrd = std::fs::read(guest.join("initrd.gz")).unwrap();
    while initrd.len() % 4 != 0 {
        initrd.push(0); // the kernel skips zero padding between segments
    }
    let init = std::fs::read(repo_root().join("tests/guest/init.sh")).unwrap();
    cpio_entry(
        &mut initrd,
        1,
        "hangar-test-agent",
        0o100755,
        &std::fs::read(agent).unwrap(),
    );
    cpio_entry(&mut initrd, 2, "init.orig", 0o100755, &init);
    cpio_entry(&mut initrd, 3, "init", 0o100755, WRAPPER.as_bytes());
    cpio_entry(&mut initrd, 0, "TRAILER!!!", 0, &[]);
    std::fs::write(out, initrd).unwrap();
}

async fn expect(lines: &mut Lines<BufReader<OwnedReadHalf>>, prefix: &str) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            let line = lines.next_line().await.unwrap().expect("serial closed");
            let line = line.trim_end_matches('\r');
            eprintln!("guest: {line}");
            if line.starts_with(prefix) {
                return line.to_string();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the guest never printed {prefix:?}"))
}

async fn guest_text(events: &mut broadcast::Receiver<AgentEvent>) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            if let AgentEvent::GuestClipboardText(t) = events.recv().await.unwrap() {
                return t;
            }
        }
    })
    .await
    .expect("no clipboard text from the guest")
}

#[tokio::test]
#[ignore = "boots the tiny Linux guest under TCG (≈10 s, plus building it once); run with --ignored"]
async fn clipboard_through_a_real_guest_kernel() {
    let guest = build_guest();
    let agent = build_static_agent();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let initrd = d.join("initrd");
    initrd_with_agent(&guest, &agent, &initrd);
    let accel = std::env::var("HANGAR_ACCEL").unwrap_or_else(|_| "tcg".into());
    let mut qemu = tokio::process::Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "q35",
            "-accel",
            &accel,
            "-m",
            "256",
            "-nodefaults",
            "-display",
            "none",
        ])
        .arg("-kernel")
        .arg(guest.join("vmlinuz"))
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            "console=ttyS0,115200 console=tty0 loglevel=1 hangar_grab=guest\\nclip",
        ])
        .arg("-serial")
        .arg(format!("unix:{}/serial.sock,server=on,wait=off", d.display()))
        .arg("-chardev")
        .arg(format!(
            "socket,id=vdagent,path={}/vdagent.sock,server=on,wait=off",
            d.display()
        ))
        .args(["-device", "virtio-serial-pci"])
        .args([
            "-device",
            "virtserialport,chardev=vdagent,name=com.redhat.spice.0",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("qemu-system-x86_64 must be installed");
    let deadline = Instant::now() + WAIT;
    while !d.join("vdagent.sock").exists() || !d.join("serial.sock").exists() {
        assert!(Instant::now() < deadline, "QEMU did not create its sockets");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (serial, _serial_w) = UnixStream::connect(d.join("serial.sock"))
        .await
        .unwrap()
        .into_split();
    let mut lines = BufReader::new(serial).lines();
    let handle = AgentHandle::spawn(AgentOptions::new(d.join("vdagent.sock"), Policy::default()));
    let mut events = handle.subscribe();

    // Guest → host: the agent grabs at start; the driver fetches at once.
    expect(&mut lines, "READY").await;
    assert_eq!(guest_text(&mut events).await, "guest\nclip");
    assert_eq!(handle.request_guest_text().await.unwrap(), "guest\nclip");
    // Host → guest, small and across several 2048-byte chunks.
    handle.offer_text("host ✓ text".into()).unwrap();
    assert_eq!(
        expect(&mut lines, "HOST-CLIPBOARD").await,
        "HOST-CLIPBOARD host ✓ text"
    );
    let big: String = (0..6000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    handle.offer_text(big.clone()).unwrap();
    assert_eq!(
        expect(&mut lines, "HOST-CLIPBOARD").await,
        format!("HOST-CLIPBOARD {big}")
    );
    handle.resize_guest(1024, 768).await.unwrap();
    assert_eq!(
        expect(&mut lines, "HOST-MONITORS").await,
        "HOST-MONITORS 1024x768"
    );
    qemu.kill().await.unwrap();
}
