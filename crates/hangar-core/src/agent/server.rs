//! The tokio driver: keeps a connection to QEMU's `com.redhat.spice.0` unix socket (QEMU is
//! the server; reconnects with backoff when QEMU restarts), runs a [`VdagentHost`] on it and
//! serves an [`AgentHandle`].
//!
//! Clipboard flow (only the CLIPBOARD selection is shared; PRIMARY is left alone):
//! - host copies text → [`AgentHandle::offer_text`] → grab in the guest; when something in the
//!   guest pastes, the guest requests and the driver answers with the text. Text offered while
//!   the guest agent is away is grabbed as soon as it announces itself.
//! - guest copies text → the guest grabs → the driver requests the text AT ONCE (eagerly) and
//!   emits [`AgentEvent::GuestClipboardText`], so the GUI can put it on the host clipboard
//!   without a round trip at paste time; [`AgentHandle::request_guest_text`] returns that text
//!   (or waits for the pending answer). Eager fetching costs one transfer per guest copy, bounded
//!   by the size limit; it keeps paste on the host instant and independent of the guest's state.
//! - echo guard: offering the very text the guest just sent (the GUI mirroring it to the host
//!   clipboard, which then reports a change) does not grab it back from the guest.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::error::AgentError;
use super::protocol::{Caps, ClipboardType, MonitorConfig, MonitorsConfig, Selection};
use super::session::{Policy, SessionEvent, VdagentHost};

/// Default wait for the guest's answer to a clipboard request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for QEMU to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to run the agent driver.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// QEMU's chardev socket backing `com.redhat.spice.0` (`RuntimePaths::vdagent`).
    pub socket: PathBuf,
    pub policy: Policy,
    /// Wait for the guest's answer to a clipboard request.
    pub request_timeout: Duration,
    /// First wait before reconnecting; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl AgentOptions {
    pub fn new(socket: impl Into<PathBuf>, policy: Policy) -> Self {
        AgentOptions {
            socket: socket.into(),
            policy,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

/// What the driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// Connected to QEMU's socket (the guest agent may not be running yet).
    Connected,
    /// The socket closed (QEMU exited); reconnecting.
    Disconnected,
    /// The guest agent announced itself.
    GuestAgentActive { caps: Caps },
    /// The guest closed its end of the port (reported through
    /// [`AgentHandle::notify_guest_port`]): the agent is gone until it announces again.
    GuestAgentGone,
    /// Text the guest copied (LF line ends).
    GuestClipboardText(String),
    /// The guest pasted: the host's text (`bytes` long) was handed over.
    HostTextSent { bytes: usize },
    /// Something the user should know (e.g. the guest's clipboard is over the limit).
    Error(AgentError),
}

/// Current state, also observable through [`AgentHandle::watch_status`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStatus {
    pub connected: bool,
    /// Set while the guest agent is active.
    pub guest_caps: Option<Caps>,
    pub policy: Policy,
}

enum Command {
    SetPolicy(Policy),
    OfferText(String),
    Withdraw,
    RequestText(oneshot::Sender<Result<String, AgentError>>),
    AskText(oneshot::Sender<Result<String, AgentError>>),
    Monitors(MonitorsConfig, oneshot::Sender<Result<(), AgentError>>),
    GuestPort { open: bool },
    Shutdown,
}

/// Handle on a running agent driver. Cheap to clone; the driver stops on
/// [`AgentHandle::shutdown`] or when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    cmds: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<AgentEvent>,
    status: watch::Receiver<AgentStatus>,
    request_timeout: Duration,
}

impl AgentHandle {
    /// Start the driver on the current tokio runtime (must be called inside one).
    pub fn spawn(options: AgentOptions) -> AgentHandle {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(256);
        let (status_tx, status_rx) = watch::channel(AgentStatus {
            policy: options.policy,
            ..AgentStatus::default()
        });
        let handle = AgentHandle {
            cmds: cmd_tx,
            events: events.clone(),
            status: status_rx,
            request_timeout: options.request_timeout,
        };
        let driver = Driver {
            policy: options.policy,
            options,
            cmds: cmd_rx,
            events,
            status: status_tx,
            clip: ClipState::default(),
        };
        tokio::spawn(driver.run());
        handle
    }

    /// Events from now on (a receiver that lags more than 256 events loses the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.events.subscribe()
    }

    /// The current state.
    pub fn status(&self) -> AgentStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every state change.
    pub fn watch_status(&self) -> watch::Receiver<AgentStatus> {
        self.status.clone()
    }

    /// Change what may cross; applies at once (turning host → guest off withdraws the host's
    /// clipboard from the guest).
    pub fn set_policy(&self, policy: Policy) -> Result<(), AgentError> {
        self.send(Command::SetPolicy(policy))
    }

    /// The host clipboard now holds `text`: offer it to the guest (now, or when its agent
    /// appears). Fails at once when the policy forbids it or the text is over the limit.
    pub fn offer_text(&self, text: String) -> Result<(), AgentError> {
        let policy = self.status.borrow().policy;
        if !policy.host_to_guest {
            return Err(AgentError::HostToGuestOff);
        }
        if text.len() > policy.max_bytes {
            return Err(AgentError::HostTooLarge {
                size: text.len(),
                limit: policy.max_bytes,
            });
        }
        self.send(Command::OfferText(text))
    }

    /// The host clipboard no longer holds text: withdraw it from the guest.
    pub fn withdraw_text(&self) -> Result<(), AgentError> {
        self.send(Command::Withdraw)
    }

    /// The text the guest copied last (already fetched, or fetched now).
    pub async fn request_guest_text(&self) -> Result<String, AgentError> {
        self.guest_text(Command::RequestText).await
    }

    /// Like [`AgentHandle::request_guest_text`], but asks the guest even when this connection
    /// has not seen it copy: a new connection (e.g. a short-lived CLI) misses grabs made
    /// before it. A guest agent that owns no text answers "nothing" ([`AgentError::NoGuestText`]).
    pub async fn ask_guest_text(&self) -> Result<String, AgentError> {
        self.guest_text(Command::AskText).await
    }

    async fn guest_text(
        &self,
        command: fn(oneshot::Sender<Result<String, AgentError>>) -> Command,
    ) -> Result<String, AgentError> {
        let (tx, rx) = oneshot::channel();
        self.send(command(tx))?;
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(AgentError::Stopped),
            Err(_) => Err(AgentError::Timeout {
                timeout: self.request_timeout,
            }),
        }
    }

    /// Ask the guest to lay out its displays; returns once the request is sent.
    pub async fn set_monitors(&self, config: MonitorsConfig) -> Result<(), AgentError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Monitors(config, tx))?;
        rx.await.unwrap_or(Err(AgentError::Stopped))
    }

    /// Ask the guest to resize its (single) display to `width` × `height`.
    pub async fn resize_guest(&self, width: u32, height: u32) -> Result<(), AgentError> {
        let monitor = MonitorConfig {
            width,
            height,
            depth: 32,
            x: 0,
            y: 0,
        };
        self.set_monitors(MonitorsConfig {
            flags: 0,
            monitors: vec![monitor],
        })
        .await
    }

    /// The guest opened or closed its end of the port (QMP `VSERPORT_CHANGE` for
    /// `com.redhat.spice.0`): forget the old agent instance and any half-read message.
    pub fn notify_guest_port(&self, open: bool) -> Result<(), AgentError> {
        self.send(Command::GuestPort { open })
    }

    /// Stop the driver (disconnects; pending requests fail with [`AgentError::Stopped`]).
    pub fn shutdown(&self) {
        // Already stopped when the send fails: nothing to do.
        let _ = self.cmds.send(Command::Shutdown);
    }

    fn send(&self, command: Command) -> Result<(), AgentError> {
        self.cmds.send(command).map_err(|_| AgentError::Stopped)
    }
}

/// What the driver knows about both clipboards.
#[derive(Default)]
struct ClipState {
    /// Text the host clipboard holds, to answer guest requests.
    host_text: Option<String>,
    /// The host (not the guest) copied last, so a restarting guest agent gets the grab again.
    host_is_owner: bool,
    /// The guest owns the CLIPBOARD selection with a text type.
    guest_has_text: bool,
    /// Text fetched from the guest since its last grab.
    guest_text: Option<String>,
    /// When the pending request for guest text was sent.
    in_flight: Option<Instant>,
    waiters: Vec<oneshot::Sender<Result<String, AgentError>>>,
}

impl ClipState {
    fn resolve(&mut self, result: Result<String, AgentError>) {
        self.in_flight = None;
        for waiter in self.waiters.drain(..) {
            // A waiter that gave up (timeout) dropped its receiver: nothing to tell it.
            let _ = waiter.send(result.clone());
        }
    }

    fn forget_guest(&mut self, why: AgentError) {
        self.guest_has_text = false;
        self.guest_text = None;
        self.resolve(Err(why));
    }
}

enum Exit {
    Shutdown,
    Disconnected,
}

struct Driver {
    options: AgentOptions,
    policy: Policy,
    cmds: mpsc::UnboundedReceiver<Command>,
    events: broadcast::Sender<AgentEvent>,
    status: watch::Sender<AgentStatus>,
    clip: ClipState,
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = self.options.reconnect_min;
        loop {
            // Not raced against commands: a connection dropped right after it was established
            // would look to QEMU (and the guest) like a connect + disconnect. A unix-socket
            // connect finishes at once; the timeout only guards against a stuck listener.
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&self.options.socket))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
            match connect {
                Ok(stream) => {
                    backoff = self.options.reconnect_min;
                    if let Exit::Shutdown = self.connected(stream).await {
                        break;
                    }
                }
                Err(e) => {
                    tracing::trace!("vdagent: connect {}: {e}", self.options.socket.display());
                    let sleep = tokio::time::sleep(backoff);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            _ = &mut sleep => break,
                            cmd = self.cmds.recv() => match cmd {
                                None | Some(Command::Shutdown) => return,
                                Some(cmd) => self.offline(cmd),
                            },
                        }
                    }
                    backoff = (backoff * 2).min(self.options.reconnect_max);
                }
            }
        }
        self.clip.resolve(Err(AgentError::Stopped));
    }

    async fn connected(&mut self, stream: UnixStream) -> Exit {
        tracing::debug!("vdagent: connected to {}", self.options.socket.display());
        let (mut reader, writer) = stream.into_split();
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let mut writer = tokio::spawn(write_loop(writer, out_rx));
        let mut session = VdagentHost::new(self.policy);
        self.status.send_modify(|s| s.connected = true);
        self.emit(AgentEvent::Connected);
        session.announce(true);
        let mut buf = vec![0u8; 64 * 1024];
        let exit = loop {
            if session.has_output() {
                // A closed writer is noticed by the `writer` arm below.
                let _ = out_tx.send(session.take_output());
            }
            tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(0) => break Exit::Disconnected,
                    Ok(n) => {
                        for event in session.feed(&buf[..n]) {
                            self.on_session_event(&mut session, event);
                        }
                    }
                    Err(e) => {
                        super::log_socket_error("reading", &self.options.socket, &e);
                        break Exit::Disconnected;
                    }
                },
                cmd = self.cmds.recv() => match cmd {
                    None | Some(Command::Shutdown) => break Exit::Shutdown,
                    Some(cmd) => self.online(&mut session, cmd),
                },
                done = &mut writer => {
                    if let Ok(Err(e)) = done {
                        super::log_socket_error("writing", &self.options.socket, &e);
                    }
                    break Exit::Disconnected;
                }
            }
        };
        if let Exit::Shutdown = exit {
            // Hand over what is queued (e.g. the answer to the guest's paste) before closing.
            if session.has_output() {
                let _ = out_tx.send(session.take_output());
            }
            drop(out_tx);
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, &mut writer).await;
        }
        writer.abort();
        self.clip.forget_guest(match exit {
            Exit::Shutdown => AgentError::Stopped,
            Exit::Disconnected => AgentError::Disconnected,
        });
        self.status.send_modify(|s| {
            s.connected = false;
            s.guest_caps = None;
        });
        self.emit(AgentEvent::Disconnected);
        exit
    }

    fn emit(&self, event: AgentEvent) {
        // No subscriber is fine: events are informative.
        let _ = self.events.send(event);
    }

    fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
        self.status.send_modify(|s| s.policy = policy);
        if !policy.guest_to_host {
            self.clip.forget_guest(AgentError::GuestToHostOff);
        }
    }

    /// Commands while QEMU's socket is not connected.
    fn offline(&mut self, cmd: Command) {
        let path = self.options.socket.clone();
        let not_connected = move || AgentError::NotConnected { path };
        match cmd {
            Command::SetPolicy(policy) => self.set_policy(policy),
            Command::OfferText(text) => {
                self.clip.host_text = Some(text);
                self.clip.host_is_owner = true;
            }
            Command::Withdraw => {
                self.clip.host_text = None;
                self.clip.host_is_owner = false;
            }
            Command::RequestText(tx) | Command::AskText(tx) => {
                let _ = tx.send(Err(not_connected()));
            }
            Command::Monitors(_, tx) => {
                let _ = tx.send(Err(not_connected()));
            }
            Command::GuestPort { .. } | Command::Shutdown => {}
        }
    }

    /// Commands while connected.
    fn online(&mut self, session: &mut VdagentHost, cmd: Command) {
        match cmd {
            Command::SetPolicy(policy) => {
                let was_h2g = self.policy.host_to_guest;
                session.set_policy(policy);
                self.set_policy(policy);
                if !was_h2g && policy.host_to_guest && self.clip.host_is_owner {
                    self.grab_host_text(session);
                }
            }
            Command::OfferText(text) => {
                if self.clip.guest_has_text && self.clip.guest_text.as_deref() == Some(text.as_str()) {
                    tracing::debug!("vdagent: host clipboard mirrors the guest's; not grabbing it back");
                    self.clip.host_text = Some(text);
                    return;
                }
                self.clip.host_text = Some(text);
                self.clip.host_is_owner = true;
                self.clip.guest_has_text = false;
                self.clip.guest_text = None;
                self.grab_host_text(session);
            }
            Command::Withdraw => {
                self.clip.host_text = None;
                self.clip.host_is_owner = false;
                session.release(Selection::CLIPBOARD);
            }
            Command::RequestText(tx) => self.request_text(session, tx),
            Command::AskText(tx) => {
                // Presume the guest owns text; its "nothing" answer resolves NoGuestText.
                let unknown = self.clip.guest_text.is_none() && !self.clip.host_is_owner;
                if unknown && self.policy.guest_to_host && session.guest_active() {
                    self.clip.guest_has_text = true;
                }
                self.request_text(session, tx)
            }
            Command::Monitors(config, tx) => {
                let _ = tx.send(session.monitors_config(&config));
            }
            Command::GuestPort { open } => {
                tracing::debug!("vdagent: guest port {}", if open { "opened" } else { "closed" });
                let was_active = session.guest_active();
                session.reset();
                self.clip.forget_guest(AgentError::NoGuestAgent);
                self.status.send_modify(|s| s.guest_caps = None);
                if was_active {
                    self.emit(AgentEvent::GuestAgentGone);
                }
            }
            Command::Shutdown => {}
        }
    }

    fn grab_host_text(&mut self, session: &mut VdagentHost) {
        if self.clip.host_text.is_none() || !session.guest_active() {
            return;
        }
        match session.grab(Selection::CLIPBOARD, &[ClipboardType::UTF8_TEXT]) {
            Ok(()) => {}
            Err(e @ AgentError::Unsupported { .. }) => self.emit(AgentEvent::Error(e)),
            Err(e) => tracing::debug!("vdagent: not offering the host clipboard: {e}"),
        }
    }

    fn request_text(&mut self, session: &mut VdagentHost, tx: oneshot::Sender<Result<String, AgentError>>) {
        let early = if !self.policy.guest_to_host {
            Some(Err(AgentError::GuestToHostOff))
        } else if !session.guest_active() {
            Some(Err(AgentError::NoGuestAgent))
        } else if let Some(text) = &self.clip.guest_text {
            Some(Ok(text.clone()))
        } else if !self.clip.guest_has_text {
            Some(Err(AgentError::NoGuestText))
        } else {
            None
        };
        if let Some(result) = early {
            let _ = tx.send(result);
            return;
        }
        self.clip.waiters.push(tx);
        self.fetch_guest_text(session);
    }

    /// Send a request for the guest's text unless a recent one is pending.
    fn fetch_guest_text(&mut self, session: &mut VdagentHost) {
        let pending = self
            .clip
            .in_flight
            .is_some_and(|at| at.elapsed() < self.options.request_timeout);
        if pending {
            return;
        }
        match session.request(Selection::CLIPBOARD, ClipboardType::UTF8_TEXT) {
            Ok(()) => self.clip.in_flight = Some(Instant::now()),
            Err(e) => self.clip.resolve(Err(e)),
        }
    }

    fn on_session_event(&mut self, session: &mut VdagentHost, event: SessionEvent) {
        if let Some(error) = event.as_error() {
            self.clip.resolve(Err(error.clone()));
            self.emit(AgentEvent::Error(error));
            return;
        }
        match event {
            SessionEvent::GuestAnnounced { caps } => {
                self.clip.forget_guest(AgentError::NoGuestAgent);
                self.status.send_modify(|s| s.guest_caps = Some(caps.clone()));
                self.emit(AgentEvent::GuestAgentActive { caps });
                if self.clip.host_is_owner {
                    self.grab_host_text(session);
                }
            }
            SessionEvent::GuestGrab { selection, types } if selection == Selection::CLIPBOARD => {
                self.clip.host_is_owner = false;
                self.clip.guest_text = None;
                self.clip.guest_has_text = types.contains(&ClipboardType::UTF8_TEXT);
                if self.clip.guest_has_text {
                    self.clip.in_flight = None;
                    self.fetch_guest_text(session);
                } else {
                    self.clip.resolve(Err(AgentError::NoGuestText));
                }
            }
            SessionEvent::GuestRequest { selection, kind } => {
                let text = self
                    .clip
                    .host_text
                    .as_deref()
                    .filter(|_| selection == Selection::CLIPBOARD && kind == ClipboardType::UTF8_TEXT);
                match text.map(|t| (t.len(), session.clipboard(selection, kind, t.as_bytes()))) {
                    Some((bytes, Ok(()))) => self.emit(AgentEvent::HostTextSent { bytes }),
                    Some((_, Err(e))) => {
                        session.refuse_request(selection);
                        self.emit(AgentEvent::Error(e));
                    }
                    None => session.refuse_request(selection),
                }
            }
            SessionEvent::GuestClipboard {
                selection,
                kind,
                data,
            } if selection == Selection::CLIPBOARD => {
                if kind == ClipboardType::UTF8_TEXT {
                    let text = text_from_guest(&data);
                    self.clip.guest_text = Some(text.clone());
                    self.clip.resolve(Ok(text.clone()));
                    self.emit(AgentEvent::GuestClipboardText(text));
                } else if kind == ClipboardType::NONE {
                    self.clip.resolve(Err(AgentError::NoGuestText));
                }
            }
            SessionEvent::GuestRelease { selection } if selection == Selection::CLIPBOARD => {
                self.clip.forget_guest(AgentError::NoGuestText);
            }
            SessionEvent::GuestReply { kind, ok } => {
                tracing::debug!(
                    "vdagent: guest replied to {kind:?}: {}",
                    if ok { "ok" } else { "error" }
                );
            }
            other => tracing::trace!("vdagent: not used: {other:?}"),
        }
    }
}

/// Guest text as a `String`: invalid UTF-8 replaced, trailing NUL terminators dropped.
fn text_from_guest(data: &[u8]) -> String {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&data[..end]).into_owned()
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) -> std::io::Result<()> {
    while let Some(bytes) = rx.recv().await {
        writer.write_all(&bytes).await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests_server.rs"]
mod tests;
