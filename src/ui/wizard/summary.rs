//! Step 6: everything chosen, the "customize before install" choice, and what went wrong when
//! creation failed. The header bar's Create button starts the creation.

use super::Input;
use adw::prelude::*;
use hangar_core::config::{FirmwareKind, NetMode};

use super::model::{Check, SourceKind, GIB};
use super::rows::{bytes_text, mib_text};
use super::{Wizard, WizardInput};
use crate::i18n::{gettext, i18n_f, ni18n_f};

pub struct SummaryPage {
    pub root: adw::PreferencesPage,
    name: gtk::Label,
    source: gtk::Label,
    os: gtk::Label,
    memory: gtk::Label,
    cpus: gtk::Label,
    disk: gtk::Label,
    firmware: gtk::Label,
    network: gtk::Label,
    customize: gtk::CheckButton,
    progress: gtk::Box,
    error_group: adw::PreferencesGroup,
    error_summary: gtk::Label,
    error_details: gtk::Label,
}

/// A line of the summary card: a dim title and its value, which is returned.
fn value_line(grid: &gtk::Grid, row: i32, title: &str) -> gtk::Label {
    let title = gtk::Label::builder()
        .label(title)
        .xalign(1.0)
        .valign(gtk::Align::Start)
        .build();
    title.add_css_class("dim-label");
    let value = gtk::Label::builder()
        .xalign(0.0)
        .hexpand(true)
        .wrap(true)
        .wrap_mode(gtk::pango::WrapMode::WordChar)
        .selectable(true)
        .build();
    value.set_can_focus(false);
    grid.attach(&title, 0, row, 1, 1);
    grid.attach(&value, 1, row, 1, 1);
    value
}

impl SummaryPage {
    pub fn new(input: &Input) -> Self {
        let root = adw::PreferencesPage::new();

        let error_group = adw::PreferencesGroup::new();
        let error_box = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let error_summary = gtk::Label::builder()
            .wrap(true)
            .xalign(0.0)
            .selectable(true)
            .build();
        error_summary.add_css_class("heading");
        error_summary.add_css_class("error");
        let error_details = gtk::Label::builder()
            .wrap(true)
            .wrap_mode(gtk::pango::WrapMode::WordChar)
            .xalign(0.0)
            .selectable(true)
            .build();
        error_box.append(&error_summary);
        error_box.append(&error_details);
        error_group.add(&error_box);
        error_group.set_visible(false);
        root.add(&error_group);

        let group = adw::PreferencesGroup::builder()
            .title(gettext("Summary"))
            .description(gettext("The virtual machine is created with these settings."))
            .build();
        let grid = gtk::Grid::builder()
            .row_spacing(6)
            .column_spacing(18)
            .margin_top(12)
            .margin_bottom(12)
            .margin_start(12)
            .margin_end(12)
            .build();
        let name = value_line(&grid, 0, &gettext("Name"));
        let source = value_line(&grid, 1, &gettext("Source"));
        let os = value_line(&grid, 2, &gettext("Operating system"));
        let memory = value_line(&grid, 3, &gettext("Memory"));
        let cpus = value_line(&grid, 4, &gettext("Processors"));
        let disk = value_line(&grid, 5, &gettext("Disk"));
        let firmware = value_line(&grid, 6, &gettext("Firmware"));
        let network = value_line(&grid, 7, &gettext("Network"));
        value_line(&grid, 8, &gettext("Display")).set_label(&gettext("VNC console in Hangar"));
        let card = gtk::Box::new(gtk::Orientation::Vertical, 0);
        card.add_css_class("card");
        card.append(&grid);
        group.add(&card);
        root.add(&group);

        let options = adw::PreferencesGroup::new();
        let customize = gtk::CheckButton::builder().valign(gtk::Align::Center).build();
        let customize_row = adw::ActionRow::builder()
            .title(gettext("Customize configuration before install"))
            .subtitle(gettext(
                "Open the details instead of starting the virtual machine",
            ))
            .activatable_widget(&customize)
            .build();
        customize_row.add_prefix(&customize);
        options.add(&customize_row);
        let progress = gtk::Box::builder()
            .orientation(gtk::Orientation::Horizontal)
            .spacing(12)
            .margin_top(12)
            .halign(gtk::Align::Center)
            .visible(false)
            .build();
        let spinner = gtk::Spinner::builder().spinning(true).build();
        progress.append(&spinner);
        progress.append(&gtk::Label::new(Some(&gettext("Creating the virtual machine…"))));
        options.add(&progress);
        root.add(&options);
        {
            let input = input.clone();
            customize.connect_toggled(move |check| input.emit(WizardInput::Customize(check.is_active())));
        }

        SummaryPage {
            root,
            name,
            source,
            os,
            memory,
            cpus,
            disk,
            firmware,
            network,
            customize,
            progress,
            error_group,
            error_summary,
            error_details,
        }
    }

    pub fn refresh(&self, wizard: &Wizard) {
        let state = &wizard.state;
        set_subtitle(&self.name, &state.name);
        let source = match state.source {
            SourceKind::Iso => i18n_f("Install from {}", &[state.iso_path.trim()]),
            SourceKind::Import => i18n_f("Import {}", &[state.import_path.trim()]),
            SourceKind::Empty => gettext("Empty virtual machine"),
        };
        set_subtitle(&self.source, &source);
        let os = state
            .os
            .as_ref()
            .map_or_else(|| gettext("Generic Linux / Other"), |o| o.name.clone());
        set_subtitle(&self.os, &os);
        set_subtitle(&self.memory, &mib_text(state.memory_mib));
        set_subtitle(
            &self.cpus,
            &ni18n_f(
                "{} processor",
                "{} processors",
                state.cpus,
                &[&state.cpus.to_string()],
            ),
        );
        let disk = match (&state.source, &state.import) {
            (SourceKind::Import, Check::Ready(disk)) => i18n_f(
                "Existing {} image of {}",
                &[&disk.format, &bytes_text(disk.virtual_size)],
            ),
            (SourceKind::Import, _) => gettext("Existing image"),
            _ => i18n_f(
                "New {} disk (qcow2, grows as needed)",
                &[&bytes_text(state.disk_gib.saturating_mul(GIB))],
            ),
        };
        set_subtitle(&self.disk, &disk);
        let fw = state.effective_firmware();
        let mut firmware = match (fw.kind, fw.secure_boot) {
            (FirmwareKind::Bios, _) => gettext("BIOS"),
            (FirmwareKind::Uefi, false) => gettext("UEFI"),
            (FirmwareKind::Uefi, true) => gettext("UEFI with Secure Boot"),
        };
        if fw.tpm {
            firmware = i18n_f("{}, TPM 2.0", &[&firmware]);
        }
        set_subtitle(&self.firmware, &firmware);
        let network = match state.network {
            NetMode::Nat => gettext("NAT"),
            NetMode::Bridge => i18n_f("Bridge {}", &[state.bridge.trim()]),
        };
        set_subtitle(&self.network, &network);

        if self.customize.is_active() != state.customize {
            self.customize.set_active(state.customize);
        }
        self.customize.set_sensitive(!wizard.creating);
        self.progress.set_visible(wizard.creating);

        match wizard.creation_error() {
            Some(err) => {
                self.error_summary.set_label(&err.summary);
                self.error_details.set_label(&err.details);
                self.error_details.set_visible(!err.details.is_empty());
                self.error_group.set_visible(true);
            }
            None => self.error_group.set_visible(false),
        }
    }
}

fn set_subtitle(label: &gtk::Label, text: &str) {
    if label.label() != text {
        label.set_label(text);
    }
}
