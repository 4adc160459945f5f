//! The content of the main window: a spinner while loading, an empty state, or the list of
//! virtual machines in a boxed list.

use adw::prelude::*;

use crate::a11y::AccessibleLabelExt;
use relm4::factory::{DynamicIndex, FactoryVecDeque};
use relm4::{ComponentParts, ComponentSender, SimpleComponent};

use crate::i18n::gettext;
use crate::model::VmRow;
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
    /// Replace the whole list.
    SetVms(Vec<VmRow>),
    /// Replace the row with the same name, or add it.
    UpdateVm(VmRow),
    /// Remove the row with this name, if any.
    RemoveVm(String),
    /// Folder shown under the list heading.
    SetFolder(String),
    /// A row was activated.
    Activated(DynamicIndex),
}

#[derive(Debug)]
pub enum LibraryOutput {
    /// A broken VM was activated: show why it cannot be loaded.
    ShowBroken { name: String, error: String },
}

impl Library {
    fn refresh_page(&mut self) {
        self.page = if self.rows.is_empty() {
            Page::Empty
        } else {
            Page::List
        };
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
                VmRowOutput::Activated(index) => LibraryMsg::Activated(index),
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
            LibraryMsg::SetVms(vms) => {
                let mut guard = self.rows.guard();
                guard.clear();
                for row in vms {
                    guard.push_back(row);
                }
                drop(guard);
                self.refresh_page();
            }
            LibraryMsg::UpdateVm(row) => {
                let mut guard = self.rows.guard();
                let existing = guard.iter().position(|item| item.row.name == row.name);
                match existing {
                    Some(index) => {
                        if let Some(item) = guard.get_mut(index) {
                            item.row = row;
                        }
                    }
                    None => {
                        let key = row.name.to_lowercase();
                        let at = guard.iter().position(|item| item.row.name.to_lowercase() > key);
                        match at {
                            Some(index) => guard.insert(index, row),
                            None => guard.push_back(row),
                        };
                    }
                }
                drop(guard);
                self.refresh_page();
            }
            LibraryMsg::RemoveVm(name) => {
                let mut guard = self.rows.guard();
                let found = guard.iter().position(|item| item.row.name == name);
                if let Some(index) = found {
                    guard.remove(index);
                }
                drop(guard);
                self.refresh_page();
            }
            LibraryMsg::SetFolder(folder) => self.folder = folder,
            LibraryMsg::Activated(index) => {
                let Some(item) = self.rows.get(index.current_index()) else {
                    return;
                };
                if let Some(error) = &item.row.error {
                    sender.output_sender().emit(LibraryOutput::ShowBroken {
                        name: item.row.name.clone(),
                        error: error.clone(),
                    });
                }
            }
        }
    }
}
