//! Hangar's GNOME interface.
//!
//! ```text
//! AdwApplication (org.hangar.Hangar, single instance, resources under /org/hangar/Hangar)
//! └── AdwApplicationWindow                              app.rs        App
//!     └── AdwToastOverlay                                             error funnel: AppMsg::Error
//!         └── GtkStack
//!             ├── "library"  GtkBox (vertical)
//!             │   ├── AdwHeaderBar
//!             │   │   ├── GtkButton "+"     win.new-vm  Ctrl+N     → ui/wizard/
//!             │   │   ├── AdwWindowTitle "Hangar"
//!             │   │   └── GtkMenuButton (primary): Preferences (Ctrl+,), Keyboard Shortcuts
//!             │   │       (Ctrl+?), About Hangar
//!             │   └── GtkStack                    ui/library.rs Library
//!             │       ├── "loading"  GtkSpinner
//!             │       ├── "empty"    AdwStatusPage "No Virtual Machines"
//!             │       └── "list"     GtkListBox.boxed-list of AdwActionRow  ui/vm_row.rs
//!             │                      (thumbnail, name, OS · state, state icon, action menu)
//!             └── "vm"       ui/vm_page.rs VmPage (back, view switcher, power controls;
//!                 │          areas built by ui/vm_page/children.rs)
//!                 ├── Console    ui/console/  Console component
//!                 │   ├── toolbar: Send Key, View (scaling, zoom, resize), Screenshot,
//!                 │   │   grab hint, Clipboard menu (ui/console/clipboard/), USB menu
//!                 │   │   (ui/console/usb.rs), Detach, Fullscreen (F11)
//!                 │   └── GtkStack: off (Start) · connecting · hangar_display::DisplayView
//!                 │       (VNC or SPICE) · disconnected (Reconnect) · headless
//!                 ├── Details    ui/details/  hardware editor, one page per device area
//!                 └── Snapshots  ui/snapshots.rs
//! app.quit  Ctrl+Q closes the window (its size and the running VMs' thumbnails are saved);
//! the VMs keep running.
//! ```
//!
//! Data flow: one hangar-core `Manager` per VM folder. [`bridge`] starts its discovery in
//! relm4's runtime and forwards its events (no polling); `ListChanged` makes the app list the
//! VMs again ([`model::rows_from`]), `State` updates one row and the open VM page. Anything
//! that fails becomes an [`error::UserError`] in [`app::AppMsg::Error`].

pub mod a11y;
pub mod app;
pub mod bridge;
pub mod config;
pub mod error;
pub mod i18n;
pub mod logging;
pub mod model;
pub mod renderer;
pub mod resources;
pub mod settings;
pub mod ui;

use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use adw::prelude::*;
use relm4::RelmApp;

use crate::i18n::gettext;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// When [`run`] began (the first call of this function when `run` was not called).
pub fn started() -> Instant {
    *STARTED.get_or_init(Instant::now)
}

/// Runs the application until its window is closed.
pub fn run() -> ExitCode {
    started();
    // Before anything can start a thread (see renderer::apply).
    let renderer = renderer::apply();
    logging::init();
    if let Some(r) = renderer {
        tracing::debug!("no GPU render node: using GTK's {r} renderer");
    }
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
