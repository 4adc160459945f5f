//! The About window.

use adw::prelude::*;

use crate::config;
use crate::i18n::gettext;

/// Shows the About window; `debug_info` is offered under "Troubleshooting".
pub fn present(parent: &impl IsA<gtk::Window>, debug_info: &str) {
    let about = adw::AboutWindow::builder()
        .transient_for(parent)
        .modal(true)
        .application_name(gettext("Hangar"))
        .application_icon(config::APP_ID)
        .developer_name(gettext("The Hangar developers"))
        .version(config::VERSION)
        .comments(gettext(
            "Create and run virtual machines with QEMU, without a system daemon.",
        ))
        .website(config::WEBSITE)
        .issue_url(config::ISSUE_URL)
        .license_type(gtk::License::Gpl30)
        .copyright("© 2026 The Hangar developers")
        // Translators: replace with your name (and e-mail address), one translator per line.
        .translator_credits(gettext("translator-credits"))
        .debug_info(debug_info)
        .debug_info_filename("hangar-debug-info.txt")
        .build();
    about.present();
}

/// Versions and paths worth pasting into a bug report.
pub fn debug_info(vm_folder: &str, settings: &str) -> String {
    format!(
        "Hangar {version}\n\
         GTK {gtk_major}.{gtk_minor}.{gtk_micro}\n\
         libadwaita {adw_major}.{adw_minor}.{adw_micro}\n\
         Virtual machine folder: {vm_folder}\n\
         Settings: {settings}\n\
         Locale folder: {localedir}\n\
         Data folder: {pkgdatadir}\n",
        version = config::VERSION,
        gtk_major = gtk::major_version(),
        gtk_minor = gtk::minor_version(),
        gtk_micro = gtk::micro_version(),
        adw_major = adw::major_version(),
        adw_minor = adw::minor_version(),
        adw_micro = adw::micro_version(),
        localedir = config::LOCALEDIR,
        pkgdatadir = config::PKGDATADIR,
    )
}
