//! Hangar's GNOME interface.
//!
//! ```text
//! AdwApplication (org.hangar.Hangar, single instance, resources under /org/hangar/Hangar)
//! └── AdwApplicationWindow                              app.rs        App
//!     └── AdwToastOverlay                                             error funnel: AppMsg::Error
//!         └── GtkBox (vertical)
//!             ├── AdwHeaderBar
//!             │   ├── GtkButton "+"            win.new-vm  Ctrl+N     → ui/new_vm.rs (AdwMessageDialog)
//!             │   ├── AdwWindowTitle "Hangar"
//!             │   └── GtkMenuButton (primary)
//!             │       ├── Preferences          win.preferences  Ctrl+,  → ui/preferences.rs
//!             │       ├── Keyboard Shortcuts   win.show-help-overlay  Ctrl+?  (gtk/help-overlay.ui)
//!             │       └── About Hangar         win.about       → ui/about.rs (AdwAboutWindow)
//!             └── GtkStack                               ui/library.rs Library
//!                 ├── "loading"  GtkSpinner
//!                 ├── "empty"    AdwStatusPage "No Virtual Machines" + "New Virtual Machine"
//!                 └── "list"     GtkScrolledWindow › AdwClamp › GtkBox
//!                                ├── heading + VM folder
//!                                └── GtkListBox.boxed-list
//!                                    └── AdwActionRow × n   ui/vm_row.rs  (model::VmRow)
//! app.quit  Ctrl+Q closes the window (its size is saved) and so ends the application.
//! ```
//!
//! Data flow: [`library_source`] lists the VM folder off the main thread and feeds
//! [`app::AppMsg::SetVms`]; hangar-core's store and manager will take its place and send
//! `SetVms` / `UpdateVm` / `RemoveVm` as VMs change. Anything that fails becomes a
//! [`error::UserError`] in [`app::AppMsg::Error`].

pub mod a11y;
pub mod app;
pub mod config;
pub mod error;
pub mod i18n;
pub mod library_source;
pub mod logging;
pub mod model;
pub mod resources;
pub mod settings;
pub mod ui;

use std::process::ExitCode;

use adw::prelude::*;
use relm4::RelmApp;

use crate::i18n::gettext;

/// Runs the application until its window is closed.
pub fn run() -> ExitCode {
    logging::init();
    i18n::init();
    if let Err(err) = resources::register() {
        eprintln!("hangar: the built-in resources are damaged ({err}); reinstall Hangar");
        return ExitCode::FAILURE;
    }
    if let Err(err) = gtk::init() {
        eprintln!(
            "hangar: {} ({err})",
            gettext("Cannot open a display. Run Hangar in a graphical session, or use hangarctl.")
        );
        return ExitCode::FAILURE;
    }
    if let Err(err) = adw::init() {
        tracing::warn!("libadwaita did not initialise ({err}); the style may look wrong");
    }
    gtk::glib::set_application_name(&gettext("Hangar"));
    gtk::Window::set_default_icon_name(config::APP_ID);

    let app = adw::Application::builder()
        .application_id(config::APP_ID)
        .resource_base_path(config::RESOURCE_BASE)
        .build();
    // A second launch activates the running instance: bring its window forward.
    app.connect_activate(|app| {
        if let Some(window) = app.active_window() {
            window.present();
        }
    });
    let prefs = settings::Prefs::load();
    RelmApp::from_app(app).run::<app::App>(app::AppInit { prefs });
    ExitCode::SUCCESS
}
