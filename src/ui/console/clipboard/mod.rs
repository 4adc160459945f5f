//! The console's clipboard: the Clipboard menu ([`menu`]) and the bridge between the host's
//! GTK clipboard and the guest while the console shows a running VM.
//!
//! * VNC and headless VMs: through Hangar's own spice-vdagent host
//!   ([`Manager::clipboard`](hangar_core::manager::Manager::clipboard)). Host clipboard changes
//!   (text only) are offered with [`AgentHandle::offer_text`]; text the guest copies comes as
//!   [`AgentEvent::GuestClipboardText`] and is put on the host clipboard.
//! * SPICE VMs: through the display widget (spice-client-glib's main channel):
//!   `DisplayView::send_clipboard_text` and the `clipboard-text` signal.
//!
//! Both obey the VM's saved policy (the menu's switches,
//! [`Manager::set_clipboard_policy`](hangar_core::manager::Manager::set_clipboard_policy));
//! [`logic::EchoGuard`] keeps what was just received from going back. Typing the clipboard
//! text as key presses lives in [`typing`].

mod logic;
mod menu;
mod typing;

use gtk::prelude::*;
use gtk::{gdk, glib};
use hangar_core::agent::{AgentError, AgentEvent, AgentHandle};
use hangar_core::config::{ClipboardConfig, VmConfig};
use hangar_core::manager::{AgentState, ClipboardError, TypeError, TypeReport};
use relm4::ComponentSender;
use tokio::sync::broadcast::error::RecvError;

use super::{Console, ConsoleCmd, ConsoleInput, ConsoleOutput, Protocol};
use crate::error::UserError;
use crate::i18n::gettext;
use logic::{AgentView, EchoGuard, HostAction};
pub use menu::ClipMenu;

/// Clipboard messages of the console. Their `Debug` (which relm4 logs) leaves the clipboard's
/// text out: it can hold passwords.
pub enum ClipInput {
    /// GTK says the host clipboard changed.
    HostChanged,
    /// The host clipboard's text, read after a change (`None`: it holds no text).
    HostText(Option<String>),
    /// The guest copied this text.
    GuestText(String),
    /// A SPICE guest's agent came or went.
    SpiceAgent(bool),
    /// A switch of the menu was flipped.
    SetPolicy(ClipboardConfig),
    /// The menu opened: show the saved policy (another program may have changed it).
    MenuShown,
    TypeClipboard,
    /// The clipboard's text, read for typing.
    TypeRead(Option<String>),
    /// Type this text (confirmed when long).
    TypeConfirmed(String),
}

impl std::fmt::Debug for ClipInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = |t: &Option<String>| t.as_ref().map(String::len);
        match self {
            ClipInput::HostChanged => f.write_str("HostChanged"),
            ClipInput::HostText(t) => write!(f, "HostText(bytes: {:?})", bytes(t)),
            ClipInput::GuestText(t) => write!(f, "GuestText(bytes: {})", t.len()),
            ClipInput::SpiceAgent(on) => write!(f, "SpiceAgent({on})"),
            ClipInput::SetPolicy(p) => write!(f, "SetPolicy({p:?})"),
            ClipInput::MenuShown => f.write_str("MenuShown"),
            ClipInput::TypeClipboard => f.write_str("TypeClipboard"),
            ClipInput::TypeRead(t) => write!(f, "TypeRead(bytes: {:?})", bytes(t)),
            ClipInput::TypeConfirmed(t) => write!(f, "TypeConfirmed(bytes: {})", t.len()),
        }
    }
}

#[derive(Debug)]
pub enum ClipCmd {
    Linked {
        generation: u64,
        result: Result<AgentHandle, ClipboardError>,
    },
    PolicySaved(Result<Box<VmConfig>, ClipboardError>),
    Typed(Result<TypeReport, TypeError>),
}

/// Which way the console reaches the guest's clipboard.
enum Link {
    None,
    /// Waiting for `Manager::clipboard`.
    Pending,
    Agent {
        handle: AgentHandle,
        events: tokio::task::JoinHandle<()>,
    },
    Spice,
}

/// The clipboard part of the console's state.
pub struct ClipShare {
    pub menu: ClipMenu,
    clipboard: gdk::Clipboard,
    changed_handler: Option<glib::SignalHandlerId>,
    link: Link,
    /// Bumped on every (un)link, so that late results are dropped.
    generation: u64,
    guard: EchoGuard,
    policy: ClipboardConfig,
    untrusted: bool,
    os: Option<String>,
    agent: AgentView,
    typing: bool,
}

impl ClipShare {
    /// The menu and the bridge's state; `clipboard` is the display's clipboard.
    pub fn new(clipboard: gdk::Clipboard, input: &relm4::Sender<ConsoleInput>) -> ClipShare {
        let tx = input.clone();
        let changed_handler =
            Some(clipboard.connect_changed(move |_| tx.emit(ConsoleInput::Clip(ClipInput::HostChanged))));
        ClipShare {
            menu: ClipMenu::new(input),
            clipboard,
            changed_handler,
            link: Link::None,
            generation: 0,
            guard: EchoGuard::default(),
            policy: ClipboardConfig::default(),
            untrusted: false,
            os: None,
            agent: AgentView::Idle,
            typing: false,
        }
    }

    /// The policy in force (an untrusted VM shares nothing).
    fn effective(&self) -> ClipboardConfig {
        if self.untrusted {
            ClipboardConfig {
                host_to_guest: false,
                guest_to_host: false,
            }
        } else {
            self.policy
        }
    }

    fn linked(&self) -> bool {
        matches!(self.link, Link::Agent { .. } | Link::Spice)
    }
}

impl Console {
    /// Connects the widget's clipboard signals (SPICE) to the bridge; once, at init.
    pub(super) fn clip_connect_view(&mut self, sender: &ComponentSender<Self>) {
        let tx = sender.input_sender().clone();
        self.w.view.connect_clipboard_text(move |_, text| {
            tx.emit(ConsoleInput::Clip(ClipInput::GuestText(text.into())))
        });
        let tx = sender.input_sender().clone();
        self.w
            .view
            .connect_guest_agent_changed(move |_, on| tx.emit(ConsoleInput::Clip(ClipInput::SpiceAgent(on))));
        self.clip_reload();
        self.clip_refresh();
    }

    /// The VM runs and the console shows it with `protocol` (`None`: headless): share the
    /// clipboard. Does nothing when already sharing that way.
    pub(super) fn clip_link(&mut self, protocol: Option<Protocol>, sender: &ComponentSender<Self>) {
        if self.phase == super::Phase::Off {
            return;
        }
        let spice = protocol == Some(Protocol::Spice);
        match (&self.clip.link, spice) {
            (Link::Spice, true) | (Link::Pending | Link::Agent { .. }, false) => return,
            (Link::None, _) => {}
            _ => self.clip_unlink(),
        }
        self.clip.generation += 1;
        self.clip.guard.reset();
        self.clip_reload();
        if spice {
            self.clip.link = Link::Spice;
            self.clip.agent = match self.w.view.guest_agent_connected() {
                Some(true) => AgentView::Active,
                _ => AgentView::Missing,
            };
            let active = self.clip.agent == AgentView::Active;
            tracing::info!(vm = %self.name, active, "clipboard shared through SPICE");
            self.clip_refresh();
            self.clip_host_changed(sender);
            return;
        }
        self.clip.link = Link::Pending;
        self.clip.agent = AgentView::Connecting;
        self.clip_refresh();
        let (manager, name, generation) = (self.manager.clone(), self.name.clone(), self.clip.generation);
        sender.oneshot_command(async move {
            let result = manager.clipboard(&name).await;
            ConsoleCmd::Clip(Box::new(ClipCmd::Linked { generation, result }))
        });
    }

    /// Stops sharing (the VM stopped or the console closes); frees the VM's clipboard channel
    /// for other programs.
    pub(super) fn clip_unlink(&mut self) {
        self.clip.generation += 1;
        self.clip.guard.reset();
        let link = std::mem::replace(&mut self.clip.link, Link::None);
        if let Link::Agent { events, .. } = &link {
            events.abort();
        }
        if matches!(link, Link::Agent { .. } | Link::Pending) {
            let (manager, name) = (self.manager.clone(), self.name.clone());
            relm4::spawn(async move { manager.close_clipboard(&name).await });
        }
        if !matches!(link, Link::None) {
            tracing::info!(vm = %self.name, "clipboard no longer shared");
        }
        self.clip.agent = AgentView::Idle;
        self.clip_refresh();
    }

    /// The console's last words: nothing may reach the bridge any more.
    pub(super) fn clip_shutdown(&mut self) {
        self.clip_unlink();
        if let Some(id) = self.clip.changed_handler.take() {
            self.clip.clipboard.disconnect(id);
        }
    }

    /// A manager event about this VM's agent (VNC and headless VMs).
    pub(super) fn clip_agent_state(&mut self, status: &AgentState) {
        if !matches!(self.clip.link, Link::Agent { .. }) {
            return;
        }
        self.clip.agent = if status.guest_agent_active {
            AgentView::Active
        } else {
            AgentView::Missing
        };
        tracing::info!(vm = %self.name, active = status.guest_agent_active, "clipboard agent");
        self.clip_refresh();
    }

    pub(super) fn clip_update(&mut self, msg: ClipInput, sender: &ComponentSender<Self>) {
        match msg {
            ClipInput::HostChanged => self.clip_host_changed(sender),
            ClipInput::HostText(text) => self.clip_host_text(text, sender),
            ClipInput::GuestText(text) => self.clip_guest_text(text),
            ClipInput::SpiceAgent(on) => {
                if !matches!(self.clip.link, Link::Spice) {
                    return;
                }
                self.clip.agent = if on { AgentView::Active } else { AgentView::Missing };
                tracing::info!(vm = %self.name, active = on, "clipboard agent");
                self.clip_refresh();
                if on {
                    self.clip.guard.reset();
                    self.clip_host_changed(sender);
                }
            }
            ClipInput::SetPolicy(policy) => {
                tracing::info!(
                    vm = %self.name,
                    host_to_guest = policy.host_to_guest,
                    guest_to_host = policy.guest_to_host,
                    "clipboard policy"
                );
                let (manager, name) = (self.manager.clone(), self.name.clone());
                sender.oneshot_command(async move {
                    let saved = manager.set_clipboard_policy(&name, policy).await.map(Box::new);
                    ConsoleCmd::Clip(Box::new(ClipCmd::PolicySaved(saved)))
                });
            }
            ClipInput::MenuShown => {
                self.clip_reload();
                self.clip_refresh();
            }
            ClipInput::TypeClipboard => self.clip_type_clipboard(sender),
            ClipInput::TypeRead(text) => self.clip_type_read(text, sender),
            ClipInput::TypeConfirmed(text) => self.clip_type(text, sender),
        }
    }

    pub(super) fn clip_cmd(&mut self, cmd: ClipCmd, sender: &ComponentSender<Self>) {
        match cmd {
            ClipCmd::Linked { generation, result } if generation == self.clip.generation => {
                self.clip_linked(result, sender)
            }
            ClipCmd::Linked { result: Ok(_), .. } if matches!(self.clip.link, Link::None | Link::Spice) => {
                // Opened after sharing stopped: free the channel again.
                let (manager, name) = (self.manager.clone(), self.name.clone());
                relm4::spawn(async move { manager.close_clipboard(&name).await });
            }
            ClipCmd::Linked { .. } => {}
            ClipCmd::PolicySaved(Ok(config)) => {
                let before = self.clip.effective();
                self.clip_apply_config(&config);
                let now = self.clip.effective();
                if matches!(self.clip.link, Link::Spice) && before.host_to_guest && !now.host_to_guest {
                    self.w.view.withdraw_clipboard_text();
                }
                if !before.host_to_guest && now.host_to_guest {
                    // Offer what the host holds now.
                    self.clip.guard.reset();
                    self.clip_host_changed(sender);
                }
                self.clip_refresh();
            }
            ClipCmd::PolicySaved(Err(err)) => {
                self.clip_reload();
                self.clip_refresh();
                let _ = sender.output(ConsoleOutput::Error(UserError::from_error(
                    gettext("Could not change the clipboard sharing"),
                    &err,
                )));
            }
            ClipCmd::Typed(result) => self.clip_typed(result, sender),
        }
    }

    fn clip_linked(&mut self, result: Result<AgentHandle, ClipboardError>, sender: &ComponentSender<Self>) {
        let handle = match result {
            Ok(handle) => handle,
            Err(ClipboardError::Manager(err)) => {
                // Mostly: the VM stopped meanwhile; the next start links again.
                tracing::debug!(vm = %self.name, "clipboard not shared: {err}");
                self.clip.link = Link::None;
                self.clip.agent = AgentView::Idle;
                self.clip_refresh();
                return;
            }
            Err(err) => {
                tracing::warn!(vm = %self.name, "clipboard not shared: {err}");
                self.clip.link = Link::None;
                self.clip.agent = AgentView::Unavailable(err.to_string());
                self.clip_refresh();
                return;
            }
        };
        let mut events = handle.subscribe();
        let tx = sender.input_sender().clone();
        let (out, name) = (sender.output_sender().clone(), self.name.clone());
        let task = relm4::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(AgentEvent::GuestClipboardText(text)) => {
                        tx.emit(ConsoleInput::Clip(ClipInput::GuestText(text)))
                    }
                    Ok(AgentEvent::Error(err)) => report_agent_error(&out, &name, &err),
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => tracing::debug!(vm = %name, n, "clipboard events missed"),
                    Err(RecvError::Closed) => break,
                }
            }
        });
        let active = self
            .manager
            .agent_state(&self.name)
            .is_some_and(|s| s.guest_agent_active);
        self.clip.agent = if active {
            AgentView::Active
        } else {
            AgentView::Missing
        };
        self.clip.link = Link::Agent { handle, events: task };
        tracing::info!(vm = %self.name, active, "clipboard shared through the agent channel");
        self.clip_refresh();
        self.clip_host_changed(sender);
    }

    /// Reads the saved policy (another program may have changed it).
    fn clip_reload(&mut self) {
        match self.manager.store().load(&self.name) {
            Ok(config) => self.clip_apply_config(&config),
            Err(err) => tracing::debug!(vm = %self.name, "clipboard policy kept: {err}"),
        }
    }

    fn clip_apply_config(&mut self, config: &VmConfig) {
        self.clip.policy = config.clipboard;
        self.clip.untrusted = config.untrusted;
        self.clip.os.clone_from(&config.os);
        self.w
            .view
            .set_clipboard_from_guest(self.clip.effective().guest_to_host);
    }

    /// Shows the bridge's state in the menu and on the button.
    fn clip_refresh(&self) {
        let c = &self.clip;
        c.menu
            .set_status(&logic::status(&c.agent, c.untrusted, c.os.as_deref()));
        c.menu.set_policy(c.policy, c.untrusted);
        c.menu.set_indicator(&logic::indicator(c.effective()));
        c.menu.set_can_type(self.clip_vm_running() && !c.typing);
    }

    fn clip_vm_running(&self) -> bool {
        self.manager.pid(&self.name).is_some()
    }

    /// Reads the host clipboard's text when it may go to the guest.
    fn clip_host_changed(&mut self, sender: &ComponentSender<Self>) {
        if !self.clip.linked() {
            return;
        }
        self.clip_reload();
        if !self.clip.effective().host_to_guest {
            // Not read at all: nothing of it crosses.
            self.clip.guard.host_changed(None, false);
            return;
        }
        read_text(&self.clip.clipboard, sender, ClipInput::HostText);
    }

    fn clip_host_text(&mut self, text: Option<String>, sender: &ComponentSender<Self>) {
        if !self.clip.linked() {
            return;
        }
        let to_guest = self.clip.effective().host_to_guest;
        match (
            self.clip.guard.host_changed(text.as_deref(), to_guest),
            &self.clip.link,
        ) {
            (HostAction::Offer(text), Link::Agent { handle, .. }) => {
                let bytes = text.len();
                match handle.offer_text(text) {
                    Ok(()) => {
                        tracing::info!(vm = %self.name, bytes, "clipboard: host text offered to the guest")
                    }
                    Err(err) => report_agent_error(sender.output_sender(), &self.name, &err),
                }
            }
            (HostAction::Offer(text), Link::Spice) => match self.w.view.send_clipboard_text(&text) {
                Ok(()) => {
                    tracing::info!(vm = %self.name, bytes = text.len(), "clipboard: host text offered to the guest")
                }
                // Offered again when the agent comes.
                Err(err) => tracing::debug!(vm = %self.name, "clipboard: {err}"),
            },
            (HostAction::Withdraw, Link::Agent { handle, .. }) => {
                if let Err(err) = handle.withdraw_text() {
                    tracing::debug!(vm = %self.name, "clipboard: {err}");
                }
            }
            (HostAction::Withdraw, Link::Spice) => self.w.view.withdraw_clipboard_text(),
            _ => {}
        }
    }

    fn clip_guest_text(&mut self, text: String) {
        if !self.clip.linked() {
            return;
        }
        self.clip_reload();
        if !self.clip.effective().guest_to_host {
            tracing::info!(vm = %self.name, "clipboard: guest text not taken (guest → host is off)");
            return;
        }
        if self.clip.guard.guest_copied(&text) {
            self.clip.clipboard.set_text(&text);
            tracing::info!(vm = %self.name, bytes = text.len(), "clipboard: guest text put on the host clipboard");
        }
    }
}

/// Reads the clipboard's text on the main loop and sends `msg(text)` back.
fn read_text(
    clipboard: &gdk::Clipboard,
    sender: &ComponentSender<Console>,
    msg: fn(Option<String>) -> ClipInput,
) {
    let (clipboard, tx) = (clipboard.clone(), sender.input_sender().clone());
    glib::MainContext::default().spawn_local(async move {
        let text = match clipboard.read_text_future().await {
            Ok(text) => text.map(String::from),
            Err(err) => {
                tracing::debug!("the clipboard holds no text: {err}");
                None
            }
        };
        tx.emit(ConsoleInput::Clip(msg(text)));
    });
}

/// Errors of the agent the user should hear of (a clipboard too large to share); the rest are
/// logged.
fn report_agent_error(out: &relm4::Sender<ConsoleOutput>, vm: &str, err: &AgentError) {
    match err {
        AgentError::HostTooLarge { .. } | AgentError::GuestTooLarge { .. } => {
            let _ = out.send(ConsoleOutput::Error(UserError::from_error(
                gettext("The clipboard was not shared"),
                err,
            )));
        }
        _ => tracing::debug!(vm, "clipboard: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_log_no_clipboard_text() {
        for msg in [
            ClipInput::HostText(Some("hunter2".into())),
            ClipInput::GuestText("hunter2".into()),
            ClipInput::TypeRead(Some("hunter2".into())),
            ClipInput::TypeConfirmed("hunter2".into()),
        ] {
            let shown = format!("{:?}", ConsoleInput::Clip(msg));
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("bytes: "), "{shown}");
        }
        assert_eq!(
            format!("{:?}", ClipInput::HostText(None)),
            "HostText(bytes: None)"
        );
    }
}
