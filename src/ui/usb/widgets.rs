//! Widgets shared by the USB panel and the console's USB menu: the permission fix (what is
//! wrong, the udev rule with a copy button) and the question before attaching the host's only
//! keyboard.

use adw::prelude::*;
use hangar_core::usb::{AccessProblem, UsbDevice};

use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

/// What is wrong with the device node and how to fix it, in one sentence.
pub fn permission_text(problem: &AccessProblem) -> String {
    i18n_f(
        "{} belongs to {}:{} with mode {}. To allow this device, add the rule below to {}, then run: {}",
        &[
            &problem.node.display().to_string(),
            &problem.owner,
            &problem.group,
            &problem.mode,
            &problem.fix.rules_file.display().to_string(),
            &problem.fix.reload,
        ],
    )
}

/// The permission problem and its udev rule with a Copy button; `on_copied` runs after a copy.
pub fn fix_box(problem: &AccessProblem, on_copied: impl Fn() + 'static) -> gtk::Box {
    let root = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(6)
        .margin_top(8)
        .margin_bottom(8)
        .margin_start(12)
        .margin_end(6)
        .build();
    let head = gtk::Box::builder().spacing(8).build();
    let icon = gtk::Image::from_icon_name("dialog-warning-symbolic");
    icon.add_css_class("warning");
    icon.set_valign(gtk::Align::Start);
    head.append(&icon);
    let explain = gtk::Label::builder()
        .label(permission_text(problem))
        .wrap(true)
        .wrap_mode(gtk::pango::WrapMode::WordChar)
        .xalign(0.0)
        .hexpand(true)
        .max_width_chars(50)
        .selectable(true)
        .build();
    head.append(&explain);
    root.append(&head);

    let line = gtk::Box::builder().spacing(6).build();
    let rule = gtk::Label::builder()
        .label(&problem.fix.udev_rule)
        .selectable(true)
        .wrap(true)
        .wrap_mode(gtk::pango::WrapMode::Char)
        .xalign(0.0)
        .hexpand(true)
        .max_width_chars(50)
        .css_classes(["monospace"])
        .build();
    rule.set_accessible_label(&gettext("udev Rule"));
    line.append(&rule);
    let copy = gtk::Button::builder()
        .icon_name("edit-copy-symbolic")
        .tooltip_text(gettext("Copy the udev Rule"))
        .valign(gtk::Align::Center)
        .css_classes(["flat"])
        .build();
    copy.set_accessible_label(&gettext("Copy the udev Rule"));
    let text = problem.fix.udev_rule.clone();
    copy.connect_clicked(move |b| {
        b.clipboard().set_text(&text);
        on_copied();
    });
    line.append(&copy);
    root.append(&line);
    root
}

/// Asks before attaching `dev`, the last keyboard this computer has, to `vm`; runs `on_yes`
/// when the person agrees. Without a window to attach the dialog to, nothing is attached.
pub fn confirm_attach(
    anchor: &impl IsA<gtk::Widget>,
    dev: &UsbDevice,
    vm: &str,
    on_yes: impl Fn() + 'static,
) {
    let Some(window) = anchor.root().and_then(|r| r.downcast::<gtk::Window>().ok()) else {
        tracing::warn!("no window to ask in; the keyboard is not attached");
        return;
    };
    let dialog = adw::MessageDialog::new(
        Some(&window),
        Some(&gettext("Attach This Computer’s Only Keyboard?")),
        Some(&i18n_f(
            "While {} has {}, this computer has no keyboard. Detach it again with the mouse, from the USB menu.",
            &[vm, &dev.name()],
        )),
    );
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response("attach", &gettext("_Attach Keyboard"));
    dialog.set_response_appearance("attach", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    dialog.connect_response(None, move |_, response| {
        tracing::info!(response, "keyboard question answered");
        if response == "attach" {
            on_yes();
        }
    });
    dialog.present();
}
