//! The three areas of the VM page, each made by one function: the console (display widget,
//! toolbar and life cycle), the details (hardware editor) and the snapshots view.

use std::any::Any;

use adw::prelude::*;
use hangar_core::manager::{Event, Manager};
use relm4::Sender;
use relm4::{Component, ComponentController};

use super::{ChildOutput, VmPageMsg};
use crate::settings::Prefs;
use crate::ui::console::{Console, ConsoleInit, ConsoleInput, ConsoleOutput};
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

/// The console area: the VM's screen over VNC or SPICE with its toolbar and life cycle
/// (see [`crate::ui::console`]).
pub fn console(manager: &Manager, name: &str, prefs: &Prefs, out: &Sender<VmPageMsg>) -> Child {
    let init = ConsoleInit {
        manager: manager.clone(),
        name: name.to_owned(),
        prefs: prefs.clone(),
    };
    let controller = Console::builder().launch(init).forward(out, |o| {
        VmPageMsg::Child(match o {
            ConsoleOutput::Error(e) => ChildOutput::Error(e),
            ConsoleOutput::Notify(t) => ChildOutput::Notify(t),
            ConsoleOutput::SetFullscreen(on) => ChildOutput::SetFullscreen(on),
            ConsoleOutput::Start => ChildOutput::Start,
        })
    });
    let input = controller.sender().clone();
    Child::new(
        controller.widget().clone(),
        move |ev| input.emit(ConsoleInput::VmEvent(ev)),
        controller,
    )
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
