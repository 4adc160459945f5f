//! Disks: one expandable row per disk (image, size with Resize, bus, read-only, Remove), and
//! "Add Disk" (a new image in the VM folder, or an existing one where it is).

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{DiskBus, DiskConfig, Update};
use hangar_core::storage::format_size;
use hangar_core::store::resolve;

use super::disk_dialogs;
use super::form::{
    action_row, choice_row, clear_list, page as page_body, switch_row, text_button, window_of, Ctx, Group,
};
use super::parse::is_own_image;
use super::{Facts, Page, Section};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

const BUSES: [DiskBus; 2] = [DiskBus::Virtio, DiskBus::Sata];

struct Disks {
    ctx: Ctx,
    group: Group,
    list: gtk::ListBox,
    empty: gtk::Label,
    spinner: gtk::Spinner,
    /// Ids of the rows the user expanded (kept across refreshes).
    expanded: Rc<RefCell<HashSet<String>>>,
}

pub(super) fn bus_name(bus: DiskBus) -> String {
    match bus {
        DiskBus::Virtio => gettext("VirtIO"),
        DiskBus::Sata => gettext("SATA"),
    }
}

fn replace(ctx: &Ctx, id: &str, change: impl FnOnce(&mut DiskConfig)) {
    let disk = ctx.config().disks.iter().find(|d| d.id == id).cloned();
    if let Some(mut disk) = disk {
        change(&mut disk);
        ctx.apply(&format!("disks:{id}"), Update::ReplaceDisk(disk));
    }
}

pub(super) fn page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Attached Disks"), "");
    let spinner = gtk::Spinner::builder()
        .valign(gtk::Align::Center)
        .visible(false)
        .build();
    spinner.set_accessible_label(&gettext("Working on the disks"));
    group.add_header_suffix(&spinner);
    let add = text_button(&gettext("_Add Disk…"));
    group.add_header_suffix(&add);
    {
        let ctx = ctx.clone();
        add.connect_clicked(move |button| {
            if let Some(window) = window_of(button) {
                disk_dialogs::add(&window, &ctx);
            }
        });
    }
    group.root.remove(&group.list);
    let list = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .css_classes(["boxed-list"])
        .build();
    list.set_accessible_label(&gettext("Disks"));
    let empty = gtk::Label::builder()
        .label(gettext("This virtual machine has no disk."))
        .xalign(0.0)
        .css_classes(["dim-label"])
        .build();
    group.root.append(&empty);
    group.root.append(&list);
    group.add_error_below(ctx, "disks");
    body.append(&group.root);
    Page {
        id: "disks",
        title: gettext("Disks"),
        icon: "drive-harddisk-symbolic",
        widget: widget.upcast(),
        note: gettext("Disks added, removed or changed now are used at the next start. Images are resized or deleted while the virtual machine is shut down."),
        section: Rc::new(Disks {
            ctx: ctx.clone(),
            group,
            list,
            empty,
            spinner,
            expanded: Rc::default(),
        }),
    }
}

impl Disks {
    fn disk_row(&self, facts: &Facts, disk: &DiskConfig) -> adw::ExpanderRow {
        let ctx = &self.ctx;
        let id = disk.id.clone();
        let image = resolve(&facts.vm_dir, &disk.path);
        let info = facts.disks.get(&disk.id);
        let size = match info {
            Some(Ok(info)) => format_size(info.virtual_size),
            Some(Err(_)) => gettext("unreadable"),
            None => String::from("…"),
        };
        let row = adw::ExpanderRow::builder()
            .title(&disk.id)
            .subtitle(format!("{} · {} · {}", bus_name(disk.bus), size, disk.format))
            .build();
        row.set_accessible_label(&i18n_f("Disk {}", &[&disk.id]));
        row.set_expanded(self.expanded.borrow().contains(&disk.id));
        {
            let (expanded, id) = (self.expanded.clone(), id.clone());
            row.connect_expanded_notify(move |r| {
                if r.is_expanded() {
                    expanded.borrow_mut().insert(id.clone());
                } else {
                    expanded.borrow_mut().remove(&id);
                }
            });
        }
        let path_row = action_row(&gettext("Image"), &image.display().to_string());
        row.add_row(&path_row);

        let size_text = match info {
            Some(Ok(info)) => match info.actual_size {
                Some(used) => i18n_f("{} ({} used on this computer)", &[&size, &format_size(used)]),
                None => size.clone(),
            },
            Some(Err(e)) => e.clone(),
            None => size.clone(),
        };
        let size_row = action_row(&gettext("Size"), &size_text);
        let resize = text_button(&gettext("_Resize…"));
        resize.set_accessible_label(&i18n_f("Resize {}", &[&disk.id]));
        let current = info.and_then(|i| i.as_ref().ok()).map(|i| i.virtual_size);
        resize.set_sensitive(!facts.running() && current.is_some() && !disk.readonly);
        if facts.running() {
            resize.set_tooltip_text(Some(&gettext(
                "Shut the virtual machine down to resize its disks.",
            )));
        }
        {
            let (ctx, id) = (ctx.clone(), id.clone());
            resize.connect_clicked(move |button| {
                if let (Some(window), Some(current)) = (window_of(button), current) {
                    disk_dialogs::resize(&window, &ctx, &id, current);
                }
            });
        }
        size_row.add_suffix(&resize);
        row.add_row(&size_row);

        let bus_index = BUSES.iter().position(|b| *b == disk.bus).unwrap_or(0);
        let bus = {
            let id = id.clone();
            choice_row(
                ctx,
                &gettext("Bus"),
                &gettext("VirtIO is fastest; SATA suits guests without VirtIO drivers."),
                &[bus_name(DiskBus::Virtio), bus_name(DiskBus::Sata)],
                move |ctx, i| {
                    if let Some(b) = BUSES.get(i) {
                        replace(ctx, &id, |d| d.bus = *b);
                    }
                },
            )
        };
        bus.set_selected(bus_index as u32);
        row.add_row(&bus);
        let (ro_row, ro) = {
            let id = id.clone();
            switch_row(ctx, &gettext("Read-Only"), "", move |ctx, on| {
                replace(ctx, &id, |d| d.readonly = on)
            })
        };
        ro.set_active(disk.readonly);
        row.add_row(&ro_row);

        let error = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .margin_top(8)
            .margin_bottom(8)
            .margin_start(12)
            .margin_end(12)
            .css_classes(["error"])
            .build();
        let error_row = gtk::ListBoxRow::builder()
            .activatable(false)
            .child(&error)
            .build();
        row.add_row(&error_row);
        ctx.register_error(&format!("disks:{id}"), &error_row, &error);

        let remove_row = action_row(&gettext("Remove From This Virtual Machine"), "");
        let remove = text_button(&gettext("Re_move…"));
        remove.add_css_class("destructive-action");
        remove.set_accessible_label(&i18n_f("Remove {}", &[&disk.id]));
        let own = is_own_image(&facts.vm_dir, &disk.path);
        let running = facts.running();
        {
            let (ctx, id) = (ctx.clone(), id.clone());
            remove.connect_clicked(move |button| {
                if let Some(window) = window_of(button) {
                    disk_dialogs::remove(&window, &ctx, &id, &image, own, running);
                }
            });
        }
        remove_row.add_suffix(&remove);
        row.add_row(&remove_row);
        row
    }
}

impl Section for Disks {
    fn refresh(&self, facts: &Facts) {
        clear_list(&self.list);
        let disks = &facts.config.disks;
        for disk in disks {
            self.list.append(&self.disk_row(facts, disk));
        }
        self.list.set_visible(!disks.is_empty());
        self.empty.set_visible(disks.is_empty());
        let busy = facts.busy.iter().any(|s| s.starts_with("disks"));
        self.spinner.set_visible(busy);
        self.spinner.set_spinning(busy);
        self.group.set_description(&if facts.running() {
            gettext("Shut the virtual machine down to resize disks or delete their images.")
        } else {
            String::new()
        });
    }
}
