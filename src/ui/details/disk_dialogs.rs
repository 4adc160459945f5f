//! Dialogs of the Disks section: add (new image or existing file), resize (grow only), remove
//! (optionally deleting an image that lives in the VM folder).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::DiskBus;
use hangar_core::storage::{format_size, parse_size};

use super::disks::bus_name;
use super::form::Ctx;
use super::jobs::Job;
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

/// Size offered for a new disk.
const DEFAULT_NEW_SIZE: &str = "20G";

fn dialog(parent: &gtk::Window, heading: &str, body: &str) -> adw::MessageDialog {
    let dialog = adw::MessageDialog::new(Some(parent), Some(heading), (!body.is_empty()).then_some(body));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.set_close_response("cancel");
    dialog
}

fn hint_label() -> gtk::Label {
    gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .css_classes(["error"])
        .visible(false)
        .build()
}

/// Shows the size parse error (if any) and enables `response` only for a usable size.
fn check_size(
    dialog: &adw::MessageDialog,
    response: &str,
    text: &str,
    hint: &gtk::Label,
    minimum: u64,
) -> Option<u64> {
    let result = parse_size(text).map_err(|e| e.to_string()).and_then(|size| {
        if size <= minimum {
            Err(i18n_f(
                "Disks can only grow: give a size larger than {}.",
                &[&format_size(minimum)],
            ))
        } else {
            Ok(size)
        }
    });
    let ok = result.as_ref().ok().copied();
    match result {
        Ok(_) => hint.set_visible(false),
        Err(message) => {
            hint.set_label(&message);
            hint.set_visible(!text.trim().is_empty());
        }
    }
    dialog.set_response_enabled(response, ok.is_some());
    ok
}

/// "Add Disk": a new qcow2 image in the VM folder, or an existing image used where it is.
pub(super) fn add(parent: &gtk::Window, ctx: &Ctx) {
    let dialog = dialog(
        parent,
        &gettext("Add Disk"),
        &gettext(
            "New images are created in the virtual machine’s folder. Existing images stay where they are.",
        ),
    );
    dialog.add_response("add", &gettext("_Add"));
    dialog.set_response_appearance("add", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("add"));

    let new_image = gtk::CheckButton::with_label(&gettext("New disk image of this size:"));
    new_image.set_active(true);
    let size = gtk::Entry::builder()
        .text(DEFAULT_NEW_SIZE)
        .activates_default(true)
        .build();
    size.set_accessible_label(&gettext("Size of the new disk"));
    let existing = gtk::CheckButton::with_label(&gettext("Existing disk image:"));
    existing.set_group(Some(&new_image));
    let choose = gtk::Button::with_mnemonic(&gettext("_Choose File…"));
    choose.set_accessible_label(&gettext("Choose Disk Image"));
    let chosen = gtk::Label::builder()
        .label(gettext("No file chosen"))
        .xalign(0.0)
        .ellipsize(gtk::pango::EllipsizeMode::Middle)
        .css_classes(["dim-label"])
        .build();
    let bus = gtk::DropDown::from_strings(&[
        &bus_name(DiskBus::Virtio),
        &i18n_f(
            "{} (for guests without VirtIO drivers)",
            &[&bus_name(DiskBus::Sata)],
        ),
    ]);
    bus.set_accessible_label(&gettext("Bus"));
    let hint = hint_label();

    let grid = gtk::Grid::builder().row_spacing(8).column_spacing(12).build();
    grid.attach(&new_image, 0, 0, 1, 1);
    grid.attach(&size, 1, 0, 1, 1);
    grid.attach(&existing, 0, 1, 1, 1);
    grid.attach(&choose, 1, 1, 1, 1);
    grid.attach(&chosen, 0, 2, 2, 1);
    grid.attach(
        &gtk::Label::builder().label(gettext("Bus")).xalign(0.0).build(),
        0,
        3,
        1,
        1,
    );
    grid.attach(&bus, 1, 3, 1, 1);
    grid.attach(&hint, 0, 4, 2, 1);
    dialog.set_extra_child(Some(&grid));

    let path: Rc<RefCell<Option<PathBuf>>> = Rc::default();
    let validate = {
        let (dialog, size, new_image, path, hint) = (
            dialog.clone(),
            size.clone(),
            new_image.clone(),
            path.clone(),
            hint.clone(),
        );
        move || {
            if new_image.is_active() {
                size.set_sensitive(true);
                check_size(&dialog, "add", &size.text(), &hint, 0);
            } else {
                size.set_sensitive(false);
                hint.set_visible(false);
                dialog.set_response_enabled("add", path.borrow().is_some());
            }
        }
    };
    let validate = Rc::new(validate);
    {
        let v = validate.clone();
        size.connect_changed(move |_| v());
        let v = validate.clone();
        new_image.connect_toggled(move |_| v());
    }

    // The native chooser must stay referenced while it is open.
    let chooser: Rc<RefCell<Option<gtk::FileChooserNative>>> = Rc::default();
    {
        let (dialog, existing, chosen, path, validate) = (
            dialog.clone(),
            existing.clone(),
            chosen.clone(),
            path.clone(),
            validate.clone(),
        );
        choose.connect_clicked(move |_| {
            let native = gtk::FileChooserNative::new(
                Some(&gettext("Choose a Disk Image")),
                Some(&dialog),
                gtk::FileChooserAction::Open,
                Some(&gettext("_Add")),
                Some(&gettext("_Cancel")),
            );
            native.set_modal(true);
            let images = gtk::FileFilter::new();
            images.set_name(Some(&gettext("Disk Images")));
            for pattern in ["*.qcow2", "*.img", "*.raw", "*.vmdk", "*.vdi", "*.vhdx", "*.qed"] {
                images.add_pattern(pattern);
            }
            native.add_filter(&images);
            let all = gtk::FileFilter::new();
            all.set_name(Some(&gettext("All Files")));
            all.add_pattern("*");
            native.add_filter(&all);
            let (existing, chosen, path, validate, slot) = (
                existing.clone(),
                chosen.clone(),
                path.clone(),
                validate.clone(),
                chooser.clone(),
            );
            native.connect_response(move |native, response| {
                if response == gtk::ResponseType::Accept {
                    if let Some(file) = native.file().and_then(|f| f.path()) {
                        chosen.set_label(&file.display().to_string());
                        path.replace(Some(file));
                        existing.set_active(true);
                        validate();
                    }
                }
                slot.replace(None);
            });
            native.show();
            chooser.replace(Some(native));
        });
    }
    validate();

    let ctx = ctx.clone();
    dialog.connect_response(None, move |_, response| {
        if response != "add" {
            return;
        }
        let bus = if bus.selected() == 1 {
            DiskBus::Sata
        } else {
            DiskBus::Virtio
        };
        if new_image.is_active() {
            if let Ok(size) = parse_size(&size.text()) {
                ctx.run("disks", Job::AddNewDisk { size, bus });
            }
        } else if let Some(path) = path.borrow().clone() {
            ctx.run("disks", Job::AddExistingDisk { path, bus });
        }
    });
    dialog.present();
}

/// "Resize": grow the image of disk `id` from `current` bytes.
pub(super) fn resize(parent: &gtk::Window, ctx: &Ctx, id: &str, current: u64) {
    let dialog = dialog(
        parent,
        &i18n_f("Resize {}", &[id]),
        &i18n_f(
            "The disk now holds {}. Disks can only grow. Afterwards, enlarge the partition inside the guest to use the new space.",
            &[&format_size(current)],
        ),
    );
    dialog.add_response("resize", &gettext("_Resize"));
    dialog.set_response_appearance("resize", adw::ResponseAppearance::Suggested);
    dialog.set_default_response(Some("resize"));
    let entry = gtk::Entry::builder()
        .text(format_size(current).replace(' ', ""))
        .activates_default(true)
        .build();
    entry.set_accessible_label(&gettext("New size"));
    let hint = hint_label();
    let content = gtk::Box::new(gtk::Orientation::Vertical, 6);
    content.append(&entry);
    content.append(&hint);
    dialog.set_extra_child(Some(&content));
    check_size(&dialog, "resize", &entry.text(), &hint, current);
    {
        let (dialog, hint) = (dialog.clone(), hint.clone());
        entry.connect_changed(move |e| {
            check_size(&dialog, "resize", &e.text(), &hint, current);
        });
    }
    let (ctx, id) = (ctx.clone(), id.to_owned());
    dialog.connect_response(None, move |_, response| {
        if response == "resize" {
            if let Ok(size) = parse_size(&entry.text()) {
                if size > current {
                    ctx.run(&format!("disks:{id}"), Job::ResizeDisk { id: id.clone(), size });
                }
            }
        }
    });
    dialog.present();
}

/// "Remove": take disk `id` out of the VM; its image is deleted only on request, only when it
/// lies in the VM folder (`own`) and the VM is stopped.
pub(super) fn remove(parent: &gtk::Window, ctx: &Ctx, id: &str, image: &Path, own: bool, running: bool) {
    let dialog = dialog(
        parent,
        &i18n_f("Remove {}?", &[id]),
        &gettext("The disk is taken out of this virtual machine."),
    );
    dialog.add_response("remove", &gettext("_Remove"));
    dialog.set_response_appearance("remove", adw::ResponseAppearance::Destructive);
    let image_text = image.display().to_string();
    let delete = gtk::CheckButton::with_label(&gettext("Also delete the image"));
    let note = gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .css_classes(["dim-label"])
        .build();
    let content = gtk::Box::new(gtk::Orientation::Vertical, 6);
    if own && !running {
        content.append(&delete);
        note.set_label(&i18n_f(
            "The image is {}. Deleted images cannot be recovered.",
            &[&image_text],
        ));
    } else if own {
        note.set_label(&gettext(
            "The image is kept: it can be deleted only while the virtual machine is shut down.",
        ));
    } else {
        note.set_label(&i18n_f(
            "The image {} is outside the virtual machine’s folder and is kept.",
            &[&image_text],
        ));
    }
    content.append(&note);
    dialog.set_extra_child(Some(&content));
    let (ctx, id) = (ctx.clone(), id.to_owned());
    dialog.connect_response(None, move |_, response| {
        if response == "remove" {
            let delete_image = own && !running && delete.is_active();
            ctx.run(
                "disks",
                Job::RemoveDisk {
                    id: id.clone(),
                    delete_image,
                },
            );
        }
    });
    dialog.present();
}
