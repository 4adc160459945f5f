//! The three areas of the VM page, each made by one function: the console (the display
//! widget), the details (hardware editor) and the snapshots view.

use std::any::Any;

use adw::prelude::*;
use hangar_core::config::DisplayKind;
use hangar_core::manager::{Event, Manager, VmState};
use relm4::Sender;
use relm4::{Component, ComponentController};

use super::{ChildOutput, VmPageMsg};
use crate::error::UserError;
use crate::i18n::gettext;
use crate::settings::Prefs;
use crate::ui::details::{Details, DetailsInit, DetailsInput, DetailsOutput};
use crate::ui::snapshots::{Snapshots, SnapshotsInit, SnapshotsInput, SnapshotsOutput};

/// One area of the VM page: its widget, how it receives manager events, and whatever must
/// stay alive for it to work (its component controller).
pub struct Child {
    widget: gtk::Widget,
    deliver: Box<dyn Fn(Event)>,
    _owner: Box<dyn Any>,
}

impl Child {
    pub fn new(widget: impl IsA<gtk::Widget>, deliver: impl Fn(Event) + 'static, owner: impl Any) -> Self {
        Child {
            widget: widget.upcast(),
            deliver: Box::new(deliver),
            _owner: Box::new(owner),
        }
    }

    pub fn widget(&self) -> &gtk::Widget {
        &self.widget
    }

    /// Hands a manager event about this VM (or about all VMs) to the area.
    pub fn deliver(&self, event: Event) {
        (self.deliver)(event);
    }
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("widget", &self.widget.type_())
            .finish()
    }
}

/// The console area: the VM's screen over VNC or SPICE, connected whenever the VM runs.
pub fn console(manager: &Manager, name: &str, _prefs: &Prefs, out: &Sender<VmPageMsg>) -> Child {
    let view = hangar_display::DisplayView::new();
    view.set_hexpand(true);
    view.set_vexpand(true);
    view.set_focusable(true);
    let connect = {
        let (view, manager, name, out) = (view.clone(), manager.clone(), name.to_owned(), out.clone());
        move || {
            if manager.pid(&name).is_none() {
                return;
            }
            let Ok(config) = manager.store().load(&name) else {
                return;
            };
            let rt = manager.runtime(&name);
            let result = match config.display.kind {
                DisplayKind::Vnc => view.connect_vnc_unix(&rt.vnc),
                DisplayKind::Spice => view.connect_spice_unix(&rt.spice),
                DisplayKind::None => return,
            };
            if let Err(e) = result {
                let err = UserError::from_error(gettext("Could not connect to the console"), &e);
                out.emit(VmPageMsg::Child(ChildOutput::Error(err)));
            }
        }
    };
    connect();
    let disconnect = view.clone();
    let deliver = move |event: Event| match event {
        Event::State {
            state: VmState::Running,
            ..
        } => connect(),
        Event::State {
            state: VmState::Stopped,
            ..
        } => disconnect.disconnect(),
        _ => {}
    };
    Child::new(view, deliver, ())
}

/// The details area: the VM's settings. `pending_install`: show the "Begin Installation" bar.
pub fn details(manager: &Manager, name: &str, pending_install: bool, out: &Sender<VmPageMsg>) -> Child {
    let init = DetailsInit {
        manager: manager.clone(),
        name: name.to_owned(),
        pending_install,
    };
    let controller = Details::builder().launch(init).forward(out, |o| {
        VmPageMsg::Child(match o {
            DetailsOutput::Error(e) => ChildOutput::Error(e),
            DetailsOutput::Notify(t) => ChildOutput::Notify(t),
            DetailsOutput::Renamed { from, to } => ChildOutput::Renamed { from, to },
            DetailsOutput::BeginInstall => ChildOutput::BeginInstall,
        })
    });
    let input = controller.sender().clone();
    Child::new(
        controller.widget().clone(),
        move |ev| input.emit(DetailsInput::VmEvent(ev)),
        controller,
    )
}

/// The snapshots area.
pub fn snapshots(manager: &Manager, name: &str, out: &Sender<VmPageMsg>) -> Child {
    let init = SnapshotsInit {
        manager: manager.clone(),
        name: name.to_owned(),
    };
    let controller = Snapshots::builder().launch(init).forward(out, |o| {
        VmPageMsg::Child(match o {
            SnapshotsOutput::Error(e) => ChildOutput::Error(e),
            SnapshotsOutput::Notify(t) => ChildOutput::Notify(t),
        })
    });
    let input = controller.sender().clone();
    Child::new(
        controller.widget().clone(),
        move |ev| input.emit(SnapshotsInput::VmEvent(ev)),
        controller,
    )
}
