//! Dialogs of the per-VM actions: confirming Force Off and Reset, Clone…, Take Snapshot… and
//! Delete…. They only ask; the app does the work and shows its progress in the VM's row.

use std::path::{Path, PathBuf};

use adw::prelude::*;
use hangar_core::store::DeletePlan;

use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f, ni18n_f};
use crate::model::VmAction;

fn message_dialog(parent: &impl IsA<gtk::Window>, heading: &str, body: &str) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(Some(parent), Some(heading), Some(body));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.set_close_response("cancel");
    dialog
}

/// Asks before pulling the plug (Force Off) or pressing the reset button (Reset) of VM `name`.
pub fn confirm_power(
    parent: &impl IsA<gtk::Window>,
    name: &str,
    action: VmAction,
    on_confirm: impl Fn() + 'static,
) {
    let (heading, body, label) = if action == VmAction::Reset {
        (
            i18n_f("Reset “{}”?", &[name]),
            gettext("The virtual machine restarts at once, as if its reset button were pressed. Work not saved inside it is lost."),
            gettext("_Reset"),
        )
    } else {
        (
            i18n_f("Force “{}” Off?", &[name]),
            gettext("The virtual machine stops at once, as if its power cord were pulled. Work not saved inside it is lost. Shut Down asks the guest to stop properly instead."),
            gettext("_Force Off"),
        )
    };
    let dialog = message_dialog(parent, &heading, &body);
    dialog.add_response("confirm", &label);
    dialog.set_response_appearance("confirm", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.connect_response(None, move |_, response| {
        if response == "confirm" {
            on_confirm();
        }
    });
    dialog.present();
}

/// A name entry under a dialog's text, with a hint line that explains a bad name; enables
/// `response` only while `check` accepts the text (it returns the problem otherwise).
fn name_entry(
    dialog: &adw::MessageDialog,
    response: &'static str,
    initial: &str,
    check: impl Fn(&str) -> Result<(), String> + 'static,
) -> (gtk::Box, gtk::Entry) {
    let entry = gtk::Entry::builder()
        .text(initial)
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
    let weak = dialog.downgrade();
    let validate = move |entry: &gtk::Entry| {
        let Some(dialog) = weak.upgrade() else { return };
        let text = entry.text();
        let problem = check(&text).err();
        dialog.set_response_enabled(response, problem.is_none());
        hint.set_visible(problem.is_some() && !text.is_empty());
        hint.set_label(problem.as_deref().unwrap_or(""));
        if problem.is_some() && !text.is_empty() {
            entry.add_css_class("error");
        } else {
            entry.remove_css_class("error");
        }
    };
    validate(&entry);
    entry.connect_changed(validate);
    (content, entry)
}

/// Asks for the name of a clone of VM `name` and whether it is linked; `taken` tells whether
/// a name is in use.
pub fn clone(
    parent: &impl IsA<gtk::Window>,
    name: &str,
    taken: impl Fn(&str) -> bool + 'static,
    on_clone: impl Fn(String, bool) + 'static,
) {
    let dialog = message_dialog(
        parent,
        &i18n_f("Clone “{}”", &[name]),
        &gettext("The clone gets the same settings and a copy of the disks, and its own network address."),
    );
    dialog.add_response("clone", &gettext("C_lone"));
    dialog.set_response_appearance("clone", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("clone"));

    let (content, entry) = name_entry(&dialog, "clone", &i18n_f("{} (clone)", &[name]), move |text| {
        hangar_core::config::validate_name(text).map_err(|e| e.to_string())?;
        if taken(text) {
            return Err(gettext(
                "A virtual machine with this name exists. Choose another name.",
            ));
        }
        Ok(())
    });
    let full = gtk::CheckButton::with_label(&gettext(
        "Full copy — copies every disk; needs as much space again",
    ));
    let linked = gtk::CheckButton::with_label(&gettext(
        "Linked clone — shares the current disks read-only; fast and small, but the original must stay",
    ));
    linked.set_group(Some(&full));
    full.set_active(true);
    for check in [&full, &linked] {
        if let Some(label) = check.last_child().and_then(|c| c.downcast::<gtk::Label>().ok()) {
            label.set_wrap(true);
        }
    }
    content.append(&full);
    content.append(&linked);
    dialog.set_extra_child(Some(&content));

    let name_entry = entry.clone();
    dialog.connect_response(None, move |_, response| {
        if response == "clone" {
            on_clone(name_entry.text().to_string(), linked.is_active());
        }
    });
    dialog.present();
    entry.grab_focus();
}

/// Asks for the name of a snapshot of running VM `name`.
pub fn snapshot(parent: &impl IsA<gtk::Window>, name: &str, on_take: impl Fn(String) + 'static) {
    let dialog = message_dialog(
        parent,
        &i18n_f("Take a Snapshot of “{}”", &[name]),
        &gettext("The snapshot keeps the disks and the memory as they are now; going back to it later restores both. The virtual machine pauses while it is saved."),
    );
    dialog.add_response("take", &gettext("_Take Snapshot"));
    dialog.set_response_appearance("take", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("take"));
    let initial = gtk::glib::DateTime::now_local()
        .and_then(|now| now.format("%Y-%m-%d %H:%M"))
        .map(|date| i18n_f("Snapshot {}", &[&date]))
        .unwrap_or_else(|_| gettext("Snapshot"));
    let (content, entry) = name_entry(&dialog, "take", &initial, |text| {
        if text.trim().is_empty() || text.chars().count() > 128 || text.chars().any(char::is_control) {
            Err(gettext("Use 1 to 128 printable characters."))
        } else {
            Ok(())
        }
    });
    dialog.set_extra_child(Some(&content));
    let name_entry = entry.clone();
    dialog.connect_response(None, move |_, response| {
        if response == "take" {
            on_take(name_entry.text().trim().to_owned());
        }
    });
    dialog.present();
    entry.grab_focus();
}

/// Text of a delete plan: what goes and what stays, one path a line.
pub fn describe_plan(dir: &Path, plan: &DeletePlan) -> String {
    // Files in the VM's folder by their names (the folder is said once); others in full.
    let list = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| format!("  {}", p.strip_prefix(dir).unwrap_or(p).display()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let folder = i18n_f("Folder: {}", &[&dir.display().to_string()]);
    let mut text = if plan.remove.is_empty() {
        i18n_f(
            "The folder {} is removed; it holds no files.",
            &[&dir.display().to_string()],
        )
    } else {
        let count = plan.remove.len() as u32;
        format!(
            "{folder}\n\n{}\n{}",
            ni18n_f(
                "This file is deleted:",
                "These {} files are deleted:",
                count,
                &[&count.to_string()]
            ),
            list(&plan.remove)
        )
    };
    if !plan.keep.is_empty() {
        let count = plan.keep.len() as u32;
        text.push_str("\n\n");
        text.push_str(&ni18n_f(
            "This disk image stays:",
            "These {} disk images stay:",
            count,
            &[&count.to_string()],
        ));
        text.push('\n');
        text.push_str(&list(&plan.keep));
    }
    text
}

/// Asks before deleting VM `name`, listing exactly what `all` (keep nothing) or `keep_disks`
/// removes; `on_delete(keep_disks)` runs on confirmation.
pub fn delete(
    parent: &impl IsA<gtk::Window>,
    name: &str,
    dir: &Path,
    all: DeletePlan,
    keep_disks: DeletePlan,
    on_delete: impl Fn(bool) + 'static,
) {
    let dialog = message_dialog(
        parent,
        &i18n_f("Delete “{}”?", &[name]),
        &gettext("Deleted files cannot be recovered."),
    );
    dialog.add_response("delete", &gettext("_Delete"));
    dialog.set_response_appearance("delete", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));

    let details = gtk::Label::builder()
        .selectable(true)
        .wrap(true)
        .wrap_mode(gtk::pango::WrapMode::WordChar)
        .xalign(0.0)
        .yalign(0.0)
        .css_classes(["error-details"])
        .margin_top(8)
        .margin_bottom(8)
        .margin_start(10)
        .margin_end(10)
        .build();
    details.set_accessible_label(&gettext("Files"));
    let scrolled = gtk::ScrolledWindow::builder()
        .child(&details)
        .hscrollbar_policy(gtk::PolicyType::Never)
        .propagate_natural_height(true)
        .max_content_height(220)
        .css_classes(["card"])
        .build();
    let keep = gtk::CheckButton::with_mnemonic(&gettext("_Keep disk images"));
    // Nothing to keep when the VM has no disk of its own.
    keep.set_sensitive(all != keep_disks);
    let content = gtk::Box::new(gtk::Orientation::Vertical, 12);
    content.append(&scrolled);
    content.append(&keep);
    dialog.set_extra_child(Some(&content));

    let dir = dir.to_path_buf();
    let show = move |keep: &gtk::CheckButton| {
        let plan = if keep.is_active() { &keep_disks } else { &all };
        details.set_label(&describe_plan(&dir, plan));
    };
    show(&keep);
    keep.connect_toggled(show);
    dialog.connect_response(None, move |_, response| {
        if response == "delete" {
            on_delete(keep.is_active());
        }
    });
    dialog.present();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_say_what_goes_and_what_stays() {
        let dir = Path::new("/vms/t");
        let plan = DeletePlan {
            remove: vec![dir.join("vm.toml"), dir.join("qemu.log")],
            keep: vec![dir.join("disk0.qcow2")],
        };
        let text = describe_plan(dir, &plan);
        assert!(
            text.starts_with("Folder: /vms/t\n\nThese 2 files are deleted:\n  vm.toml\n  qemu.log"),
            "{text}"
        );
        assert!(text.ends_with("This disk image stays:\n  disk0.qcow2"), "{text}");
        let outside = DeletePlan {
            remove: vec![dir.join("vm.toml"), PathBuf::from("/images/big.qcow2")],
            keep: vec![],
        };
        let text = describe_plan(dir, &outside);
        assert!(text.ends_with("  vm.toml\n  /images/big.qcow2"), "{text}");
        let empty = describe_plan(dir, &DeletePlan::default());
        assert!(empty.contains("/vms/t"), "{empty}");
        assert!(!empty.contains("stays"), "{empty}");
    }
}
