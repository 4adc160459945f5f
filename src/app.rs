//! The main window component: header bar, actions and shortcuts, the library, and the error
//! funnel (every failure becomes an [`AppMsg::Error`] and ends in a toast or a dialog).

use std::path::PathBuf;

use adw::prelude::*;

use crate::a11y::AccessibleLabelExt;
use gtk::{gio, glib};
use hangar_core::paths::Paths;
use relm4::{Component, ComponentController, ComponentParts, ComponentSender, Controller};

use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};
use crate::library_source::{self, LibraryError};
use crate::model::VmRow;
use crate::settings::{keys, Prefs};
use crate::ui::library::{Library, LibraryMsg, LibraryOutput};
use crate::ui::{about, dialogs, new_vm, preferences};

/// What the window needs at start.
pub struct AppInit {
    pub prefs: Prefs,
}

pub struct App {
    prefs: Prefs,
    library: Controller<Library>,
    /// Where the VMs are listed from (see [`library_source::resolve_paths`]).
    paths: Paths,
    /// Watches `paths.vms`; replaced when the folder changes.
    monitor: Option<gio::FileMonitor>,
    /// Incremented per scan so that a slow, outdated scan cannot overwrite a newer one.
    scan_generation: u64,
    toasts: adw::ToastOverlay,
}

/// Inputs of the main window. The VM list and its changes come in as `SetVms`, `UpdateVm` and
/// `RemoveVm`; failures from anywhere come in as `Error`.
#[derive(Debug)]
pub enum AppMsg {
    /// Replace the whole VM list.
    SetVms(Vec<VmRow>),
    /// Replace the VM with the same name, or add it.
    UpdateVm(VmRow),
    /// Remove the VM with this name.
    RemoveVm(String),
    /// Tell the user something failed.
    Error(UserError),
    /// Short confirmation in a toast.
    Notify(String),
    /// List the VM folder again.
    Reload,
    /// The `vm-folder` setting changed.
    FolderChanged,
    /// Ask for a new VM (Ctrl+N, "+" button, empty-state button).
    NewVm,
    /// Create the VM named so.
    CreateVm(String),
    /// Explain why a VM cannot be loaded.
    ShowBroken {
        name: String,
        error: String,
    },
    ShowPreferences,
    ShowAbout,
    /// Close the window (saving its size) and so quit.
    Quit,
}

/// Results of work done off the main thread.
#[derive(Debug)]
pub enum AppCmd {
    Scanned {
        generation: u64,
        result: Result<Vec<VmRow>, LibraryError>,
    },
    Created {
        name: String,
        result: Result<PathBuf, LibraryError>,
    },
}

impl App {
    fn watch_folder(&mut self, sender: &ComponentSender<Self>) {
        let input = sender.input_sender().clone();
        self.monitor = library_source::watch(&self.paths.vms, move || input.emit(AppMsg::Reload));
        self.library
            .emit(LibraryMsg::SetFolder(self.paths.vms.display().to_string()));
    }

    fn reload(&mut self, sender: &ComponentSender<Self>) {
        self.scan_generation += 1;
        let generation = self.scan_generation;
        let paths = self.paths.clone();
        sender.spawn_oneshot_command(move || AppCmd::Scanned {
            generation,
            result: library_source::scan(&paths),
        });
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
                gtk::Box {
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
        }
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let AppInit { prefs } = init;
        let library = Library::builder()
            .launch(())
            .forward(sender.input_sender(), |out| match out {
                LibraryOutput::ShowBroken { name, error } => AppMsg::ShowBroken { name, error },
            });
        let paths = library_source::resolve_paths(&prefs.vm_folder());
        let library_widget = library.widget().clone();
        let widgets = view_output!();
        let toasts = widgets.toasts.clone();
        let mut model = App {
            prefs,
            library,
            paths,
            monitor: None,
            scan_generation: 0,
            toasts,
        };

        let (width, height, maximized) = model.prefs.window_state();
        root.set_default_size(width, height);
        if maximized {
            root.maximize();
        }
        let prefs = model.prefs.clone();
        root.connect_close_request(move |window| {
            prefs.save_window_state(window);
            glib::Propagation::Proceed
        });

        install_actions(&root, &sender, model.prefs.settings().is_some());
        if let Some(settings) = model.prefs.settings() {
            let input = sender.input_sender().clone();
            settings.connect_changed(Some(keys::VM_FOLDER), move |_, _| {
                input.emit(AppMsg::FolderChanged)
            });
        }

        model.watch_folder(&sender);
        model.reload(&sender);
        tracing::info!(folder = %model.paths.vms.display(), "library window ready");
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            AppMsg::SetVms(rows) => self.library.emit(LibraryMsg::SetVms(rows)),
            AppMsg::UpdateVm(row) => self.library.emit(LibraryMsg::UpdateVm(row)),
            AppMsg::RemoveVm(name) => self.library.emit(LibraryMsg::RemoveVm(name)),
            AppMsg::Error(err) => self.report(root, err),
            AppMsg::Notify(text) => self.notify(&text),
            AppMsg::Reload => self.reload(&sender),
            AppMsg::FolderChanged => {
                self.paths = library_source::resolve_paths(&self.prefs.vm_folder());
                self.watch_folder(&sender);
                self.reload(&sender);
            }
            AppMsg::NewVm => {
                let input = sender.input_sender().clone();
                new_vm::present(root, &self.paths.vms, move |name| input.emit(AppMsg::CreateVm(name)));
            }
            AppMsg::CreateVm(name) => {
                let paths = self.paths.clone();
                sender.spawn_oneshot_command(move || {
                    let result = library_source::create(&paths, &name);
                    AppCmd::Created { name, result }
                });
            }
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
                let info = about::debug_info(&self.paths.vms.display().to_string(), &self.prefs.describe());
                about::present(root, &info);
            }
            AppMsg::Quit => root.close(),
        }
    }

    fn update_cmd(&mut self, cmd: Self::CommandOutput, sender: ComponentSender<Self>, root: &Self::Root) {
        match cmd {
            AppCmd::Scanned { generation, .. } if generation != self.scan_generation => {
                tracing::debug!(generation, "dropping an outdated scan");
            }
            AppCmd::Scanned { result: Ok(rows), .. } => {
                tracing::debug!(count = rows.len(), "virtual machines listed");
                self.library.emit(LibraryMsg::SetVms(rows));
            }
            AppCmd::Scanned { result: Err(err), .. } => {
                self.library.emit(LibraryMsg::SetVms(Vec::new()));
                self.report(
                    root,
                    UserError::from_error(gettext("Could not list the virtual machines"), &err),
                );
            }
            AppCmd::Created { name, result: Ok(_) } => {
                self.notify(&i18n_f("“{}” created", &[&name]));
                self.reload(&sender);
            }
            AppCmd::Created { result: Err(err), .. } => {
                self.report(
                    root,
                    UserError::from_error(gettext("Could not create the virtual machine"), &err),
                );
            }
        }
    }
}
