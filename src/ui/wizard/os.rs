//! Step 2: the operating system — what was detected in the ISO and with what confidence, and a
//! searchable list of osinfo systems to override it ("Generic Linux / Other" first).

use std::cell::RefCell;

use super::Input;
use adw::prelude::*;
use hangar_core::osinfo::{search, today, Confidence, OsDb, OsEntry};

use super::model::{Check, SourceKind};
use super::rows::{set_status, status_label};
use super::{DbState, Wizard, WizardInput};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

/// Rows shown at most; typing narrows the list.
const MAX_ROWS: usize = 40;

/// Systems for the list: matches of `query` that run on x86, best first.
pub fn visible_entries<'a>(db: &'a OsDb, query: &str) -> Vec<&'a OsEntry> {
    search(db, query)
        .into_iter()
        .filter(|e| e.runs_on_x86())
        .collect()
}

/// What the list shows, to rebuild it only when that changes.
#[derive(PartialEq, Eq)]
struct Shown {
    query: String,
    chosen: Option<String>,
    db_len: usize,
}

pub struct OsPage {
    pub root: adw::PreferencesPage,
    chosen_row: adw::ActionRow,
    chosen_icon: gtk::Image,
    detail: gtk::Label,
    search: gtk::SearchEntry,
    list: gtk::ListBox,
    more: gtk::Label,
    /// osinfo id of each row (`None`: generic).
    ids: std::rc::Rc<RefCell<Vec<Option<String>>>>,
    shown: RefCell<Option<Shown>>,
}

impl OsPage {
    pub fn new(input: &Input) -> Self {
        let root = adw::PreferencesPage::new();
        let current = adw::PreferencesGroup::builder()
            .title(gettext("Operating System"))
            .build();
        let chosen_icon = gtk::Image::from_icon_name("computer-symbolic");
        let chosen_row = adw::ActionRow::builder().use_markup(false).build();
        chosen_row.add_prefix(&chosen_icon);
        current.add(&chosen_row);
        let detail = status_label();
        current.add(&detail);
        root.add(&current);

        let choose = adw::PreferencesGroup::builder()
            .title(gettext("Choose Another System"))
            .description(gettext(
                "The system decides the recommended memory, disk, firmware and devices.",
            ))
            .build();
        let search = gtk::SearchEntry::builder()
            .placeholder_text(gettext("Search systems, e.g. “debian 12” or “win11”"))
            .margin_bottom(12)
            .build();
        search.set_accessible_label(&gettext("Search operating systems"));
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .build();
        list.add_css_class("boxed-list");
        list.set_accessible_label(&gettext("Operating systems"));
        let more = status_label();
        choose.add(&search);
        choose.add(&list);
        choose.add(&more);
        root.add(&choose);

        {
            let input = input.clone();
            search.connect_search_changed(move |entry| input.emit(WizardInput::OsQuery(entry.text().into())));
        }
        {
            let input = input.clone();
            search.connect_activate(move |_| input.emit(WizardInput::OsSearchActivated));
        }
        let ids: std::rc::Rc<RefCell<Vec<Option<String>>>> = Default::default();
        {
            let input = input.clone();
            let ids = ids.clone();
            list.connect_row_activated(move |_, row| {
                let id = usize::try_from(row.index())
                    .ok()
                    .and_then(|i| ids.borrow().get(i).cloned());
                if let Some(id) = id {
                    input.emit(WizardInput::ChooseOs(id));
                }
            });
        }

        OsPage {
            root,
            chosen_row,
            chosen_icon,
            detail,
            search,
            list,
            more,
            ids,
            shown: RefCell::default(),
        }
    }

    pub fn refresh(&self, wizard: &Wizard) {
        let state = &wizard.state;
        let chosen_name = state.os.as_ref().map_or_else(generic_name, |o| o.name.clone());
        let detected = match (&state.iso, state.source) {
            (Check::Ready(found), SourceKind::Iso) => Some(found),
            _ => None,
        };
        let confirmed =
            matches!(detected, Some(Some(found)) if state.os.as_ref().map(|o| &o.id) == Some(&found.os.id));
        let title = if confirmed {
            i18n_f("Detected: {}", &[&chosen_name])
        } else {
            chosen_name
        };
        if self.chosen_row.title() != title {
            self.chosen_row.set_title(&title);
        }
        let (subtitle, icon) = match detected {
            Some(Some(found)) if confirmed => (confidence_text(found.confidence), "emblem-ok-symbolic"),
            Some(Some(found)) => (
                i18n_f("Chosen by you (the image looks like {})", &[&found.os.name]),
                "document-edit-symbolic",
            ),
            Some(None) if state.os.is_none() => (
                gettext("Not recognised from the image: choose the system below if you know it"),
                "dialog-question-symbolic",
            ),
            _ if state.os.is_some() => (gettext("Chosen by you"), "document-edit-symbolic"),
            _ => (
                gettext("Settings that suit most recent Linux systems"),
                "computer-symbolic",
            ),
        };
        if self.chosen_row.subtitle().as_deref() != Some(subtitle.as_str()) {
            self.chosen_row.set_subtitle(&subtitle);
        }
        self.chosen_icon.set_icon_name(Some(icon));

        let mut details = vec![];
        if let Some(Some(found)) = detected {
            if found.confidence == Confidence::Medium && !found.alternatives.is_empty() {
                details.push(i18n_f(
                    "The image also matches: {}.",
                    &[&found.alternatives.join(", ")],
                ));
            }
            if found.foreign_arch() {
                details.push(i18n_f(
                    "This image is made for {} computers; Hangar runs x86 systems, so it will probably not start.",
                    &[&found.media_arch],
                ));
            }
        }
        if let DbState::Failed(why) = &wizard.db {
            details.push(i18n_f("The list of systems is not available: {}", &[why]));
        }
        set_status(
            &self.detail,
            &details.join("\n"),
            matches!(wizard.db, DbState::Failed(_)),
        );

        self.fill_list(wizard);
    }

    fn fill_list(&self, wizard: &Wizard) {
        let db = match &wizard.db {
            DbState::Ready(db) => Some(*db),
            _ => None,
        };
        let chosen = wizard.state.os.as_ref().map(|o| o.id.clone());
        let shown = Shown {
            query: wizard.query.clone(),
            chosen: chosen.clone(),
            db_len: db.map_or(0, OsDb::len),
        };
        if self.shown.borrow().as_ref() == Some(&shown) {
            return;
        }
        while let Some(child) = self.list.first_child() {
            self.list.remove(&child);
        }
        let mut ids = vec![];
        let query = wizard.query.trim().to_lowercase();
        let generic = generic_name();
        if query.is_empty() || generic.to_lowercase().contains(&query) || "generic".contains(&query) {
            self.list.append(&os_row(
                &generic,
                &gettext("Any system not in the list"),
                chosen.is_none(),
            ));
            ids.push(None);
        }
        let mut entries = db
            .map(|db| visible_entries(db, &wizard.query))
            .unwrap_or_default();
        // Unfiltered, the chosen system comes first, wherever its date puts it.
        if query.is_empty() {
            if let Some(at) = entries.iter().position(|e| Some(&e.id) == chosen.as_ref()) {
                let entry = entries.remove(at);
                entries.insert(0, entry);
            }
        }
        let today = today();
        for entry in entries.iter().take(MAX_ROWS) {
            self.list.append(&os_row(
                &entry.name,
                &entry_details(entry, &today),
                chosen.as_deref() == Some(entry.id.as_str()),
            ));
            ids.push(Some(entry.id.clone()));
        }
        let more = match (db, entries.len()) {
            (None, _) if matches!(wizard.db, DbState::Loading) => gettext("Loading the list of systems…"),
            (Some(_), 0) => gettext("No system matches. Try fewer or other words."),
            (Some(_), n) if n > MAX_ROWS => i18n_f(
                "{} of {} systems shown. Type to narrow the list.",
                &[&MAX_ROWS.to_string(), &n.to_string()],
            ),
            _ => String::new(),
        };
        set_status(&self.more, &more, false);
        *self.ids.borrow_mut() = ids;
        *self.shown.borrow_mut() = Some(shown);
    }

    pub fn focus(&self) -> bool {
        self.search.grab_focus()
    }
}

fn generic_name() -> String {
    gettext("Generic Linux / Other")
}

fn confidence_text(confidence: Confidence) -> String {
    match confidence {
        Confidence::High => gettext("High confidence"),
        Confidence::Medium => gettext("Medium confidence"),
        Confidence::Low => gettext("Low confidence: a prerelease, or an image for another computer"),
    }
}

/// "debian12 · 2023 · end of life".
fn entry_details(entry: &OsEntry, today: &str) -> String {
    let mut parts = vec![];
    if let Some(id) = entry.short_id() {
        parts.push(id.to_owned());
    }
    if let Some(year) = entry.release_date.as_deref().and_then(|d| d.get(..4)) {
        parts.push(year.to_owned());
    }
    if entry.is_prerelease() {
        parts.push(gettext("prerelease"));
    }
    if entry.is_eol(today) {
        parts.push(gettext("end of life"));
    }
    parts.join(" · ")
}

fn os_row(title: &str, subtitle: &str, chosen: bool) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(title)
        .subtitle(subtitle)
        .use_markup(false)
        .activatable(true)
        .build();
    let check = gtk::Image::from_icon_name("object-select-symbolic");
    check.set_visible(chosen);
    row.add_suffix(&check);
    row
}
