//! Small widget helpers shared by the wizard's pages.

use adw::prelude::*;
use gtk::glib;

use crate::a11y::AccessibleLabelExt;
use crate::i18n::i18n_f;

/// A line of explanation under a group: plain, or a warning with an icon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub warning: bool,
}

impl Note {
    pub fn info(text: impl Into<String>) -> Self {
        Note {
            text: text.into(),
            warning: false,
        }
    }

    pub fn warning(text: impl Into<String>) -> Self {
        Note {
            text: text.into(),
            warning: true,
        }
    }
}

/// A vertical box of [`Note`]s; [`NoteList::set`] replaces them only when they changed.
pub struct NoteList {
    pub root: gtk::Box,
    shown: std::cell::RefCell<Vec<Note>>,
}

impl NoteList {
    pub fn new() -> Self {
        let root = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(6)
            .margin_top(12)
            .visible(false)
            .build();
        NoteList {
            root,
            shown: Default::default(),
        }
    }

    pub fn set(&self, notes: Vec<Note>) {
        if *self.shown.borrow() == notes {
            return;
        }
        while let Some(child) = self.root.first_child() {
            self.root.remove(&child);
        }
        for note in &notes {
            let line = gtk::Box::new(gtk::Orientation::Horizontal, 8);
            let icon = gtk::Image::from_icon_name(if note.warning {
                "dialog-warning-symbolic"
            } else {
                "dialog-information-symbolic"
            });
            icon.set_valign(gtk::Align::Start);
            if note.warning {
                icon.add_css_class("warning");
            } else {
                icon.add_css_class("dim-label");
            }
            let label = gtk::Label::builder()
                .label(&note.text)
                .wrap(true)
                .wrap_mode(gtk::pango::WrapMode::WordChar)
                .xalign(0.0)
                .hexpand(true)
                .selectable(true)
                .build();
            label.set_can_focus(false);
            if note.warning {
                label.add_css_class("warning");
            }
            line.append(&icon);
            line.append(&label);
            self.root.append(&line);
        }
        self.root.set_visible(!notes.is_empty());
        *self.shown.borrow_mut() = notes;
    }
}

/// A row with a number field and its unit: `(row, spin button)`.
pub fn spin_row(title: &str, unit: &str, step: f64, page: f64) -> (adw::ActionRow, gtk::SpinButton) {
    let adjustment = gtk::Adjustment::new(1.0, 1.0, 1.0, step, page, 0.0);
    let spin = gtk::SpinButton::builder()
        .adjustment(&adjustment)
        .digits(0)
        .numeric(true)
        .valign(gtk::Align::Center)
        .width_chars(7)
        .build();
    // GTK 4.8 has no `activates-default` on spin buttons; their text field has it, so Enter
    // commits the number and then presses Next.
    if let Some(text) = spin.delegate().and_downcast::<gtk::Text>() {
        text.set_activates_default(true);
    }
    let row = adw::ActionRow::builder()
        .title(title)
        .activatable_widget(&spin)
        .build();
    row.add_suffix(&spin);
    let unit = gtk::Label::builder()
        .label(unit)
        .width_chars(3)
        .xalign(0.0)
        .build();
    unit.add_css_class("dim-label");
    row.add_suffix(&unit);
    (row, spin)
}

/// Sets a spin button's range and value without emitting signals when nothing changes.
pub fn set_spin(spin: &gtk::SpinButton, min: f64, max: f64, value: f64) {
    let (old_min, old_max) = spin.range();
    if old_min != min || old_max != max {
        spin.set_range(min, max);
    }
    if spin.value() != value {
        spin.set_value(value);
    }
}

/// Sets the text of an editable only when it differs (so no `changed` echo).
pub fn set_text(editable: &impl IsA<gtk::Editable>, text: &str) {
    if editable.text() != text {
        editable.set_text(text);
    }
}

/// A radio-like check button as the prefix of an activatable row.
pub fn choice_row(
    title: &str,
    subtitle: &str,
    group: Option<&gtk::CheckButton>,
) -> (adw::ActionRow, gtk::CheckButton) {
    let check = gtk::CheckButton::builder().valign(gtk::Align::Center).build();
    if let Some(group) = group {
        check.set_group(Some(group));
    }
    let row = adw::ActionRow::builder()
        .title(title)
        .subtitle(subtitle)
        .activatable_widget(&check)
        .build();
    row.add_prefix(&check);
    (row, check)
}

/// A flat icon button with a tooltip and an accessible name.
pub fn icon_button(icon: &str, label: &str) -> gtk::Button {
    let button = gtk::Button::builder()
        .icon_name(icon)
        .tooltip_text(label)
        .valign(gtk::Align::Center)
        .build();
    button.add_css_class("flat");
    button.set_accessible_label(label);
    button
}

/// A label for status and error text under a row.
pub fn status_label() -> gtk::Label {
    let label = gtk::Label::builder()
        .wrap(true)
        .wrap_mode(gtk::pango::WrapMode::WordChar)
        .xalign(0.0)
        .margin_top(6)
        .visible(false)
        .build();
    label.add_css_class("caption");
    label
}

/// Shows `text` in `label`, as an error or not; hides it when `text` is empty.
pub fn set_status(label: &gtk::Label, text: &str, error: bool) {
    if label.label() != text {
        label.set_label(text);
    }
    label.set_visible(!text.is_empty());
    if error {
        label.add_css_class("error");
        label.remove_css_class("dim-label");
    } else {
        label.remove_css_class("error");
        label.add_css_class("dim-label");
    }
}

/// "20 GiB" for whole GiB, else GLib's rounded form ("7.7 GiB").
pub fn bytes_text(bytes: u64) -> String {
    const GIB: u64 = 1024 * 1024 * 1024;
    if bytes >= GIB && bytes % GIB == 0 {
        i18n_f("{} GiB", &[&(bytes / GIB).to_string()])
    } else {
        glib::format_size_full(bytes, glib::FormatSizeFlags::IEC_UNITS).to_string()
    }
}

/// Memory in MiB as text: "512 MiB", "2 GiB", "7.7 GiB".
pub fn mib_text(mib: u64) -> String {
    if mib < 1024 {
        i18n_f("{} MiB", &[&mib.to_string()])
    } else {
        bytes_text(mib.saturating_mul(1024 * 1024))
    }
}
