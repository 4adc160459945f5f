//! The console's USB menu: a toolbar button whose popover lists this computer's USB devices
//! with a switch each, in two sections named by mechanism (see [`crate::ui::usb`]):
//!
//! * **Passthrough (QEMU)**: host devices (hubs left out). On = attached to this VM. A device
//!   another VM has is shown so and cannot be switched; the host's only keyboard is confirmed
//!   first; a device this user cannot open shows the udev rule that fixes it when flipped.
//! * **Redirected (SPICE)**: the SPICE session's redirectable devices, or why there are none.
//!
//! The lists follow `UsbHostChanged`, `UsbAttached`, `UsbDetached`, `UsbGone` and state events,
//! the SPICE device manager's signals, and are read again each time the menu opens.

use std::collections::HashSet;

use gtk::prelude::*;
use hangar_core::manager::{Event, Manager};
use hangar_display::{ChangeWatch, DisplayView, RedirDevice, UsbRedirection};
use relm4::{Component, ComponentParts, ComponentSender};

use crate::a11y::AccessibleLabelExt;
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};
use crate::ui::usb::{
    attach, confirm_attach, detach, fix_box, passthrough_title, redirect_title, AttachFailure, UsbFacts,
};

/// Starts the menu of VM `name`; its notices and errors go out as the console's.
pub fn launch(
    manager: &Manager,
    name: &str,
    view: &DisplayView,
    out: &relm4::Sender<super::ConsoleOutput>,
) -> relm4::Controller<UsbMenu> {
    let init = UsbMenuInit {
        manager: manager.clone(),
        name: name.to_owned(),
        view: view.clone(),
    };
    UsbMenu::builder().launch(init).forward(out, |o| match o {
        UsbMenuOutput::Notify(text) => super::ConsoleOutput::Notify(text),
        UsbMenuOutput::Error(err) => super::ConsoleOutput::Error(err),
    })
}

pub struct UsbMenuInit {
    pub manager: Manager,
    pub name: String,
    pub view: DisplayView,
}

#[derive(Debug)]
pub enum UsbMenuInput {
    VmEvent(Event),
    Refresh,
    /// A passthrough switch was flipped (by the person).
    Switch {
        sysname: String,
        on: bool,
    },
    /// Attach without asking again (after the keyboard question).
    Attach(String),
    /// A redirection switch was flipped.
    Redirect {
        index: usize,
        on: bool,
    },
    Redirected(Result<String, String>),
    RedirectionChanged,
    Copied,
}

#[derive(Debug)]
pub enum UsbMenuOutput {
    Notify(String),
    Error(UserError),
}

#[derive(Debug)]
pub enum UsbMenuCmd {
    Facts {
        generation: u64,
        facts: Box<UsbFacts>,
    },
    Attached {
        sysname: String,
        result: Result<String, AttachFailure>,
    },
    Detached(Result<String, UserError>),
}

/// One section of the popover: heading, note, list.
struct Section {
    note: gtk::Label,
    list: gtk::ListBox,
}

impl Section {
    fn new(parent: &gtk::Box, title: &str, description: &str) -> Section {
        let heading = gtk::Label::builder()
            .label(title)
            .xalign(0.0)
            .css_classes(["heading"])
            .margin_top(6)
            .build();
        parent.append(&heading);
        let desc = gtk::Label::builder()
            .label(description)
            .xalign(0.0)
            .wrap(true)
            .max_width_chars(44)
            .css_classes(["dim-label", "caption"])
            .build();
        parent.append(&desc);
        let note = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .max_width_chars(44)
            .visible(false)
            .build();
        parent.append(&note);
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .css_classes(["boxed-list"])
            .build();
        list.set_accessible_label(title);
        parent.append(&list);
        Section { note, list }
    }

    fn clear(&self) {
        while let Some(child) = self.list.first_child() {
            self.list.remove(&child);
        }
    }

    fn set_note(&self, note: Option<&str>) {
        self.note.set_label(note.unwrap_or_default());
        self.note.set_visible(note.is_some());
    }
}

/// A row: title and subtitle on the left, a switch on the right, optional extra below.
fn switch_row(title: &str, subtitle: &str, on: bool, sensitive: bool) -> (gtk::Box, gtk::Switch) {
    let root = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .build();
    let line = gtk::Box::builder()
        .spacing(12)
        .margin_top(6)
        .margin_bottom(6)
        .margin_start(12)
        .margin_end(12)
        .build();
    let labels = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .hexpand(true)
        .build();
    let t = gtk::Label::builder()
        .label(title)
        .xalign(0.0)
        .wrap(true)
        .max_width_chars(36)
        .build();
    labels.append(&t);
    let s = gtk::Label::builder()
        .label(subtitle)
        .xalign(0.0)
        .wrap(true)
        .max_width_chars(36)
        .css_classes(["dim-label", "caption"])
        .build();
    labels.append(&s);
    line.append(&labels);
    let switch = gtk::Switch::builder()
        .active(on)
        .sensitive(sensitive)
        .valign(gtk::Align::Center)
        .build();
    line.append(&switch);
    root.append(&line);
    (root, switch)
}

pub struct UsbMenu {
    manager: Manager,
    name: String,
    view: DisplayView,
    sender: relm4::Sender<UsbMenuInput>,
    button: gtk::MenuButton,
    passthrough: Section,
    redirected: Section,
    facts: UsbFacts,
    generation: u64,
    /// A passthrough attach or detach is under way.
    busy: bool,
    /// Devices whose permission fix is shown (flipped while not openable).
    fixes: HashSet<String>,
    redirection: Option<(UsbRedirection, ChangeWatch)>,
    redir_devices: Vec<RedirDevice>,
}

impl UsbMenu {
    fn running(&self) -> bool {
        self.manager.pid(&self.name).is_some()
    }

    fn load(&mut self, sender: &ComponentSender<Self>) {
        self.generation += 1;
        let generation = self.generation;
        let (manager, name, running) = (self.manager.clone(), self.name.clone(), self.running());
        sender.oneshot_command(async move {
            let facts = Box::new(crate::ui::usb::usb_facts(manager, name, running).await);
            UsbMenuCmd::Facts { generation, facts }
        });
        self.load_redirection(sender);
    }

    fn load_redirection(&mut self, sender: &ComponentSender<Self>) {
        match self.view.usb_redirection() {
            Ok(redir) => {
                let input = sender.input_sender().clone();
                let watch = redir.connect_changed(move || input.emit(UsbMenuInput::RedirectionChanged));
                self.redir_devices = redir.devices();
                self.redirection = Some((redir, watch));
                let note = if self.redir_devices.is_empty() {
                    Some(gettext("No USB device of this computer can be redirected."))
                } else {
                    None
                };
                self.fill_redirected(note);
            }
            Err(e) => {
                self.redirection = None;
                self.redir_devices.clear();
                tracing::debug!(vm = %self.name, "no SPICE USB redirection: {e}");
                let note = match e {
                    hangar_display::DisplayError::NotConnected => {
                        gettext("Redirection works while the console is connected to a SPICE display.")
                    }
                    other => other.to_string(),
                };
                self.fill_redirected(Some(note));
            }
        }
    }

    fn fill_redirected(&self, note: Option<String>) {
        self.redirected.clear();
        self.redirected.set_note(note.as_deref());
        for (index, dev) in self.redir_devices.iter().enumerate() {
            let subtitle = match (&dev.problem, dev.connected) {
                (_, true) => gettext("Redirected to the virtual machine"),
                (Some(p), false) => p.clone(),
                (None, false) => gettext("On this computer"),
            };
            let sensitive = dev.connected || dev.problem.is_none();
            let (row, switch) = switch_row(&dev.description, &subtitle, dev.connected, sensitive);
            switch.set_accessible_label(&i18n_f("Redirect {}", &[&dev.description]));
            let sender = self.sender.clone();
            switch.connect_active_notify(move |s| {
                sender.emit(UsbMenuInput::Redirect {
                    index,
                    on: s.is_active(),
                })
            });
            self.redirected.list.append(&row);
        }
        self.redirected.list.set_visible(!self.redir_devices.is_empty());
    }

    fn fill_passthrough(&self) {
        self.passthrough.clear();
        let f = &self.facts;
        let running = self.running();
        let note = f
            .empty_note()
            .or_else(|| (!running).then(|| gettext("Start the virtual machine to attach devices.")));
        self.passthrough.set_note(note.as_deref());
        for host in &f.devices {
            let dev = &host.device;
            let here = f.attached_here(dev).is_some();
            let elsewhere = f.attached_elsewhere(dev).is_some();
            let sensitive = running && !self.busy && !elsewhere && host.unusable.is_none();
            let (row, switch) = switch_row(&dev.name(), &f.subtitle(host), here, sensitive);
            switch.set_accessible_label(&i18n_f("Attach {}", &[&dev.name()]));
            if let (Some(problem), true) = (&host.denied, self.fixes.contains(&dev.sysname)) {
                let sender = self.sender.clone();
                row.append(&fix_box(problem, move || sender.emit(UsbMenuInput::Copied)));
            }
            let sender = self.sender.clone();
            let sysname = dev.sysname.clone();
            switch.connect_active_notify(move |s| {
                sender.emit(UsbMenuInput::Switch {
                    sysname: sysname.clone(),
                    on: s.is_active(),
                })
            });
            self.passthrough.list.append(&row);
        }
        self.passthrough.list.set_visible(!f.devices.is_empty());
    }

    fn on_switch(&mut self, sysname: &str, on: bool, sender: &ComponentSender<Self>) {
        let Some(host) = self
            .facts
            .devices
            .iter()
            .find(|h| h.device.sysname == sysname)
            .cloned()
        else {
            return;
        };
        let attached = self.facts.attached_here(&host.device).map(|a| a.id.clone());
        match (on, attached) {
            (true, None) if host.denied.is_some() => {
                tracing::info!(vm = %self.name, device = sysname, "USB device not openable: showing the fix");
                self.fixes.insert(sysname.to_owned());
                self.fill_passthrough();
            }
            (true, None) if self.facts.needs_confirmation(&host.device) => {
                tracing::info!(vm = %self.name, device = sysname, "asking before attaching the only keyboard");
                self.fill_passthrough();
                let input = sender.input_sender().clone();
                let sysname = sysname.to_owned();
                confirm_attach(&self.button, &host.device, &self.name, move || {
                    input.emit(UsbMenuInput::Attach(sysname.clone()))
                });
            }
            (true, None) => self.attach(sysname, sender),
            (false, Some(id)) => {
                self.busy = true;
                self.fill_passthrough();
                let (manager, name) = (self.manager.clone(), self.name.clone());
                sender
                    .oneshot_command(async move { UsbMenuCmd::Detached(detach(&manager, &name, &id).await) });
            }
            _ => {}
        }
    }

    fn attach(&mut self, sysname: &str, sender: &ComponentSender<Self>) {
        let Some(host) = self.facts.devices.iter().find(|h| h.device.sysname == sysname) else {
            return;
        };
        tracing::info!(vm = %self.name, device = sysname, "attaching a USB device");
        self.busy = true;
        self.fill_passthrough();
        let (manager, name, dev) = (self.manager.clone(), self.name.clone(), host.device.clone());
        let sysname = sysname.to_owned();
        sender.oneshot_command(async move {
            let result = attach(&manager, &name, &dev).await;
            UsbMenuCmd::Attached { sysname, result }
        });
    }

    fn redirect(&mut self, index: usize, on: bool, sender: &ComponentSender<Self>) {
        let (Some((redir, _)), Some(dev)) = (&self.redirection, self.redir_devices.get(index)) else {
            return;
        };
        if dev.connected == on {
            return;
        }
        let input = sender.input_sender().clone();
        let notice = if on {
            i18n_f("{} redirected", &[&dev.description])
        } else {
            i18n_f("{} given back to this computer", &[&dev.description])
        };
        let done = move |r: Result<(), hangar_display::DisplayError>| {
            input.emit(UsbMenuInput::Redirected(
                r.map(|()| notice).map_err(|e| e.to_string()),
            ))
        };
        if on {
            redir.connect_device(dev, done);
        } else {
            redir.disconnect_device(dev, done);
        }
    }
}

impl Component for UsbMenu {
    type Init = UsbMenuInit;
    type Input = UsbMenuInput;
    type Output = UsbMenuOutput;
    type CommandOutput = UsbMenuCmd;
    type Root = gtk::MenuButton;
    type Widgets = ();

    fn init_root() -> Self::Root {
        let button = gtk::MenuButton::builder()
            .icon_name("media-removable-symbolic")
            .tooltip_text(gettext("USB Devices"))
            .build();
        button.set_accessible_label(&gettext("USB Devices"));
        button
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let UsbMenuInit { manager, name, view } = init;
        let body = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(6)
            // The scrolled window ignores min-content-width with no horizontal scrollbar (GTK 4.8).
            .width_request(380)
            .margin_top(6)
            .margin_bottom(6)
            .margin_start(6)
            .margin_end(6)
            .build();
        let passthrough = Section::new(
            &body,
            &passthrough_title(),
            &gettext("The device itself goes to the virtual machine; this computer cannot use it meanwhile."),
        );
        let redirected = Section::new(
            &body,
            &redirect_title(),
            &gettext("A device of this computer is sent over the SPICE display connection."),
        );
        let scroller = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .propagate_natural_height(true)
            .min_content_width(400)
            .max_content_height(520)
            .child(&body)
            .build();
        let popover = gtk::Popover::builder().child(&scroller).build();
        let input = sender.input_sender().clone();
        popover.connect_show(move |_| input.emit(UsbMenuInput::Refresh));
        root.set_popover(Some(&popover));
        let mut model = UsbMenu {
            manager,
            name,
            view,
            sender: sender.input_sender().clone(),
            button: root.clone(),
            passthrough,
            redirected,
            facts: UsbFacts::default(),
            generation: 0,
            busy: false,
            fixes: HashSet::new(),
            redirection: None,
            redir_devices: Vec::new(),
        };
        model.fill_passthrough();
        model.load(&sender);
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, _root: &Self::Root) {
        match msg {
            UsbMenuInput::VmEvent(event) => match &event {
                Event::UsbHostChanged
                | Event::UsbAttached { .. }
                | Event::UsbDetached { .. }
                | Event::UsbGone { .. } => self.load(&sender),
                Event::State { name, .. } if name == &self.name => self.load(&sender),
                _ => {}
            },
            UsbMenuInput::Refresh => self.load(&sender),
            UsbMenuInput::Switch { sysname, on } => self.on_switch(&sysname, on, &sender),
            UsbMenuInput::Attach(sysname) => self.attach(&sysname, &sender),
            UsbMenuInput::Redirect { index, on } => self.redirect(index, on, &sender),
            UsbMenuInput::Redirected(result) => {
                match result {
                    Ok(text) => {
                        let _ = sender.output(UsbMenuOutput::Notify(text));
                    }
                    Err(e) => {
                        let _ = sender.output(UsbMenuOutput::Error(UserError::new(
                            gettext("USB redirection failed"),
                            e,
                        )));
                    }
                }
                self.load_redirection(&sender);
            }
            UsbMenuInput::RedirectionChanged => self.load_redirection(&sender),
            UsbMenuInput::Copied => {
                let _ = sender.output(UsbMenuOutput::Notify(gettext("Copied to the clipboard")));
            }
        }
    }

    fn update_cmd(&mut self, cmd: Self::CommandOutput, sender: ComponentSender<Self>, _root: &Self::Root) {
        match cmd {
            UsbMenuCmd::Facts { generation, facts } if generation == self.generation => {
                self.facts = *facts;
                tracing::info!(
                    vm = %self.name,
                    devices = self.facts.devices.len(),
                    attached = self.facts.attached.len(),
                    "USB menu listed"
                );
                self.fill_passthrough();
            }
            UsbMenuCmd::Facts { .. } => {}
            UsbMenuCmd::Attached { sysname, result } => {
                self.busy = false;
                match result {
                    Ok(text) => {
                        let _ = sender.output(UsbMenuOutput::Notify(text));
                    }
                    Err(AttachFailure::Denied(problem)) => {
                        tracing::info!(vm = %self.name, device = sysname, "USB device not openable: showing the fix");
                        if let Some(h) = self
                            .facts
                            .devices
                            .iter_mut()
                            .find(|h| h.device.sysname == sysname)
                        {
                            h.denied = Some(*problem);
                        }
                        self.fixes.insert(sysname);
                    }
                    Err(AttachFailure::Failed(err)) => {
                        tracing::warn!(vm = %self.name, "{}: {}", err.summary, err.details);
                        let _ = sender.output(UsbMenuOutput::Error(err));
                    }
                }
                self.load(&sender);
            }
            UsbMenuCmd::Detached(result) => {
                self.busy = false;
                match result {
                    Ok(text) => {
                        let _ = sender.output(UsbMenuOutput::Notify(text));
                    }
                    Err(err) => {
                        let _ = sender.output(UsbMenuOutput::Error(err));
                    }
                }
                self.load(&sender);
            }
        }
    }
}
