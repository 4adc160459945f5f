//! Driver tests over a real unix socket: the test plays QEMU (listener) and the guest agent.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::*;
use crate::agent::protocol::Message;
use crate::agent::testguest::TestGuest;

const WAIT: Duration = Duration::from_secs(10);
const TEXT: ClipboardType = ClipboardType::UTF8_TEXT;
const CB: Selection = Selection::CLIPBOARD;

struct FakeGuest {
    stream: UnixStream,
    guest: TestGuest,
    inbox: VecDeque<Message>,
}

impl FakeGuest {
    async fn accept(listener: &UnixListener) -> FakeGuest {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .unwrap()
            .unwrap();
        FakeGuest {
            stream,
            guest: TestGuest::new(TestGuest::linux_caps(), 64 << 20),
            inbox: VecDeque::new(),
        }
    }

    /// Accept, then the agent starts: the host's announce arrives, the guest announces.
    async fn start(listener: &UnixListener) -> FakeGuest {
        let mut g = FakeGuest::accept(listener).await;
        assert!(matches!(
            g.recv().await,
            Message::AnnounceCapabilities { request: true, .. }
        ));
        g.send(g.guest.announce(true)).await;
        assert!(matches!(
            g.recv().await,
            Message::AnnounceCapabilities { request: false, .. }
        ));
        assert!(matches!(g.recv().await, Message::MaxClipboard { .. }));
        g
    }

    async fn send(&mut self, bytes: Vec<u8>) {
        self.stream.write_all(&bytes).await.unwrap();
    }

    async fn recv(&mut self) -> Message {
        let mut buf = vec![0; 8192];
        loop {
            if let Some(m) = self.inbox.pop_front() {
                return m;
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf))
                .await
                .expect("no message from the host")
                .unwrap();
            assert!(n > 0, "host closed the connection");
            self.inbox.extend(self.guest.feed(&buf[..n]));
        }
    }

    /// Nothing arrives within a short while.
    async fn quiet(&mut self) {
        assert!(self.inbox.is_empty(), "{:?}", self.inbox);
        let mut buf = [0; 64];
        let r = tokio::time::timeout(Duration::from_millis(300), self.stream.read(&mut buf)).await;
        assert!(r.is_err(), "the host sent something: {r:?}");
    }
}

fn setup(policy: Policy) -> (tempfile::TempDir, PathBuf, UnixListener, AgentHandle) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vdagent.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut options = AgentOptions::new(&path, policy);
    options.reconnect_max = Duration::from_millis(200);
    options.request_timeout = Duration::from_secs(5);
    let handle = AgentHandle::spawn(options);
    (dir, path, listener, handle)
}

async fn event(rx: &mut broadcast::Receiver<AgentEvent>, want: impl Fn(&AgentEvent) -> bool) -> AgentEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = rx.recv().await.unwrap();
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event did not come")
}

async fn guest_active(handle: &AgentHandle) {
    let mut status = handle.watch_status();
    tokio::time::timeout(WAIT, status.wait_for(|s| s.guest_caps.is_some()))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn handshake_and_status() {
    let (_dir, _path, listener, handle) = setup(Policy::default());
    let mut events = handle.subscribe();
    let _g = FakeGuest::start(&listener).await;
    event(&mut events, |e| *e == AgentEvent::Connected).await;
    let active = event(&mut events, |e| matches!(e, AgentEvent::GuestAgentActive { .. })).await;
    assert_eq!(
        active,
        AgentEvent::GuestAgentActive {
            caps: TestGuest::linux_caps()
        }
    );
    guest_active(&handle).await;
    assert!(handle.status().connected);
}

#[tokio::test]
async fn host_copy_reaches_the_guest() {
    let (_dir, _path, listener, handle) = setup(Policy::default());
    // Offered before the guest agent runs: grabbed once it announces.
    handle.offer_text("from the host\nline 2".into()).unwrap();
    let mut g = FakeGuest::start(&listener).await;
    assert_eq!(
        g.recv().await,
        Message::ClipboardGrab {
            selection: CB,
            serial: None,
            types: vec![TEXT]
        }
    );
    g.send(g.guest.request(CB, TEXT)).await;
    let want = Message::Clipboard {
        selection: CB,
        kind: TEXT,
        data: b"from the host\nline 2".to_vec(),
    };
    assert_eq!(g.recv().await, want);
    // A new copy grabs again and answers with the new text.
    handle.offer_text("second".into()).unwrap();
    assert!(matches!(g.recv().await, Message::ClipboardGrab { .. }));
    g.send(g.guest.request(CB, TEXT)).await;
    assert!(matches!(g.recv().await, Message::Clipboard { data, .. } if data == b"second"));
    // Other selections and types get "no data".
    g.send(g.guest.request(CB, ClipboardType::IMAGE_PNG)).await;
    assert!(matches!(
        g.recv().await,
        Message::Clipboard {
            kind: ClipboardType::NONE,
            ..
        }
    ));
    handle.withdraw_text().unwrap();
    assert_eq!(g.recv().await, Message::ClipboardRelease { selection: CB });
}

#[tokio::test]
async fn guest_copy_reaches_the_host_eagerly() {
    let (_dir, _path, listener, handle) = setup(Policy::default());
    let mut events = handle.subscribe();
    let mut g = FakeGuest::start(&listener).await;
    guest_active(&handle).await;
    assert_eq!(handle.request_guest_text().await, Err(AgentError::NoGuestText));
    g.send(g.guest.grab(CB, &[TEXT])).await;
    assert_eq!(
        g.recv().await,
        Message::ClipboardRequest {
            selection: CB,
            kind: TEXT
        }
    );
    // A paste on the host while the answer is on its way waits for it (no second request).
    let pending = tokio::spawn({
        let handle = handle.clone();
        async move { handle.request_guest_text().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    g.send(g.guest.clipboard(CB, TEXT, "from the guest ✓".as_bytes()))
        .await;
    let got = event(&mut events, |e| matches!(e, AgentEvent::GuestClipboardText(_))).await;
    assert_eq!(got, AgentEvent::GuestClipboardText("from the guest ✓".into()));
    assert_eq!(pending.await.unwrap(), Ok("from the guest ✓".into()));
    assert_eq!(handle.request_guest_text().await, Ok("from the guest ✓".into()));
    // Echo guard: the GUI mirroring that text to the host clipboard does not grab it back.
    handle.offer_text("from the guest ✓".into()).unwrap();
    g.quiet().await;
    // The guest releases: nothing to paste any more.
    g.send(g.guest.release(CB)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(handle.request_guest_text().await, Err(AgentError::NoGuestText));
    // PRIMARY grabs are not fetched.
    g.send(g.guest.grab(Selection::PRIMARY, &[TEXT])).await;
    g.quiet().await;
}

#[tokio::test]
async fn policy_switches_block_each_direction() {
    let (_dir, _path, listener, handle) = setup(Policy {
        guest_to_host: false,
        ..Policy::default()
    });
    let mut g = FakeGuest::start(&listener).await;
    guest_active(&handle).await;
    g.send(g.guest.grab(CB, &[TEXT])).await;
    g.quiet().await; // no request for the guest's data
    assert_eq!(handle.request_guest_text().await, Err(AgentError::GuestToHostOff));
    handle.offer_text("allowed".into()).unwrap();
    assert!(matches!(g.recv().await, Message::ClipboardGrab { .. }));
    // Host → guest off: the grab is withdrawn and new offers are refused.
    handle
        .set_policy(Policy {
            host_to_guest: false,
            guest_to_host: false,
            ..Policy::default()
        })
        .unwrap();
    assert_eq!(g.recv().await, Message::ClipboardRelease { selection: CB });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        handle.offer_text("blocked".into()),
        Err(AgentError::HostToGuestOff)
    );
    g.send(g.guest.request(CB, TEXT)).await;
    assert!(
        matches!(g.recv().await, Message::Clipboard { kind: ClipboardType::NONE, data, .. } if data.is_empty())
    );
    // Turned back on: the host's text is offered again, the guest's is fetched from its next grab.
    handle.set_policy(Policy::default()).unwrap();
    assert!(matches!(g.recv().await, Message::ClipboardGrab { .. }));
    g.send(g.guest.grab(CB, &[TEXT])).await;
    assert!(matches!(g.recv().await, Message::ClipboardRequest { .. }));
}

#[tokio::test]
async fn oversized_guest_clipboard_is_an_error_event() {
    let policy = Policy {
        max_bytes: 1000,
        ..Policy::default()
    };
    let (_dir, _path, listener, handle) = setup(policy);
    let mut events = handle.subscribe();
    let mut g = FakeGuest::start(&listener).await;
    g.send(g.guest.grab(CB, &[TEXT])).await;
    assert!(matches!(g.recv().await, Message::ClipboardRequest { .. }));
    g.send(g.guest.clipboard(CB, TEXT, &[b'x'; 5000])).await;
    let e = event(&mut events, |e| matches!(e, AgentEvent::Error(_))).await;
    let AgentEvent::Error(e) = e else { unreachable!() };
    assert_eq!(
        e,
        AgentError::GuestTooLarge {
            size: Some(5000),
            limit: 1000
        }
    );
    assert!(e
        .to_string()
        .starts_with("the guest's clipboard is larger than the 1000 bytes limit"));
    assert!(matches!(
        handle.offer_text("y".repeat(1001)),
        Err(AgentError::HostTooLarge { .. })
    ));
}

#[tokio::test]
async fn reconnects_when_qemu_restarts() {
    let (_dir, path, listener, handle) = setup(Policy::default());
    let mut events = handle.subscribe();
    let g = FakeGuest::start(&listener).await;
    guest_active(&handle).await;
    // QEMU exits: socket closed and removed.
    drop(g);
    drop(listener);
    std::fs::remove_file(&path).unwrap();
    event(&mut events, |e| *e == AgentEvent::Disconnected).await;
    assert_eq!(handle.status().guest_caps, None);
    assert!(matches!(
        handle.request_guest_text().await,
        Err(AgentError::NotConnected { .. })
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // QEMU is back.
    let listener = UnixListener::bind(&path).unwrap();
    let mut g = FakeGuest::start(&listener).await;
    event(&mut events, |e| *e == AgentEvent::Connected).await;
    guest_active(&handle).await;
    handle.resize_guest(1280, 720).await.unwrap();
    assert!(matches!(g.recv().await, Message::MonitorsConfig(c) if c.monitors[0].width == 1280));
    // The guest port closes (agent stopped): the agent is gone until it announces again.
    handle.notify_guest_port(false).unwrap();
    event(&mut events, |e| *e == AgentEvent::GuestAgentGone).await;
    let mut status = handle.watch_status();
    tokio::time::timeout(WAIT, status.wait_for(|s| s.guest_caps.is_none()))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_closes_and_stops() {
    let (_dir, _path, listener, handle) = setup(Policy::default());
    let mut g = FakeGuest::start(&listener).await;
    handle.shutdown();
    let mut buf = [0; 16];
    let n = tokio::time::timeout(WAIT, g.stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "connection closed");
    let stopped = tokio::time::timeout(WAIT, async {
        while handle.offer_text("x".into()).is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(stopped.is_ok());
    assert_eq!(handle.request_guest_text().await, Err(AgentError::Stopped));
}

#[tokio::test]
async fn without_qemu_requests_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("absent.sock");
    let handle = AgentHandle::spawn(AgentOptions::new(path, Policy::default()));
    let e = handle.request_guest_text().await.unwrap_err();
    assert!(e.to_string().contains("absent.sock"), "{e}");
    assert!(matches!(
        handle.resize_guest(800, 600).await,
        Err(AgentError::NotConnected { .. })
    ));
    handle.offer_text("kept for later".into()).unwrap();
}

#[tokio::test]
async fn a_new_connection_can_ask_for_text_copied_before_it() {
    let (_dir, _path, listener, handle) = setup(Policy::default());
    let mut events = handle.subscribe();
    let mut g = FakeGuest::start(&listener).await;
    guest_active(&handle).await;
    // No grab seen on this connection: a plain request knows of nothing, asking does ask.
    assert_eq!(handle.request_guest_text().await, Err(AgentError::NoGuestText));
    let asked = tokio::spawn({
        let handle = handle.clone();
        async move { handle.ask_guest_text().await }
    });
    assert_eq!(
        g.recv().await,
        Message::ClipboardRequest {
            selection: CB,
            kind: TEXT
        }
    );
    g.send(g.guest.clipboard(CB, TEXT, b"copied earlier")).await;
    assert_eq!(asked.await.unwrap(), Ok("copied earlier".into()));
    // Once the host owns the guest's clipboard there is nothing to ask for.
    let asked = tokio::spawn({
        let handle = handle.clone();
        async move {
            handle.offer_text("host text".into()).unwrap();
            handle.ask_guest_text().await
        }
    });
    assert!(matches!(g.recv().await, Message::ClipboardGrab { .. }));
    assert_eq!(asked.await.unwrap(), Err(AgentError::NoGuestText));
    // The guest pastes the host's text: reported with its size.
    g.send(g.guest.request(CB, TEXT)).await;
    assert!(matches!(g.recv().await, Message::Clipboard { data, .. } if data == b"host text"));
    let sent = event(&mut events, |e| matches!(e, AgentEvent::HostTextSent { .. })).await;
    assert_eq!(sent, AgentEvent::HostTextSent { bytes: 9 });
}
