//! The client against a scripted fake agent on a unix socket.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::UnixListener;

use super::fake::{canned, listen, sync_reply, FakeConn};
use super::*;

fn setup() -> (tempfile::TempDir, PathBuf, UnixListener) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qga.sock");
    let listener = listen(&path);
    (dir, path, listener)
}

fn opts(ms: u64) -> QgaOptions {
    QgaOptions::uniform(Duration::from_millis(ms))
}

async fn accept(listener: &UnixListener) -> FakeConn {
    FakeConn::new(listener.accept().await.unwrap().0)
}

#[tokio::test]
async fn resync_skips_garbage_and_stale_replies_before_the_sentinel() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        // Left over from an earlier client: replies, garbage, a half line, a stale sync reply.
        c.send(b"{\"return\": {}}\n\x00garbage \xfe\xfd{\"ret").await;
        c.send(&sync_reply(424242)).await;
        c.send(b"{\"return\": {\"host-name\": \"old\"}}\n").await;
        let r = c.recv().await.unwrap();
        assert!(r.after_sentinel, "sentinel first");
        assert_eq!(r.execute, "guest-sync-delimited");
        let id = r.arguments["id"].as_i64().unwrap();
        assert_ne!(id, 424242);
        // More noise, then the real answer.
        c.send(b"noise without newline").await;
        c.send(&sync_reply(id)).await;
        let r = c.recv().await.unwrap();
        assert!(!r.after_sentinel);
        assert_eq!(r.execute, "guest-get-host-name");
        c.reply(json!({"host-name": "fresh"})).await;
        assert!(c.recv().await.is_none(), "client closes on drop");
    });
    let qga = Qga::connect_with(&path, opts(5000)).await.unwrap();
    assert_eq!(qga.host_name().await.unwrap(), "fresh");
    drop(qga);
    agent.await.unwrap();
}

#[tokio::test]
async fn typed_commands_and_agent_errors() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        for name in [
            "guest-ping",
            "guest-get-osinfo",
            "guest-network-get-interfaces",
            "guest-info",
        ] {
            let r = c.recv().await.unwrap();
            assert_eq!(r.execute, name);
            assert!(r.arguments.is_null(), "no arguments for {name}");
            c.reply(canned(name).unwrap()).await;
        }
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-set-time");
        assert_eq!(r.arguments, json!({"time": 1_700_000_000_123_456_789_i64}));
        c.send(b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"hwclock failed\"}}\n")
            .await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-set-time");
        assert!(r.arguments.is_null(), "without time the guest reads its RTC");
        c.reply(json!({})).await;
    });
    let qga = Qga::connect_with(&path, opts(5000)).await.unwrap();
    qga.ping().await.unwrap();
    let os = qga.os_info().await.unwrap();
    assert_eq!(os.pretty_name.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
    assert_eq!(os.kernel_release.as_deref(), Some("6.1.0-13-amd64"));
    let ifaces = qga.network_interfaces().await.unwrap();
    assert_eq!(ifaces[1].ip_addresses[0].ip_address, "10.0.2.15");
    assert_eq!(ifaces[1].ip_addresses[0].prefix, 24);
    assert_eq!(qga.info().await.unwrap().version, "7.2.0");
    let err = qga.set_time(Some(1_700_000_000_123_456_789)).await.unwrap_err();
    match &err {
        QgaError::Command { command, desc, .. } => {
            assert_eq!(command, "guest-set-time");
            assert_eq!(desc, "hwclock failed");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_unavailable());
    // An error reply leaves the stream in sync: no resync before the next command.
    qga.set_time(None).await.unwrap();
    agent.await.unwrap();
}

#[tokio::test]
async fn shutdown_without_reply_is_success_pending() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-shutdown");
        assert_eq!(r.arguments, json!({"mode": "powerdown"}));
        // Says nothing and keeps the connection open, like a guest going down.
        c
    });
    let qga = Qga::connect_with(&path, opts(300)).await.unwrap();
    let t = Instant::now();
    qga.shutdown(ShutdownMode::Powerdown).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
    let _c = agent.await.unwrap();
}

#[tokio::test]
async fn shutdown_followed_by_end_of_stream_is_success_at_once() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-shutdown");
        assert_eq!(r.arguments, json!({"mode": "reboot"}));
        // dropped: the VM exited
    });
    let qga = Qga::connect_with(&path, opts(10_000)).await.unwrap();
    let t = Instant::now();
    qga.shutdown(ShutdownMode::Reboot).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "EOF must not wait for the timeout"
    );
    agent.await.unwrap();
    assert!(matches!(qga.ping().await, Err(QgaError::Disconnected)));
}

#[tokio::test]
async fn shutdown_refused_by_the_agent_is_an_error() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        c.recv().await.unwrap();
        c.send(b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"The command guest-shutdown has been disabled for this instance\"}}\n").await;
        c
    });
    let qga = Qga::connect_with(&path, opts(2000)).await.unwrap();
    let err = qga.shutdown(ShutdownMode::Powerdown).await.unwrap_err();
    assert!(err.to_string().contains("has been disabled"), "{err}");
    let _c = agent.await.unwrap();
}

#[tokio::test]
async fn shutdown_is_not_reported_sent_when_the_resync_fails() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-ping");
        // Never answers the ping; then ignores the resync too.
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-sync-delimited");
        c
    });
    let qga = Qga::connect_with(&path, opts(300)).await.unwrap();
    assert!(matches!(qga.ping().await, Err(QgaError::NoAnswer { .. })));
    let err = qga.shutdown(ShutdownMode::Powerdown).await.unwrap_err();
    assert!(matches!(err, QgaError::NoAnswer { .. }), "{err:?}");
    let _c = agent.await.unwrap();
}

#[tokio::test]
async fn silent_agent_times_out_instead_of_hanging() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        // Reads the sync but never answers (no agent in the guest).
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-sync-delimited");
        c
    });
    let t = Instant::now();
    let err = Qga::connect_with(&path, opts(400)).await.unwrap_err();
    let took = t.elapsed();
    assert!(matches!(err, QgaError::NoAnswer { .. }), "{err:?}");
    assert!(err.is_unavailable());
    assert!(
        err.to_string().contains("install qemu-guest-agent in the guest"),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let _c = agent.await.unwrap();
}

#[tokio::test]
async fn no_socket_or_nobody_listening_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    let err = Qga::connect_with(&missing, opts(1000)).await.unwrap_err();
    assert!(
        matches!(err, QgaError::Connect { .. }) && err.is_unavailable(),
        "{err:?}"
    );
    assert!(err.to_string().contains("channels.guest_agent"), "{err}");
    // The file stays after its listener is gone: connection refused.
    let stale = dir.path().join("stale.sock");
    drop(listen(&stale));
    let err = Qga::connect_with(&stale, opts(1000)).await.unwrap_err();
    match err {
        QgaError::Connect { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn late_reply_after_a_timeout_is_skipped_by_the_resync() {
    let (_dir, path, listener) = setup();
    let (late_tx, late_rx) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-get-host-name");
        // Answers only after the client gave up.
        late_rx.await.unwrap();
        c.reply(json!({"host-name": "late"})).await;
        c.expect_sync().await;
        let r = c.recv().await.unwrap();
        assert_eq!(r.execute, "guest-get-host-name");
        c.reply(json!({"host-name": "right"})).await;
    });
    let qga = Qga::connect_with(&path, opts(300)).await.unwrap();
    assert!(matches!(qga.host_name().await, Err(QgaError::NoAnswer { .. })));
    late_tx.send(()).unwrap();
    assert_eq!(qga.host_name().await.unwrap(), "right");
    agent.await.unwrap();
}

#[tokio::test]
async fn oversized_reply_is_an_error_and_the_stream_recovers() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        assert_eq!(c.recv().await.unwrap().execute, "guest-network-get-interfaces");
        // 16 MiB + 1 in one line; the client resyncs while the rest of it is still going out.
        let mut big = b"{\"return\": \"".to_vec();
        big.resize(big.len() + MAX_MESSAGE_SIZE + 1, b'x');
        big.extend_from_slice(b"\"}\n");
        let r = c.send_while_receiving(&big).await.unwrap();
        assert!(r.after_sentinel);
        assert_eq!(r.execute, "guest-sync-delimited");
        c.send(&sync_reply(r.arguments["id"].as_i64().unwrap())).await;
        assert_eq!(c.recv().await.unwrap().execute, "guest-ping");
        c.reply(json!({})).await;
    });
    let qga = Qga::connect_with(&path, opts(20_000)).await.unwrap();
    let err = qga.network_interfaces().await.unwrap_err();
    assert!(
        matches!(&err, QgaError::Protocol(m) if m.contains("16 MiB")),
        "{err:?}"
    );
    qga.ping().await.unwrap();
    agent.await.unwrap();
}

#[tokio::test]
async fn garbage_reply_is_a_protocol_error_then_the_stream_recovers() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        c.recv().await.unwrap();
        c.send(b"\x01\x02 this is not json\n").await;
        c.expect_sync().await;
        c.recv().await.unwrap();
        c.send(b"[1, 2]\n").await;
        c.expect_sync().await;
        c.recv().await.unwrap();
        c.send(b"{\"neither\": 1}\n").await;
        c.expect_sync().await;
        c.recv().await.unwrap();
        c.reply(json!({"host-name": "ok"})).await;
    });
    let qga = Qga::connect_with(&path, opts(5000)).await.unwrap();
    for _ in 0..3 {
        let err = qga.host_name().await.unwrap_err();
        assert!(matches!(err, QgaError::Protocol(_)), "{err:?}");
    }
    assert_eq!(qga.host_name().await.unwrap(), "ok");
    agent.await.unwrap();
}

#[tokio::test]
async fn agent_going_away_mid_command_is_disconnected() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        c.recv().await.unwrap();
        c.send(b"{\"return\": {\"host-na").await;
        // dropped mid-reply
    });
    let qga = Qga::connect_with(&path, opts(5000)).await.unwrap();
    let err = qga.host_name().await.unwrap_err();
    assert!(
        matches!(err, QgaError::Disconnected) && err.is_unavailable(),
        "{err:?}"
    );
    agent.await.unwrap();
    let t = Instant::now();
    assert!(matches!(qga.ping().await, Err(QgaError::Disconnected)));
    assert!(t.elapsed() < Duration::from_secs(1), "no wait once closed");
}

#[tokio::test]
async fn commands_are_serialised() {
    let (_dir, path, listener) = setup();
    let agent = tokio::spawn(async move {
        let mut c = accept(&listener).await;
        c.expect_sync().await;
        for i in 0..2 {
            let r = c.recv().await.unwrap();
            assert_eq!(r.execute, "guest-get-host-name");
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert!(c.nothing_pending(), "a second command arrived before reply {i}");
            c.reply(json!({ "host-name": format!("h{i}") })).await;
        }
    });
    let qga = Qga::connect_with(&path, opts(5000)).await.unwrap();
    let other = qga.clone();
    let (a, b) = tokio::join!(qga.host_name(), other.host_name());
    let mut names = vec![a.unwrap(), b.unwrap()];
    names.sort();
    assert_eq!(names, ["h0", "h1"]);
    agent.await.unwrap();
}

#[tokio::test]
async fn canned_responder_serves_one_client_after_another() {
    let (_dir, path, listener) = setup();
    let agent = fake::FakeAgent::serve(listener, || {});
    for _ in 0..2 {
        let qga = Qga::connect(&path).await.unwrap();
        assert_eq!(qga.host_name().await.unwrap(), "fake-guest");
        let err = qga.execute(cmd::GuestSetTime { time: None }).await;
        assert!(err.is_ok());
    }
    assert_eq!(
        agent.commands(),
        [
            "guest-sync-delimited",
            "guest-get-host-name",
            "guest-set-time",
            "guest-sync-delimited",
            "guest-get-host-name",
            "guest-set-time"
        ]
    );
}
