//! The main window component: navigation between the library and a VM page, actions and
//! shortcuts, the manager and its bridge, and the error funnel (every failure becomes an
//! [`AppMsg::Error`] and ends in a toast or a dialog).
//!
//! Work is split: listing VMs in [`listing`], running per-VM actions in [`actions`].

mod actions;
mod listing;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use adw::prelude::*;
use gtk::{gdk, gio, glib};
use hangar_core::manager::{Event, Manager, ManagerError};
use hangar_core::store::DeletePlan;
use relm4::{Component, ComponentController, ComponentParts, ComponentSender, Controller};

use crate::a11y::AccessibleLabelExt;
use crate::bridge::{self, Bridge, BridgeMsg};
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};
use crate::model::{Busy, RowState, VmAction, VmRow};
use crate::settings::{keys, Prefs};
use crate::ui::library::{Library, LibraryMsg, LibraryOutput};
use crate::ui::vm_page::{Tab, VmPage, VmPageInit, VmPageMsg, VmPageOutput};
use crate::ui::wizard::{self, WizardOutcome};
use crate::ui::{about, dialogs, preferences};

/// What the window needs at start.
pub struct AppInit {
    pub prefs: Prefs,
}

pub struct App {
    prefs: Prefs,
    /// The manager of the current VM folder; replaced when the folder setting changes.
    manager: Manager,
    /// Forwards the manager's events; dropped (and so stopped) with the manager.
    bridge: Option<Bridge>,
    /// Counts managers, so that messages of a replaced one are ignored.
    generation: u64,
    /// Counts list requests, so that a slow, outdated list cannot overwrite a newer one.
    list_generation: u64,
    /// A list request is under way; `relist` asks for one more when it ends.
    listing: bool,
    relist: bool,
    /// Last known state of every VM (for the VM page and for thumbnails at quit).
    states: HashMap<String, RowState>,
    library: Controller<Library>,
    /// The open VM page and the name of its VM.
    page: Option<(String, Controller<VmPage>)>,
    stack: gtk::Stack,
    toasts: adw::ToastOverlay,
    /// Set once the thumbnails of running VMs are saved: the window may close.
    close_ready: Rc<Cell<bool>>,
}

/// Inputs of the main window.
#[derive(Debug)]
pub enum AppMsg {
    /// Tell the user something failed.
    Error(UserError),
    /// Short confirmation in a toast.
    Notify(String),
    /// List the VMs again.
    Relist,
    /// The `vm-folder` setting changed.
    FolderChanged,
    /// Ask for a new VM (Ctrl+N, "+" button, empty-state button).
    NewVm,
    /// The New VM dialog (or wizard) ended.
    WizardDone(WizardOutcome),
    /// Show the page of VM `name` on `tab`.
    Open {
        name: String,
        tab: Tab,
        pending_install: bool,
    },
    /// Back from the VM page to the library.
    Back,
    /// Run `action` on VM `name` (row menu, Delete key, VM page power controls).
    VmAction {
        name: String,
        action: VmAction,
    },
    /// Force Off or Reset, confirmed (or no confirmation wanted).
    PowerConfirmed {
        name: String,
        action: VmAction,
    },
    /// Clone `name` as `to`.
    CloneVm {
        name: String,
        to: String,
        linked: bool,
    },
    /// Take snapshot `tag` of `name`.
    TakeSnapshot {
        name: String,
        tag: String,
    },
    /// Delete `name`.
    DeleteVm {
        name: String,
        keep_disks: bool,
    },
    /// Output of the VM page.
    Page(VmPageOutput),
    /// Explain why a VM cannot be loaded.
    ShowBroken {
        name: String,
        error: String,
    },
    ShowPreferences,
    ShowAbout,
    /// Close the window (saving its size and the thumbnails of running VMs) and so quit.
    Quit,
}

/// Results of work done in the background.
#[derive(Debug)]
pub enum AppCmd {
    /// From the bridge of manager `generation`.
    Bridge {
        generation: u64,
        msg: BridgeMsg,
    },
    Listed {
        generation: u64,
        result: Result<Vec<VmRow>, ManagerError>,
    },
    /// A VM action ended; `failure` is the summary shown when it failed.
    Done {
        name: String,
        failure: String,
        success: Option<String>,
        result: Result<(), ManagerError>,
    },
    Progress {
        name: String,
        busy: Option<Busy>,
    },
    Thumbnail {
        name: String,
        texture: Option<gdk::Texture>,
    },
    DeletePlans {
        name: String,
        result: Result<(DeletePlan, DeletePlan), ManagerError>,
    },
    /// Thumbnails of running VMs are saved: close the window.
    ReadyToClose,
}

impl App {
    /// Starts the bridge of the current manager (stopping the previous one) and lists its VMs.
    fn connect_manager(&mut self, sender: &ComponentSender<Self>) {
        self.bridge = None;
        self.generation += 1;
        let generation = self.generation;
        self.bridge = Some(bridge::start(sender, self.manager.clone(), move |msg| {
            AppCmd::Bridge { generation, msg }
        }));
        self.library.emit(LibraryMsg::SetFolder(
            self.manager.store().paths().vms.display().to_string(),
        ));
        self.relist(sender);
    }

    fn on_bridge(&mut self, msg: BridgeMsg, root: &adw::ApplicationWindow, sender: &ComponentSender<Self>) {
        match msg {
            BridgeMsg::Event(event) => {
                match &event {
                    Event::ListChanged => self.relist(sender),
                    Event::State { name, state } => self.set_state(name, (*state).into()),
                    Event::Warning { name, message } => {
                        self.notify(&format!("{name}: {message}"));
                    }
                    _ => {}
                }
                if let Some((_, page)) = &self.page {
                    page.emit(VmPageMsg::VmEvent(event));
                }
            }
            BridgeMsg::Resync => self.relist(sender),
            BridgeMsg::DiscoveryFailed(text) => self.report(
                root,
                UserError::new(gettext("Changes made outside Hangar will not show up"), text),
            ),
        }
    }

    fn set_state(&mut self, name: &str, state: RowState) {
        self.states.insert(name.to_owned(), state);
        self.library.emit(LibraryMsg::SetState(name.to_owned(), state));
        if let Some((page_name, page)) = &self.page {
            if page_name == name {
                page.emit(VmPageMsg::SetState(state));
            }
        }
    }

    fn set_busy(&self, name: &str, busy: Option<Busy>) {
        self.library.emit(LibraryMsg::SetBusy(name.to_owned(), busy));
    }

    fn open(
        &mut self,
        name: String,
        tab: Tab,
        pending_install: bool,
        root: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        self.close_page();
        let state = self.states.get(&name).copied().unwrap_or_default();
        let page = VmPage::builder()
            .launch(VmPageInit {
                manager: self.manager.clone(),
                name: name.clone(),
                prefs: self.prefs.clone(),
                state,
                tab,
                pending_install,
            })
            .forward(sender.input_sender(), AppMsg::Page);
        self.stack.add_named(page.widget(), Some("vm"));
        self.stack.set_visible_child_name("vm");
        root.set_title(Some(&i18n_f("{} — Hangar", &[&name])));
        self.page = Some((name, page));
    }

    fn close_page(&mut self) {
        if let Some((_, page)) = self.page.take() {
            self.stack.remove(page.widget());
        }
    }

    fn back(&mut self, root: &adw::ApplicationWindow) {
        if root.is_fullscreen() {
            root.unfullscreen();
        }
        self.stack.set_visible_child_name("library");
        root.set_title(Some(&gettext("Hangar")));
        if let Some((name, _)) = &self.page {
            self.library.emit(LibraryMsg::Focus(name.clone()));
        }
        self.close_page();
    }

    fn on_page(&mut self, out: VmPageOutput, root: &adw::ApplicationWindow, sender: &ComponentSender<Self>) {
        match out {
            VmPageOutput::Back => self.back(root),
            VmPageOutput::Action { name, action } => self.run_action(name, action, root, sender),
            VmPageOutput::Error(err) => self.report(root, err),
            VmPageOutput::Notify(text) => self.notify(&text),
            VmPageOutput::SetFullscreen(on) => {
                if on {
                    root.fullscreen();
                } else {
                    root.unfullscreen();
                }
                if let Some((_, page)) = &self.page {
                    page.emit(VmPageMsg::Fullscreen(on));
                }
            }
            VmPageOutput::Renamed { from, to } => {
                if let Some(state) = self.states.remove(&from) {
                    self.states.insert(to.clone(), state);
                }
                self.relist(sender);
                self.open(to, Tab::Details, false, root, sender);
            }
        }
    }

    fn on_wizard(
        &mut self,
        outcome: WizardOutcome,
        root: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        match outcome {
            WizardOutcome::Created { name, customize } => {
                self.relist(sender);
                if customize {
                    self.open(name, Tab::Details, true, root, sender);
                } else {
                    self.open(name.clone(), Tab::Console, false, root, sender);
                    self.run_action(name, VmAction::Start, root, sender);
                }
            }
            WizardOutcome::Failed(err) => self.report(root, err),
        }
    }

    fn report(&self, root: &adw::ApplicationWindow, err: UserError) {
        tracing::warn!(summary = %err.summary, details = %err.details, "error shown to the user");
        if err.needs_dialog() {
            dialogs::show_details(root, &err.summary, "", &err.details);
            return;
        }
        let toast = adw::Toast::new(&glib::markup_escape_text(&err.summary));
        if !err.details.is_empty() {
            toast.set_button_label(Some(&gettext("Details")));
            let window = root.downgrade();
            toast.connect_button_clicked(move |_| {
                if let Some(window) = window.upgrade() {
                    dialogs::show_details(&window, &err.summary, "", &err.details);
                }
            });
        }
        self.toasts.add_toast(toast);
    }

    fn notify(&self, text: &str) {
        self.toasts
            .add_toast(adw::Toast::new(&glib::markup_escape_text(text)));
    }
}

fn primary_menu() -> gio::Menu {
    let section = gio::Menu::new();
    section.append(Some(&gettext("_Preferences")), Some("win.preferences"));
    section.append(
        Some(&gettext("_Keyboard Shortcuts")),
        Some("win.show-help-overlay"),
    );
    section.append(Some(&gettext("_About Hangar")), Some("win.about"));
    let menu = gio::Menu::new();
    menu.append_section(None, &section);
    menu
}

/// Window actions and their shortcuts; `app.quit` lives on the application.
fn install_actions(root: &adw::ApplicationWindow, sender: &ComponentSender<App>, prefs_available: bool) {
    type MakeMsg = fn() -> AppMsg;
    let window_actions: [(&str, MakeMsg); 3] = [
        ("new-vm", || AppMsg::NewVm),
        ("preferences", || AppMsg::ShowPreferences),
        ("about", || AppMsg::ShowAbout),
    ];
    for (name, make) in window_actions {
        let action = gio::SimpleAction::new(name, None);
        let input = sender.input_sender().clone();
        action.connect_activate(move |_, _| input.emit(make()));
        if name == "preferences" {
            action.set_enabled(prefs_available);
        }
        root.add_action(&action);
    }

    let app = relm4::main_application();
    let quit = gio::SimpleAction::new("quit", None);
    let input = sender.input_sender().clone();
    quit.connect_activate(move |_, _| input.emit(AppMsg::Quit));
    app.add_action(&quit);

    app.set_accels_for_action("win.new-vm", &["<Primary>n"]);
    app.set_accels_for_action("win.preferences", &["<Primary>comma"]);
    app.set_accels_for_action("win.show-help-overlay", &["<Primary>question"]);
    app.set_accels_for_action("app.quit", &["<Primary>q"]);
}

fn library_output(out: LibraryOutput) -> AppMsg {
    match out {
        LibraryOutput::Open(name) => AppMsg::Open {
            name,
            tab: Tab::Console,
            pending_install: false,
        },
        LibraryOutput::ShowBroken { name, error } => AppMsg::ShowBroken { name, error },
        LibraryOutput::Action { name, action } => AppMsg::VmAction { name, action },
        LibraryOutput::Error(err) => AppMsg::Error(err),
    }
}

#[relm4::component(pub)]
impl Component for App {
    type Init = AppInit;
    type Input = AppMsg;
    type Output = ();
    type CommandOutput = AppCmd;

    view! {
        #[root]
        adw::ApplicationWindow {
            set_title: Some(&gettext("Hangar")),
            set_width_request: 360,
            set_height_request: 294,

            #[wrap(Some)]
            set_content: toasts = &adw::ToastOverlay {
                #[name = "stack"]
                gtk::Stack {
                    set_transition_type: gtk::StackTransitionType::Crossfade,

                    add_named[Some("library")] = &gtk::Box {
                        set_orientation: gtk::Orientation::Vertical,

                        adw::HeaderBar {
                            #[wrap(Some)]
                            set_title_widget = &adw::WindowTitle {
                                set_title: &gettext("Hangar"),
                            },

                            pack_start = &gtk::Button {
                                set_icon_name: "list-add-symbolic",
                                set_tooltip_text: Some(&gettext("New Virtual Machine")),
                                set_action_name: Some("win.new-vm"),
                                set_accessible_label: &gettext("New Virtual Machine"),
                            },

                            pack_end = &gtk::MenuButton {
                                set_icon_name: "open-menu-symbolic",
                                set_primary: true,
                                set_menu_model: Some(&primary_menu()),
                                set_tooltip_text: Some(&gettext("Main Menu")),
                                set_accessible_label: &gettext("Main Menu"),
                            },
                        },

                        #[local_ref]
                        library_widget -> gtk::Stack {},
                    },
                },
            },
        }
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let AppInit { prefs } = init;
        let library = Library::builder()
            .launch(())
            .forward(sender.input_sender(), library_output);
        let library_widget = library.widget().clone();
        let widgets = view_output!();
        let mut model = App {
            manager: bridge::manager_for(&prefs.vm_folder()),
            prefs,
            bridge: None,
            generation: 0,
            list_generation: 0,
            listing: false,
            relist: false,
            states: HashMap::new(),
            library,
            page: None,
            stack: widgets.stack.clone(),
            toasts: widgets.toasts.clone(),
            close_ready: Rc::new(Cell::new(false)),
        };

        crate::logging::log_first_frame(&root);
        let (width, height, maximized) = model.prefs.window_state();
        root.set_default_size(width, height);
        if maximized {
            root.maximize();
        }
        let ready = model.close_ready.clone();
        let input = sender.input_sender().clone();
        root.connect_close_request(move |_| {
            if ready.get() {
                return glib::Propagation::Proceed;
            }
            // The size and the thumbnails of running VMs are saved first; the app closes the
            // window again when they are.
            input.emit(AppMsg::Quit);
            glib::Propagation::Stop
        });

        install_actions(&root, &sender, model.prefs.settings().is_some());
        if let Some(settings) = model.prefs.settings() {
            let input = sender.input_sender().clone();
            settings.connect_changed(Some(keys::VM_FOLDER), move |_, _| {
                input.emit(AppMsg::FolderChanged)
            });
        }

        model.connect_manager(&sender);
        tracing::info!(folder = %model.manager.store().paths().vms.display(), "library window ready");
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            AppMsg::Error(err) => self.report(root, err),
            AppMsg::Notify(text) => self.notify(&text),
            AppMsg::Relist => self.relist(&sender),
            AppMsg::FolderChanged => {
                self.back(root);
                self.states.clear();
                self.manager = bridge::manager_for(&self.prefs.vm_folder());
                self.connect_manager(&sender);
            }
            AppMsg::NewVm => {
                let input = sender.input_sender().clone();
                wizard::present(root, self.manager.clone(), move |outcome| {
                    input.emit(AppMsg::WizardDone(outcome))
                });
            }
            AppMsg::WizardDone(outcome) => self.on_wizard(outcome, root, &sender),
            AppMsg::Open {
                name,
                tab,
                pending_install,
            } => self.open(name, tab, pending_install, root, &sender),
            AppMsg::Back => self.back(root),
            AppMsg::VmAction { name, action } => self.run_action(name, action, root, &sender),
            AppMsg::PowerConfirmed { name, action } => self.power(name, action, &sender),
            AppMsg::CloneVm { name, to, linked } => self.clone_vm(name, to, linked, &sender),
            AppMsg::TakeSnapshot { name, tag } => self.take_snapshot(name, tag, &sender),
            AppMsg::DeleteVm { name, keep_disks } => self.delete_vm(name, keep_disks, root, &sender),
            AppMsg::Page(out) => self.on_page(out, root, &sender),
            AppMsg::ShowBroken { name, error } => dialogs::show_details(
                root,
                &i18n_f("“{}” Cannot Be Loaded", &[&name]),
                &gettext("Its configuration file has a problem. Fix vm.toml in a text editor, or move the folder out of the library."),
                &error,
            ),
            AppMsg::ShowPreferences => match self.prefs.settings() {
                Some(settings) => preferences::present(root, settings),
                None => self.report(
                    root,
                    UserError::new(
                        gettext("Preferences are unavailable"),
                        gettext("The settings schema could not be loaded. Reinstall Hangar."),
                    ),
                ),
            },
            AppMsg::ShowAbout => {
                let folder = self.manager.store().paths().vms.display().to_string();
                let info = about::debug_info(&folder, &self.prefs.describe());
                about::present(root, &info);
            }
            AppMsg::Quit => self.prepare_close(root, &sender),
        }
    }

    fn update_cmd(&mut self, cmd: Self::CommandOutput, sender: ComponentSender<Self>, root: &Self::Root) {
        match cmd {
            AppCmd::Bridge { generation, msg } => {
                if generation == self.generation {
                    self.on_bridge(msg, root, &sender);
                }
            }
            AppCmd::Listed { generation, result } => self.listed(generation, result, root, &sender),
            AppCmd::Done {
                name,
                failure,
                success,
                result,
            } => self.done(name, failure, success, result, root, &sender),
            AppCmd::Progress { name, busy } => self.set_busy(&name, busy),
            AppCmd::Thumbnail { name, texture } => self.library.emit(LibraryMsg::SetThumbnail(name, texture)),
            AppCmd::DeletePlans { name, result } => self.confirm_delete(name, result, root, &sender),
            AppCmd::ReadyToClose => {
                self.close_ready.set(true);
                root.close();
            }
        }
    }
}
