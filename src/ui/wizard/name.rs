//! Step 5: the name, suggested from the system and checked as it is typed (naming rules and
//! names already taken), with the message beside the field.

use super::Input;
use adw::prelude::*;

use super::model::Page;
use super::rows::{set_status, set_text, status_label};
use super::{Wizard, WizardInput};
use crate::i18n::{gettext, i18n_f};

pub struct NamePage {
    pub root: adw::PreferencesPage,
    group: adw::PreferencesGroup,
    entry: adw::EntryRow,
    status: gtk::Label,
}

impl NamePage {
    pub fn new(input: &Input) -> Self {
        let root = adw::PreferencesPage::new();
        let group = adw::PreferencesGroup::builder().title(gettext("Name")).build();
        let entry = adw::EntryRow::builder()
            .title(gettext("Name"))
            .activates_default(true)
            .build();
        group.add(&entry);
        let status = status_label();
        group.add(&status);
        root.add(&group);
        {
            let input = input.clone();
            entry.connect_changed(move |entry| input.emit(WizardInput::Name(entry.text().into())));
        }
        NamePage {
            root,
            group,
            entry,
            status,
        }
    }

    pub fn refresh(&self, wizard: &Wizard) {
        let state = &wizard.state;
        set_text(&self.entry, &state.name);
        let folder = wizard.manager.store().paths().vms.display().to_string();
        self.group.set_description(Some(&i18n_f(
            "Its files will be kept in a folder of this name in {}.",
            &[&folder],
        )));
        let problem = state
            .validate_page(Page::Name, &|n: &str| wizard.manager.store().exists(n))
            .err()
            .filter(|p| !p.is_quiet());
        let text = problem.as_ref().map(|p| p.message()).unwrap_or_default();
        set_status(&self.status, &text, true);
        if problem.is_some() {
            self.entry.add_css_class("error");
        } else {
            self.entry.remove_css_class("error");
        }
    }

    pub fn focus(&self) -> bool {
        self.entry.grab_focus()
    }
}
