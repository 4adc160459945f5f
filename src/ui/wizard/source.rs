//! Step 1: where the system comes from — an ISO image (typed, chosen or recent), an existing
//! disk image, or nothing (an empty VM with a new disk).

use std::cell::RefCell;
use std::path::PathBuf;

use super::Input;
use adw::prelude::*;

use super::model::{Check, SourceKind};
use super::rows::{bytes_text, choice_row, icon_button, set_status, set_text, status_label};
use super::{Wizard, WizardInput};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

pub struct SourcePage {
    pub root: adw::PreferencesPage,
    iso_check: gtk::CheckButton,
    import_check: gtk::CheckButton,
    empty_check: gtk::CheckButton,
    iso_group: adw::PreferencesGroup,
    iso_entry: adw::EntryRow,
    iso_status: gtk::Label,
    recent_group: adw::PreferencesGroup,
    recent_list: gtk::ListBox,
    recent_shown: RefCell<Vec<PathBuf>>,
    import_group: adw::PreferencesGroup,
    import_entry: adw::EntryRow,
    import_status: gtk::Label,
    empty_group: adw::PreferencesGroup,
    input: Input,
}

impl SourcePage {
    pub fn new(input: &Input) -> Self {
        let root = adw::PreferencesPage::new();

        let kinds = adw::PreferencesGroup::builder()
            .title(gettext("Installation Source"))
            .description(gettext("Where does the operating system come from?"))
            .build();
        let (iso_row, iso_check) = choice_row(
            &gettext("Install from an ISO image"),
            &gettext("Start an installer disc image; the system is installed on a new disk"),
            None,
        );
        let (import_row, import_check) = choice_row(
            &gettext("Import an existing disk image"),
            &gettext("Use a qcow2, raw or VMDK disk that already holds a system, where it is"),
            Some(&iso_check),
        );
        let (empty_row, empty_check) = choice_row(
            &gettext("Empty virtual machine"),
            &gettext("Create a blank disk and add an installer later"),
            Some(&iso_check),
        );
        kinds.add(&iso_row);
        kinds.add(&import_row);
        kinds.add(&empty_row);
        root.add(&kinds);
        for (check, kind) in [
            (&iso_check, SourceKind::Iso),
            (&import_check, SourceKind::Import),
            (&empty_check, SourceKind::Empty),
        ] {
            let input = input.clone();
            check.connect_toggled(move |check| {
                if check.is_active() {
                    input.emit(WizardInput::SetSource(kind));
                }
            });
        }

        let (iso_group, iso_entry, iso_status) = path_group(
            &gettext("ISO Image"),
            &gettext("ISO image file"),
            &gettext("Choose an ISO Image…"),
            SourceKind::Iso,
            input,
        );
        root.add(&iso_group);
        {
            let input = input.clone();
            iso_entry.connect_changed(move |entry| input.emit(WizardInput::IsoPath(entry.text().into())));
        }

        let recent_group = adw::PreferencesGroup::builder()
            .title(gettext("Recent ISO Images"))
            .build();
        let recent_list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .build();
        recent_list.add_css_class("boxed-list");
        recent_list.set_accessible_label(&gettext("Recent ISO images"));
        recent_group.add(&recent_list);
        root.add(&recent_group);

        let (import_group, import_entry, import_status) = path_group(
            &gettext("Disk Image"),
            &gettext("Disk image file"),
            &gettext("Choose a Disk Image…"),
            SourceKind::Import,
            input,
        );
        root.add(&import_group);
        {
            let input = input.clone();
            import_entry
                .connect_changed(move |entry| input.emit(WizardInput::ImportPath(entry.text().into())));
        }

        let empty_group = adw::PreferencesGroup::builder()
            .description(gettext(
                "The virtual machine gets a new empty disk. Insert an ISO image or boot from the network later, from its details.",
            ))
            .build();
        root.add(&empty_group);

        SourcePage {
            root,
            iso_check,
            import_check,
            empty_check,
            iso_group,
            iso_entry,
            iso_status,
            recent_group,
            recent_list,
            recent_shown: RefCell::default(),
            import_group,
            import_entry,
            import_status,
            empty_group,
            input: input.clone(),
        }
    }

    pub fn refresh(&self, wizard: &Wizard) {
        let state = &wizard.state;
        let check = match state.source {
            SourceKind::Iso => &self.iso_check,
            SourceKind::Import => &self.import_check,
            SourceKind::Empty => &self.empty_check,
        };
        if !check.is_active() {
            check.set_active(true);
        }
        self.iso_group.set_visible(state.source == SourceKind::Iso);
        self.import_group.set_visible(state.source == SourceKind::Import);
        self.empty_group.set_visible(state.source == SourceKind::Empty);
        self.recent_group
            .set_visible(state.source == SourceKind::Iso && !wizard.recent.is_empty());
        self.set_recent(&wizard.recent);

        set_text(&self.iso_entry, &state.iso_path);
        set_text(&self.import_entry, &state.import_path);

        let (text, error) = match &state.iso {
            Check::Empty => (String::new(), false),
            Check::Checking => (gettext("Reading the image…"), false),
            Check::Ready(Some(found)) => (i18n_f("An installer of {}.", &[&found.os.name]), false),
            Check::Ready(None) => (
                gettext("A readable image of a system Hangar does not know: choose it on the next page."),
                false,
            ),
            Check::Failed(why) => (why.clone(), true),
        };
        set_status(&self.iso_status, &text, error);
        mark_error(&self.iso_entry, error);

        let problem = state.validate_page(super::model::Page::Source, &|_| false).err();
        let (text, error) = match &state.import {
            Check::Empty => (String::new(), false),
            Check::Checking => (gettext("Reading the image…"), false),
            Check::Ready(disk) => match problem {
                Some(problem @ super::model::PageProblem::UnsupportedFormat(_)) => (problem.message(), true),
                _ => (
                    i18n_f(
                        "A {} image of {}. The virtual machine uses it where it is.",
                        &[&disk.format, &bytes_text(disk.virtual_size)],
                    ),
                    false,
                ),
            },
            Check::Failed(why) => (why.clone(), true),
        };
        set_status(&self.import_status, &text, error);
        mark_error(&self.import_entry, error);
    }

    fn set_recent(&self, recent: &[PathBuf]) {
        if *self.recent_shown.borrow() == recent {
            return;
        }
        while let Some(child) = self.recent_list.first_child() {
            self.recent_list.remove(&child);
        }
        for path in recent {
            let file = path.file_name().map_or_else(
                || path.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            );
            let folder = path.parent().map(|p| p.display().to_string()).unwrap_or_default();
            let row = adw::ActionRow::builder()
                .title(&file)
                .subtitle(&folder)
                .use_markup(false)
                .activatable(true)
                .build();
            row.add_prefix(&gtk::Image::from_icon_name("media-optical-symbolic"));
            let input = self.input.clone();
            let path = path.clone();
            row.connect_activated(move |_| input.emit(WizardInput::UseRecent(path.clone())));
            self.recent_list.append(&row);
        }
        *self.recent_shown.borrow_mut() = recent.to_vec();
    }

    /// Focus the field to fill in.
    pub fn focus(&self) -> bool {
        if self.iso_check.is_active() {
            self.iso_entry.grab_focus()
        } else if self.import_check.is_active() {
            self.import_entry.grab_focus()
        } else {
            self.empty_check.grab_focus()
        }
    }
}

/// A group with a path entry, a "choose" button and a status line.
fn path_group(
    title: &str,
    field: &str,
    choose: &str,
    kind: SourceKind,
    input: &Input,
) -> (adw::PreferencesGroup, adw::EntryRow, gtk::Label) {
    let group = adw::PreferencesGroup::builder().title(title).build();
    let entry = adw::EntryRow::builder()
        .title(field)
        .activates_default(true)
        .input_hints(gtk::InputHints::NO_SPELLCHECK)
        .build();
    let button = icon_button("document-open-symbolic", choose);
    {
        let input = input.clone();
        button.connect_clicked(move |_| input.emit(WizardInput::ChooseFile(kind)));
    }
    entry.add_suffix(&button);
    group.add(&entry);
    let status = status_label();
    group.add(&status);
    (group, entry, status)
}

fn mark_error(widget: &impl IsA<gtk::Widget>, error: bool) {
    if error {
        widget.add_css_class("error");
    } else {
        widget.remove_css_class("error");
    }
}
