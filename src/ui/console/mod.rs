//! The embedded console of a VM page: the guest screen in a [`hangar_display::DisplayView`],
//! its toolbar, and its life cycle.
//!
//! Life cycle (see [`Phase`]): the console reads `vm.toml` and the VM's runtime folder, then
//! shows "off" (with Start), "no display" (headless VMs: the serial console command), or
//! connects to the VNC or SPICE socket QEMU listens on. A guest reboot keeps QEMU and so the
//! connection; if the connection drops while QEMU still runs, the console reconnects with
//! [`target::Backoff`] and offers Reconnect after that. `State` events (forwarded by the VM
//! page as [`ConsoleInput::VmEvent`]) start a new connection whenever the VM (re)starts, also
//! when the CLI started it.
//!
//! Keyboard: a click on the screen grabs, the release chord (setting `release-chord`) releases;
//! the toolbar says which keys while grabbed. The fullscreen key (setting `fullscreen-key`) and
//! Ctrl+plus/minus/0 are the console's own shortcuts; during a grab every other key goes to the
//! guest (Esc too: it never leaves fullscreen). Fullscreen of the main window is asked of the
//! VM page with [`ConsoleOutput::SetFullscreen`]; a detached console fullscreens its own window.
//! Phase changes, grabs and fullscreen are logged at `info` (tests read them).

mod actions;
mod clipboard;
mod detach;
mod fullscreen;
mod keys;
mod resize;
mod screenshot;
mod target;
mod tools;
mod ui;
mod usb;

use std::path::PathBuf;
use std::time::Duration;

use adw::prelude::*;
use gtk::glib;
use hangar_core::manager::{Event, Manager, VmState};
use hangar_display::{ConnectionState, ScalingMode};
use relm4::{Component, ComponentController, ComponentParts, ComponentSender};

pub use keys::{chord_label, hotkey_label};
pub use target::{Protocol, Target};

use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};
use crate::settings::{keys as pref_keys, Prefs};
use actions::Actions;
use clipboard::{ClipCmd, ClipInput, ClipShare};
use detach::Detached;
use resize::GuestFollower;
use target::Backoff;
use ui::{page, Widgets};

/// How long "Starting…" waits for the VM's state event before looking again.
const START_PATIENCE: Duration = Duration::from_secs(60);

pub struct ConsoleInit {
    pub manager: Manager,
    pub name: String,
    pub prefs: Prefs,
}

#[derive(Debug)]
pub enum ConsoleInput {
    /// A manager event (the console picks those about its VM).
    VmEvent(Event),
    // Internal: buttons, actions and widget signals.
    Start,
    Reconnect,
    DisplayChanged,
    GrabChanged(bool),
    ToggleFullscreen,
    WindowFullscreen(bool),
    ContentMapped,
    ContentUnmapped,
    ToggleDetached,
    Attach,
    SendKeys(String),
    SetScaling(ScalingMode),
    ZoomIn,
    ZoomOut,
    ZoomReset,
    ResizeGuestToWindow(bool),
    ResizeGuestFailed(String),
    ResizeWindowToGuest,
    Release,
    Screenshot,
    SaveScreenshot {
        temp: PathBuf,
        dest: Option<PathBuf>,
    },
    PrefsChanged,
    Clip(ClipInput),
}

#[derive(Debug)]
pub enum ConsoleOutput {
    Error(UserError),
    Notify(String),
    /// Put the window holding the console into fullscreen (`true`) or back.
    SetFullscreen(bool),
    /// The "VM is off — Start" button was pressed.
    Start,
}

#[derive(Debug)]
pub enum ConsoleCmd {
    Probed {
        generation: u64,
        result: Result<Target, UserError>,
    },
    Retry {
        generation: u64,
    },
    StartTimeout {
        generation: u64,
    },
    Watched(Option<String>),
    Screenshot(Result<PathBuf, UserError>),
    Clip(Box<ClipCmd>),
}

/// What the console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Loading,
    Off,
    Starting,
    Headless,
    Connecting,
    Reconnecting,
    Connected,
    Disconnected(String),
    Broken(String),
}

impl Phase {
    /// Stable name, used in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Off => "off",
            Phase::Starting => "starting",
            Phase::Headless => "headless",
            Phase::Connecting => "connecting",
            Phase::Reconnecting => "reconnecting",
            Phase::Connected => "connected",
            Phase::Disconnected(_) => "disconnected",
            Phase::Broken(_) => "error",
        }
    }

    /// Whether a (re)start of the VM should make the console look again.
    fn waits_for_vm(&self) -> bool {
        !matches!(self, Phase::Connecting | Phase::Connected)
    }
}

pub struct Console {
    manager: Manager,
    name: String,
    prefs: Prefs,
    w: Widgets,
    actions: Actions,
    phase: Phase,
    /// Bumped whenever pending probes and timers become outdated.
    generation: u64,
    backoff: Backoff,
    /// A display session was started and its end is not handled yet.
    session: bool,
    watch_asked: bool,
    fullscreen: bool,
    window_watch: Option<(glib::WeakRef<gtk::Window>, glib::SignalHandlerId)>,
    detached: Option<Detached>,
    follower: Option<GuestFollower>,
    settings_handlers: Vec<glib::SignalHandlerId>,
    shot_busy: bool,
    usb: relm4::Controller<usb::UsbMenu>,
    clip: ClipShare,
}

impl Console {
    /// What the console shows now.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The toolbar's slot for feature menus, right of the grab hint: it holds the Clipboard
    /// menu; USB goes here too.
    pub fn extra_menus(&self) -> &gtk::Box {
        &self.w.extra_menus
    }

    fn set_phase(&mut self, phase: Phase) {
        let busy = |title: String, description: String| (page::CONNECTING, Some((title, description)));
        let (name, busy) = match &phase {
            Phase::Loading => busy(gettext("Loading…"), String::new()),
            Phase::Starting => busy(
                gettext("Starting…"),
                gettext("The screen appears once the virtual machine runs."),
            ),
            Phase::Connecting => busy(gettext("Connecting…"), String::new()),
            Phase::Reconnecting => busy(
                gettext("Reconnecting…"),
                gettext("The connection to the screen was lost. The virtual machine is still running."),
            ),
            Phase::Off => (page::OFF, None),
            Phase::Headless => (page::HEADLESS, None),
            Phase::Connected => (page::DISPLAY, None),
            Phase::Disconnected(reason) => {
                self.w.disconnected.set_description(Some(reason));
                (page::DISCONNECTED, None)
            }
            Phase::Broken(reason) => {
                self.w.error.set_description(Some(reason));
                (page::ERROR, None)
            }
        };
        if let Some((title, description)) = busy {
            self.w.busy.set_title(&title);
            self.w.busy.set_description(Some(&description));
        }
        self.w.pages.set_visible_child_name(name);
        let connected = phase == Phase::Connected;
        self.actions.set_connected(connected, self.fullscreen);
        for menu in &self.w.menus {
            menu.set_sensitive(connected);
        }
        if connected && self.w.content.is_mapped() {
            self.w.view.grab_focus();
        }
        if matches!(phase, Phase::Off | Phase::Broken(_)) {
            self.clip_unlink();
        }
        if phase != self.phase {
            tracing::info!(vm = %self.name, phase = phase.name(), "console phase");
        }
        self.phase = phase;
    }

    /// Looks at vm.toml and the runtime folder, then connects or shows why not.
    fn probe(&mut self, sender: &ComponentSender<Self>) {
        self.generation += 1;
        let generation = self.generation;
        let manager = self.manager.clone();
        let name = self.name.clone();
        sender.oneshot_command(async move {
            let result = manager
                .store()
                .load(&name)
                .map(|config| {
                    let running = manager.pid(&name).is_some();
                    target::choose(running, config.display.kind, &manager.runtime(&name), |p| {
                        p.exists()
                    })
                })
                .map_err(|e| {
                    UserError::from_error(gettext("Could not read the virtual machine’s settings"), &e)
                });
            ConsoleCmd::Probed { generation, result }
        });
    }

    fn on_probed(&mut self, result: Result<Target, UserError>, sender: &ComponentSender<Self>) {
        match result {
            Err(err) => {
                self.end_session();
                self.set_phase(Phase::Broken(format!("{}\n{}", err.summary, err.details)));
            }
            Ok(Target::Off) => {
                self.end_session();
                self.watch_asked = false;
                self.set_phase(Phase::Off);
            }
            Ok(Target::Headless) => {
                self.end_session();
                self.set_phase(Phase::Headless);
                if self.manager.pid(&self.name).is_some() {
                    self.ensure_watched(sender);
                    self.clip_link(None, sender);
                }
            }
            Ok(Target::Display(protocol, path)) => {
                self.ensure_watched(sender);
                self.connect(protocol, &path, sender);
                self.clip_link(Some(protocol), sender);
            }
        }
    }

    /// Makes sure this process gets the VM's state events (a no-op when it already does).
    fn ensure_watched(&mut self, sender: &ComponentSender<Self>) {
        if std::mem::replace(&mut self.watch_asked, true) {
            return;
        }
        let manager = self.manager.clone();
        let name = self.name.clone();
        sender.oneshot_command(async move {
            ConsoleCmd::Watched(manager.watch(&name).await.err().map(|e| e.to_string()))
        });
    }

    fn connect(&mut self, protocol: Protocol, path: &std::path::Path, sender: &ComponentSender<Self>) {
        tracing::debug!(vm = %self.name, ?protocol, path = %path.display(), "connecting the console");
        self.session = true;
        let started = match protocol {
            Protocol::Vnc => self.w.view.connect_vnc_unix(path),
            Protocol::Spice => self.w.view.connect_spice_unix(path),
        };
        match started {
            Ok(()) if self.w.view.state() == ConnectionState::Connected => self.set_phase(Phase::Connected),
            Ok(()) if self.backoff.attempts() > 0 => self.set_phase(Phase::Reconnecting),
            Ok(()) => self.set_phase(Phase::Connecting),
            Err(err) => self.lost(err.to_string(), sender),
        }
    }

    /// Closes the display session on purpose.
    fn end_session(&mut self) {
        self.session = false;
        if self.w.view.state() != ConnectionState::Disconnected {
            self.w.view.disconnect();
        }
    }

    /// The widget's connection state changed (the message may be late: read the state now).
    fn on_display_changed(&mut self, sender: &ComponentSender<Self>) {
        if !self.session {
            return;
        }
        match self.w.view.state() {
            ConnectionState::Connecting => {}
            ConnectionState::Connected => {
                self.backoff.reset();
                self.set_phase(Phase::Connected);
            }
            ConnectionState::Disconnected => self.lost(gettext("The display connection was closed."), sender),
            ConnectionState::Error(reason) => self.lost(reason, sender),
        }
    }

    /// The session ended without being asked to: off, try again later, or give up.
    fn lost(&mut self, reason: String, sender: &ComponentSender<Self>) {
        self.session = false;
        if self.manager.pid(&self.name).is_none() {
            self.watch_asked = false;
            self.set_phase(Phase::Off);
            return;
        }
        match self.backoff.next_delay() {
            Some(delay) => {
                tracing::debug!(vm = %self.name, %reason, ?delay, "console lost; reconnecting");
                self.set_phase(Phase::Reconnecting);
                self.generation += 1;
                let generation = self.generation;
                sender.oneshot_command(async move {
                    tokio::time::sleep(delay).await;
                    ConsoleCmd::Retry { generation }
                });
            }
            None => {
                tracing::warn!(vm = %self.name, %reason, "console gave up reconnecting");
                self.set_phase(Phase::Disconnected(reason));
            }
        }
    }

    fn on_vm_event(&mut self, event: Event, sender: &ComponentSender<Self>) {
        match event {
            Event::State { name, state } if name == self.name => {
                if state == VmState::Stopped {
                    self.generation += 1;
                    self.end_session();
                    self.watch_asked = false;
                    self.set_phase(Phase::Off);
                } else if self.phase.waits_for_vm() {
                    // Headless: looks again to share the clipboard once it runs.
                    self.backoff.reset();
                    self.probe(sender);
                }
            }
            Event::Agent { name, status } if name == self.name => self.clip_agent_state(&status),
            Event::ListChanged if matches!(self.phase, Phase::Off | Phase::Headless | Phase::Broken(_)) => {
                self.probe(sender);
            }
            _ => {}
        }
    }

    fn apply_prefs(&mut self) {
        let (chord, key) = match self.prefs.settings() {
            Some(s) => (
                s.string(pref_keys::RELEASE_CHORD).to_string(),
                s.string(pref_keys::FULLSCREEN_KEY).to_string(),
            ),
            None => (
                hangar_display::DEFAULT_RELEASE_CHORD.to_owned(),
                hangar_display::DEFAULT_FULLSCREEN_KEY.to_owned(),
            ),
        };
        if let Err(err) = self.w.view.try_set_release_chord(&chord) {
            tracing::warn!(%chord, "release chord setting not used: {err}");
        }
        if let Err(err) = self.w.view.try_set_fullscreen_key(&key) {
            tracing::warn!(%key, "fullscreen key setting not used: {err}");
        }
        let key = self.w.view.fullscreen_key();
        self.actions.set_fullscreen_key(&key);
        let chord = chord_label(&self.w.view.release_chord());
        self.w
            .grab_hint
            .set_label(&i18n_f("Press {} to release", &[&chord]));
        let tip = i18n_f("Fullscreen ({})", &[&hotkey_label(&key)]);
        self.w.fullscreen_button.set_tooltip_text(Some(&tip));
    }

    fn connect_widget_signals(&mut self, sender: &ComponentSender<Self>) {
        let view = &self.w.view;
        let input = sender.input_sender().clone();
        view.connect_state_changed(move |_, _| input.emit(ConsoleInput::DisplayChanged));
        let input = sender.input_sender().clone();
        view.connect_grab_changed(move |_, grabbed| input.emit(ConsoleInput::GrabChanged(grabbed)));
        let input = sender.input_sender().clone();
        view.connect_fullscreen_toggle(move |_| input.emit(ConsoleInput::ToggleFullscreen));
        let input = sender.input_sender().clone();
        self.w
            .content
            .connect_map(move |_| input.emit(ConsoleInput::ContentMapped));
        let input = sender.input_sender().clone();
        self.w
            .content
            .connect_unmap(move |_| input.emit(ConsoleInput::ContentUnmapped));
        if let Some(settings) = self.prefs.settings() {
            for key in [pref_keys::RELEASE_CHORD, pref_keys::FULLSCREEN_KEY] {
                let input = sender.input_sender().clone();
                let id =
                    settings.connect_changed(Some(key), move |_, _| input.emit(ConsoleInput::PrefsChanged));
                self.settings_handlers.push(id);
            }
        }
    }
}

impl Component for Console {
    type Init = ConsoleInit;
    type Input = ConsoleInput;
    type Output = ConsoleOutput;
    type CommandOutput = ConsoleCmd;
    type Root = gtk::Stack;
    type Widgets = ();

    fn init_root() -> Self::Root {
        gtk::Stack::builder().hexpand(true).vexpand(true).build()
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let ConsoleInit { manager, name, prefs } = init;
        let key = prefs
            .settings()
            .map(|s| s.string(pref_keys::FULLSCREEN_KEY).to_string())
            .unwrap_or_else(|| hangar_display::DEFAULT_FULLSCREEN_KEY.to_owned());
        let w = ui::build(&root, &name, &key, sender.input_sender());
        let actions = Actions::new(sender.input_sender(), &key);
        let usb = usb::launch(&manager, &name, &w.view, sender.output_sender());
        w.extra_menus.append(usb.widget());
        w.content.insert_action_group("console", Some(&actions.group));
        w.content.add_controller(actions.shortcut_controller());
        let clip = ClipShare::new(w.view.clipboard(), sender.input_sender());
        w.extra_menus.append(&clip.menu.button);
        let mut model = Console {
            manager,
            name,
            prefs,
            w,
            actions,
            phase: Phase::Loading,
            generation: 0,
            backoff: Backoff::default(),
            session: false,
            watch_asked: false,
            fullscreen: false,
            window_watch: None,
            detached: None,
            follower: None,
            settings_handlers: Vec::new(),
            shot_busy: false,
            usb,
            clip,
        };
        model.connect_widget_signals(&sender);
        model.clip_connect_view(&sender);
        model.apply_prefs();
        model.set_phase(Phase::Loading);
        model.probe(&sender);
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            ConsoleInput::VmEvent(event) => {
                self.usb.emit(usb::UsbMenuInput::VmEvent(event.clone()));
                self.on_vm_event(event, &sender)
            }
            ConsoleInput::Start => {
                let _ = sender.output(ConsoleOutput::Start);
                self.set_phase(Phase::Starting);
                self.generation += 1;
                let generation = self.generation;
                sender.oneshot_command(async move {
                    tokio::time::sleep(START_PATIENCE).await;
                    ConsoleCmd::StartTimeout { generation }
                });
            }
            ConsoleInput::Reconnect => {
                self.backoff.reset();
                self.set_phase(Phase::Connecting);
                self.probe(&sender);
            }
            ConsoleInput::DisplayChanged => self.on_display_changed(&sender),
            ConsoleInput::GrabChanged(grabbed) => {
                self.w.grab_hint.set_visible(grabbed);
                tracing::info!(vm = %self.name, grabbed, "console grab");
            }
            ConsoleInput::ToggleFullscreen => self.toggle_fullscreen(&sender),
            ConsoleInput::WindowFullscreen(on) => self.apply_fullscreen(on),
            ConsoleInput::ContentMapped => self.watch_window(&sender),
            ConsoleInput::ContentUnmapped => {
                self.unwatch_window();
                self.apply_fullscreen(false);
            }
            ConsoleInput::ToggleDetached => {
                if self.detached.is_some() {
                    self.attach(root);
                } else {
                    self.detach(root, &sender);
                }
            }
            ConsoleInput::Attach => self.attach(root),
            ConsoleInput::SendKeys(id) => self.send_keys(&id, &sender),
            ConsoleInput::SetScaling(mode) => self.w.view.set_scaling_mode(mode),
            ConsoleInput::ZoomIn => self.w.view.zoom_in(),
            ConsoleInput::ZoomOut => self.w.view.zoom_out(),
            ConsoleInput::ZoomReset => self.w.view.zoom_reset(),
            ConsoleInput::ResizeGuestToWindow(true) => {
                let input = sender.input_sender().clone();
                self.follower = Some(GuestFollower::start(&self.w.view, move |reason| {
                    input.emit(ConsoleInput::ResizeGuestFailed(reason))
                }));
            }
            ConsoleInput::ResizeGuestToWindow(false) => self.follower = None,
            ConsoleInput::ResizeGuestFailed(reason) => {
                self.follower = None;
                self.actions.resize_guest.set_state(&false.to_variant());
                let _ = sender.output(ConsoleOutput::Error(UserError::new(
                    gettext("The guest screen cannot follow the window"),
                    reason,
                )));
            }
            ConsoleInput::ResizeWindowToGuest => self.resize_window_to_guest(),
            ConsoleInput::Release => self.w.view.ungrab(),
            ConsoleInput::Screenshot => self.take_screenshot(&sender),
            ConsoleInput::SaveScreenshot { temp, dest } => self.save_screenshot(temp, dest, &sender),
            ConsoleInput::PrefsChanged => self.apply_prefs(),
            ConsoleInput::Clip(msg) => self.clip_update(msg, &sender),
        }
    }

    fn update_cmd(&mut self, cmd: Self::CommandOutput, sender: ComponentSender<Self>, _root: &Self::Root) {
        match cmd {
            ConsoleCmd::Probed { generation, result } if generation == self.generation => {
                self.on_probed(result, &sender)
            }
            ConsoleCmd::Retry { generation } if generation == self.generation => self.probe(&sender),
            ConsoleCmd::StartTimeout { generation }
                if generation == self.generation && self.phase == Phase::Starting =>
            {
                self.probe(&sender)
            }
            ConsoleCmd::Probed { .. } | ConsoleCmd::Retry { .. } | ConsoleCmd::StartTimeout { .. } => {}
            ConsoleCmd::Watched(Some(err)) => {
                tracing::debug!(vm = %self.name, "no state events from this process: {err}");
            }
            ConsoleCmd::Watched(None) => {}
            ConsoleCmd::Screenshot(result) => self.on_screenshot_taken(result, &sender),
            ConsoleCmd::Clip(cmd) => self.clip_cmd(*cmd, &sender),
        }
    }

    fn shutdown(&mut self, _widgets: &mut Self::Widgets, _output: relm4::Sender<Self::Output>) {
        self.follower = None;
        self.end_session();
        self.clip_shutdown();
        self.unwatch_window();
        if let Some(settings) = self.prefs.settings() {
            for id in self.settings_handlers.drain(..) {
                settings.disconnect(id);
            }
        }
        if let Some(d) = self.detached.take() {
            d.window.destroy();
        }
    }
}
