//! The QMP client handle: connection setup (greeting, capabilities) and the command API.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::conn::{preview, read_loop, write_loop, Shared, WriteJob};
use super::error::{CloseReason, QmpError};
use super::event::QmpEvents;
use super::transport::{encode_command, LineReader, ReadError, MAX_LINE};

/// Default time a command may take before [`QmpError::Timeout`].
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time allowed for the greeting and capabilities negotiation.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QmpOptions {
    /// Timeout of [`Qmp::execute`] and the other calls without an explicit timeout.
    pub command_timeout: Duration,
    /// Timeout for receiving the greeting and negotiating capabilities.
    pub handshake_timeout: Duration,
}

impl Default for QmpOptions {
    fn default() -> Self {
        QmpOptions {
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// What QEMU announced in its greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QmpGreeting {
    /// QEMU version as (major, minor, micro).
    pub version: (u64, u64, u64),
    /// Distribution package string, e.g. `Debian 1:7.2+dfsg-7`.
    pub package: String,
    /// Capabilities QEMU offers (e.g. `oob`); none are enabled by this client.
    pub capabilities: Vec<String>,
}

/// Owner of the connection; dropping it (with the last [`Qmp`] clone) closes the connection.
struct Inner {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<WriteJob>,
    next_id: AtomicU64,
    options: QmpOptions,
    greeting: QmpGreeting,
    tasks: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.close(CloseReason::Disconnected);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A QMP connection to one QEMU process. Cheap to clone; all clones share the connection,
/// which closes when the last clone is dropped.
#[derive(Clone)]
pub struct Qmp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Qmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qmp")
            .field("greeting", &self.inner.greeting)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Qmp {
    /// Connects to a QMP unix socket with default options, reads the greeting and negotiates
    /// capabilities. The returned event stream sees every event after the handshake.
    /// Must run inside a tokio runtime (it spawns the connection's reader and writer tasks).
    ///
    /// Errors: [`QmpError::Connect`] (no socket / nobody listening), [`QmpError::Disconnected`]
    /// (QEMU closed the connection during the handshake), [`QmpError::Handshake`] (not QMP,
    /// or no greeting in time, e.g. because another client holds the monitor).
    pub async fn connect(path: &Path) -> Result<(Qmp, QmpEvents), QmpError> {
        Self::connect_with(path, QmpOptions::default()).await
    }

    /// [`Qmp::connect`] with explicit options.
    pub async fn connect_with(path: &Path, options: QmpOptions) -> Result<(Qmp, QmpEvents), QmpError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| QmpError::Connect {
                path: path.to_owned(),
                source,
            })?;
        let (rd, wr) = stream.into_split();
        let mut reader = LineReader::new(rd, MAX_LINE);
        let handshake_err = |reason: String| QmpError::Handshake {
            path: path.to_owned(),
            reason,
        };

        let line = match tokio::time::timeout(options.handshake_timeout, reader.next_line()).await {
            Err(_) => {
                return Err(handshake_err(format!(
                    "no QMP greeting within {} s (is another client connected to this monitor?)",
                    options.handshake_timeout.as_secs_f64()
                )))
            }
            // QEMU accepted and closed at once: it is exiting.
            Ok(Err(ReadError::Eof)) => return Err(QmpError::Disconnected),
            Ok(Err(ReadError::TooLong { .. })) => {
                return Err(handshake_err("the greeting is oversized".into()))
            }
            Ok(Err(ReadError::Io(e))) => {
                return Err(handshake_err(format!("reading the greeting failed: {e}")))
            }
            Ok(Ok(line)) => line,
        };
        let greeting = parse_greeting(&line).map_err(handshake_err)?;
        tracing::debug!(?greeting, path = %path.display(), "QMP greeting");

        let shared = Arc::new(Shared::new());
        let events = shared.subscribe();
        let (wtx, wrx) = mpsc::unbounded_channel();
        let reader_task = tokio::spawn(read_loop(reader, shared.clone()));
        let writer_task = tokio::spawn(write_loop(wr, wrx, shared.clone()));
        let qmp = Qmp {
            inner: Arc::new(Inner {
                shared,
                writer: wtx,
                next_id: AtomicU64::new(1),
                options,
                greeting,
                tasks: vec![reader_task.abort_handle(), writer_task.abort_handle()],
            }),
        };
        let caps = qapi_qmp::qmp_capabilities { enable: None };
        match qmp.execute_timeout(caps, options.handshake_timeout).await {
            Ok(_) => Ok((qmp, events)),
            Err(QmpError::Disconnected) => Err(QmpError::Disconnected),
            Err(e) => Err(handshake_err(format!("capabilities negotiation failed: {e}"))),
        }
    }

    /// What QEMU announced when the connection was made.
    pub fn greeting(&self) -> &QmpGreeting {
        &self.inner.greeting
    }

    /// The timeout used by calls without an explicit one.
    pub fn default_timeout(&self) -> Duration {
        self.inner.options.command_timeout
    }

    /// False once QEMU closed the socket (VM exited) or a protocol error closed the connection.
    pub fn is_connected(&self) -> bool {
        !self.inner.shared.is_closed()
    }

    /// A new, independent event stream (events from now on). Ends at once if already closed.
    pub fn subscribe(&self) -> QmpEvents {
        self.inner.shared.subscribe()
    }

    /// The error a command gets on this connection once it is closed.
    pub(crate) fn close_error(&self) -> QmpError {
        self.inner.shared.close_error()
    }

    /// Runs a typed command (from [`qapi_qmp`]) with the default timeout.
    pub async fn execute<C: qapi_spec::Command>(&self, cmd: C) -> Result<C::Ok, QmpError> {
        self.execute_timeout(cmd, self.default_timeout()).await
    }

    /// Runs a typed command with an explicit timeout.
    pub async fn execute_timeout<C: qapi_spec::Command>(
        &self,
        cmd: C,
        timeout: Duration,
    ) -> Result<C::Ok, QmpError> {
        self.typed(cmd, None, timeout).await
    }

    /// Runs a typed command and passes `fd` along with it (SCM_RIGHTS), for `getfd` and
    /// `add-fd`. The descriptor is duplicated; the caller keeps ownership of `fd`.
    pub async fn execute_with_fd<C: qapi_spec::Command>(
        &self,
        cmd: C,
        fd: BorrowedFd<'_>,
    ) -> Result<C::Ok, QmpError> {
        self.execute_with_fd_timeout(cmd, fd, self.default_timeout())
            .await
    }

    /// [`Qmp::execute_with_fd`] with an explicit timeout.
    pub async fn execute_with_fd_timeout<C: qapi_spec::Command>(
        &self,
        cmd: C,
        fd: BorrowedFd<'_>,
        timeout: Duration,
    ) -> Result<C::Ok, QmpError> {
        let owned = fd.try_clone_to_owned().map_err(|source| QmpError::Io {
            command: C::NAME.to_owned(),
            source,
        })?;
        self.typed(cmd, Some(owned), timeout).await
    }

    /// Runs a command given as JSON, `{"execute": NAME, "arguments": {...}}`, and returns
    /// QEMU's `return` value. Any `id` member is replaced by the client's own.
    pub async fn execute_raw(&self, json: Value) -> Result<Value, QmpError> {
        self.execute_raw_timeout(json, self.default_timeout()).await
    }

    /// [`Qmp::execute_raw`] with an explicit timeout.
    pub async fn execute_raw_timeout(&self, json: Value, timeout: Duration) -> Result<Value, QmpError> {
        let (name, args) = split_raw_command(json)?;
        self.call(&name, args, None, timeout).await
    }

    /// Runs a human-monitor (HMP) command line and returns its text output.
    pub async fn hmp(&self, command_line: &str) -> Result<String, QmpError> {
        let cmd = qapi_qmp::human_monitor_command {
            cpu_index: None,
            command_line: command_line.to_owned(),
        };
        self.execute(cmd).await
    }

    async fn typed<C: qapi_spec::Command>(
        &self,
        cmd: C,
        fd: Option<OwnedFd>,
        timeout: Duration,
    ) -> Result<C::Ok, QmpError> {
        let args = serde_json::to_value(&cmd).map_err(|source| QmpError::Encode {
            command: C::NAME.to_owned(),
            source,
        })?;
        let ret = self.call(C::NAME, Some(args), fd, timeout).await?;
        serde_json::from_value(ret).map_err(|source| QmpError::Decode {
            command: C::NAME.to_owned(),
            source,
        })
    }

    async fn call(
        &self,
        name: &str,
        args: Option<Value>,
        fd: Option<OwnedFd>,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        let inner = &*self.inner;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode_command(name, args, id).map_err(|source| QmpError::Encode {
            command: name.to_owned(),
            source,
        })?;
        let (tx, rx) = oneshot::channel();
        inner.shared.register(id, tx)?;
        let _guard = PendingGuard {
            shared: &inner.shared,
            id,
        };
        let job = WriteJob {
            id,
            command: name.to_owned(),
            frame,
            fd,
        };
        if inner.writer.send(job).is_err() {
            return Err(inner.shared.close_error());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(inner.shared.close_error()),
            Err(_) => {
                tracing::warn!(command = name, id, ?timeout, "QMP command timed out");
                Err(QmpError::Timeout {
                    command: name.to_owned(),
                    timeout,
                })
            }
        }
    }
}

/// Drops the pending entry when a caller stops waiting (timeout or cancellation).
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.forget(self.id);
    }
}

fn split_raw_command(json: Value) -> Result<(String, Option<Value>), QmpError> {
    let Value::Object(mut map) = json else {
        return Err(QmpError::InvalidCommand(
            "expected a JSON object like {\"execute\": \"query-status\"}".into(),
        ));
    };
    if map.contains_key("exec-oob") {
        return Err(QmpError::InvalidCommand(
            "out-of-band execution (exec-oob) is not supported".into(),
        ));
    }
    let name = match map.remove("execute") {
        Some(Value::String(name)) if !name.is_empty() => name,
        _ => return Err(QmpError::InvalidCommand(
            "the object needs an \"execute\" member naming the command, e.g. {\"execute\": \"query-status\"}"
                .into(),
        )),
    };
    let args = match map.remove("arguments") {
        None => None,
        Some(args @ Value::Object(_)) => Some(args),
        Some(_) => {
            return Err(QmpError::InvalidCommand(
                "\"arguments\" must be a JSON object".into(),
            ))
        }
    };
    map.remove("id");
    if let Some(key) = map.keys().next() {
        return Err(QmpError::InvalidCommand(format!(
            "unknown member \"{key}\"; a command has only \"execute\" and \"arguments\""
        )));
    }
    Ok((name, args))
}

fn parse_greeting(line: &[u8]) -> Result<QmpGreeting, String> {
    let v: Value = serde_json::from_slice(line)
        .map_err(|e| format!("the greeting is not JSON ({e}): {}", preview(line)))?;
    let qmp = v
        .get("QMP")
        .ok_or_else(|| format!("the first message is not a QMP greeting: {}", preview(line)))?;
    let ver = qmp.get("version");
    let num = |k: &str| {
        ver.and_then(|v| v.get("qemu"))
            .and_then(|q| q.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let package = ver
        .and_then(|v| v.get("package"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let capabilities = qmp
        .get("capabilities")
        .and_then(Value::as_array)
        .map(|caps| {
            caps.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(QmpGreeting {
        version: (num("major"), num("minor"), num("micro")),
        package,
        capabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_command_validation() {
        let (n, a) = split_raw_command(json!({"execute": "query-status"})).unwrap();
        assert_eq!((n.as_str(), a), ("query-status", None));
        let (n, a) =
            split_raw_command(json!({"execute": "getfd", "arguments": {"fdname": "x"}, "id": "u"})).unwrap();
        assert_eq!((n.as_str(), a), ("getfd", Some(json!({"fdname": "x"}))));
        for bad in [
            json!("query-status"),
            json!({"arguments": {}}),
            json!({"execute": ""}),
            json!({"execute": 3}),
            json!({"execute": "x", "arguments": [1]}),
            json!({"execute": "x", "bogus": 1}),
            json!({"exec-oob": "x"}),
        ] {
            assert!(matches!(split_raw_command(bad), Err(QmpError::InvalidCommand(_))));
        }
    }

    #[test]
    fn greeting_parsing() {
        let g = parse_greeting(
            br#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2 "}, "capabilities": ["oob"]}}"#,
        )
        .unwrap();
        assert_eq!(g.version, (7, 2, 22));
        assert_eq!(g.package, "Debian 1:7.2");
        assert_eq!(g.capabilities, vec!["oob".to_owned()]);
        assert!(parse_greeting(b"hello").unwrap_err().contains("not JSON"));
        assert!(parse_greeting(br#"{"return": {}}"#)
            .unwrap_err()
            .contains("not a QMP greeting"));
    }

    fn wire<C: qapi_spec::Command>(cmd: C) -> (&'static str, Value) {
        (C::NAME, serde_json::to_value(&cmd).unwrap())
    }

    /// The qapi-qmp types Hangar relies on, with the exact wire form QEMU 7.2 expects.
    #[test]
    fn wire_form_of_commands_hangar_uses() {
        use qapi_qmp as q;
        type Wire = (&'static str, Value);
        let cases: Vec<(Wire, Wire)> = vec![
            (wire(q::query_status {}), ("query-status", json!({}))),
            (wire(q::stop {}), ("stop", json!({}))),
            (wire(q::cont {}), ("cont", json!({}))),
            (wire(q::system_powerdown {}), ("system_powerdown", json!({}))),
            (wire(q::system_reset {}), ("system_reset", json!({}))),
            (wire(q::quit {}), ("quit", json!({}))),
            (
                wire(q::screendump {
                    filename: "/t/s.png".into(),
                    device: None,
                    head: None,
                    format: Some(q::ImageFormat::png),
                }),
                ("screendump", json!({"filename": "/t/s.png", "format": "png"})),
            ),
            (
                wire(q::snapshot_save {
                    job_id: "j".into(),
                    tag: "t".into(),
                    vmstate: "d0".into(),
                    devices: vec!["d0".into()],
                }),
                (
                    "snapshot-save",
                    json!({"job-id": "j", "tag": "t", "vmstate": "d0", "devices": ["d0"]}),
                ),
            ),
            (
                wire(q::snapshot_delete {
                    job_id: "j".into(),
                    tag: "t".into(),
                    devices: vec![],
                }),
                (
                    "snapshot-delete",
                    json!({"job-id": "j", "tag": "t", "devices": []}),
                ),
            ),
            (
                wire(q::job_dismiss { id: "j".into() }),
                ("job-dismiss", json!({"id": "j"})),
            ),
            (wire(q::query_jobs {}), ("query-jobs", json!({}))),
            (
                wire(q::device_del { id: "u1".into() }),
                ("device_del", json!({"id": "u1"})),
            ),
            (
                wire(q::getfd { fdname: "f".into() }),
                ("getfd", json!({"fdname": "f"})),
            ),
            (
                wire(q::add_fd {
                    fdset_id: None,
                    opaque: None,
                }),
                ("add-fd", json!({})),
            ),
            (
                wire(q::input_send_event {
                    device: None,
                    head: None,
                    events: vec![
                        q::InputEvent::abs(q::InputMoveEventWrapper {
                            data: q::InputMoveEvent {
                                axis: q::InputAxis::x,
                                value: 100,
                            },
                        }),
                        q::InputEvent::btn(q::InputBtnEventWrapper {
                            data: q::InputBtnEvent {
                                button: q::InputButton::left,
                                down: true,
                            },
                        }),
                    ],
                }),
                (
                    "input-send-event",
                    json!({"events": [
                        {"type": "abs", "data": {"axis": "x", "value": 100}},
                        {"type": "btn", "data": {"button": "left", "down": true}}
                    ]}),
                ),
            ),
        ];
        for ((name, args), (want_name, want_args)) in cases {
            assert_eq!(name, want_name);
            assert_eq!(args, want_args, "{name}");
        }
    }
}
