//! Overview: name (renamed while stopped), description, operating system, state and folder, and
//! what the guest agent reports (host name, OS, addresses) while the VM runs.

use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::Update;
use hangar_core::manager::VmState;

use super::form::{action_row, entry_row, page as page_body, set_entry_text, Ctx, Group};
use super::{Facts, Page, Section};
use crate::i18n::gettext;

struct Overview {
    general: Group,
    name: adw::EntryRow,
    description: adw::EntryRow,
    os: adw::EntryRow,
    state: adw::ActionRow,
    folder: adw::ActionRow,
    guest: Group,
    hostname: adw::ActionRow,
    guest_os: adw::ActionRow,
    kernel: adw::ActionRow,
    addresses: adw::ActionRow,
}

/// The state in words.
pub(super) fn state_label(state: VmState) -> String {
    match state {
        VmState::Stopped => gettext("Shut down"),
        VmState::Starting => gettext("Starting"),
        VmState::Running => gettext("Running"),
        VmState::Paused => gettext("Paused"),
        VmState::ShuttingDown => gettext("Shutting down"),
        VmState::Other => gettext("Not running normally"),
    }
}

pub(super) fn page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let general = Group::new(&gettext("General"), "");
    let name = entry_row(ctx, &gettext("Name"), |ctx, text| {
        ctx.apply("overview.name", Update::Rename(text))
    });
    general.add(&name);
    general.add_error_row(ctx, "overview.name");
    let description = entry_row(ctx, &gettext("Description"), |ctx, text| {
        ctx.apply("overview.description", Update::SetDescription(text))
    });
    general.add(&description);
    general.add_error_row(ctx, "overview.description");
    let os = entry_row(
        ctx,
        &gettext("Operating System (osinfo id, such as debian12)"),
        |ctx, text| {
            let text = text.trim();
            let os = (!text.is_empty()).then(|| text.to_owned());
            ctx.apply("overview.os", Update::SetOs(os))
        },
    );
    general.add(&os);
    general.add_error_row(ctx, "overview.os");
    let state = action_row(&gettext("State"), "");
    let folder = action_row(&gettext("Folder"), "");
    general.add(&state);
    general.add(&folder);
    body.append(&general.root);

    let guest = Group::new(&gettext("Guest"), "");
    let hostname = action_row(&gettext("Host Name"), "");
    let guest_os = action_row(&gettext("Operating System"), "");
    let kernel = action_row(&gettext("Kernel"), "");
    let addresses = action_row(&gettext("IP Addresses"), "");
    for row in [&hostname, &guest_os, &kernel, &addresses] {
        guest.add(row);
    }
    body.append(&guest.root);

    let section = Overview {
        general,
        name,
        description,
        os,
        state,
        folder,
        guest,
        hostname,
        guest_os,
        kernel,
        addresses,
    };
    Page {
        id: "overview",
        title: gettext("Overview"),
        icon: "computer-symbolic",
        widget: widget.upcast(),
        note: gettext("The description and operating system are saved at once. Shut the virtual machine down to rename it."),
        section: Rc::new(section),
    }
}

fn show(row: &adw::ActionRow, value: Option<&str>) {
    row.set_subtitle(value.unwrap_or_default());
    row.set_visible(value.is_some_and(|v| !v.is_empty()));
}

impl Section for Overview {
    fn refresh(&self, facts: &Facts) {
        let c = &facts.config;
        set_entry_text(&self.name, &c.name);
        self.name.set_sensitive(!facts.running());
        self.general.set_description(&if facts.running() {
            gettext("The name can be changed while the virtual machine is shut down.")
        } else {
            String::new()
        });
        set_entry_text(&self.description, &c.description);
        set_entry_text(&self.os, c.os.as_deref().unwrap_or_default());
        self.state.set_subtitle(&state_label(facts.state));
        self.folder.set_subtitle(&facts.vm_dir.display().to_string());

        self.guest.root.set_visible(facts.running());
        match &facts.guest {
            Some(info) => {
                self.guest.set_description("");
                show(&self.hostname, info.hostname.as_deref());
                show(&self.guest_os, info.os_pretty_name.as_deref());
                show(&self.kernel, info.kernel.as_deref());
                let addresses: Vec<String> = info
                    .ip_addresses
                    .iter()
                    .map(|(iface, addr, prefix)| format!("{addr}/{prefix} ({iface})"))
                    .collect();
                show(&self.addresses, Some(&addresses.join("\n")));
                self.guest.list.set_visible(true);
            }
            None => {
                self.guest.set_description(&if c.channels.guest_agent {
                    gettext("The guest agent does not answer. Install qemu-guest-agent in the guest to see its name and addresses here.")
                } else {
                    gettext("The guest agent channel is off (see Guest Agent & Console).")
                });
                self.guest.list.set_visible(false);
            }
        }
    }
}
