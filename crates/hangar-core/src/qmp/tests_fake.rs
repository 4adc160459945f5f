//! Tests of the client against a scripted fake QMP server on a unix socket.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixListener;

use super::*;

const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}"#;

/// A listening socket in a fresh temporary directory (kept alive by the returned guard).
fn fake() -> (tempfile::TempDir, PathBuf, UnixListener) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qmp.sock");
    let listener = UnixListener::bind(&path).unwrap();
    (dir, path, listener)
}

struct Conn {
    lines: Lines<BufReader<OwnedReadHalf>>,
    wr: OwnedWriteHalf,
}

impl Conn {
    async fn accept(l: &UnixListener) -> Conn {
        let (s, _) = l.accept().await.unwrap();
        let (rd, wr) = s.into_split();
        Conn {
            lines: BufReader::new(rd).lines(),
            wr,
        }
    }

    /// Accepts, greets and answers `qmp_capabilities`.
    async fn handshake(l: &UnixListener) -> Conn {
        let mut c = Conn::accept(l).await;
        c.send(GREETING).await;
        let cmd = c.recv().await;
        assert_eq!(cmd["execute"], "qmp_capabilities");
        c.reply(&cmd, json!({})).await;
        c
    }

    async fn send(&mut self, line: &str) {
        self.wr.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = self.lines.next_line().await.unwrap().expect("client closed");
        serde_json::from_str(&line).unwrap()
    }

    async fn reply(&mut self, cmd: &Value, ret: Value) {
        self.send(&json!({"return": ret, "id": cmd["id"]}).to_string())
            .await;
    }

    async fn event(&mut self, name: &str, data: Value) {
        let ev = json!({"event": name, "data": data, "timestamp": {"seconds": 1, "microseconds": 2}});
        self.send(&ev.to_string()).await;
    }
}

fn opts(command_ms: u64) -> QmpOptions {
    QmpOptions {
        command_timeout: Duration::from_millis(command_ms),
        handshake_timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn handshake_typed_command_and_greeting() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let cmd = c.recv().await;
        assert_eq!(cmd["execute"], "query-status");
        assert_eq!(cmd["arguments"], json!({}));
        c.reply(
            &cmd,
            json!({"running": false, "singlestep": false, "status": "prelaunch"}),
        )
        .await;
        let cmd = c.recv().await;
        assert_eq!(cmd["execute"], "human-monitor-command");
        assert_eq!(cmd["arguments"], json!({"command-line": "info version"}));
        c.reply(&cmd, json!("7.2.0\r\n")).await;
        let cmd = c.recv().await;
        assert_eq!(cmd["execute"], "device_add");
        assert_eq!(
            cmd["arguments"],
            json!({"driver": "usb-tablet", "id": "t0", "bus": "xhci.0"})
        );
        c.reply(&cmd, json!({})).await;
        c
    });
    let (qmp, _ev) = Qmp::connect(&path).await.unwrap();
    assert_eq!(qmp.greeting().version, (7, 2, 0));
    assert_eq!(qmp.greeting().capabilities, vec!["oob".to_owned()]);
    // The handle and its futures must be usable from spawned tasks.
    fn send_sync<T: Send + Sync + Clone>(t: &T) -> &T {
        t
    }
    fn send<F: std::future::Future + Send>(f: F) -> F {
        f
    }
    let st = send(send_sync(&qmp).execute(qapi_qmp::query_status {}))
        .await
        .unwrap();
    assert!(!st.running);
    assert!(matches!(st.status, qapi_qmp::RunState::prelaunch));
    assert_eq!(qmp.hmp("info version").await.unwrap(), "7.2.0\r\n");
    let add = qapi_qmp::device_add::new("usb-tablet", Some("t0".to_owned()), Some("xhci.0".to_owned()), []);
    qmp.execute(add).await.unwrap();
    assert!(qmp.is_connected());
    server.await.unwrap();
}

#[tokio::test]
async fn replies_out_of_order_with_unknown_events_interleaved() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let a = c.recv().await;
        let b = c.recv().await;
        c.event("SOMETHING_NEW", json!({"x": [1, 2]})).await;
        c.reply(&b, json!({"which": b["arguments"]["n"]})).await;
        c.send(r#"{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}"#)
            .await;
        c.send("[1, 2, 3]").await; // valid JSON but not a message: ignored
        c.send(r#"{"return": {}, "id": 123456}"#).await; // reply nobody waits for: ignored
        c.reply(&a, json!({"which": a["arguments"]["n"]})).await;
        c.event("RESUME", json!({})).await;
        c
    });
    let (qmp, mut ev) = Qmp::connect(&path).await.unwrap();
    let q2 = qmp.clone();
    let (ra, rb) = tokio::join!(
        qmp.execute_raw(json!({"execute": "x-a", "arguments": {"n": 1}})),
        async {
            // Make sure the second command goes out second.
            tokio::time::sleep(Duration::from_millis(50)).await;
            q2.execute_raw(json!({"execute": "x-b", "arguments": {"n": 2}, "id": "ignored"}))
                .await
        }
    );
    assert_eq!(ra.unwrap(), json!({"which": 1}));
    assert_eq!(rb.unwrap(), json!({"which": 2}));
    assert_eq!(
        ev.recv().await,
        Some(QmpEvent::Other {
            name: "SOMETHING_NEW".into(),
            data: json!({"x": [1, 2]})
        })
    );
    let stop = ev.recv_timed().await.unwrap();
    assert_eq!(stop.event, QmpEvent::Stop);
    assert_eq!(
        stop.timestamp,
        Some(std::time::UNIX_EPOCH + Duration::from_micros(1_000_002))
    );
    assert_eq!(ev.recv().await, Some(QmpEvent::Resume));
    assert!(qmp.is_connected());
    server.await.unwrap();
}

#[tokio::test]
async fn qemu_error_becomes_command_error_with_verbatim_desc() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let cmd = c.recv().await;
        let err =
            json!({"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}, "id": cmd["id"]});
        c.send(&err.to_string()).await;
        c
    });
    let (qmp, _ev) = Qmp::connect(&path).await.unwrap();
    let err = qmp
        .execute(qapi_qmp::device_del { id: "nope".into() })
        .await
        .unwrap_err();
    assert!(matches!(&err, QmpError::Command { class, .. } if class == "DeviceNotFound"));
    assert_eq!(err.to_string(), "Device 'nope' not found");
    assert!(qmp.is_connected());
    server.await.unwrap();
}

#[tokio::test]
async fn garbage_line_fails_pending_command_and_closes() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let _cmd = c.recv().await;
        c.send("this is not JSON at all").await;
        c
    });
    let (qmp, mut ev) = Qmp::connect(&path).await.unwrap();
    let err = qmp.execute(qapi_qmp::stop {}).await.unwrap_err();
    assert!(
        matches!(&err, QmpError::Protocol(m) if m.contains("not JSON")),
        "{err}"
    );
    assert!(!qmp.is_connected());
    assert_eq!(ev.recv().await, None);
    let again = qmp.execute(qapi_qmp::cont {}).await.unwrap_err();
    assert!(matches!(again, QmpError::Protocol(_)));
    let _c = server.await.unwrap();
}

#[tokio::test]
async fn oversized_message_closes_connection() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let _cmd = c.recv().await;
        let chunk = vec![b'x'; 1024 * 1024];
        // No newline ever: the client must give up on size, not wait for the end of the line.
        for _ in 0..(MAX_MESSAGE_SIZE / chunk.len() + 2) {
            if c.wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        c
    });
    let (qmp, _ev) = Qmp::connect(&path).await.unwrap();
    let err = qmp.execute(qapi_qmp::query_status {}).await.unwrap_err();
    assert!(
        matches!(&err, QmpError::Protocol(m) if m.contains("16 MiB")),
        "{err}"
    );
    assert!(!qmp.is_connected());
    drop(qmp);
    server.await.unwrap();
}

#[tokio::test]
async fn server_closing_mid_command_is_disconnected_immediately() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let _cmd = c.recv().await;
        c.event("SHUTDOWN", json!({"guest": false, "reason": "host-qmp-quit"}))
            .await;
        drop(c);
    });
    let (qmp, mut ev) = Qmp::connect_with(&path, opts(30_000)).await.unwrap();
    let start = Instant::now();
    let err = qmp.execute(qapi_qmp::quit {}).await.unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        ev.recv().await,
        Some(QmpEvent::Shutdown {
            guest: false,
            reason: "host-qmp-quit".into()
        })
    );
    assert_eq!(ev.recv().await, None);
    assert!(!qmp.is_connected());
    assert!(qmp
        .execute(qapi_qmp::query_status {})
        .await
        .unwrap_err()
        .is_disconnected());
    assert_eq!(qmp.subscribe().recv().await, None);
    server.await.unwrap();
}

#[tokio::test]
async fn command_timeout_then_connection_still_usable() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let slow = c.recv().await;
        let next = c.recv().await;
        // The late answer to the timed-out command must not be taken for the next one's.
        c.reply(&slow, json!({"late": true})).await;
        c.reply(&next, json!({"late": false})).await;
        c
    });
    let (qmp, _ev) = Qmp::connect_with(&path, opts(30_000)).await.unwrap();
    let start = Instant::now();
    let err = qmp
        .execute_raw_timeout(json!({"execute": "x-slow"}), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QmpError::Timeout { command, .. } if command == "x-slow"),
        "{err}"
    );
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        qmp.execute_raw(json!({"execute": "x-next"})).await.unwrap(),
        json!({"late": false})
    );
    assert!(qmp.is_connected());
    server.await.unwrap();
}

#[tokio::test]
async fn default_timeout_applies() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let _ignored = c.recv().await;
        c
    });
    let (qmp, _ev) = Qmp::connect_with(&path, opts(150)).await.unwrap();
    assert_eq!(qmp.default_timeout(), Duration::from_millis(150));
    let err = qmp.execute(qapi_qmp::stop {}).await.unwrap_err();
    assert!(matches!(err, QmpError::Timeout { .. }));
    server.await.unwrap();
}

#[tokio::test]
async fn handshake_failures_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let err = Qmp::connect(&dir.path().join("missing.sock")).await.unwrap_err();
    assert!(matches!(err, QmpError::Connect { .. }), "{err}");

    // Silent server (e.g. another client holds the monitor).
    let (_d, path, l) = fake();
    let server = tokio::spawn(async move { Conn::accept(&l).await });
    let o = QmpOptions {
        handshake_timeout: Duration::from_millis(200),
        ..QmpOptions::default()
    };
    let err = Qmp::connect_with(&path, o).await.unwrap_err();
    assert!(
        matches!(&err, QmpError::Handshake { reason, .. } if reason.contains("no QMP greeting")),
        "{err}"
    );
    server.await.unwrap();

    // Not QMP at all.
    let (_d, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::accept(&l).await;
        c.send("SSH-2.0-OpenSSH").await;
        c
    });
    let err = Qmp::connect(&path).await.unwrap_err();
    assert!(
        matches!(&err, QmpError::Handshake { reason, .. } if reason.contains("not JSON")),
        "{err}"
    );
    server.await.unwrap();

    // Accepted and closed at once (QEMU exiting), before or after the greeting.
    let (_d, path, l) = fake();
    let server = tokio::spawn(async move { drop(Conn::accept(&l).await) });
    assert!(Qmp::connect(&path).await.unwrap_err().is_disconnected());
    server.await.unwrap();
    let (_d, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::accept(&l).await;
        c.send(GREETING).await;
        let _caps = c.recv().await;
    });
    assert!(Qmp::connect(&path).await.unwrap_err().is_disconnected());
    server.await.unwrap();

    // Capabilities refused.
    let (_d, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::accept(&l).await;
        c.send(GREETING).await;
        let cmd = c.recv().await;
        let err = json!({"error": {"class": "CommandNotFound", "desc": "nope"}, "id": cmd["id"]});
        c.send(&err.to_string()).await;
        c
    });
    let err = Qmp::connect(&path).await.unwrap_err();
    assert!(
        matches!(&err, QmpError::Handshake { reason, .. } if reason.contains("nope")),
        "{err}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn dropping_last_handle_closes_socket_and_ends_events() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        // EOF from the client.
        assert!(c.lines.next_line().await.unwrap().is_none());
    });
    let (qmp, mut ev) = Qmp::connect(&path).await.unwrap();
    let other = qmp.clone();
    drop(qmp);
    assert!(other.is_connected());
    drop(other);
    assert_eq!(ev.recv().await, None);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn fd_is_passed_with_the_command() {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::io::{IoSliceMut, Read, Seek, Write};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd};

    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut fds = Vec::new();
        s.writable().await.unwrap();
        s.try_write(format!("{GREETING}\n").as_bytes()).unwrap();
        let mut handled = 0;
        while handled < 2 {
            s.readable().await.unwrap();
            let mut chunk = [0u8; 4096];
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let res = s.try_io(tokio::io::Interest::READABLE, || {
                let mut iov = [IoSliceMut::new(&mut chunk)];
                let m = recvmsg::<UnixAddr>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
                    .map_err(std::io::Error::from)?;
                let mut got = Vec::new();
                for c in m.cmsgs().map_err(std::io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(f) = c {
                        got.extend(f);
                    }
                }
                Ok((m.bytes, got))
            });
            let Ok((n, got)) = res else { continue };
            buf.extend_from_slice(&chunk[..n]);
            fds.extend(got);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let cmd: Value = serde_json::from_slice(&line).unwrap();
                let reply = if cmd["execute"] == "add-fd" {
                    json!({"return": {"fdset-id": 3, "fd": 42}, "id": cmd["id"]})
                } else {
                    json!({"return": {}, "id": cmd["id"]})
                };
                s.writable().await.unwrap();
                s.try_write(format!("{reply}\n").as_bytes()).unwrap();
                handled += 1;
            }
        }
        fds
    });
    let (qmp, _ev) = Qmp::connect(&path).await.unwrap();
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(b"hello fd").unwrap();
    let info = qmp
        .execute_with_fd(
            qapi_qmp::add_fd {
                fdset_id: None,
                opaque: Some("disk".into()),
            },
            file.as_fd(),
        )
        .await
        .unwrap();
    assert_eq!((info.fdset_id, info.fd), (3, 42));
    let fds = server.await.unwrap();
    assert_eq!(
        fds.len(),
        1,
        "exactly one fd travels with add-fd, none with qmp_capabilities"
    );
    // SAFETY: received over SCM_RIGHTS just now; owned by nobody else.
    let mut got = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    got.rewind().unwrap();
    let mut text = String::new();
    got.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello fd");
}

#[tokio::test]
async fn run_job_sees_events_sent_before_the_reply_and_reports_job_error() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let cmd = c.recv().await;
        assert_eq!(cmd["execute"], "snapshot-load");
        assert_eq!(cmd["arguments"]["job-id"], "load0");
        for status in ["created", "running", "aborting", "concluded"] {
            c.event("JOB_STATUS_CHANGE", json!({"id": "load0", "status": status}))
                .await;
        }
        c.reply(&cmd, json!({})).await;
        let q = c.recv().await;
        assert_eq!(q["execute"], "query-jobs");
        let jobs = json!([{"id": "load0", "type": "snapshot-load", "status": "concluded",
            "current-progress": 1, "total-progress": 1, "error": "Snapshot 't' does not exist"}]);
        c.reply(&q, jobs).await;
        let d = c.recv().await;
        assert_eq!(d["execute"], "job-dismiss");
        assert_eq!(d["arguments"]["id"], "load0");
        c.reply(&d, json!({})).await;
        c
    });
    let (qmp, _ev) = Qmp::connect(&path).await.unwrap();
    let cmd = qapi_qmp::snapshot_load {
        job_id: "load0".into(),
        tag: "t".into(),
        vmstate: "disk0".into(),
        devices: vec!["disk0".into()],
    };
    let err = qmp
        .run_job(cmd, "load0", Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QmpError::Job { id, error } if id == "load0" && error == "Snapshot 't' does not exist")
    );
    server.await.unwrap();
}

#[tokio::test]
async fn run_job_fails_with_disconnected_when_qemu_dies() {
    let (_dir, path, l) = fake();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        let cmd = c.recv().await;
        c.reply(&cmd, json!({})).await;
        c.event("JOB_STATUS_CHANGE", json!({"id": "s", "status": "running"}))
            .await;
    });
    let (qmp, _ev) = Qmp::connect(&path).await.unwrap();
    let cmd = qapi_qmp::snapshot_delete {
        job_id: "s".into(),
        tag: "t".into(),
        devices: vec![],
    };
    let err = qmp.run_job(cmd, "s", Duration::from_secs(30)).await.unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    server.await.unwrap();
}

#[tokio::test]
async fn write_to_vanished_peer_is_disconnected_and_final_events_still_arrive() {
    use std::os::fd::AsRawFd;
    let (_dir, path, l) = fake();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut c = Conn::handshake(&l).await;
        // Stop reading: the client's next write fails with EPIPE.
        let raw = c.wr.as_ref().as_raw_fd();
        nix::sys::socket::shutdown(raw, nix::sys::socket::Shutdown::Read).unwrap();
        go_rx.await.unwrap();
        // What QEMU sends as it exits must still reach subscribers after that failed write.
        c.event("SHUTDOWN", json!({"guest": true, "reason": "guest-shutdown"}))
            .await;
        drop(c);
    });
    let (qmp, mut ev) = Qmp::connect(&path).await.unwrap();
    let err = qmp.execute(qapi_qmp::query_status {}).await.unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    go_tx.send(()).unwrap();
    assert_eq!(
        ev.recv().await,
        Some(QmpEvent::Shutdown {
            guest: true,
            reason: "guest-shutdown".into()
        })
    );
    assert_eq!(ev.recv().await, None);
    assert!(!qmp.is_connected());
    server.await.unwrap();
}
