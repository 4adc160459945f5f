//! Connection internals: the state shared by the [`super::Qmp`] handle and its two tasks, the
//! reader task (demultiplexes replies by id, fans events out) and the writer task (owns the
//! write side, so a cancelled caller never leaves half a command on the wire).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::error::{is_peer_gone, CloseReason, QmpError};
use super::event::{parse_event, QmpEvents, TimedEvent};
use super::transport::{write_frame, LineReader, ReadError};

pub(super) type Reply = Result<Value, QmpError>;

/// State shared by the handle, the reader task and the writer task.
pub(super) struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, oneshot::Sender<Reply>>,
    subscribers: Vec<mpsc::UnboundedSender<TimedEvent>>,
    closed: Option<CloseReason>,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps inconsistent; keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    pub(super) fn close_error(&self) -> QmpError {
        self.lock()
            .closed
            .as_ref()
            .map_or(QmpError::Disconnected, CloseReason::to_error)
    }

    pub(super) fn register(&self, id: u64, tx: oneshot::Sender<Reply>) -> Result<(), QmpError> {
        let mut st = self.lock();
        if let Some(reason) = &st.closed {
            return Err(reason.to_error());
        }
        st.pending.insert(id, tx);
        Ok(())
    }

    pub(super) fn forget(&self, id: u64) {
        self.lock().pending.remove(&id);
    }

    pub(super) fn complete(&self, id: u64, reply: Reply) {
        let tx = self.lock().pending.remove(&id);
        match tx {
            Some(tx) => {
                if tx.send(reply).is_err() {
                    tracing::debug!(id, "QMP reply arrived after its caller gave up");
                }
            }
            None => tracing::debug!(id, "QMP reply for a command no longer waited for (timed out?)"),
        }
    }

    pub(super) fn subscribe(&self) -> QmpEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        if st.closed.is_none() {
            st.subscribers.push(tx);
        }
        QmpEvents::new(rx)
    }

    pub(super) fn publish(&self, ev: TimedEvent) {
        let mut st = self.lock();
        st.subscribers.retain(|tx| tx.send(ev.clone()).is_ok());
    }

    /// Closes the connection state once: fails every pending command, ends every event stream.
    pub(super) fn close(&self, reason: CloseReason) {
        let (pending, subscribers) = {
            let mut st = self.lock();
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(reason.clone());
            (
                std::mem::take(&mut st.pending),
                std::mem::take(&mut st.subscribers),
            )
        };
        tracing::debug!(?reason, pending = pending.len(), "QMP connection closed");
        drop(subscribers);
        for (_, tx) in pending {
            // The caller may have given up already; nothing to do then.
            let _ = tx.send(Err(reason.to_error()));
        }
    }
}

/// One command for the writer task.
pub(super) struct WriteJob {
    pub(super) id: u64,
    pub(super) command: String,
    pub(super) frame: Vec<u8>,
    pub(super) fd: Option<OwnedFd>,
}

/// The start of a line, for error messages.
pub(super) fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(120)]);
    let ellipsis = if line.len() > 120 { "…" } else { "" };
    format!("{text:?}{ellipsis}")
}

pub(super) async fn read_loop(mut reader: LineReader<OwnedReadHalf>, shared: Arc<Shared>) {
    let reason = loop {
        match reader.next_line().await {
            Ok(line) => {
                if let Err(reason) = dispatch(&shared, &line) {
                    break reason;
                }
            }
            Err(ReadError::Eof) => break CloseReason::Disconnected,
            Err(ReadError::Io(e)) => {
                tracing::debug!(error = %e, "QMP socket read failed; treating as disconnect");
                break CloseReason::Disconnected;
            }
            Err(ReadError::TooLong { limit }) => {
                break CloseReason::Protocol(format!(
                    "QEMU sent a message larger than {} MiB",
                    limit / (1024 * 1024)
                ))
            }
        }
    };
    if let CloseReason::Protocol(msg) = &reason {
        tracing::warn!("closing QMP connection: {msg}");
    }
    shared.close(reason);
}

/// Routes one line: a reply to its waiting caller, an event to the subscribers.
fn dispatch(shared: &Shared, line: &[u8]) -> Result<(), CloseReason> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        CloseReason::Protocol(format!(
            "QEMU sent a line that is not JSON ({e}): {}",
            preview(line)
        ))
    })?;
    let Value::Object(mut msg) = value else {
        tracing::warn!(line = %preview(line), "ignoring QMP message that is not an object");
        return Ok(());
    };
    if msg.contains_key("event") {
        match parse_event(&msg) {
            Some(ev) => shared.publish(ev),
            None => tracing::warn!(line = %preview(line), "ignoring QMP event without a name"),
        }
        return Ok(());
    }
    let id = msg.get("id").and_then(Value::as_u64);
    let reply = if let Some(ret) = msg.remove("return") {
        Ok(ret)
    } else if let Some(err) = msg.remove("error") {
        Err(command_error(&err))
    } else {
        tracing::warn!(line = %preview(line), "ignoring unrecognised QMP message");
        return Ok(());
    };
    match id {
        Some(id) => shared.complete(id, reply),
        None => tracing::warn!(line = %preview(line), "QMP reply without an id"),
    }
    Ok(())
}

fn command_error(err: &Value) -> QmpError {
    let field = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
    QmpError::Command {
        class: field("class").unwrap_or_else(|| "GenericError".into()),
        desc: field("desc").unwrap_or_else(|| format!("QEMU reported an error without description: {err}")),
    }
}

pub(super) async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut jobs: mpsc::UnboundedReceiver<WriteJob>,
    shared: Arc<Shared>,
) {
    use std::os::fd::AsFd;
    while let Some(job) = jobs.recv().await {
        if shared.is_closed() {
            break;
        }
        let fd = job.fd.as_ref().map(|f| f.as_fd());
        match write_frame(&mut wr, &job.frame, fd).await {
            Ok(()) => {}
            // QEMU is gone. Fail only this command: the reader closes the connection once it
            // has delivered what QEMU sent before exiting (e.g. its SHUTDOWN event).
            Err(e) if is_peer_gone(&e.source) => {
                tracing::debug!(command = %job.command, error = %e.source, "QMP write: peer gone");
                shared.complete(job.id, Err(QmpError::Disconnected));
            }
            Err(e) if !e.partial => {
                shared.complete(
                    job.id,
                    Err(QmpError::Io {
                        command: job.command,
                        source: e.source,
                    }),
                );
            }
            Err(e) => {
                let msg = format!(
                    "writing `{}` to the monitor failed midway: {}",
                    job.command, e.source
                );
                shared.close(CloseReason::Protocol(msg));
                break;
            }
        }
    }
}

/// Builds a raw reply map; used by tests of the dispatcher.
#[cfg(test)]
fn reply_line(id: u64, ret: Value) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("return".into(), ret);
    m.insert("id".into(), Value::from(id));
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn dispatcher_routes_replies_errors_and_events() {
        let shared = Shared::new();
        let mut events = shared.subscribe();
        let (tx1, rx1) = oneshot::channel();
        let (tx2, rx2) = oneshot::channel();
        shared.register(1, tx1).unwrap();
        shared.register(2, tx2).unwrap();
        dispatch(
            &shared,
            br#"{"error": {"class": "GenericError", "desc": "No such thing"}, "id": 2}"#,
        )
        .unwrap();
        dispatch(&shared, br#"{"event": "FOO_BAR", "data": {"x": 1}}"#).unwrap();
        dispatch(&shared, &reply_line(1, json!({"ok": true}))).unwrap();
        dispatch(&shared, &reply_line(99, json!({}))).unwrap();
        dispatch(&shared, br#"[1, 2]"#).unwrap();
        assert_eq!(rx1.await.unwrap().unwrap(), json!({"ok": true}));
        let err = rx2.await.unwrap().unwrap_err();
        assert!(matches!(&err, QmpError::Command { class, .. } if class == "GenericError"));
        assert_eq!(err.to_string(), "No such thing");
        assert_eq!(events.recv().await.unwrap().name(), "FOO_BAR");
        assert!(
            matches!(dispatch(&shared, b"not json"), Err(CloseReason::Protocol(m)) if m.contains("not JSON"))
        );
    }

    #[tokio::test]
    async fn close_fails_pending_ends_streams_and_refuses_new_work() {
        let shared = Shared::new();
        let mut events = shared.subscribe();
        let (tx, rx) = oneshot::channel();
        shared.register(5, tx).unwrap();
        shared.close(CloseReason::Disconnected);
        shared.close(CloseReason::Protocol("later".into()));
        assert!(rx.await.unwrap().unwrap_err().is_disconnected());
        assert_eq!(events.recv().await, None);
        let (tx, _rx) = oneshot::channel();
        assert!(shared.register(6, tx).unwrap_err().is_disconnected());
        assert_eq!(shared.subscribe().recv().await, None);
    }
}
