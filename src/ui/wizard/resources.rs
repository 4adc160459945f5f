//! Step 3: memory, processors and disk size, recommended for the system and capped by the host,
//! with the host's totals beside each field and the recommendation's notes below.

use super::Input;
use adw::prelude::*;
use hangar_core::config::{MAX_CPUS, MAX_MEMORY_MIB};

use super::model::{Check, SourceKind, GIB, MAX_DISK_GIB};
use super::rows::{bytes_text, mib_text, set_spin, spin_row, Note, NoteList};
use super::{Wizard, WizardInput};
use crate::i18n::{gettext, i18n_f, ni18n_f};

/// Smallest memory the field offers, in MiB.
const MIN_FIELD_MEMORY_MIB: u64 = 64;

pub struct ResourcesPage {
    pub root: adw::PreferencesPage,
    group: adw::PreferencesGroup,
    memory_row: adw::ActionRow,
    memory: gtk::SpinButton,
    cpus_row: adw::ActionRow,
    cpus: gtk::SpinButton,
    disk_row: adw::ActionRow,
    disk: gtk::SpinButton,
    import_row: adw::ActionRow,
    reset: gtk::Button,
    notes: NoteList,
}

impl ResourcesPage {
    pub fn new(input: &Input) -> Self {
        let root = adw::PreferencesPage::new();
        let group = adw::PreferencesGroup::builder()
            .title(gettext("Memory, Processors and Disk"))
            .build();
        let (memory_row, memory) = spin_row(&gettext("Memory"), &gettext("MiB"), 128.0, 1024.0);
        let (cpus_row, cpus) = spin_row(&gettext("Processors"), "", 1.0, 2.0);
        let (disk_row, disk) = spin_row(&gettext("Disk size"), &gettext("GiB"), 1.0, 10.0);
        let import_row = adw::ActionRow::builder()
            .title(gettext("Disk"))
            .use_markup(false)
            .build();
        group.add(&memory_row);
        group.add(&cpus_row);
        group.add(&disk_row);
        group.add(&import_row);
        let reset = gtk::Button::with_mnemonic(&gettext("_Use Recommended Values"));
        reset.add_css_class("flat");
        reset.set_valign(gtk::Align::Center);
        group.set_header_suffix(Some(&reset));
        let notes = NoteList::new();
        group.add(&notes.root);
        root.add(&group);

        {
            let input = input.clone();
            memory.connect_value_changed(move |spin| input.emit(WizardInput::Memory(spin_u64(spin))));
        }
        {
            let input = input.clone();
            cpus.connect_value_changed(move |spin| {
                input.emit(WizardInput::Cpus(
                    u32::try_from(spin_u64(spin)).unwrap_or(u32::MAX),
                ))
            });
        }
        {
            let input = input.clone();
            disk.connect_value_changed(move |spin| input.emit(WizardInput::DiskGib(spin_u64(spin))));
        }
        {
            let input = input.clone();
            reset.connect_clicked(move |_| input.emit(WizardInput::RecommendedResources));
        }

        ResourcesPage {
            root,
            group,
            memory_row,
            memory,
            cpus_row,
            cpus,
            disk_row,
            disk,
            import_row,
            reset,
            notes,
        }
    }

    pub fn refresh(&self, wizard: &Wizard) {
        let state = &wizard.state;
        let limits = state.limits;
        let os_name = state
            .os
            .as_ref()
            .map_or_else(|| gettext("a generic Linux system"), |o| o.name.clone());
        self.group.set_description(Some(&i18n_f(
            "Recommended for {}, within what this computer has.",
            &[&os_name],
        )));

        let max_memory = if limits.memory_mib > 0 {
            limits.memory_mib
        } else {
            MAX_MEMORY_MIB
        };
        set_spin(
            &self.memory,
            MIN_FIELD_MEMORY_MIB as f64,
            max_memory.max(state.memory_mib) as f64,
            state.memory_mib as f64,
        );
        self.memory_row.set_subtitle(&if limits.memory_mib > 0 {
            i18n_f(
                "{} recommended, of {} on this computer",
                &[
                    &mib_text(state.recommendation.memory_mib),
                    &mib_text(limits.memory_mib),
                ],
            )
        } else {
            i18n_f("{} recommended", &[&mib_text(state.recommendation.memory_mib)])
        });

        let max_cpus = if limits.cpus > 0 {
            u64::from(limits.cpus)
        } else {
            MAX_CPUS
        };
        set_spin(
            &self.cpus,
            1.0,
            max_cpus.max(u64::from(state.cpus)) as f64,
            f64::from(state.cpus),
        );
        self.cpus_row.set_subtitle(&if limits.cpus > 0 {
            ni18n_f(
                "of {} core on this computer",
                "of {} cores on this computer",
                limits.cpus,
                &[&limits.cpus.to_string()],
            )
        } else {
            String::new()
        });

        let new_disk = state.source != SourceKind::Import;
        self.disk_row.set_visible(new_disk);
        self.import_row.set_visible(!new_disk);
        set_spin(&self.disk, 1.0, MAX_DISK_GIB as f64, state.disk_gib as f64);
        self.disk_row.set_subtitle(&match limits.free_disk_bytes {
            Some(free) => i18n_f(
                "{} free where it is stored; the image grows as the system writes",
                &[&bytes_text(free)],
            ),
            None => gettext("The image grows as the system writes"),
        });
        if let Check::Ready(disk) = &state.import {
            self.import_row.set_subtitle(&i18n_f(
                "The imported {} image ({}) is used as it is",
                &[&disk.format, &bytes_text(disk.virtual_size)],
            ));
        }

        let recommended = (
            state.recommendation.memory_mib,
            state.recommendation.cpus,
            state.recommendation.disk_bytes.div_ceil(GIB).max(1),
        );
        let current = (state.memory_mib, state.cpus, state.disk_gib);
        self.reset.set_sensitive(recommended != current);

        let mut notes: Vec<Note> = state
            .recommendation
            .notes
            .iter()
            .map(|n| Note::info(n.clone()))
            .collect();
        if let Some(free) = limits.free_disk_bytes {
            if new_disk && state.disk_gib.saturating_mul(GIB) > free {
                notes.push(Note::warning(i18n_f(
                    "The disk may grow larger than the {} free: the system inside will fail to write once the space runs out.",
                    &[&bytes_text(free)],
                )));
            }
        }
        if limits.memory_mib > 0 && state.memory_mib > limits.memory_mib.saturating_sub(1024) {
            notes.push(Note::warning(gettext(
                "This leaves less than 1 GiB of memory for the computer itself; it may become slow or stop programs.",
            )));
        }
        self.notes.set(notes);
    }

    pub fn focus(&self) -> bool {
        self.memory.grab_focus()
    }
}

fn spin_u64(spin: &gtk::SpinButton) -> u64 {
    let value = spin.value().round();
    if value.is_finite() && value > 0.0 {
        value as u64
    } else {
        0
    }
}
