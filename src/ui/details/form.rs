//! What every section of the hardware editor shares: the [`Ctx`] handle through which widgets
//! send edits, the error labels shown beside fields, and small builders for pages, groups and
//! the usual rows (switch, spin button, choice, entry).

use std::cell::{Cell, Ref, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{Update, VmConfig};

use super::jobs::Job;
use super::DetailsInput;
use crate::a11y::AccessibleLabelExt;

/// Shared by every section: sends edits and jobs to the component, knows the current config,
/// and holds the error labels. Cheap to clone.
#[derive(Clone)]
pub(super) struct Ctx {
    inner: Rc<CtxInner>,
}

struct CtxInner {
    input: relm4::Sender<DetailsInput>,
    /// Set while widgets are filled from the config, so their change handlers stay quiet.
    syncing: Cell<bool>,
    config: RefCell<VmConfig>,
    errors: RefCell<HashMap<String, (gtk::Widget, gtk::Label)>>,
}

impl Ctx {
    pub(super) fn new(input: relm4::Sender<DetailsInput>, config: VmConfig) -> Ctx {
        Ctx {
            inner: Rc::new(CtxInner {
                input,
                syncing: Cell::new(false),
                config: RefCell::new(config),
                errors: RefCell::default(),
            }),
        }
    }

    /// The config as last saved.
    pub(super) fn config(&self) -> Ref<'_, VmConfig> {
        self.inner.config.borrow()
    }

    pub(super) fn set_config(&self, config: VmConfig) {
        self.inner.config.replace(config);
    }

    /// Whether widgets are being filled from the config (their handlers must not send edits).
    pub(super) fn syncing(&self) -> bool {
        self.inner.syncing.get()
    }

    /// Runs `fill` with change handlers silenced.
    pub(super) fn sync(&self, fill: impl FnOnce()) {
        let before = self.inner.syncing.replace(true);
        fill();
        self.inner.syncing.set(before);
    }

    /// Ask the component to apply `update`; errors are shown at `slot`.
    pub(super) fn apply(&self, slot: &str, update: Update) {
        if self.syncing() {
            return;
        }
        self.inner.input.emit(DetailsInput::Apply {
            slot: slot.to_owned(),
            update,
        });
    }

    /// Ask the component to run `job` in the background; errors are shown at `slot`.
    pub(super) fn run(&self, slot: &str, job: Job) {
        self.inner.input.emit(DetailsInput::Run {
            slot: slot.to_owned(),
            job,
        });
    }

    pub(super) fn send(&self, msg: DetailsInput) {
        self.inner.input.emit(msg);
    }

    /// Makes `label` (inside `container`, hidden until needed) the error place of `slot`.
    pub(super) fn register_error(&self, slot: &str, container: &impl IsA<gtk::Widget>, label: &gtk::Label) {
        container.set_visible(false);
        self.inner
            .errors
            .borrow_mut()
            .insert(slot.to_owned(), (container.clone().upcast(), label.clone()));
    }

    /// Shows `message` at `slot`; false when no such place exists.
    pub(super) fn show_error(&self, slot: &str, message: &str) -> bool {
        match self.inner.errors.borrow().get(slot) {
            Some((container, label)) => {
                label.set_label(message);
                container.set_visible(true);
                true
            }
            None => false,
        }
    }

    pub(super) fn clear_error(&self, slot: &str) {
        if let Some((container, _)) = self.inner.errors.borrow().get(slot) {
            container.set_visible(false);
        }
    }

    /// Hides every error (after widgets were filled again from the saved config).
    pub(super) fn clear_errors(&self) {
        for (container, _) in self.inner.errors.borrow().values() {
            container.set_visible(false);
        }
    }
}

/// A scrollable page body; sections add groups to the returned box.
pub(super) fn page() -> (gtk::ScrolledWindow, gtk::Box) {
    let body = gtk::Box::builder()
        .orientation(gtk::Orientation::Vertical)
        .spacing(24)
        .margin_top(12)
        .margin_bottom(24)
        .margin_start(12)
        .margin_end(12)
        .build();
    let clamp = adw::Clamp::builder()
        .maximum_size(720)
        .tightening_threshold(480)
        .child(&body)
        .build();
    let scrolled = gtk::ScrolledWindow::builder()
        .hscrollbar_policy(gtk::PolicyType::Never)
        .vexpand(true)
        .child(&clamp)
        .build();
    (scrolled, body)
}

/// A titled group of rows in a boxed list, like `AdwPreferencesGroup`, but rows and error rows
/// can be placed freely (an error row sits right under its field).
#[derive(Clone)]
pub(super) struct Group {
    pub root: gtk::Box,
    pub list: gtk::ListBox,
    header: gtk::Box,
    description: gtk::Label,
}

impl Group {
    pub(super) fn new(title: &str, description: &str) -> Group {
        let root = gtk::Box::new(gtk::Orientation::Vertical, 6);
        let header = gtk::Box::new(gtk::Orientation::Horizontal, 6);
        let titles = gtk::Box::new(gtk::Orientation::Vertical, 2);
        titles.set_hexpand(true);
        let heading = gtk::Label::builder()
            .label(title)
            .xalign(0.0)
            .wrap(true)
            .css_classes(["heading"])
            .build();
        let description = gtk::Label::builder()
            .label(description)
            .xalign(0.0)
            .wrap(true)
            .visible(!description.is_empty())
            .css_classes(["dim-label"])
            .build();
        titles.append(&heading);
        titles.append(&description);
        header.append(&titles);
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .css_classes(["boxed-list"])
            .build();
        list.set_accessible_label(title);
        root.append(&header);
        root.append(&list);
        Group {
            root,
            list,
            header,
            description,
        }
    }

    pub(super) fn add(&self, row: &impl IsA<gtk::Widget>) {
        self.list.append(row);
    }

    /// A widget at the right of the title (an "Add" button).
    pub(super) fn add_header_suffix(&self, widget: &impl IsA<gtk::Widget>) {
        widget.set_valign(gtk::Align::End);
        self.header.append(widget);
    }

    pub(super) fn set_description(&self, text: &str) {
        self.description.set_label(text);
        self.description.set_visible(!text.is_empty());
    }

    /// An error row under the rows added so far, registered as the error place of `slot`.
    pub(super) fn add_error_row(&self, ctx: &Ctx, slot: &str) {
        let label = error_label();
        let row = gtk::ListBoxRow::builder()
            .activatable(false)
            .selectable(false)
            .child(&label)
            .build();
        self.list.append(&row);
        ctx.register_error(slot, &row, &label);
    }

    /// An error label under the whole group (for groups whose rows are rebuilt).
    pub(super) fn add_error_below(&self, ctx: &Ctx, slot: &str) {
        let label = error_label();
        label.set_margin_start(0);
        self.root.append(&label);
        ctx.register_error(slot, &label, &label);
    }
}

pub(super) fn clear_list(list: &gtk::ListBox) {
    while let Some(child) = list.first_child() {
        list.remove(&child);
    }
}

fn error_label() -> gtk::Label {
    gtk::Label::builder()
        .xalign(0.0)
        .wrap(true)
        .wrap_mode(gtk::pango::WrapMode::WordChar)
        .selectable(true)
        .margin_top(8)
        .margin_bottom(8)
        .margin_start(12)
        .margin_end(12)
        .css_classes(["error", "field-error"])
        .build()
}

/// A plain row with a title and an optional subtitle.
pub(super) fn action_row(title: &str, subtitle: &str) -> adw::ActionRow {
    let row = adw::ActionRow::builder().title(title).use_markup(false).build();
    if !subtitle.is_empty() {
        row.set_subtitle(subtitle);
    }
    row
}

/// A row with a switch; `on_toggle` gets the new state (not called while syncing).
pub(super) fn switch_row(
    ctx: &Ctx,
    title: &str,
    subtitle: &str,
    on_toggle: impl Fn(&Ctx, bool) + 'static,
) -> (adw::ActionRow, gtk::Switch) {
    let row = action_row(title, subtitle);
    let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
    switch.set_accessible_label(title);
    row.add_suffix(&switch);
    row.set_activatable_widget(Some(&switch));
    let ctx = ctx.clone();
    switch.connect_active_notify(move |s| {
        if !ctx.syncing() {
            on_toggle(&ctx, s.is_active());
        }
    });
    (row, switch)
}

/// A row with a whole-number spin button. The range is wide on purpose: the core decides what
/// is valid and its message appears beside the field.
pub(super) fn spin_row(
    ctx: &Ctx,
    title: &str,
    subtitle: &str,
    (min, max, step): (f64, f64, f64),
    on_change: impl Fn(&Ctx, f64) + 'static,
) -> (adw::ActionRow, gtk::SpinButton) {
    let row = action_row(title, subtitle);
    let spin = gtk::SpinButton::with_range(min, max, step);
    spin.set_digits(0);
    spin.set_numeric(true);
    spin.set_valign(gtk::Align::Center);
    spin.set_accessible_label(title);
    row.add_suffix(&spin);
    let ctx = ctx.clone();
    spin.connect_value_changed(move |s| {
        if !ctx.syncing() {
            on_change(&ctx, s.value());
        }
    });
    (row, spin)
}

/// A row offering one of `choices`; `on_select` gets the chosen index.
pub(super) fn choice_row(
    ctx: &Ctx,
    title: &str,
    subtitle: &str,
    choices: &[String],
    on_select: impl Fn(&Ctx, usize) + 'static,
) -> adw::ComboRow {
    let names: Vec<&str> = choices.iter().map(String::as_str).collect();
    let row = adw::ComboRow::builder()
        .title(title)
        .use_markup(false)
        .model(&gtk::StringList::new(&names))
        .build();
    if !subtitle.is_empty() {
        row.set_subtitle(subtitle);
    }
    row.set_accessible_label(title);
    let ctx = ctx.clone();
    row.connect_selected_notify(move |r| {
        if !ctx.syncing() {
            on_select(&ctx, r.selected() as usize);
        }
    });
    row
}

/// An entry row with an apply button; `on_apply` gets the text when applied.
pub(super) fn entry_row(ctx: &Ctx, title: &str, on_apply: impl Fn(&Ctx, String) + 'static) -> adw::EntryRow {
    let row = adw::EntryRow::builder()
        .title(title)
        .use_markup(false)
        .show_apply_button(true)
        .build();
    row.set_accessible_label(title);
    let ctx = ctx.clone();
    row.connect_apply(move |r| on_apply(&ctx, r.text().to_string()));
    row
}

/// Sets an entry row's text unless it already holds it (keeps the cursor where it is).
pub(super) fn set_entry_text(row: &adw::EntryRow, text: &str) {
    if row.text() != text {
        row.set_text(text);
    }
}

/// A flat icon button with a tooltip and accessible name.
pub(super) fn icon_button(icon: &str, label: &str) -> gtk::Button {
    let button = gtk::Button::builder()
        .icon_name(icon)
        .tooltip_text(label)
        .valign(gtk::Align::Center)
        .css_classes(["flat"])
        .build();
    button.set_accessible_label(label);
    button
}

/// A text button for rows ("Resize…").
pub(super) fn text_button(label: &str) -> gtk::Button {
    let button = gtk::Button::builder()
        .label(label)
        .use_underline(true)
        .valign(gtk::Align::Center)
        .build();
    // Without it GTK 4.8 names the button after its raw label, underscore included.
    button.set_accessible_label(&label.replace('_', ""));
    button
}

/// The window a widget is in, for dialogs.
pub(super) fn window_of(widget: &impl IsA<gtk::Widget>) -> Option<gtk::Window> {
    widget.root().and_then(|r| r.downcast::<gtk::Window>().ok())
}
