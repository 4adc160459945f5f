//! Boot: the boot order (devices switched on or off and moved up or down), the boot menu, and
//! firmware (BIOS, UEFI, UEFI with Secure Boot) with the TPM.

use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{BootConfig, BootDevice, FirmwareConfig, FirmwareKind, Update};

use super::form::{action_row, choice_row, icon_button, page as page_body, switch_row, Ctx, Group};
use super::parse::{boot_rows, move_boot_device, toggle_boot_device};
use super::{Facts, Page, Section};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

struct Boot {
    ctx: Ctx,
    order: gtk::ListBox,
    menu: gtk::Switch,
    firmware_group: Group,
    firmware: adw::ComboRow,
    tpm_row: adw::ActionRow,
    tpm: gtk::Switch,
}

fn device_name(d: BootDevice) -> String {
    match d {
        BootDevice::Disk => gettext("Hard Disk"),
        BootDevice::Cdrom => gettext("CD-ROM"),
        BootDevice::Network => gettext("Network (PXE)"),
    }
}

fn set_order(ctx: &Ctx, order: Vec<BootDevice>) {
    let boot = BootConfig {
        order,
        menu: ctx.config().boot.menu,
    };
    ctx.apply("boot.order", Update::SetBoot(boot));
}

fn set_firmware(ctx: &Ctx, change: impl FnOnce(&mut FirmwareConfig)) {
    let mut fw = ctx.config().firmware;
    change(&mut fw);
    ctx.apply("boot.firmware", Update::SetFirmware(fw));
}

pub(super) fn page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(
        &gettext("Boot Order"),
        &gettext("The virtual machine tries the checked devices from top to bottom."),
    );
    let order = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .css_classes(["boxed-list"])
        .build();
    order.set_accessible_label(&gettext("Boot Order"));
    group.root.append(&order);
    group.add_error_below(ctx, "boot.order");
    let (menu_row, menu) = switch_row(
        ctx,
        &gettext("Boot Menu"),
        &gettext("Let the firmware offer a menu of boot devices at start."),
        |ctx, on| {
            let boot = BootConfig {
                order: ctx.config().boot.order.clone(),
                menu: on,
            };
            ctx.apply("boot.menu", Update::SetBoot(boot));
        },
    );
    group.add(&menu_row);
    group.add_error_row(ctx, "boot.menu");
    body.append(&group.root);

    let firmware_group = Group::new(&gettext("Firmware"), "");
    let firmware = choice_row(
        ctx,
        &gettext("Firmware"),
        "",
        &[gettext("BIOS"), gettext("UEFI"), gettext("UEFI with Secure Boot")],
        |ctx, i| {
            set_firmware(ctx, |fw| {
                fw.kind = if i == 0 {
                    FirmwareKind::Bios
                } else {
                    FirmwareKind::Uefi
                };
                fw.secure_boot = i == 2;
            })
        },
    );
    firmware_group.add(&firmware);
    let (tpm_row, tpm) = switch_row(ctx, &gettext("TPM 2.0"), "", |ctx, on| {
        set_firmware(ctx, |fw| fw.tpm = on)
    });
    firmware_group.add(&tpm_row);
    firmware_group.add_error_row(ctx, "boot.firmware");
    body.append(&firmware_group.root);

    Page {
        id: "boot",
        title: gettext("Boot"),
        icon: "system-reboot-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Boot {
            ctx: ctx.clone(),
            order,
            menu,
            firmware_group,
            firmware,
            tpm_row,
            tpm,
        }),
    }
}

impl Boot {
    fn fill_order(&self, order: &[BootDevice]) {
        super::form::clear_list(&self.order);
        let rows = boot_rows(order);
        let last = order.len().saturating_sub(1);
        for (i, (device, on)) in rows.into_iter().enumerate() {
            let name = device_name(device);
            let row = action_row(&name, "");
            let check = gtk::CheckButton::builder()
                .active(on)
                .valign(gtk::Align::Center)
                .build();
            check.set_accessible_label(&i18n_f("Boot from {}", &[&name]));
            row.add_prefix(&check);
            row.set_activatable_widget(Some(&check));
            let ctx = self.ctx.clone();
            check.connect_toggled(move |c| {
                let order = toggle_boot_device(&ctx.config().boot.order, device, c.is_active());
                set_order(&ctx, order);
            });
            let up = icon_button("go-up-symbolic", &i18n_f("Move {} Up", &[&name]));
            up.set_sensitive(on && i > 0);
            let down = icon_button("go-down-symbolic", &i18n_f("Move {} Down", &[&name]));
            down.set_sensitive(on && i < last);
            for (button, delta) in [(&up, -1), (&down, 1)] {
                let ctx = self.ctx.clone();
                button.connect_clicked(move |_| {
                    let order = move_boot_device(&ctx.config().boot.order, device, delta);
                    set_order(&ctx, order);
                });
                row.add_suffix(button);
            }
            self.order.append(&row);
        }
    }
}

impl Section for Boot {
    fn refresh(&self, facts: &Facts) {
        let c = &facts.config;
        self.fill_order(&c.boot.order);
        self.menu.set_active(c.boot.menu);
        let index = match (c.firmware.kind, c.firmware.secure_boot) {
            (FirmwareKind::Bios, _) => 0,
            (FirmwareKind::Uefi, false) => 1,
            (FirmwareKind::Uefi, true) => 2,
        };
        self.firmware.set_selected(index);
        self.tpm.set_active(c.firmware.tpm);

        let host = facts.manager.host();
        let mut notes = vec![];
        match &host.ovmf {
            None => notes.push(gettext(
                "UEFI firmware (OVMF) is not installed on this computer: install the ovmf package to use UEFI.",
            )),
            Some(ovmf) if ovmf.code_for(true).is_none() || ovmf.vars_template_for(true).is_none() => {
                notes.push(gettext(
                    "The Secure Boot build of OVMF is not installed: Secure Boot is not available.",
                ))
            }
            Some(_) => {}
        }
        self.firmware_group.set_description(&notes.join("\n"));
        self.tpm_row.set_subtitle(&if host.swtpm.is_some() {
            gettext(
                "An emulated TPM, as Windows 11 requires; its state is kept in the virtual machine’s folder.",
            )
        } else {
            gettext("swtpm is not installed on this computer: install the swtpm package to use a TPM.")
        });
    }
}
