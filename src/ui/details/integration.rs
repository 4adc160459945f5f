//! Clipboard (sharing per direction, untrusted VMs) and Guest Agent & Console (channels) pages.

use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{ChannelsConfig, ClipboardConfig, Update};

use super::form::{page as page_body, switch_row, Ctx, Group};
use super::{Facts, Page, Section};
use crate::i18n::gettext;

fn set_clipboard(ctx: &Ctx, change: impl FnOnce(&mut ClipboardConfig)) {
    let mut cb = ctx.config().clipboard;
    change(&mut cb);
    ctx.apply("clipboard", Update::SetClipboard(cb));
}

struct Clipboard {
    group: Group,
    to_guest: gtk::Switch,
    to_host: gtk::Switch,
    untrusted: gtk::Switch,
}

pub(super) fn clipboard_page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Clipboard Sharing"), "");
    let (row, to_guest) = switch_row(
        ctx,
        &gettext("Host to Guest"),
        &gettext("Text and images copied on this computer can be pasted in the guest."),
        |ctx, on| set_clipboard(ctx, |c| c.host_to_guest = on),
    );
    group.add(&row);
    let (row, to_host) = switch_row(
        ctx,
        &gettext("Guest to Host"),
        &gettext("What the guest copies can be pasted on this computer."),
        |ctx, on| set_clipboard(ctx, |c| c.guest_to_host = on),
    );
    group.add(&row);
    group.add_error_row(ctx, "clipboard");
    body.append(&group.root);

    let trust = Group::new(&gettext("Trust"), "");
    let (row, untrusted) = switch_row(
        ctx,
        &gettext("Untrusted Virtual Machine"),
        &gettext("Share no clipboard in either direction, whatever the switches above say."),
        |ctx, on| ctx.apply("clipboard.untrusted", Update::SetUntrusted(on)),
    );
    trust.add(&row);
    trust.add_error_row(ctx, "clipboard.untrusted");
    body.append(&trust.root);
    Page {
        id: "clipboard",
        title: gettext("Clipboard"),
        icon: "edit-paste-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here apply at once."),
        section: Rc::new(Clipboard {
            group,
            to_guest,
            to_host,
            untrusted,
        }),
    }
}

impl Section for Clipboard {
    fn refresh(&self, facts: &Facts) {
        let c = &facts.config;
        self.to_guest.set_active(c.clipboard.host_to_guest);
        self.to_host.set_active(c.clipboard.guest_to_host);
        self.untrusted.set_active(c.untrusted);
        self.group.list.set_sensitive(!c.untrusted);
        let note = if c.untrusted {
            gettext("This virtual machine is untrusted: nothing is shared.")
        } else {
            gettext("The guest needs spice-vdagent running in its desktop session.")
        };
        self.group.set_description(&note);
    }
}

fn set_channels(ctx: &Ctx, change: impl FnOnce(&mut ChannelsConfig)) {
    let mut ch = ctx.config().channels;
    change(&mut ch);
    ctx.apply("channels", Update::SetChannels(ch));
}

struct Channels {
    agent: gtk::Switch,
    serial: gtk::Switch,
}

pub(super) fn channels_page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Channels"), "");
    let (row, agent) = switch_row(
        ctx,
        &gettext("Guest Agent Channel"),
        &gettext("Lets qemu-guest-agent in the guest report its name and addresses, shut down cleanly and set its clock."),
        |ctx, on| set_channels(ctx, |c| c.guest_agent = on),
    );
    group.add(&row);
    let (row, serial) = switch_row(
        ctx,
        &gettext("Serial Console"),
        &gettext("The guest’s first serial port, kept in serial.log in the virtual machine’s folder."),
        |ctx, on| set_channels(ctx, |c| c.serial = on),
    );
    group.add(&row);
    group.add_error_row(ctx, "channels");
    body.append(&group.root);
    Page {
        id: "channels",
        title: gettext("Guest Agent & Console"),
        icon: "utilities-terminal-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Channels { agent, serial }),
    }
}

impl Section for Channels {
    fn refresh(&self, facts: &Facts) {
        self.agent.set_active(facts.config.channels.guest_agent);
        self.serial.set_active(facts.config.channels.serial);
    }
}
