//! The library page's content: a spinner while loading, an empty state, or the list of
//! virtual machines in a boxed list (rows: ui/vm_row.rs). Rows stay in place across refreshes
//! ([`merge_plan`]), so focus and open menus survive a change made elsewhere.

use adw::prelude::*;

use crate::a11y::AccessibleLabelExt;
use relm4::factory::{DynamicIndex, FactoryVecDeque};
use relm4::{ComponentParts, ComponentSender, SimpleComponent};

use gtk::gdk;

use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};
use crate::model::{merge_plan, Busy, Edit, RowState, VmAction, VmRow};
use crate::ui::vm_row::{VmRowItem, VmRowOutput};

/// Which page of the stack is visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Loading,
    Empty,
    List,
}

impl Page {
    fn name(self) -> &'static str {
        match self {
            Page::Loading => "loading",
            Page::Empty => "empty",
            Page::List => "list",
        }
    }
}

pub struct Library {
    rows: FactoryVecDeque<VmRowItem>,
    page: Page,
    folder: String,
}

#[derive(Debug)]
pub enum LibraryMsg {
    /// Replace the list; rows whose VM stays keep their widget (and focus).
    SetVms(Vec<VmRow>),
    /// New run state of one VM.
    SetState(String, RowState),
    /// New thumbnail of one VM.
    SetThumbnail(String, Option<gdk::Texture>),
    /// Work in progress on one VM (`None`: done).
    SetBusy(String, Option<Busy>),
    /// Folder shown under the list heading.
    SetFolder(String),
    /// Move the keyboard focus to the row of this VM (coming back from its page).
    Focus(String),
    /// A row was activated.
    Open(DynamicIndex),
    /// A row's menu action (or its Delete key).
    Action(DynamicIndex, VmAction),
}

#[derive(Debug)]
pub enum LibraryOutput {
    /// Open the page of this VM.
    Open(String),
    /// A broken VM was activated: show why it cannot be loaded.
    ShowBroken { name: String, error: String },
    /// Run `action` on VM `name`.
    Action { name: String, action: VmAction },
    /// Something the user asked for cannot be done now.
    Error(UserError),
}

impl Library {
    fn refresh_page(&mut self) {
        self.page = if self.rows.is_empty() {
            Page::Empty
        } else {
            Page::List
        };
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.rows.iter().position(|item| item.row.name == name)
    }

    fn edit(&mut self, name: &str, change: impl FnOnce(&mut VmRowItem)) {
        if let Some(index) = self.index_of(name) {
            if let Some(item) = self.rows.guard().get_mut(index) {
                change(item);
            }
        }
    }

    fn set_vms(&mut self, mut vms: Vec<VmRow>) {
        vms.sort_by_key(VmRow::sort_key);
        let old: Vec<String> = self.rows.iter().map(|item| item.row.name.clone()).collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = vms.iter().map(|row| row.name.as_str()).collect();
        let edits = merge_plan(&old, &new);
        let mut guard = self.rows.guard();
        for edit in edits {
            match edit {
                Edit::Remove(at) => {
                    guard.remove(at);
                }
                Edit::Update(at) => {
                    if let (Some(item), Some(row)) = (guard.get_mut(at), vms.get(at)) {
                        if item.row != *row {
                            item.row = row.clone();
                        }
                    }
                }
                Edit::Insert(at) => {
                    if let Some(row) = vms.get(at) {
                        guard.insert(at, row.clone());
                    }
                }
            }
        }
        drop(guard);
        self.refresh_page();
    }
}

#[relm4::component(pub)]
impl SimpleComponent for Library {
    type Init = ();
    type Input = LibraryMsg;
    type Output = LibraryOutput;

    view! {
        #[root]
        gtk::Stack {
            set_transition_type: gtk::StackTransitionType::Crossfade,
            set_vexpand: true,

            add_child = &gtk::Spinner {
                set_spinning: true,
                set_size_request: (32, 32),
                set_halign: gtk::Align::Center,
                set_valign: gtk::Align::Center,
                set_accessible_label: &gettext("Loading virtual machines"),
            } -> {
                set_name: "loading",
            },

            add_child = &adw::StatusPage {
                set_icon_name: Some("org.hangar.Hangar-symbolic"),
                set_title: &gettext("No Virtual Machines"),
                set_description: Some(&gettext("Create a virtual machine to run another operating system on this computer.")),

                #[wrap(Some)]
                set_child = &gtk::Button {
                    set_label: &gettext("New Virtual Machine"),
                    set_halign: gtk::Align::Center,
                    set_action_name: Some("win.new-vm"),
                    add_css_class: "pill",
                    add_css_class: "suggested-action",
                },
            } -> {
                set_name: "empty",
            },

            add_child = &gtk::ScrolledWindow {
                set_hscrollbar_policy: gtk::PolicyType::Never,

                adw::Clamp {
                    set_maximum_size: 720,
                    set_tightening_threshold: 480,

                    gtk::Box {
                        set_orientation: gtk::Orientation::Vertical,
                        set_spacing: 12,
                        set_margin_top: 24,
                        set_margin_bottom: 24,
                        set_margin_start: 12,
                        set_margin_end: 12,

                        gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            set_spacing: 2,

                            gtk::Label {
                                set_label: &gettext("Virtual Machines"),
                                set_xalign: 0.0,
                                add_css_class: "heading",
                            },
                            gtk::Label {
                                #[watch]
                                set_label: &model.folder,
                                #[watch]
                                set_tooltip_text: Some(&model.folder),
                                set_xalign: 0.0,
                                set_ellipsize: gtk::pango::EllipsizeMode::Middle,
                                add_css_class: "dim-label",
                                add_css_class: "library-folder",
                            },
                        },

                        #[local_ref]
                        list_box -> gtk::ListBox {
                            set_selection_mode: gtk::SelectionMode::None,
                            set_valign: gtk::Align::Start,
                            add_css_class: "boxed-list",
                            set_accessible_label: &gettext("Virtual Machines"),
                        },
                    },
                },
            } -> {
                set_name: "list",
            },

            #[watch]
            set_visible_child_name: model.page.name(),
        }
    }

    fn init(_: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let rows = FactoryVecDeque::builder()
            .launch(gtk::ListBox::default())
            .forward(sender.input_sender(), |out| match out {
                VmRowOutput::Open(index) => LibraryMsg::Open(index),
                VmRowOutput::Action(index, action) => LibraryMsg::Action(index, action),
            });
        let model = Library {
            rows,
            page: Page::Loading,
            folder: String::new(),
        };
        let list_box = model.rows.widget();
        let widgets = view_output!();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>) {
        match msg {
            LibraryMsg::SetVms(vms) => self.set_vms(vms),
            LibraryMsg::SetState(name, state) => self.edit(&name, |item| item.row.state = state),
            LibraryMsg::SetThumbnail(name, texture) => self.edit(&name, |item| item.row.thumbnail = texture),
            LibraryMsg::SetBusy(name, busy) => self.edit(&name, |item| item.busy = busy),
            LibraryMsg::SetFolder(folder) => self.folder = folder,
            LibraryMsg::Focus(name) => {
                if let Some(index) = self.index_of(&name) {
                    if let Some(row) = self.rows.widget().row_at_index(index as i32) {
                        row.grab_focus();
                    }
                }
            }
            LibraryMsg::Open(index) => {
                let Some(item) = self.rows.get(index.current_index()) else {
                    return;
                };
                let name = item.row.name.clone();
                let out = match &item.row.error {
                    Some(error) => LibraryOutput::ShowBroken {
                        name,
                        error: error.clone(),
                    },
                    None => LibraryOutput::Open(name),
                };
                sender.output_sender().emit(out);
            }
            LibraryMsg::Action(index, action) => {
                let Some(item) = self.rows.get(index.current_index()) else {
                    return;
                };
                let name = item.row.name.clone();
                if item.busy.is_none() && action.enabled(item.row.state, item.row.is_broken()) {
                    sender
                        .output_sender()
                        .emit(LibraryOutput::Action { name, action });
                } else if action == VmAction::Delete {
                    // The Delete key on a VM that cannot be deleted now: say why.
                    sender.output_sender().emit(LibraryOutput::Error(UserError::new(
                        i18n_f("“{}” cannot be deleted now", &[&name]),
                        gettext(
                            "Shut the virtual machine down and wait for its work to finish, then delete it.",
                        ),
                    )));
                }
            }
        }
    }
}
