//! The three areas of the VM page, each made by one function. On this branch they are status
//! pages naming the area; the integration points these functions at the real components
//! (ui/console/, ui/details/, ui/snapshots.rs) with their contract types, for example:
//!
//! ```ignore
//! pub fn console(manager: &Manager, name: &str, prefs: &Prefs, out: &Sender<VmPageMsg>) -> Child {
//!     let controller = Console::builder()
//!         .launch(ConsoleInit { manager: manager.clone(), name: name.to_owned(), prefs: prefs.clone() })
//!         .forward(out, |o| VmPageMsg::Child(match o {
//!             ConsoleOutput::Error(e) => ChildOutput::Error(e),
//!             ConsoleOutput::Notify(t) => ChildOutput::Notify(t),
//!             ConsoleOutput::SetFullscreen(on) => ChildOutput::SetFullscreen(on),
//!             ConsoleOutput::Start => ChildOutput::Start,
//!         }));
//!     let input = controller.sender().clone();
//!     Child::new(controller.widget().clone(), move |ev| input.emit(ConsoleInput::VmEvent(ev)), controller)
//! }
//! ```
//! (details: `DetailsInit { manager, name, pending_install }`, outputs Error / Notify /
//! Renamed { from, to } / BeginInstall; snapshots: `SnapshotsInit { manager, name }`, outputs
//! Error / Notify.)

use std::any::Any;

use adw::prelude::*;
use hangar_core::manager::{Event, Manager};
use relm4::Sender;

use super::VmPageMsg;
use crate::i18n::gettext;
use crate::settings::Prefs;

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

fn status_page(icon: &str, title: &str, description: &str) -> Child {
    let page = adw::StatusPage::builder()
        .icon_name(icon)
        .title(title)
        .description(description)
        .build();
    Child::new(page, |_| {}, ())
}

/// The console area: the VM's screen.
pub fn console(_manager: &Manager, _name: &str, _prefs: &Prefs, _out: &Sender<VmPageMsg>) -> Child {
    status_page(
        "video-display-symbolic",
        &gettext("Console"),
        &gettext("The screen of the virtual machine is shown here."),
    )
}

/// The details area: the VM's settings. `pending_install`: show the "Begin Installation" bar.
pub fn details(_manager: &Manager, _name: &str, _pending_install: bool, _out: &Sender<VmPageMsg>) -> Child {
    status_page(
        "document-properties-symbolic",
        &gettext("Details"),
        &gettext("The settings of the virtual machine are shown here."),
    )
}

/// The snapshots area.
pub fn snapshots(_manager: &Manager, _name: &str, _out: &Sender<VmPageMsg>) -> Child {
    status_page(
        "document-open-recent-symbolic",
        &gettext("Snapshots"),
        &gettext("The snapshots of the virtual machine are listed here."),
    )
}
