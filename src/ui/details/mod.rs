//! The hardware editor of one VM ("Details" view of the VM page).
//!
//! ```text
//! GtkBox (vertical)                                        Details (this file)
//! ├── GtkInfoBar  "Ready to install" + Begin Installation   pending_install
//! ├── GtkInfoBar  "Some changes take effect after …"        edits with Effect::NextBoot on a running VM
//! └── AdwLeaflet
//!     ├── GtkListBox.navigation-sidebar   one row per section
//!     └── GtkBox: header (back button when folded, title, when edits apply) + GtkStack of pages
//!         overview.rs  machine.rs (CPU, Memory)  boot.rs  disks.rs (+ disk_dialogs.rs)  cdrom.rs
//!         network.rs  display.rs (Display, Sound)  usb.rs  integration.rs (Clipboard, Channels)
//!         advanced.rs
//! ```
//!
//! Every edit goes through `manager.update(name, &Update)` (see [`form::Ctx::apply`]); the core
//! validates, and a refused edit leaves `vm.toml` untouched and shows the reason beside the field.
//! Slow work (disk images, the CD-ROM medium, USB passthrough) runs as a background job
//! ([`jobs::Job`]). The pure logic lives in [`parse`].

mod advanced;
mod boot;
mod cdrom;
mod disk_dialogs;
mod disks;
mod display;
mod form;
mod integration;
mod jobs;
mod machine;
mod network;
mod overview;
pub mod parse;
mod shell;
mod usb;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use hangar_core::config::{Effect, Update, VmConfig};
use hangar_core::manager::{Event, GuestInfo, Manager, VmState};
use hangar_core::storage::ImageInfo;
use relm4::{Component, ComponentParts, ComponentSender};

use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};
pub use jobs::Job;
use jobs::{JobOk, UsbFacts};

/// What the Details view needs.
pub struct DetailsInit {
    pub manager: Manager,
    pub name: String,
    /// The VM was just created with "customize before install": show "Begin Installation".
    pub pending_install: bool,
}

#[derive(Debug)]
pub enum DetailsInput {
    /// An event of the manager (the VM page forwards them all; others' are ignored).
    VmEvent(Event),
    /// Show the section with this id (`overview`, `cpu`, `memory`, `boot`, `disks`, `cdrom`,
    /// `network`, `display`, `sound`, `usb`, `clipboard`, `channels`, `advanced`).
    ShowSection(String),
    /// Save one edit; a refusal is shown at `slot`.
    Apply { slot: String, update: Update },
    /// Start a background job; a failure is shown at `slot`.
    Run { slot: String, job: Job },
    /// Read host USB devices and attachments again.
    RefreshUsb,
    /// "Begin Installation" was pressed.
    BeginInstall,
    /// Something was copied to the clipboard (confirm it).
    Copied,
}

#[derive(Debug)]
pub enum DetailsOutput {
    Error(UserError),
    Notify(String),
    Renamed { from: String, to: String },
    BeginInstall,
}

#[derive(Debug)]
pub enum DetailsCmd {
    State(VmState),
    Guest {
        generation: u64,
        info: Option<GuestInfo>,
    },
    Disks(HashMap<String, Result<ImageInfo, String>>),
    Usb(Box<UsbFacts>),
    JobDone {
        slot: String,
        page: String,
        effect: Effect,
        result: Result<Box<JobOk>, String>,
    },
}

/// Everything a section shows: the saved config and what is known around it.
pub(super) struct Facts {
    pub config: VmConfig,
    pub state: VmState,
    pub vm_dir: PathBuf,
    pub manager: Manager,
    pub disks: HashMap<String, Result<ImageInfo, String>>,
    pub usb: UsbFacts,
    pub guest: Option<GuestInfo>,
    /// Slots with a background job under way.
    pub busy: HashSet<String>,
}

impl Facts {
    /// QEMU runs (in any state but stopped).
    pub fn running(&self) -> bool {
        self.state.is_active()
    }
}

/// A section's way of showing the facts again.
pub(super) trait Section {
    fn refresh(&self, facts: &Facts);
}

/// One entry of the sidebar and its content.
pub(super) struct Page {
    pub id: &'static str,
    pub title: String,
    pub icon: &'static str,
    pub widget: gtk::Widget,
    /// When edits here reach a running VM (shown while it runs).
    pub note: String,
    pub section: Rc<dyn Section>,
}

pub struct Details {
    manager: Manager,
    name: String,
    ctx: form::Ctx,
    facts: Facts,
    pages: Vec<Page>,
    shell: shell::Shell,
    /// Titles of pages with edits waiting for the next boot.
    pending: Vec<String>,
    guest_generation: u64,
}

impl Details {
    fn refresh(&mut self) {
        self.ctx.set_config(self.facts.config.clone());
        let facts = &self.facts;
        self.ctx.sync(|| {
            for page in &self.pages {
                page.section.refresh(facts);
            }
        });
        self.ctx.clear_errors();
        self.shell.show_state(facts.running(), &self.pending);
    }

    fn page_title(&self, slot: &str) -> String {
        let id = slot.split(['.', ':']).next().unwrap_or_default();
        self.pages
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.title.clone())
            .unwrap_or_default()
    }

    fn note_pending(&mut self, slot: &str, effect: Effect) {
        if self.facts.running() && effect == Effect::NextBoot {
            let title = self.page_title(slot);
            if !title.is_empty() && !self.pending.contains(&title) {
                self.pending.push(title);
            }
        }
    }

    fn apply(&mut self, slot: String, update: Update, sender: &ComponentSender<Self>) {
        match self.manager.update(&self.name, &update) {
            Ok(config) => {
                tracing::debug!(vm = self.name, ?update, "edit saved");
                let old_name = std::mem::replace(&mut self.name, config.name.clone());
                let disks_changed = config.disks != self.facts.config.disks;
                self.facts.config = config;
                self.note_pending(&slot, update.effect());
                if old_name != self.name {
                    self.facts.vm_dir = self.manager.store().dir(&self.name);
                    let renamed = DetailsOutput::Renamed {
                        from: old_name,
                        to: self.name.clone(),
                    };
                    if sender.output(renamed).is_err() {
                        tracing::debug!("nobody listens to the details view");
                    }
                }
                self.refresh();
                if disks_changed {
                    self.load_disks(sender);
                }
            }
            Err(err) => {
                tracing::info!(vm = self.name, slot, "edit refused: {err}");
                let message = parse::field_message(&err);
                if !self.ctx.show_error(&slot, &message) {
                    self.output_error(
                        sender,
                        UserError::from_error(gettext("Could not save the change"), &err),
                    );
                }
            }
        }
    }

    fn output_error(&self, sender: &ComponentSender<Self>, err: UserError) {
        if sender.output(DetailsOutput::Error(err)).is_err() {
            tracing::debug!("nobody listens to the details view");
        }
    }

    fn load_state(&self, sender: &ComponentSender<Self>) {
        let (manager, name) = (self.manager.clone(), self.name.clone());
        sender.oneshot_command(async move {
            DetailsCmd::State(manager.state(&name).await.unwrap_or(VmState::Other))
        });
    }

    fn load_disks(&self, sender: &ComponentSender<Self>) {
        let (manager, name, config) = (self.manager.clone(), self.name.clone(), self.facts.config.clone());
        sender
            .oneshot_command(async move { DetailsCmd::Disks(jobs::disk_facts(manager, name, config).await) });
    }

    fn load_usb(&self, sender: &ComponentSender<Self>) {
        let (manager, name, running) = (self.manager.clone(), self.name.clone(), self.facts.running());
        sender.oneshot_command(async move {
            DetailsCmd::Usb(Box::new(jobs::usb_facts(manager, name, running).await))
        });
    }

    /// Asks the guest agent (a few times while the guest boots) until it answers.
    fn load_guest(&mut self, sender: &ComponentSender<Self>) {
        self.guest_generation += 1;
        let generation = self.guest_generation;
        if !self.facts.running() || !self.facts.config.channels.guest_agent {
            self.facts.guest = None;
            return;
        }
        let (manager, name) = (self.manager.clone(), self.name.clone());
        sender.oneshot_command(async move {
            for delay in [0u64, 5, 10, 20, 40] {
                tokio::time::sleep(Duration::from_secs(delay)).await;
                match manager.guest_info(&name).await {
                    Ok(info) => {
                        return DetailsCmd::Guest {
                            generation,
                            info: Some(info),
                        }
                    }
                    Err(e) => tracing::debug!(vm = name, "no guest information yet: {e}"),
                }
                if manager.pid(&name).is_none() {
                    break;
                }
            }
            DetailsCmd::Guest {
                generation,
                info: None,
            }
        });
    }

    fn on_event(&mut self, event: Event, sender: &ComponentSender<Self>) {
        match event {
            Event::State { name, state } if name == self.name => {
                self.set_state(state, sender);
            }
            Event::ListChanged => {
                // vm.toml may have been edited elsewhere (hangarctl edit, a text editor).
                if let Ok(config) = self.manager.store().load(&self.name) {
                    if config != self.facts.config {
                        let disks_changed = config.disks != self.facts.config.disks;
                        self.facts.config = config;
                        self.refresh();
                        if disks_changed {
                            self.load_disks(sender);
                        }
                    }
                }
            }
            Event::UsbHostChanged => self.load_usb(sender),
            Event::UsbAttached { name, .. }
            | Event::UsbDetached { name, .. }
            | Event::UsbGone { name, .. }
                if name == self.name =>
            {
                self.load_usb(sender)
            }
            _ => {}
        }
    }

    fn set_state(&mut self, state: VmState, sender: &ComponentSender<Self>) {
        let was_running = self.facts.running();
        self.facts.state = state;
        if !state.is_active() {
            self.pending.clear();
        }
        if was_running != state.is_active() {
            self.load_guest(sender);
            self.load_usb(sender);
        } else if state == VmState::Running && self.facts.guest.is_none() {
            self.load_guest(sender);
        }
        self.refresh();
    }
}

impl Component for Details {
    type CommandOutput = DetailsCmd;
    type Input = DetailsInput;
    type Output = DetailsOutput;
    type Init = DetailsInit;
    type Root = gtk::Box;
    type Widgets = ();

    fn init_root() -> Self::Root {
        gtk::Box::new(gtk::Orientation::Vertical, 0)
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let DetailsInit {
            manager,
            name,
            pending_install,
        } = init;
        let config = match manager.store().load(&name) {
            Ok(config) => config,
            Err(err) => {
                let error = UserError::from_error(i18n_f("Could not load “{}”", &[&name]), &err);
                if sender.output(DetailsOutput::Error(error)).is_err() {
                    tracing::debug!("nobody listens to the details view");
                }
                VmConfig::new(name.clone())
            }
        };
        let ctx = form::Ctx::new(sender.input_sender().clone(), config.clone());
        let pages = vec![
            overview::page(&ctx),
            machine::cpu_page(&ctx),
            machine::memory_page(&ctx),
            boot::page(&ctx),
            disks::page(&ctx),
            cdrom::page(&ctx),
            network::page(&ctx),
            display::display_page(&ctx),
            display::sound_page(&ctx),
            usb::page(&ctx),
            integration::clipboard_page(&ctx),
            integration::channels_page(&ctx),
            advanced::page(&ctx),
        ];
        let shell = shell::Shell::new(&root, &pages, &ctx, pending_install);
        let facts = Facts {
            config,
            state: VmState::Stopped,
            vm_dir: manager.store().dir(&name),
            manager: manager.clone(),
            disks: HashMap::new(),
            usb: UsbFacts::default(),
            guest: None,
            busy: HashSet::new(),
        };
        let mut model = Details {
            manager,
            name,
            ctx,
            facts,
            pages,
            shell,
            pending: vec![],
            guest_generation: 0,
        };
        model.refresh();
        model.load_state(&sender);
        model.load_disks(&sender);
        model.load_usb(&sender);
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, _root: &Self::Root) {
        match msg {
            DetailsInput::VmEvent(event) => self.on_event(event, &sender),
            DetailsInput::ShowSection(id) => self.shell.show_page(&id),
            DetailsInput::Apply { slot, update } => self.apply(slot, update, &sender),
            DetailsInput::Run { slot, job } => {
                if !self.facts.busy.insert(slot.clone()) {
                    return;
                }
                self.ctx.clear_error(&slot);
                let effect = match &job {
                    Job::Cdrom(_) | Job::UsbAttach(_) | Job::UsbDetach(_) => Effect::Now,
                    _ => Effect::NextBoot,
                };
                let page = slot.clone();
                let (manager, name) = (self.manager.clone(), self.name.clone());
                sender.oneshot_command(async move {
                    let result = jobs::run(manager, name, job).await.map(Box::new);
                    DetailsCmd::JobDone {
                        slot,
                        page,
                        effect,
                        result,
                    }
                });
                self.refresh();
            }
            DetailsInput::RefreshUsb => self.load_usb(&sender),
            DetailsInput::Copied => {
                if sender
                    .output(DetailsOutput::Notify(gettext("Copied to the clipboard")))
                    .is_err()
                {
                    tracing::debug!("nobody listens to the details view");
                }
            }
            DetailsInput::BeginInstall => {
                self.shell.hide_install_bar();
                if sender.output(DetailsOutput::BeginInstall).is_err() {
                    tracing::debug!("nobody listens to the details view");
                }
            }
        }
    }

    fn update_cmd(&mut self, cmd: Self::CommandOutput, sender: ComponentSender<Self>, _root: &Self::Root) {
        match cmd {
            DetailsCmd::State(state) => self.set_state(state, &sender),
            DetailsCmd::Guest { generation, info } => {
                if generation == self.guest_generation {
                    self.facts.guest = info;
                    self.refresh();
                }
            }
            DetailsCmd::Disks(disks) => {
                self.facts.disks = disks;
                self.refresh();
            }
            DetailsCmd::Usb(usb) => {
                self.facts.usb = *usb;
                self.refresh();
            }
            DetailsCmd::JobDone {
                slot,
                page,
                effect,
                result,
            } => {
                self.facts.busy.remove(&slot);
                match result {
                    Ok(done) => {
                        let done = *done;
                        if let Some(config) = done.config {
                            self.facts.config = config;
                            self.note_pending(&page, effect);
                        }
                        if let Some(text) = done.notify {
                            if sender.output(DetailsOutput::Notify(text)).is_err() {
                                tracing::debug!("nobody listens to the details view");
                            }
                        }
                        self.refresh();
                        self.load_disks(&sender);
                        if slot.starts_with("usb") {
                            self.load_usb(&sender);
                        }
                    }
                    Err(message) => {
                        tracing::info!(vm = self.name, slot, "job failed: {message}");
                        self.refresh();
                        if !self.ctx.show_error(&slot, &message) {
                            self.output_error(&sender, UserError::new(gettext("The change failed"), message));
                        }
                        if slot.starts_with("usb") {
                            self.load_usb(&sender);
                        }
                    }
                }
            }
        }
    }
}
