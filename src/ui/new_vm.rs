//! The New Virtual Machine dialog: asks for a name and hands it to the caller.

use std::path::Path;

use adw::prelude::*;

use crate::a11y::AccessibleLabelExt;

use crate::i18n::{gettext, i18n_f};
use crate::library_source::validate_name;

/// Asks for the name of a new VM to be stored in `folder`; calls `on_create` with a valid name
/// when the user confirms.
pub fn present(parent: &impl IsA<gtk::Window>, folder: &Path, on_create: impl Fn(String) + 'static) {
    let body = i18n_f(
        "Its files will be kept in a new folder in {}.",
        &[&folder.display().to_string()],
    );
    let dialog = adw::MessageDialog::new(Some(parent), Some(&gettext("New Virtual Machine")), Some(&body));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("create", &gettext("C_reate"));
    dialog.set_response_appearance("create", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("create"));
    dialog.set_close_response("cancel");
    dialog.set_response_enabled("create", false);

    let entry = gtk::Entry::builder()
        .placeholder_text(gettext("Name"))
        .activates_default(true)
        .build();
    entry.set_accessible_label(&gettext("Name"));
    let hint = gtk::Label::builder()
        .wrap(true)
        .xalign(0.0)
        .visible(false)
        .css_classes(["caption", "error"])
        .build();
    let content = gtk::Box::new(gtk::Orientation::Vertical, 6);
    content.append(&entry);
    content.append(&hint);
    dialog.set_extra_child(Some(&content));

    let weak_dialog = dialog.downgrade();
    entry.connect_changed(move |entry| {
        let Some(dialog) = weak_dialog.upgrade() else {
            return;
        };
        let text = entry.text();
        let verdict = validate_name(&text);
        dialog.set_response_enabled("create", verdict.is_ok());
        let problem = match verdict {
            Ok(_) => None,
            // An empty field is the starting point, not a mistake worth shouting about.
            Err(_) if text.is_empty() => None,
            Err(err) => Some(err.to_string()),
        };
        hint.set_visible(problem.is_some());
        hint.set_label(problem.as_deref().unwrap_or(""));
        if problem.is_some() {
            entry.add_css_class("error");
        } else {
            entry.remove_css_class("error");
        }
    });

    let name_entry = entry.clone();
    dialog.connect_response(None, move |_, response| {
        if response != "create" {
            return;
        }
        if let Ok(name) = validate_name(&name_entry.text()) {
            on_create(name.to_owned());
        }
    });
    dialog.present();
    entry.grab_focus();
}
