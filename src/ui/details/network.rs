//! Network: one group per network card (mode NAT or bridge, model, MAC, bridge name, NAT port
//! forwards to add and remove), plus adding and removing cards.

use std::cell::RefCell;
use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{NetMode, NetworkConfig, NicModel, Update};
use hangar_core::manager::random_mac;

use super::form::{
    action_row, choice_row, entry_row, icon_button, page as page_body, text_button, Ctx, Group,
};
use super::parse::{format_forward, parse_forward};
use super::{Facts, Page, Section};
use crate::i18n::{gettext, i18n_f};

const MODELS: [NicModel; 3] = [NicModel::Virtio, NicModel::E1000e, NicModel::Rtl8139];

struct Network {
    ctx: Ctx,
    cards: gtk::Box,
    /// The networks the cards show; rebuilt only when they change (keeps typed text).
    shown: RefCell<Option<Vec<NetworkConfig>>>,
    /// Mode and model choices of each card, set again from the config on every refresh.
    choices: RefCell<Vec<(adw::ComboRow, adw::ComboRow)>>,
}

fn mode_index(net: &NetworkConfig) -> u32 {
    u32::from(net.mode == NetMode::Bridge)
}

fn model_index(net: &NetworkConfig) -> u32 {
    MODELS.iter().position(|m| *m == net.model).unwrap_or(0) as u32
}

fn slot(i: usize) -> String {
    format!("network.{i}")
}

/// Saves the networks with card `i` changed by `change`.
fn edit(ctx: &Ctx, i: usize, change: impl FnOnce(&mut NetworkConfig)) {
    let mut nets = ctx.config().networks.clone();
    if let Some(net) = nets.get_mut(i) {
        change(net);
        ctx.apply(&slot(i), Update::SetNetworks(nets));
    }
}

pub(super) fn page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let cards = gtk::Box::new(gtk::Orientation::Vertical, 24);
    body.append(&cards);
    let add = text_button(&gettext("_Add Network Card"));
    add.set_halign(gtk::Align::Start);
    {
        let ctx = ctx.clone();
        add.connect_clicked(move |_| {
            let mut nets = ctx.config().networks.clone();
            nets.push(NetworkConfig {
                mac: Some(random_mac()),
                ..NetworkConfig::default()
            });
            ctx.apply("network.add", Update::SetNetworks(nets));
        });
    }
    let add_group = Group::new("", "");
    add_group.root.remove(&add_group.list);
    add_group.root.append(&add);
    add_group.add_error_below(ctx, "network.add");
    body.append(&add_group.root);
    Page {
        id: "network",
        title: gettext("Network"),
        icon: "network-wired-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Network {
            ctx: ctx.clone(),
            cards,
            shown: RefCell::new(None),
            choices: RefCell::default(),
        }),
    }
}

impl Network {
    fn card(&self, i: usize, net: &NetworkConfig) -> gtk::Box {
        let ctx = &self.ctx;
        let group = Group::new(&i18n_f("Network Card {}", &[&(i + 1).to_string()]), "");
        let remove = icon_button(
            "user-trash-symbolic",
            &i18n_f("Remove Network Card {}", &[&(i + 1).to_string()]),
        );
        {
            let ctx = ctx.clone();
            remove.connect_clicked(move |_| {
                let mut nets = ctx.config().networks.clone();
                if i < nets.len() {
                    nets.remove(i);
                    ctx.apply(&slot(i), Update::SetNetworks(nets));
                }
            });
        }
        group.add_header_suffix(&remove);

        let mode = choice_row(
            ctx,
            &gettext("Connection"),
            "",
            &[
                gettext("NAT (private network with port forwards)"),
                gettext("Bridge (on the host’s network)"),
            ],
            move |ctx, choice| {
                edit(ctx, i, |n| {
                    if choice == 1 {
                        n.mode = NetMode::Bridge;
                        n.bridge.get_or_insert_with(|| "br0".into());
                    } else {
                        n.mode = NetMode::Nat;
                    }
                })
            },
        );
        mode.set_selected(mode_index(net));
        group.add(&mode);
        let model = choice_row(
            ctx,
            &gettext("Model"),
            "",
            &[
                gettext("VirtIO (fastest)"),
                gettext("Intel e1000e"),
                gettext("Realtek RTL8139"),
            ],
            move |ctx, choice| {
                if let Some(m) = MODELS.get(choice) {
                    edit(ctx, i, |n| n.model = *m)
                }
            },
        );
        model.set_selected(model_index(net));
        self.choices.borrow_mut().push((mode.clone(), model.clone()));
        group.add(&model);
        let mac = net
            .mac
            .clone()
            .unwrap_or_else(|| gettext("Chosen by QEMU at each start"));
        group.add(&action_row(&gettext("MAC Address"), &mac));

        if net.mode == NetMode::Bridge {
            let bridge = entry_row(ctx, &gettext("Host Bridge"), move |ctx, text| {
                edit(ctx, i, |n| n.bridge = Some(text.trim().to_owned()))
            });
            bridge.set_text(net.bridge.as_deref().unwrap_or_default());
            group.add(&bridge);
        } else {
            for (f, forward) in net.forwards.iter().enumerate() {
                let row = action_row(
                    &format_forward(forward),
                    &i18n_f(
                        "127.0.0.1:{} on this computer reaches port {} of the guest",
                        &[&forward.host_port.to_string(), &forward.guest_port.to_string()],
                    ),
                );
                let delete = icon_button(
                    "list-remove-symbolic",
                    &i18n_f("Remove Port Forward {}", &[&format_forward(forward)]),
                );
                let ctx = ctx.clone();
                delete.connect_clicked(move |_| {
                    edit(&ctx, i, |n| {
                        if f < n.forwards.len() {
                            n.forwards.remove(f);
                        }
                    })
                });
                row.add_suffix(&delete);
                group.add(&row);
            }
            let add = entry_row(
                ctx,
                &gettext("Add Port Forward (host:guest, such as 2222:22)"),
                move |ctx, text| match parse_forward(&text) {
                    Ok(forward) => edit(ctx, i, |n| n.forwards.push(forward)),
                    Err(e) => {
                        ctx.show_error(&slot(i), &e.message());
                    }
                },
            );
            group.add(&add);
        }
        group.add_error_row(ctx, &slot(i));
        group.root
    }
}

impl Section for Network {
    fn refresh(&self, facts: &Facts) {
        let nets = &facts.config.networks;
        if self.shown.borrow().as_ref() == Some(nets) {
            // Undo choices whose edit was refused.
            for ((mode, model), net) in self.choices.borrow().iter().zip(nets) {
                mode.set_selected(mode_index(net));
                model.set_selected(model_index(net));
            }
            return;
        }
        self.choices.borrow_mut().clear();
        while let Some(child) = self.cards.first_child() {
            self.cards.remove(&child);
        }
        if nets.is_empty() {
            let none = gtk::Label::builder()
                .label(gettext("This virtual machine has no network card."))
                .xalign(0.0)
                .css_classes(["dim-label"])
                .build();
            self.cards.append(&none);
        }
        for (i, net) in nets.iter().enumerate() {
            self.cards.append(&self.card(i, net));
        }
        self.shown.replace(Some(nets.clone()));
    }
}
