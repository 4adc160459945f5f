//! A fake guest agent on a unix socket, for tests here and in the manager: a low-level
//! connection to script exact byte streams, and a canned responder.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::wire::SENTINEL;

/// One command as the agent parsed it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// A sentinel byte came (and reset the parser) since the previous command.
    pub(crate) after_sentinel: bool,
    pub(crate) execute: String,
    pub(crate) arguments: Value,
}

/// The agent's end of one connection. Parses like qemu-guest-agent: a sentinel byte drops any
/// half-received input.
pub(crate) struct FakeConn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: Vec<u8>,
    reset: bool,
}

impl FakeConn {
    pub(crate) fn new(stream: UnixStream) -> FakeConn {
        let (rd, wr) = stream.into_split();
        FakeConn {
            rd,
            wr,
            buf: vec![],
            reset: false,
        }
    }

    /// The next command; `None` when the client closed the connection.
    pub(crate) async fn recv(&mut self) -> Option<Received> {
        read_command(&mut self.rd, &mut self.buf, &mut self.reset).await
    }

    /// Writes `bytes` while reading the next command (for writes that only finish when the
    /// client reads, such as oversized lines).
    pub(crate) async fn send_while_receiving(&mut self, bytes: &[u8]) -> Option<Received> {
        let (_, received) = tokio::join!(
            self.wr.write_all(bytes),
            read_command(&mut self.rd, &mut self.buf, &mut self.reset)
        );
        received
    }

    /// True when nothing more has arrived (checked without waiting).
    pub(crate) fn nothing_pending(&self) -> bool {
        let mut tmp = [0u8; 1];
        self.buf.is_empty()
            && matches!(self.rd.try_read(&mut tmp), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        let _ = self.wr.write_all(bytes).await;
    }

    pub(crate) async fn reply(&mut self, value: Value) {
        self.send(format!("{}\n", json!({ "return": value })).as_bytes())
            .await;
    }

    /// Reads the resynchronisation (sentinel, then `guest-sync-delimited`) and answers it.
    pub(crate) async fn expect_sync(&mut self) -> i64 {
        let r = self.recv().await.expect("a sync command");
        assert!(
            r.after_sentinel,
            "the sentinel byte must come before the sync: {r:?}"
        );
        assert_eq!(r.execute, "guest-sync-delimited");
        let id = r.arguments["id"].as_i64().expect("numeric id");
        self.send(&sync_reply(id)).await;
        id
    }
}

async fn read_command(rd: &mut OwnedReadHalf, buf: &mut Vec<u8>, reset: &mut bool) -> Option<Received> {
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == SENTINEL || b == b'\n') {
            let chunk: Vec<u8> = buf.drain(..=pos).collect();
            if chunk[pos] == SENTINEL {
                *reset = true;
                continue;
            }
            let line = &chunk[..pos];
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let v: Value = serde_json::from_slice(line).expect("the client sends JSON");
            return Some(Received {
                after_sentinel: std::mem::take(reset),
                execute: v["execute"].as_str().expect("execute").to_owned(),
                arguments: v.get("arguments").cloned().unwrap_or(Value::Null),
            });
        }
        let mut tmp = [0u8; 4096];
        match rd.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// What the agent sends for `guest-sync-delimited`: the sentinel, then the id.
pub(crate) fn sync_reply(id: i64) -> Vec<u8> {
    let mut bytes = vec![SENTINEL];
    bytes.extend(format!("{}\n", json!({ "return": id })).into_bytes());
    bytes
}

/// A listener on `path`.
pub(crate) fn listen(path: &Path) -> UnixListener {
    UnixListener::bind(path).expect("bind the fake agent socket")
}

/// Canned answers of a Debian guest.
pub(crate) fn canned(execute: &str) -> Option<Value> {
    Some(match execute {
        "guest-ping" | "guest-set-time" => json!({}),
        "guest-get-host-name" => json!({"host-name": "fake-guest"}),
        "guest-get-osinfo" => json!({
            "id": "debian", "pretty-name": "Debian GNU/Linux 12 (bookworm)",
            "kernel-release": "6.1.0-13-amd64", "version-id": "12"
        }),
        "guest-network-get-interfaces" => json!([
            {"name": "lo", "ip-addresses": [
                {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
                {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}]},
            {"name": "enp0s2", "hardware-address": "52:54:00:12:34:56", "ip-addresses": [
                {"ip-address": "10.0.2.15", "ip-address-type": "ipv4", "prefix": 24},
                {"ip-address": "fec0::5054:ff:fe12:3456", "ip-address-type": "ipv6", "prefix": 64}]}
        ]),
        "guest-info" => json!({"version": "7.2.0", "supported_commands": []}),
        _ => return None,
    })
}

/// A responder serving one connection at a time (like QEMU), logging every command.
pub(crate) struct FakeAgent {
    pub(crate) log: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl FakeAgent {
    /// Serve `listener`; `on_shutdown` runs when `guest-shutdown` arrives (never answered).
    pub(crate) fn serve(listener: UnixListener, on_shutdown: impl Fn() + Send + Sync + 'static) -> FakeAgent {
        Self::serve_refusing(listener, &[], on_shutdown)
    }

    /// [`FakeAgent::serve`], answering the commands in `refuse` with `CommandNotFound`.
    pub(crate) fn serve_refusing(
        listener: UnixListener,
        refuse: &'static [&'static str],
        on_shutdown: impl Fn() + Send + Sync + 'static,
    ) -> FakeAgent {
        let log = Arc::new(Mutex::new(vec![]));
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mut conn = FakeConn::new(stream);
                while let Some(cmd) = conn.recv().await {
                    task_log.lock().unwrap().push(cmd.clone());
                    match cmd.execute.as_str() {
                        "guest-sync-delimited" => {
                            let id = cmd.arguments["id"].as_i64().unwrap_or_default();
                            conn.send(&sync_reply(id)).await;
                        }
                        "guest-shutdown" if !refuse.contains(&"guest-shutdown") => on_shutdown(),
                        other => match canned(other).filter(|_| !refuse.contains(&other)) {
                            Some(v) => conn.reply(v).await,
                            None => {
                                let e = json!({"error": {"class": "CommandNotFound",
                                    "desc": format!("The command {other} has not been found")}});
                                conn.send(format!("{e}\n").as_bytes()).await;
                            }
                        },
                    }
                }
            }
        });
        FakeAgent { log, task }
    }

    /// Names of the commands received so far.
    pub(crate) fn commands(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.execute.clone())
            .collect()
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}
