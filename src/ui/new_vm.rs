//! The simple New Virtual Machine dialog: asks for a name and creates an empty VM (no disk, no
//! installation medium) through the manager, then reports [`WizardOutcome::Created`] with
//! `customize: true` so the app opens its details. Same interface as the New VM wizard, which
//! takes its place.

use adw::prelude::*;
use hangar_core::config::VmConfig;
use hangar_core::manager::{CreateRequest, DiskSource, Manager};

use crate::a11y::AccessibleLabelExt;
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};

/// How the dialog ended (when it did not just close).
#[derive(Debug)]
pub enum WizardOutcome {
    /// The VM exists. `customize`: the user wants its details before installing.
    Created { name: String, customize: bool },
    /// Something the main window should report.
    Failed(UserError),
}

/// Asks for the name of a new VM and creates it; `on_done` gets the outcome.
pub fn present(parent: &adw::ApplicationWindow, manager: Manager, on_done: impl Fn(WizardOutcome) + 'static) {
    let body = i18n_f(
        "Its files will be kept in a new folder in {}.",
        &[&manager.store().paths().vms.display().to_string()],
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
    let store = manager.store().clone();
    entry.connect_changed(move |entry| {
        let Some(dialog) = weak_dialog.upgrade() else {
            return;
        };
        let text = entry.text();
        let problem = match hangar_core::config::validate_name(&text) {
            // An empty field is the starting point, not a mistake worth shouting about.
            Err(_) if text.is_empty() => Some(String::new()),
            Err(err) => Some(err.to_string()),
            Ok(()) if store.exists(&text) => Some(gettext(
                "A virtual machine with this name exists. Choose another name.",
            )),
            Ok(()) => None,
        };
        dialog.set_response_enabled("create", problem.is_none());
        let shown = problem.filter(|p| !p.is_empty());
        hint.set_visible(shown.is_some());
        hint.set_label(shown.as_deref().unwrap_or(""));
        if shown.is_some() {
            entry.add_css_class("error");
        } else {
            entry.remove_css_class("error");
        }
    });

    let name_entry = entry.clone();
    let on_done = std::rc::Rc::new(on_done);
    dialog.connect_response(None, move |_, response| {
        if response != "create" {
            return;
        }
        let name = name_entry.text().to_string();
        let (manager, on_done) = (manager.clone(), on_done.clone());
        relm4::spawn_local(async move {
            let request = CreateRequest {
                config: VmConfig::new(&name),
                iso: None,
                disk: DiskSource::None,
            };
            let created = relm4::spawn(async move { manager.create(request).await }).await;
            let outcome = match created {
                Ok(Ok(config)) => WizardOutcome::Created {
                    name: config.name,
                    customize: true,
                },
                Ok(Err(err)) => WizardOutcome::Failed(UserError::from_error(
                    gettext("Could not create the virtual machine"),
                    &err,
                )),
                Err(err) => WizardOutcome::Failed(UserError::from_error(
                    gettext("Could not create the virtual machine"),
                    &err,
                )),
            };
            on_done(outcome);
        });
    });
    dialog.present();
    entry.grab_focus();
}
