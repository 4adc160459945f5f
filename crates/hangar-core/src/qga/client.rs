//! The guest agent client: one connection, resynchronised on connect, one command at a time.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};

use super::cmd::{
    GuestAgentInfo, GuestGetHostName, GuestGetOsinfo, GuestInfo, GuestNetworkGetInterfaces,
    GuestNetworkInterface, GuestOsInfo, GuestPing, GuestSetTime, GuestShutdown, GuestSyncDelimited,
    QgaCommand, ShutdownMode,
};
use super::error::QgaError;
use super::wire::{after_last_sentinel, encode_command, ReadError, Reader, MAX_LINE, SENTINEL};
use crate::qmp::is_peer_gone;

/// Default time one command (including waiting for the previous one) may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QgaOptions {
    /// Time allowed for connecting plus the first resynchronisation (how long to wait for an
    /// agent that may not exist).
    pub sync_timeout: Duration,
    /// Time each command without an explicit timeout may take.
    pub command_timeout: Duration,
}

impl QgaOptions {
    /// The same timeout for both.
    pub fn uniform(timeout: Duration) -> Self {
        QgaOptions {
            sync_timeout: timeout,
            command_timeout: timeout,
        }
    }
}

impl Default for QgaOptions {
    fn default() -> Self {
        Self::uniform(DEFAULT_TIMEOUT)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The next line on the stream answers the next command.
    Synced,
    /// A command was cut short (timeout, bad reply, cancelled): resynchronise before the next.
    NeedsSync,
    /// The peer closed the socket.
    Closed,
}

struct Conn {
    reader: Reader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    state: State,
}

struct Inner {
    path: PathBuf,
    timeout: Duration,
    conn: Mutex<Conn>,
}

/// A connection to qemu-guest-agent through QEMU's `org.qemu.guest_agent.0` chardev socket.
///
/// QEMU serves ONE client at a time on that socket (others wait in its backlog and time out):
/// connect for an operation and drop the handle right after. Clones share the connection;
/// commands are serialised (one in flight), since agent replies carry no id.
#[derive(Clone)]
pub struct Qga {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Qga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qga")
            .field("path", &self.inner.path)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Qga {
    /// Connects with default options and resynchronises the stream (`guest-sync-delimited`).
    pub async fn connect(path: &Path) -> Result<Qga, QgaError> {
        Self::connect_with(path, QgaOptions::default()).await
    }

    /// Connects and resynchronises, all within `options.sync_timeout`. No agent in the guest
    /// shows as [`QgaError::NoAnswer`]; no QEMU listening as [`QgaError::Connect`].
    pub async fn connect_with(path: &Path, options: QgaOptions) -> Result<Qga, QgaError> {
        let deadline = Instant::now() + options.sync_timeout;
        let no_answer = || QgaError::NoAnswer {
            command: GuestSyncDelimited::NAME.into(),
            timeout: options.sync_timeout,
        };
        let stream = timeout_at(deadline, UnixStream::connect(path))
            .await
            .map_err(|_| no_answer())?
            .map_err(|source| QgaError::Connect {
                path: path.to_owned(),
                source,
            })?;
        let (rd, wr) = stream.into_split();
        let qga = Qga {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                timeout: options.command_timeout,
                conn: Mutex::new(Conn {
                    reader: Reader::new(rd, MAX_LINE),
                    writer: wr,
                    state: State::NeedsSync,
                }),
            }),
        };
        let mut conn = qga.inner.conn.lock().await;
        timeout_at(deadline, conn.resync())
            .await
            .map_err(|_| no_answer())??;
        drop(conn);
        tracing::debug!(path = %path.display(), "guest agent connected and synchronised");
        Ok(qga)
    }

    /// The agent socket.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The timeout of calls without an explicit one.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Resynchronise the stream now (stale replies are skipped).
    pub async fn sync(&self) -> Result<(), QgaError> {
        let timeout = self.inner.timeout;
        let deadline = Instant::now() + timeout;
        let no_answer = || QgaError::NoAnswer {
            command: GuestSyncDelimited::NAME.into(),
            timeout,
        };
        let mut conn = timeout_at(deadline, self.inner.conn.lock())
            .await
            .map_err(|_| no_answer())?;
        timeout_at(deadline, conn.resync())
            .await
            .map_err(|_| no_answer())?
    }

    /// Runs a typed command with the default timeout.
    pub async fn execute<C: QgaCommand>(&self, cmd: C) -> Result<C::Ok, QgaError> {
        self.execute_timeout(cmd, self.inner.timeout).await
    }

    /// Runs a typed command with an explicit timeout.
    pub async fn execute_timeout<C: QgaCommand>(&self, cmd: C, timeout: Duration) -> Result<C::Ok, QgaError> {
        let args = serde_json::to_value(&cmd).map_err(|source| QgaError::Encode {
            command: C::NAME.into(),
            source,
        })?;
        let Some(value) = self.exchange(C::NAME, args, timeout, true).await? else {
            return Err(QgaError::NoAnswer {
                command: C::NAME.into(),
                timeout,
            });
        };
        serde_json::from_value(value).map_err(|source| QgaError::Decode {
            command: C::NAME.into(),
            source,
        })
    }

    /// `guest-ping`: does the agent answer?
    pub async fn ping(&self) -> Result<(), QgaError> {
        self.execute(GuestPing {}).await.map(drop)
    }

    /// `guest-shutdown`. The agent does not reply when it succeeds (the guest goes away), so
    /// silence until the timeout, or the socket closing, after the command went out counts as
    /// "shutdown under way". An error reply (e.g. the command is disabled) is returned; so is
    /// an agent that did not answer the resynchronisation before the command.
    pub async fn shutdown(&self, mode: ShutdownMode) -> Result<(), QgaError> {
        let cmd = GuestShutdown { mode: Some(mode) };
        let args = serde_json::to_value(&cmd).map_err(|source| QgaError::Encode {
            command: GuestShutdown::NAME.into(),
            source,
        })?;
        self.exchange(GuestShutdown::NAME, args, self.inner.timeout, false)
            .await
            .map(drop)
    }

    /// `guest-get-host-name`.
    pub async fn host_name(&self) -> Result<String, QgaError> {
        Ok(self.execute(GuestGetHostName {}).await?.host_name)
    }

    /// `guest-get-osinfo`.
    pub async fn os_info(&self) -> Result<GuestOsInfo, QgaError> {
        self.execute(GuestGetOsinfo {}).await
    }

    /// `guest-network-get-interfaces`.
    pub async fn network_interfaces(&self) -> Result<Vec<GuestNetworkInterface>, QgaError> {
        self.execute(GuestNetworkGetInterfaces {}).await
    }

    /// `guest-set-time`: to `time_ns` (ns since the Unix epoch), or from the guest's RTC.
    pub async fn set_time(&self, time_ns: Option<i64>) -> Result<(), QgaError> {
        self.execute(GuestSetTime { time: time_ns }).await.map(drop)
    }

    /// `guest-info`: agent version and supported commands.
    pub async fn info(&self) -> Result<GuestAgentInfo, QgaError> {
        self.execute(GuestInfo {}).await
    }

    /// Sends one command and reads its reply. `Ok(None)` only when `want_reply` is false and
    /// the command went out but nothing came back (timeout or end of stream).
    async fn exchange(
        &self,
        name: &str,
        args: Value,
        timeout: Duration,
        want_reply: bool,
    ) -> Result<Option<Value>, QgaError> {
        let deadline = Instant::now() + timeout;
        let no_answer = || QgaError::NoAnswer {
            command: name.into(),
            timeout,
        };
        // Everything below may be cancelled at an await: the state says `NeedsSync` from
        // before the first byte goes out until a whole reply was read.
        let mut conn = timeout_at(deadline, self.inner.conn.lock())
            .await
            .map_err(|_| no_answer())?;
        match conn.state {
            State::Synced => {}
            State::Closed => return Err(QgaError::Disconnected),
            State::NeedsSync => timeout_at(deadline, conn.resync())
                .await
                .map_err(|_| no_answer())??,
        }
        conn.state = State::NeedsSync;
        let frame = encode_command(name, args);
        timeout_at(deadline, conn.write(name, &frame))
            .await
            .map_err(|_| no_answer())??;
        match timeout_at(deadline, conn.read_reply(name)).await {
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(QgaError::Disconnected)) if !want_reply => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(_) if !want_reply => Ok(None),
            Err(_) => Err(no_answer()),
        }
    }
}

impl Conn {
    async fn write(&mut self, command: &str, frame: &[u8]) -> Result<(), QgaError> {
        let result = match self.writer.write_all(frame).await {
            Ok(()) => self.writer.flush().await,
            Err(e) => Err(e),
        };
        result.map_err(|source| {
            if is_peer_gone(&source) {
                self.state = State::Closed;
                QgaError::Disconnected
            } else {
                QgaError::Io {
                    command: command.into(),
                    source,
                }
            }
        })
    }

    fn read_error(&mut self, command: &str, err: ReadError) -> QgaError {
        match err {
            ReadError::Eof => {
                self.state = State::Closed;
                QgaError::Disconnected
            }
            ReadError::Io(e) if is_peer_gone(&e) => {
                self.state = State::Closed;
                QgaError::Disconnected
            }
            ReadError::Io(source) => QgaError::Io {
                command: command.into(),
                source,
            },
            ReadError::TooLong { limit } => QgaError::Protocol(format!(
                "a reply to `{command}` is longer than {} MiB",
                limit / (1024 * 1024)
            )),
        }
    }

    /// Send the sentinel (which resets the agent's parser, dropping any half-received command)
    /// and `guest-sync-delimited` with a fresh id, then skip everything until a sentinel
    /// followed by `{"return": id}`: stale replies and garbage before it are dropped.
    async fn resync(&mut self) -> Result<(), QgaError> {
        if self.state == State::Closed {
            return Err(QgaError::Disconnected);
        }
        self.state = State::NeedsSync;
        let name = GuestSyncDelimited::NAME;
        let id = random_id();
        let mut frame = vec![SENTINEL];
        frame.extend(encode_command(name, serde_json::json!({ "id": id })));
        self.write(name, &frame).await?;
        loop {
            let skipped = self.reader.skip_past(SENTINEL).await;
            skipped.map_err(|e| self.read_error(name, e))?;
            let line = match self.reader.next_line().await {
                Ok(line) => line,
                // Garbage after a stale sentinel: keep looking for ours.
                Err(ReadError::TooLong { .. }) => continue,
                Err(e) => return Err(self.read_error(name, e)),
            };
            let body = after_last_sentinel(&line);
            match serde_json::from_slice::<Value>(body) {
                Ok(v) if v.get("return").and_then(Value::as_i64) == Some(id) => {
                    self.state = State::Synced;
                    return Ok(());
                }
                _ => tracing::debug!(line = %preview(body), "skipping stale guest agent output"),
            }
        }
    }

    /// The next reply: `return` value, or the agent's error.
    async fn read_reply(&mut self, command: &str) -> Result<Value, QgaError> {
        let line = match self.reader.next_line().await {
            Ok(line) => line,
            Err(e) => return Err(self.read_error(command, e)),
        };
        let body = after_last_sentinel(&line);
        let Ok(Value::Object(mut reply)) = serde_json::from_slice::<Value>(body) else {
            return Err(QgaError::Protocol(format!(
                "`{command}` got a line that is not a JSON object: {}",
                preview(body)
            )));
        };
        if let Some(value) = reply.remove("return") {
            self.state = State::Synced;
            return Ok(value);
        }
        if let Some(err) = reply.remove("error") {
            self.state = State::Synced;
            let text = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            return Err(QgaError::Command {
                command: command.into(),
                class: text("class"),
                desc: text("desc"),
            });
        }
        Err(QgaError::Protocol(format!(
            "`{command}` got a reply without `return` or `error`: {}",
            preview(body)
        )))
    }
}

/// A sync id nobody can predict (so replies of earlier sessions never match), exact as a JSON
/// number (< 2^53) and positive.
fn random_id() -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(now);
    // Masked to 52 bits, so the cast is lossless.
    (h.finish() & ((1 << 52) - 1)) as i64 + 1
}

/// Start of a line for messages.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    if bytes.len() > 200 {
        format!("{text}…")
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sync_ids_are_positive_exact_and_vary() {
        let ids: std::collections::HashSet<i64> = (0..100).map(|_| super::random_id()).collect();
        assert_eq!(ids.len(), 100);
        assert!(ids.iter().all(|&id| id > 0 && id <= 1 << 52));
    }
}
