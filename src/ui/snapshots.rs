//! The Snapshots view of the VM page: the VM's snapshots (name, date, whether memory is
//! included), Take (with a name dialog), Revert and Delete (each confirmed). Snapshot work runs
//! in the background with a spinner; the list is read again after each operation and whenever
//! the VM's state changes.
//!
//! ```text
//! GtkScrolledWindow › AdwClamp › GtkBox
//! ├── heading + explanation + "Take Snapshot"
//! ├── GtkBox.busy: GtkSpinner + what is under way
//! ├── GtkLabel   why snapshots are unavailable (no qcow2 disk, …) / "No snapshots yet"
//! └── GtkListBox.boxed-list   AdwActionRow per snapshot: Revert, Delete
//! ```

use adw::prelude::*;
use gtk::glib;
use hangar_core::manager::{Event, Manager, SnapshotEntry, VmState};
use hangar_core::storage::format_size;
use relm4::{Component, ComponentParts, ComponentSender};

use crate::a11y::AccessibleLabelExt;
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};

pub struct SnapshotsInit {
    pub manager: Manager,
    pub name: String,
}

#[derive(Debug)]
pub enum SnapshotsInput {
    /// An event of the manager (others' VMs are ignored).
    VmEvent(Event),
    /// The VM was renamed.
    SetName(String),
    /// Read the list again.
    Refresh,
    /// Ask for a name, then take a snapshot.
    Take,
    TakeNamed(String),
    /// Ask, then go back to this snapshot.
    Revert(String),
    RevertConfirmed(String),
    /// Ask, then delete this snapshot.
    Delete(String),
    DeleteConfirmed(String),
}

#[derive(Debug)]
pub enum SnapshotsOutput {
    Error(UserError),
    Notify(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Take,
    Revert,
    Delete,
}

#[derive(Debug)]
pub enum SnapshotsCmd {
    State(VmState),
    Listed {
        generation: u64,
        result: Result<Vec<SnapshotEntry>, String>,
    },
    Done {
        op: Op,
        tag: String,
        result: Result<(), String>,
    },
}

pub struct Snapshots {
    manager: Manager,
    name: String,
    state: VmState,
    entries: Vec<SnapshotEntry>,
    generation: u64,
    busy: Option<(Op, String)>,
    widgets: View,
}

struct View {
    take: gtk::Button,
    busy_box: gtk::Box,
    busy_spinner: gtk::Spinner,
    busy_label: gtk::Label,
    status: gtk::Label,
    list: gtk::ListBox,
}

/// `snapshot-2026-11-21-153000` for the local time `now`.
pub fn default_name(now: &glib::DateTime) -> String {
    let stamp = now
        .format("%Y-%m-%d-%H%M%S")
        .map(|s| s.to_string())
        .unwrap_or_else(|_| now.to_unix().to_string());
    format!("snapshot-{stamp}")
}

/// `base`, or `base-2`, `base-3`… when taken.
pub fn unique_name(base: &str, taken: &[SnapshotEntry]) -> String {
    let used = |n: &str| taken.iter().any(|s| s.name == n);
    if !used(base) {
        return base.to_owned();
    }
    (2u32..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !used(n))
        .unwrap_or_else(|| base.to_owned())
}

/// The snapshot's date in local time.
pub fn format_date(unix: i64) -> String {
    glib::DateTime::from_unix_local(unix)
        .and_then(|d| d.format("%Y-%m-%d %H:%M"))
        .map(|s| s.to_string())
        .unwrap_or_else(|_| unix.to_string())
}

fn out(sender: &ComponentSender<Snapshots>, msg: SnapshotsOutput) {
    if sender.output(msg).is_err() {
        tracing::debug!("nobody listens to the snapshots view");
    }
}

fn confirm(
    root: &gtk::ScrolledWindow,
    heading: &str,
    body: &str,
    (id, label): (&str, &str),
    on_yes: impl Fn() + 'static,
) -> Option<adw::MessageDialog> {
    let window = root.root().and_then(|r| r.downcast::<gtk::Window>().ok())?;
    let dialog = adw::MessageDialog::new(Some(&window), Some(heading), Some(body));
    dialog.add_response("cancel", &gettext("_Cancel"));
    dialog.add_response(id, label);
    dialog.set_close_response("cancel");
    let id = id.to_owned();
    dialog.connect_response(None, move |_, response| {
        if response == id {
            on_yes();
        }
    });
    Some(dialog)
}

impl Snapshots {
    fn reload(&mut self, sender: &ComponentSender<Self>) {
        self.generation += 1;
        let generation = self.generation;
        let (manager, name) = (self.manager.clone(), self.name.clone());
        sender.oneshot_command(async move {
            let result = manager.snapshot_list(&name).await.map_err(|e| e.to_string());
            SnapshotsCmd::Listed { generation, result }
        });
    }

    fn start(&mut self, op: Op, tag: String, sender: &ComponentSender<Self>) {
        if self.busy.is_some() {
            return;
        }
        self.busy = Some((op, tag.clone()));
        let (manager, name) = (self.manager.clone(), self.name.clone());
        sender.oneshot_command(async move {
            let result = match op {
                Op::Take => manager.snapshot_save(&name, &tag).await,
                Op::Revert => manager.snapshot_load(&name, &tag).await,
                Op::Delete => manager.snapshot_delete(&name, &tag).await,
            };
            SnapshotsCmd::Done {
                op,
                tag,
                result: result.map_err(|e| e.to_string()),
            }
        });
        self.show(sender);
    }

    fn show(&self, sender: &ComponentSender<Self>) {
        let w = &self.widgets;
        let running = self.state.is_active();
        w.take.set_sensitive(running && self.busy.is_none());
        w.take.set_tooltip_text(Some(&if running {
            gettext("Save the whole state of the running virtual machine, memory included")
        } else {
            gettext("Start the virtual machine to take a snapshot")
        }));
        match &self.busy {
            Some((op, tag)) => {
                let text = match op {
                    Op::Take => i18n_f("Taking snapshot “{}”…", &[tag]),
                    Op::Revert => i18n_f("Reverting to “{}”…", &[tag]),
                    Op::Delete => i18n_f("Deleting “{}”…", &[tag]),
                };
                w.busy_label.set_label(&text);
                w.busy_box.set_visible(true);
                w.busy_spinner.set_spinning(true);
            }
            None => {
                w.busy_box.set_visible(false);
                w.busy_spinner.set_spinning(false);
            }
        }
        while let Some(child) = w.list.first_child() {
            w.list.remove(&child);
        }
        for entry in &self.entries {
            w.list.append(&self.row(entry, sender));
        }
        w.list.set_visible(!self.entries.is_empty());
    }

    fn row(&self, entry: &SnapshotEntry, sender: &ComponentSender<Self>) -> adw::ActionRow {
        let memory = if entry.has_ram {
            i18n_f("memory included ({})", &[&format_size(entry.vm_state_size)])
        } else {
            gettext("disks only")
        };
        let row = adw::ActionRow::builder()
            .title(&entry.name)
            .subtitle(format!("{} · {}", format_date(entry.date), memory))
            .use_markup(false)
            .build();
        row.set_accessible_label(&i18n_f("Snapshot {}", &[&entry.name]));
        let revert = gtk::Button::builder()
            .label(gettext("Revert…"))
            .valign(gtk::Align::Center)
            .sensitive(self.busy.is_none() && entry.has_ram)
            .build();
        revert.set_accessible_label(&i18n_f("Revert to {}", &[&entry.name]));
        if !entry.has_ram {
            revert.set_tooltip_text(Some(&gettext(
                "This snapshot holds no memory state; Hangar reverts only to snapshots it took of a running virtual machine.",
            )));
        }
        let delete = gtk::Button::builder()
            .icon_name("user-trash-symbolic")
            .tooltip_text(gettext("Delete"))
            .valign(gtk::Align::Center)
            .sensitive(self.busy.is_none())
            .css_classes(["flat"])
            .build();
        delete.set_accessible_label(&i18n_f("Delete {}", &[&entry.name]));
        for (button, is_revert) in [(&revert, true), (&delete, false)] {
            let (input, tag) = (sender.input_sender().clone(), entry.name.clone());
            button.connect_clicked(move |_| {
                input.emit(if is_revert {
                    SnapshotsInput::Revert(tag.clone())
                } else {
                    SnapshotsInput::Delete(tag.clone())
                })
            });
            row.add_suffix(button);
        }
        row
    }

    fn ask_name(&self, root: &gtk::ScrolledWindow, sender: &ComponentSender<Self>) {
        let base = now().map_or_else(|| "snapshot".to_owned(), |n| default_name(&n));
        let suggested = unique_name(&base, &self.entries);
        let entry = gtk::Entry::builder()
            .text(&suggested)
            .activates_default(true)
            .build();
        entry.set_accessible_label(&gettext("Snapshot Name"));
        let input = sender.input_sender().clone();
        let name_entry = entry.clone();
        let dialog = confirm(
            root,
            &gettext("Take Snapshot"),
            &gettext("The virtual machine pauses while its memory and disks are saved."),
            ("take", &gettext("_Take")),
            move || {
                let name = name_entry.text().trim().to_owned();
                input.emit(SnapshotsInput::TakeNamed(name));
            },
        );
        if let Some(dialog) = dialog {
            dialog.set_response_appearance("take", adw::ResponseAppearance::Suggested);
            dialog.set_default_response(Some("take"));
            let d = dialog.clone();
            entry.connect_changed(move |e| d.set_response_enabled("take", !e.text().trim().is_empty()));
            dialog.set_extra_child(Some(&entry));
            dialog.present();
        }
    }
}

fn now() -> Option<glib::DateTime> {
    glib::DateTime::now_local()
        .or_else(|_| glib::DateTime::now_utc())
        .ok()
}

impl Component for Snapshots {
    type CommandOutput = SnapshotsCmd;
    type Input = SnapshotsInput;
    type Output = SnapshotsOutput;
    type Init = SnapshotsInit;
    type Root = gtk::ScrolledWindow;
    type Widgets = ();

    fn init_root() -> Self::Root {
        gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .vexpand(true)
            .build()
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let body = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .margin_top(24)
            .margin_bottom(24)
            .margin_start(12)
            .margin_end(12)
            .build();
        let header = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        let titles = gtk::Box::new(gtk::Orientation::Vertical, 2);
        titles.set_hexpand(true);
        titles.append(
            &gtk::Label::builder()
                .label(gettext("Snapshots"))
                .xalign(0.0)
                .css_classes(["title-3"])
                .build(),
        );
        titles.append(
            &gtk::Label::builder()
                .label(gettext("A snapshot keeps the running state of the virtual machine, memory included, so you can go back to it later."))
                .xalign(0.0)
                .wrap(true)
                .css_classes(["dim-label"])
                .build(),
        );
        let take = gtk::Button::builder()
            .label(gettext("_Take Snapshot…"))
            .use_underline(true)
            .valign(gtk::Align::Center)
            .css_classes(["suggested-action"])
            .build();
        take.set_accessible_label(&gettext("Take Snapshot"));
        {
            let input = sender.input_sender().clone();
            take.connect_clicked(move |_| input.emit(SnapshotsInput::Take));
        }
        header.append(&titles);
        header.append(&take);
        let busy_spinner = gtk::Spinner::new();
        busy_spinner.set_accessible_label(&gettext("Working"));
        let busy_label = gtk::Label::builder().xalign(0.0).build();
        let busy_box = gtk::Box::builder().spacing(8).visible(false).build();
        busy_box.append(&busy_spinner);
        busy_box.append(&busy_label);
        let status = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .css_classes(["dim-label"])
            .visible(false)
            .build();
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .valign(gtk::Align::Start)
            .css_classes(["boxed-list"])
            .build();
        list.set_accessible_label(&gettext("Snapshots"));
        body.append(&header);
        body.append(&busy_box);
        body.append(&status);
        body.append(&list);
        root.set_child(Some(
            &adw::Clamp::builder()
                .maximum_size(720)
                .tightening_threshold(480)
                .child(&body)
                .build(),
        ));
        let mut model = Snapshots {
            manager: init.manager,
            name: init.name,
            state: VmState::Stopped,
            entries: vec![],
            generation: 0,
            busy: None,
            widgets: View {
                take,
                busy_box,
                busy_spinner,
                busy_label,
                status,
                list,
            },
        };
        let (manager, name) = (model.manager.clone(), model.name.clone());
        sender.oneshot_command(async move {
            SnapshotsCmd::State(manager.state(&name).await.unwrap_or(VmState::Other))
        });
        model.reload(&sender);
        model.show(&sender);
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            SnapshotsInput::VmEvent(Event::State { name, state }) if name == self.name => {
                let changed = state.is_active() != self.state.is_active();
                self.state = state;
                if changed {
                    self.reload(&sender);
                }
                self.show(&sender);
            }
            SnapshotsInput::VmEvent(_) => {}
            SnapshotsInput::SetName(name) => {
                self.name = name;
                self.reload(&sender);
            }
            SnapshotsInput::Refresh => self.reload(&sender),
            SnapshotsInput::Take => self.ask_name(root, &sender),
            SnapshotsInput::TakeNamed(tag) => self.start(Op::Take, tag, &sender),
            SnapshotsInput::Revert(tag) => {
                let body = if self.state.is_active() {
                    gettext("The virtual machine goes back to the moment of the snapshot. Everything since then is lost.")
                } else {
                    gettext("The virtual machine is started at the moment of the snapshot. Changes made since then are lost.")
                };
                let (input, t) = (sender.input_sender().clone(), tag.clone());
                if let Some(dialog) = confirm(
                    root,
                    &i18n_f("Revert to “{}”?", &[&tag]),
                    &body,
                    ("revert", &gettext("_Revert")),
                    move || input.emit(SnapshotsInput::RevertConfirmed(t.clone())),
                ) {
                    dialog.set_response_appearance("revert", adw::ResponseAppearance::Destructive);
                    dialog.present();
                }
            }
            SnapshotsInput::RevertConfirmed(tag) => self.start(Op::Revert, tag, &sender),
            SnapshotsInput::Delete(tag) => {
                let (input, t) = (sender.input_sender().clone(), tag.clone());
                if let Some(dialog) = confirm(
                    root,
                    &i18n_f("Delete “{}”?", &[&tag]),
                    &gettext("The snapshot is deleted for good. The virtual machine itself is not changed."),
                    ("delete", &gettext("_Delete")),
                    move || input.emit(SnapshotsInput::DeleteConfirmed(t.clone())),
                ) {
                    dialog.set_response_appearance("delete", adw::ResponseAppearance::Destructive);
                    dialog.present();
                }
            }
            SnapshotsInput::DeleteConfirmed(tag) => self.start(Op::Delete, tag, &sender),
        }
    }

    fn update_cmd(&mut self, cmd: Self::CommandOutput, sender: ComponentSender<Self>, _root: &Self::Root) {
        match cmd {
            SnapshotsCmd::State(state) => {
                self.state = state;
                self.show(&sender);
            }
            SnapshotsCmd::Listed { generation, .. } if generation != self.generation => {}
            SnapshotsCmd::Listed { result, .. } => {
                let status = &self.widgets.status;
                match result {
                    Ok(mut entries) => {
                        entries.sort_by_key(|e| e.date);
                        status.set_label(&gettext("No snapshots yet."));
                        status.set_visible(entries.is_empty());
                        self.entries = entries;
                    }
                    Err(reason) => {
                        status.set_label(&reason);
                        status.set_visible(true);
                        self.entries.clear();
                    }
                }
                self.show(&sender);
            }
            SnapshotsCmd::Done { op, tag, result } => {
                self.busy = None;
                match result {
                    Ok(()) => {
                        let text = match op {
                            Op::Take => i18n_f("Snapshot “{}” taken", &[&tag]),
                            Op::Revert => i18n_f("Reverted to “{}”", &[&tag]),
                            Op::Delete => i18n_f("Snapshot “{}” deleted", &[&tag]),
                        };
                        tracing::info!(vm = self.name, ?op, tag, "snapshot operation done");
                        out(&sender, SnapshotsOutput::Notify(text));
                    }
                    Err(details) => {
                        let summary = match op {
                            Op::Take => gettext("Could not take the snapshot"),
                            Op::Revert => gettext("Could not revert to the snapshot"),
                            Op::Delete => gettext("Could not delete the snapshot"),
                        };
                        out(&sender, SnapshotsOutput::Error(UserError::new(summary, details)));
                    }
                }
                self.reload(&sender);
                self.show(&sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> SnapshotEntry {
        SnapshotEntry {
            name: name.into(),
            date: 0,
            has_ram: true,
            vm_state_size: 0,
        }
    }

    #[test]
    fn default_names_carry_the_date_and_stay_unique() {
        let when = glib::DateTime::from_local(2026, 11, 21, 15, 30, 5.0).unwrap();
        assert_eq!(default_name(&when), "snapshot-2026-11-21-153005");
        let taken = [entry("s"), entry("s-2")];
        assert_eq!(unique_name("s", &taken), "s-3");
        assert_eq!(unique_name("t", &taken), "t");
        let unix = when.to_unix();
        assert_eq!(format_date(unix), "2026-11-21 15:30");
    }
}
