//! USB: the controller and tablet, and passthrough of host devices: a switch per device to
//! attach or detach it on the running VM, "attach automatically" rules, and the udev rule to
//! copy when this user may not open a device. A computer without USB says so plainly.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{DisplayKind, Update, UsbConfig, UsbRule};
use hangar_core::usb::{rule_for, rule_matches, RuleBy};

use super::form::{action_row, clear_list, icon_button, page as page_body, spin_row, switch_row, Ctx, Group};
use super::jobs::{HostUsb, Job};
use super::{DetailsInput, Facts, Page, Section};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};
use crate::ui::usb::{confirm_attach, fix_box, passthrough_title, redirect_title};

const DEVICES_SLOT: &str = "usb.devices";

struct Usb {
    ctx: Ctx,
    controller: gtk::Switch,
    tablet: gtk::Switch,
    redirect_row: adw::ActionRow,
    redirect: gtk::SpinButton,
    devices: Group,
    redirection: Group,
    device_list: gtk::ListBox,
    spinner: gtk::Spinner,
    rules: gtk::ListBox,
    no_rules: gtk::Label,
    expanded: Rc<RefCell<HashSet<String>>>,
}

fn set_usb(ctx: &Ctx, change: impl FnOnce(&mut UsbConfig)) {
    let mut usb = ctx.config().usb.clone();
    change(&mut usb);
    ctx.apply("usb.controller", Update::SetUsb(usb));
}

fn rule_text(rule: &UsbRule) -> String {
    if rule.device.is_empty() {
        i18n_f("Any device in port {}", &[&rule.port])
    } else {
        i18n_f("Device {}", &[&rule.device])
    }
}

pub(super) fn page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("USB Controller"), "");
    let (row, controller) = switch_row(
        ctx,
        &gettext("USB Controller"),
        &gettext("A USB 3 (xHCI) controller; needed for the tablet and for passing devices through."),
        |ctx, on| {
            set_usb(ctx, |u| {
                u.controller = on;
                u.tablet &= on;
            })
        },
    );
    group.add(&row);
    let (row, tablet) = switch_row(
        ctx,
        &gettext("Tablet Pointer"),
        &gettext("The guest’s pointer follows the mouse without grabbing it."),
        |ctx, on| set_usb(ctx, |u| u.tablet = on),
    );
    group.add(&row);
    let (redirect_row, redirect) = spin_row(
        ctx,
        &gettext("SPICE USB Redirection Channels"),
        &gettext("How many devices a SPICE client can redirect at once."),
        (0.0, 16.0, 1.0),
        |ctx, v| set_usb(ctx, |u| u.redirect_channels = v.clamp(0.0, 255.0) as u8),
    );
    group.add(&redirect_row);
    group.add_error_row(ctx, "usb.controller");
    body.append(&group.root);

    let devices = Group::new(&passthrough_title(), "");
    let spinner = gtk::Spinner::builder()
        .valign(gtk::Align::Center)
        .visible(false)
        .build();
    spinner.set_accessible_label(&gettext("Attaching or detaching"));
    devices.add_header_suffix(&spinner);
    let refresh = icon_button("view-refresh-symbolic", &gettext("Refresh USB Devices"));
    {
        let ctx = ctx.clone();
        refresh.connect_clicked(move |_| ctx.send(DetailsInput::RefreshUsb));
    }
    devices.add_header_suffix(&refresh);
    devices.root.remove(&devices.list);
    let device_list = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .css_classes(["boxed-list"])
        .build();
    device_list.set_accessible_label(&gettext("Host USB Devices"));
    devices.root.append(&device_list);
    devices.add_error_below(ctx, DEVICES_SLOT);
    body.append(&devices.root);

    let redirection = Group::new(&redirect_title(), "");
    redirection.root.remove(&redirection.list);
    body.append(&redirection.root);

    let rules_group = Group::new(
        &gettext("Attach Automatically"),
        &gettext("These devices are attached whenever the virtual machine starts or they are plugged in."),
    );
    rules_group.root.remove(&rules_group.list);
    let no_rules = gtk::Label::builder()
        .label(gettext("No device is attached automatically."))
        .xalign(0.0)
        .css_classes(["dim-label"])
        .build();
    let rules = gtk::ListBox::builder()
        .selection_mode(gtk::SelectionMode::None)
        .css_classes(["boxed-list"])
        .build();
    rules.set_accessible_label(&gettext("Attach Automatically"));
    rules_group.root.append(&no_rules);
    rules_group.root.append(&rules);
    rules_group.add_error_below(ctx, "usb.rules");
    body.append(&rules_group.root);

    Page {
        id: "usb",
        title: gettext("USB"),
        icon: "media-removable-symbolic",
        widget: widget.upcast(),
        note: gettext("Devices are attached and detached at once, and rules are saved at once. Controller changes take effect at the next start."),
        section: Rc::new(Usb {
            ctx: ctx.clone(),
            controller,
            tablet,
            redirect_row,
            redirect,
            devices,
            redirection,
            device_list,
            spinner,
            rules,
            no_rules,
            expanded: Rc::default(),
        }),
    }
}

impl Usb {
    fn device_row(&self, facts: &Facts, host: &HostUsb) -> adw::ExpanderRow {
        let ctx = &self.ctx;
        let dev = &host.device;
        let u = &facts.usb;
        let attached = u.attached_here(dev);
        let mut subtitle = u.subtitle(host);
        if host.denied.is_some() {
            subtitle = i18n_f("{} (expand for the fix)", &[&subtitle]);
        }
        let row = adw::ExpanderRow::builder()
            .title(dev.name())
            .subtitle(subtitle)
            .build();
        row.set_accessible_label(&dev.name());
        let key = dev.sysname.clone();
        row.set_expanded(self.expanded.borrow().contains(&key));
        {
            let expanded = self.expanded.clone();
            row.connect_expanded_notify(move |r| {
                if r.is_expanded() {
                    expanded.borrow_mut().insert(key.clone());
                } else {
                    expanded.borrow_mut().remove(&key);
                }
            });
        }
        let switch = gtk::Switch::builder()
            .valign(gtk::Align::Center)
            .active(attached.is_some())
            .build();
        switch.set_accessible_label(&i18n_f("Attach {}", &[&dev.name()]));
        let usable = host.denied.is_none() && host.unusable.is_none() && u.attached_elsewhere(dev).is_none();
        let busy = facts.busy.contains(DEVICES_SLOT);
        switch.set_sensitive(facts.running() && usable && !busy && facts.config.usb.controller);
        {
            let ctx = ctx.clone();
            let device = dev.clone();
            let attached_id = attached.map(|a| a.id.clone());
            let ask = u.needs_confirmation(dev);
            switch.connect_active_notify(move |s| match (s.is_active(), &attached_id) {
                (true, None) if ask => {
                    s.set_active(false);
                    let (ctx, device2) = (ctx.clone(), device.clone());
                    let vm = ctx.config().name.clone();
                    confirm_attach(s, &device, &vm, move || {
                        ctx.run(DEVICES_SLOT, Job::UsbAttach(Box::new(device2.clone())))
                    });
                }
                (true, None) => ctx.run(DEVICES_SLOT, Job::UsbAttach(Box::new(device.clone()))),
                (false, Some(id)) => ctx.run(DEVICES_SLOT, Job::UsbDetach(id.clone())),
                _ => {}
            });
        }
        row.add_action(&switch);

        if let Some(rule) = rule_for(dev, RuleBy::Id) {
            let on = facts.config.usb.rules.iter().any(|r| rule_matches(r, dev));
            let (auto_row, auto) = switch_row(
                ctx,
                &gettext("Attach Automatically"),
                &gettext("At every start, and whenever this model of device is plugged in."),
                move |ctx, on| {
                    let update = if on {
                        Update::AddUsbRule(rule.clone())
                    } else {
                        Update::RemoveUsbRule(rule.clone())
                    };
                    ctx.apply("usb.rules", update);
                },
            );
            auto.set_active(on);
            row.add_row(&auto_row);
        }
        if let Some(problem) = &host.denied {
            let ctx = ctx.clone();
            let fix = fix_box(problem, move || ctx.send(DetailsInput::Copied));
            row.add_row(&gtk::ListBoxRow::builder().activatable(false).child(&fix).build());
        }
        if let Some(reason) = &host.unusable {
            row.add_row(&action_row(&gettext("Cannot Be Used"), reason));
        }
        row
    }

    fn fill_rules(&self, rules: &[UsbRule]) {
        clear_list(&self.rules);
        for rule in rules {
            let row = action_row(&rule_text(rule), "");
            let remove = icon_button(
                "list-remove-symbolic",
                &i18n_f("Remove Rule {}", &[&rule_text(rule)]),
            );
            let (ctx, rule) = (self.ctx.clone(), rule.clone());
            remove.connect_clicked(move |_| ctx.apply("usb.rules", Update::RemoveUsbRule(rule.clone())));
            row.add_suffix(&remove);
            self.rules.append(&row);
        }
        self.rules.set_visible(!rules.is_empty());
        self.no_rules.set_visible(rules.is_empty());
    }
}

impl Section for Usb {
    fn refresh(&self, facts: &Facts) {
        let usb = &facts.config.usb;
        self.controller.set_active(usb.controller);
        self.tablet.set_active(usb.tablet);
        self.redirect.set_value(f64::from(usb.redirect_channels));
        self.redirect_row
            .set_visible(facts.config.display.kind == DisplayKind::Spice);

        clear_list(&self.device_list);
        let u = &facts.usb;
        let note = if let Some(note) = u.empty_note() {
            note
        } else if !usb.controller {
            gettext("Turn on the USB controller to pass devices through.")
        } else if !facts.running() {
            gettext("Start the virtual machine to attach devices.")
        } else {
            gettext(
                "The device itself is handed to the virtual machine; this computer cannot use it meanwhile.",
            )
        };
        self.devices.set_description(&note);
        for host in &u.devices {
            self.device_list.append(&self.device_row(facts, host));
        }
        self.device_list.set_visible(!u.devices.is_empty());
        let busy = facts.busy.contains(DEVICES_SLOT);
        self.spinner.set_visible(busy);
        self.spinner.set_spinning(busy);
        self.fill_rules(&usb.rules);
        let redirect = if facts.config.display.kind != DisplayKind::Spice {
            gettext("Needs a SPICE display: devices of the computer showing the console are then sent over the display connection.")
        } else if usb.redirect_channels == 0 || !usb.controller {
            gettext("Turn on the USB controller and give the VM redirection channels to redirect devices over SPICE.")
        } else {
            i18n_f("Devices of the computer showing the console are sent over the SPICE connection: choose them in the console’s USB menu ({} at once).", &[&usb.redirect_channels.to_string()])
        };
        self.redirection.set_description(&redirect);
    }
}
