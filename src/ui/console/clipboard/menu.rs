//! The Clipboard button of the console toolbar and its popover:
//!
//! ```text
//! MenuButton "Clipboard" (edit-paste icon, badge while a direction is off)
//! └── Popover
//!     ├── status title + explanation (agent state, install hint)
//!     ├── "Host → guest"  [switch]
//!     ├── "Guest → host"  [switch]
//!     └── "Type Clipboard Text"
//! ```

use adw::prelude::*;
use gtk::glib;
use hangar_core::config::ClipboardConfig;
use relm4::Sender;

use super::logic::{Indicator, Status};
use super::ClipInput;
use crate::a11y::AccessibleLabelExt;
use crate::i18n::gettext;
use crate::ui::console::ConsoleInput;

/// The widgets the clipboard bridge changes.
pub struct ClipMenu {
    pub button: gtk::MenuButton,
    badge: gtk::Image,
    title: gtk::Label,
    detail: gtk::Label,
    to_guest: gtk::Switch,
    to_host: gtk::Switch,
    switch_handlers: Vec<(gtk::Switch, glib::SignalHandlerId)>,
    type_button: gtk::Button,
}

fn switch_row(label: &str, description: &str) -> (gtk::Box, gtk::Switch) {
    let row = gtk::Box::builder().spacing(12).build();
    let texts = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .hexpand(true)
        .build();
    // The switch carries this text as its accessible name; the label itself stays out of
    // the accessibility tree so that the name is not there twice.
    texts.append(
        &gtk::Label::builder()
            .label(label)
            .xalign(0.0)
            .accessible_role(gtk::AccessibleRole::None)
            .build(),
    );
    let sub = gtk::Label::builder()
        .label(description)
        .xalign(0.0)
        .wrap(true)
        .max_width_chars(30)
        .build();
    sub.add_css_class("dim-label");
    sub.add_css_class("caption");
    texts.append(&sub);
    row.append(&texts);
    let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
    switch.set_accessible_label(label);
    row.append(&switch);
    (row, switch)
}

impl ClipMenu {
    pub fn new(input: &Sender<ConsoleInput>) -> ClipMenu {
        let title = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .max_width_chars(34)
            .build();
        title.add_css_class("heading");
        let detail = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .max_width_chars(34)
            .selectable(true)
            .visible(false)
            .build();
        detail.add_css_class("dim-label");
        let (to_guest_row, to_guest) = switch_row(
            &gettext("Host → guest"),
            &gettext("Text copied on this computer can be pasted in the virtual machine"),
        );
        let (to_host_row, to_host) = switch_row(
            &gettext("Guest → host"),
            &gettext("Text copied in the virtual machine can be pasted on this computer"),
        );
        let type_button = gtk::Button::builder()
            .label(gettext("Type Clipboard Text"))
            .tooltip_text(gettext(
                "Types the text as key presses, for guests without an agent",
            ))
            .build();
        type_button.set_accessible_label(&gettext("Type Clipboard Text"));

        let body = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .margin_top(6)
            .margin_bottom(6)
            .margin_start(6)
            .margin_end(6)
            .build();
        let status = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(4)
            .build();
        status.append(&title);
        status.append(&detail);
        body.append(&status);
        body.append(&gtk::Separator::new(gtk::Orientation::Horizontal));
        body.append(&to_guest_row);
        body.append(&to_host_row);
        body.append(&gtk::Separator::new(gtk::Orientation::Horizontal));
        body.append(&type_button);
        let popover = gtk::Popover::builder().child(&body).build();

        let icon = gtk::Image::from_icon_name("edit-paste-symbolic");
        let badge = gtk::Image::builder()
            .icon_name("action-unavailable-symbolic")
            .pixel_size(8)
            .halign(gtk::Align::End)
            .valign(gtk::Align::End)
            .visible(false)
            .build();
        let overlay = gtk::Overlay::builder().child(&icon).build();
        overlay.add_overlay(&badge);
        let button = gtk::MenuButton::builder()
            .child(&overlay)
            .popover(&popover)
            .tooltip_text(gettext("Clipboard"))
            .build();
        button.set_accessible_label(&gettext("Clipboard"));

        let tx = input.clone();
        popover.connect_show(move |_| tx.emit(ConsoleInput::Clip(ClipInput::MenuShown)));
        let tx = input.clone();
        let pop = popover.clone();
        type_button.connect_clicked(move |_| {
            pop.popdown();
            tx.emit(ConsoleInput::Clip(ClipInput::TypeClipboard));
        });
        let mut switch_handlers = Vec::new();
        for switch in [&to_guest, &to_host] {
            let (tx, a, b) = (input.clone(), to_guest.clone(), to_host.clone());
            let id = switch.connect_active_notify(move |_| {
                tx.emit(ConsoleInput::Clip(ClipInput::SetPolicy(ClipboardConfig {
                    host_to_guest: a.is_active(),
                    guest_to_host: b.is_active(),
                })))
            });
            switch_handlers.push((switch.clone(), id));
        }
        ClipMenu {
            button,
            badge,
            title,
            detail,
            to_guest,
            to_host,
            switch_handlers,
            type_button,
        }
    }

    pub fn set_status(&self, status: &Status) {
        self.title.set_label(&status.title);
        self.detail
            .set_label(status.detail.as_deref().unwrap_or_default());
        self.detail.set_visible(status.detail.is_some());
    }

    /// Shows the saved policy; `untrusted` VMs share nothing and cannot be switched here.
    pub fn set_policy(&self, policy: ClipboardConfig, untrusted: bool) {
        for (switch, id) in &self.switch_handlers {
            switch.block_signal(id);
        }
        self.to_guest.set_active(policy.host_to_guest && !untrusted);
        self.to_host.set_active(policy.guest_to_host && !untrusted);
        for (switch, id) in &self.switch_handlers {
            switch.unblock_signal(id);
            switch.set_sensitive(!untrusted);
        }
    }

    pub fn set_indicator(&self, indicator: &Indicator) {
        self.badge.set_visible(indicator.badge);
        self.badge.set_accessible_label(&indicator.tooltip);
        self.button.set_tooltip_text(Some(&indicator.tooltip));
    }

    /// Typing needs a running VM and no typing under way.
    pub fn set_can_type(&self, can: bool) {
        self.type_button.set_sensitive(can);
    }
}
