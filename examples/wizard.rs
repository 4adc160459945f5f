//! The New Virtual Machine wizard over an empty main window, to look at it and try it out:
//!
//! ```sh
//! HANGAR_HOME=/tmp/vms cargo run --example wizard
//! ```
//!
//! VMs are created for real in `$HANGAR_HOME` (as by the app). The outcome is printed; the
//! example quits once a VM was created, or when the main window is closed.

use adw::prelude::*;
use hangar::ui::wizard::{self, WizardOutcome};
use hangar_core::manager::Manager;

fn main() {
    hangar::logging::init();
    hangar::i18n::init();
    let app = adw::Application::builder()
        .application_id("org.hangar.Hangar.WizardExample")
        .flags(gtk::gio::ApplicationFlags::NON_UNIQUE)
        .build();
    app.connect_activate(|app| {
        let window = adw::ApplicationWindow::builder()
            .application(app)
            .title("Hangar")
            .default_width(960)
            .default_height(700)
            .build();
        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        content.append(&adw::HeaderBar::new());
        content.append(
            &adw::StatusPage::builder()
                .icon_name("computer-symbolic")
                .title("Hangar")
                .vexpand(true)
                .build(),
        );
        window.set_content(Some(&content));
        window.present();
        let app = app.clone();
        wizard::present(&window, Manager::from_env(), move |outcome| match outcome {
            WizardOutcome::Created { name, customize } => {
                println!("created {name} (customize: {customize})");
                app.quit();
            }
            WizardOutcome::Failed(err) => println!("failed: {}: {}", err.summary, err.details),
        });
    });
    app.run_with_args::<&str>(&[]);
}
