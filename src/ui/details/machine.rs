//! CPU (count, model, accelerator) and Memory pages.

use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{Accel, Update, MAX_MEMORY_MIB};
use hangar_core::storage::format_size;

use super::form::{choice_row, entry_row, page as page_body, set_entry_text, spin_row, Ctx, Group};
use super::parse::parse_meminfo;
use super::{Facts, Page, Section};
use crate::i18n::{gettext, i18n_f};

const ACCELS: [Accel; 3] = [Accel::Auto, Accel::Kvm, Accel::Tcg];

struct Cpu {
    count: gtk::SpinButton,
    model: adw::EntryRow,
    accel: adw::ComboRow,
}

pub(super) fn cpu_page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Processor"), "");
    let host_cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let (row, count) = spin_row(
        ctx,
        &gettext("Virtual Processors"),
        &i18n_f("This computer has {} processors.", &[&host_cpus.to_string()]),
        (0.0, 1024.0, 1.0),
        |ctx, v| ctx.apply("cpu.count", Update::SetCpus(v as u32)),
    );
    group.add(&row);
    group.add_error_row(ctx, "cpu.count");
    let model = entry_row(ctx, &gettext("CPU Model (empty: automatic)"), |ctx, text| {
        let text = text.trim();
        ctx.apply(
            "cpu.model",
            Update::SetCpuModel((!text.is_empty()).then(|| text.to_owned())),
        )
    });
    group.add(&model);
    group.add_error_row(ctx, "cpu.model");
    body.append(&group.root);

    let accel_group = Group::new(
        &gettext("Acceleration"),
        &gettext("Automatic uses KVM when this computer offers it and falls back to emulation, which is much slower."),
    );
    let accel = choice_row(
        ctx,
        &gettext("Accelerator"),
        "",
        &[gettext("Automatic"), gettext("KVM"), gettext("Emulation (TCG)")],
        |ctx, i| {
            if let Some(a) = ACCELS.get(i) {
                ctx.apply("cpu.accel", Update::SetAccel(*a));
            }
        },
    );
    accel_group.add(&accel);
    accel_group.add_error_row(ctx, "cpu.accel");
    body.append(&accel_group.root);

    Page {
        id: "cpu",
        title: gettext("CPU"),
        icon: "power-profile-performance-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Cpu { count, model, accel }),
    }
}

impl Section for Cpu {
    fn refresh(&self, facts: &Facts) {
        let m = &facts.config.machine;
        self.count.set_value(f64::from(m.cpus));
        set_entry_text(&self.model, m.cpu_model.as_deref().unwrap_or_default());
        let index = ACCELS.iter().position(|a| *a == m.accel).unwrap_or(0);
        self.accel.set_selected(index as u32);
    }
}

struct Memory {
    row: adw::ActionRow,
    spin: gtk::SpinButton,
    group: Group,
    host_total: Option<u64>,
}

pub(super) fn memory_page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Guest Memory"), "");
    let (row, spin) = spin_row(
        ctx,
        &gettext("Memory (MiB)"),
        "",
        (0.0, (MAX_MEMORY_MIB * 2) as f64, 256.0),
        |ctx, v| ctx.apply("memory.size", Update::SetMemoryMib(v as u64)),
    );
    group.add(&row);
    group.add_error_row(ctx, "memory.size");
    body.append(&group.root);
    let host_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t));
    Page {
        id: "memory",
        title: gettext("Memory"),
        icon: "media-flash-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Memory {
            row,
            spin,
            group,
            host_total,
        }),
    }
}

impl Section for Memory {
    fn refresh(&self, facts: &Facts) {
        let mib = facts.config.machine.memory_mib;
        self.spin.set_value(mib as f64);
        let bytes = mib.saturating_mul(1024 * 1024);
        let subtitle = match self.host_total {
            Some(total) => i18n_f(
                "{} of the {} this computer has",
                &[&format_size(bytes), &format_size(total)],
            ),
            None => format_size(bytes),
        };
        self.row.set_subtitle(&subtitle);
        let too_much = self.host_total.is_some_and(|t| bytes > t);
        self.group.set_description(&if too_much {
            gettext("This is more memory than the computer has: the virtual machine may not start, or everything may become very slow.")
        } else {
            String::new()
        });
    }
}
