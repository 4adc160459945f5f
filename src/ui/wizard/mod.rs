//! The New Virtual Machine wizard: a modal window over the main one that walks through the
//! source (ISO, existing disk or nothing), the operating system, memory/processors/disk,
//! firmware and network, and the name, then creates the VM through hangar-core's manager.
//!
//! ```text
//! AdwWindow (modal)                              mod.rs   Wizard (relm4 component)
//! ├── AdwHeaderBar  [Back]  AdwWindowTitle  [spinner] [Next | Create]
//! └── GtkStack  one AdwPreferencesPage per step
//!     source     ISO path + recent ISOs | disk image | empty   source.rs
//!     os         detection result, searchable osinfo list        os.rs
//!     resources  memory, vCPUs, disk size (capped by the host)   resources.rs
//!     system     firmware (automatic or chosen), TPM, network    system.rs
//!     name       validated live                                  name.rs
//!     summary    everything, "customize", errors of creation     summary.rs
//! ```
//!
//! The choices live in [`model::WizardState`], which has no widgets (unit-tested); the pages
//! render it and send edits as [`WizardInput`]. Slow work (osinfo-db, ISO and image checks,
//! creation) runs as relm4 commands. Next is the default widget (Enter) and stays disabled
//! until the page is valid; Escape closes the window, except while the VM is being created.

mod actions;
pub mod model;
mod name;
mod os;
pub mod recent;
mod resources;
mod rows;
mod source;
mod summary;
mod system;

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;
use hangar_core::config::NetMode;
use hangar_core::manager::Manager;
use hangar_core::osinfo::{HostLimits, OsDb, OsMatch};
use relm4::{Component, ComponentController, ComponentParts, ComponentSender};

use crate::a11y::AccessibleLabelExt;
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};

use model::{FirmwareChoice, ImportedDisk, Page, SourceKind, WizardState};

/// How the wizard ended (it reports nothing when cancelled).
#[derive(Debug, Clone)]
pub enum WizardOutcome {
    /// The VM exists. `customize`: the user wants its details before installing.
    Created { name: String, customize: bool },
    /// Something the main window should report.
    Failed(UserError),
}

/// Shows the wizard over `parent`; `on_done` hears of the new VM.
pub fn present(parent: &adw::ApplicationWindow, manager: Manager, on_done: impl Fn(WizardOutcome) + 'static) {
    let controller = Wizard::builder()
        .update_root(|window| window.set_transient_for(Some(parent)))
        .launch(WizardInit {
            manager,
            on_done: Box::new(on_done),
        })
        .detach();
    let window = controller.widget().clone();
    // The component lives as long as its window.
    let slot = std::rc::Rc::new(std::cell::RefCell::new(Some(controller)));
    window.connect_destroy(move |_| {
        slot.borrow_mut().take();
    });
    window.present();
}

pub struct WizardInit {
    pub manager: Manager,
    pub on_done: Box<dyn Fn(WizardOutcome)>,
}

/// The osinfo database, loaded off the main thread.
#[derive(Debug)]
pub(crate) enum DbState {
    Loading,
    Ready(&'static OsDb),
    Failed(String),
}

/// The pages' way to send edits. Widgets echo what [`Wizard::refresh`] sets into them as
/// signals; those echoes are dropped while `quiet` is set, so only the user's edits arrive.
#[derive(Clone)]
pub(crate) struct Input {
    sender: relm4::Sender<WizardInput>,
    quiet: Rc<Cell<bool>>,
}

impl Input {
    pub fn emit(&self, message: WizardInput) {
        if !self.quiet.get() {
            self.sender.emit(message);
        }
    }
}

/// Edits from the pages and the header bar.
#[derive(Debug)]
pub enum WizardInput {
    SetSource(SourceKind),
    IsoPath(String),
    ImportPath(String),
    /// Debounced check of the path typed, if `generation` is still the latest.
    CheckIso(u64),
    CheckImport(u64),
    /// Open a file chooser for the ISO or the disk image.
    ChooseFile(SourceKind),
    UseRecent(PathBuf),
    OsQuery(String),
    /// Enter in the search field: pick the first hit, or go on when it is already chosen.
    OsSearchActivated,
    /// osinfo id; `None` for "Generic Linux / Other".
    ChooseOs(Option<String>),
    Memory(u64),
    Cpus(u32),
    DiskGib(u64),
    RecommendedResources,
    Firmware(FirmwareChoice),
    Tpm(bool),
    Network(NetMode),
    Bridge(String),
    Name(String),
    Customize(bool),
    Back,
    Next,
}

/// Results of work done off the main thread.
#[derive(Debug)]
pub enum WizardCmd {
    HostReady {
        db: Result<&'static OsDb, String>,
        free_disk: Option<u64>,
    },
    IsoChecked {
        generation: u64,
        result: Result<Option<Box<OsMatch>>, String>,
    },
    ImportChecked {
        generation: u64,
        result: Result<ImportedDisk, String>,
    },
    Created(Result<actions::Created, UserError>),
}

pub struct Wizard {
    manager: Manager,
    on_done: Box<dyn Fn(WizardOutcome)>,
    window: adw::Window,
    state: WizardState,
    page: Page,
    db: DbState,
    query: String,
    iso_generation: u64,
    import_generation: u64,
    recent_file: PathBuf,
    /// Recent ISOs that still exist.
    recent: Vec<PathBuf>,
    creating: bool,
    /// Why the last creation failed (shown on the summary page).
    error: Option<UserError>,
    /// The open file chooser (kept alive until it answers).
    chooser: Option<gtk::FileChooserNative>,
    /// The page changed: move the keyboard focus into it at the next refresh.
    focus_pending: Cell<bool>,
    /// Set while [`Wizard::refresh`] updates widgets (see [`Input`]).
    quiet: Rc<Cell<bool>>,
}

pub struct WizardWidgets {
    title: adw::WindowTitle,
    back: gtk::Button,
    next: gtk::Button,
    spinner: gtk::Spinner,
    stack: gtk::Stack,
    source: source::SourcePage,
    os: os::OsPage,
    resources: resources::ResourcesPage,
    system: system::SystemPage,
    name: name::NamePage,
    summary: summary::SummaryPage,
}

impl Wizard {
    fn exists(&self) -> impl Fn(&str) -> bool + '_ {
        |name: &str| self.manager.store().exists(name)
    }

    fn page_problem(&self) -> Option<model::PageProblem> {
        self.state.validate_page(self.page, &self.exists()).err()
    }

    fn refresh(&self, widgets: &WizardWidgets) {
        self.quiet.set(true);
        self.refresh_widgets(widgets);
        self.quiet.set(false);
    }

    fn refresh_widgets(&self, widgets: &WizardWidgets) {
        let index = self.page.index();
        widgets.title.set_subtitle(&i18n_f(
            "Step {} of {}: {}",
            &[
                &(index + 1).to_string(),
                &Page::ALL.len().to_string(),
                &self.page.title(),
            ],
        ));
        if widgets.stack.visible_child_name().as_deref() != Some(self.page.id()) {
            widgets.stack.set_visible_child_name(self.page.id());
        }
        widgets.back.set_visible(self.page.previous().is_some());
        widgets.back.set_sensitive(!self.creating);
        let last = self.page.next().is_none();
        let label = match (last, self.creating) {
            (true, true) => gettext("Creating…"),
            (true, false) => gettext("C_reate"),
            (false, _) => gettext("_Next"),
        };
        if let Some(child) = widgets.next.child().and_downcast::<gtk::Label>() {
            if child.label() != label {
                child.set_label(&label);
            }
        }
        widgets
            .next
            .set_sensitive(!self.creating && self.page_problem().is_none());
        widgets.spinner.set_visible(self.creating);
        widgets.spinner.set_spinning(self.creating);

        widgets.source.refresh(self);
        widgets.os.refresh(self);
        widgets.resources.refresh(self);
        widgets.system.refresh(self);
        widgets.name.refresh(self);
        widgets.summary.refresh(self);

        if self.focus_pending.replace(false) {
            let focused = match self.page {
                Page::Source => widgets.source.focus(),
                Page::Os => widgets.os.focus(),
                Page::Resources => widgets.resources.focus(),
                Page::System => widgets.system.focus(),
                Page::Name => widgets.name.focus(),
                Page::Summary => widgets.next.grab_focus(),
            };
            if !focused {
                widgets.next.grab_focus();
            }
        }
    }
}

impl Component for Wizard {
    type CommandOutput = WizardCmd;
    type Input = WizardInput;
    type Output = ();
    type Init = WizardInit;
    type Root = adw::Window;
    type Widgets = WizardWidgets;

    fn init_root() -> adw::Window {
        adw::Window::builder()
            .modal(true)
            .default_width(640)
            .default_height(560)
            .title(gettext("New Virtual Machine"))
            .build()
    }

    fn init(init: WizardInit, root: adw::Window, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let WizardInit { manager, on_done } = init;
        let limits = HostLimits::from_caps(manager.host(), None);
        let recent_file = recent::default_file();
        let recent = recent::load(&recent_file)
            .into_iter()
            .filter(|p| p.is_file())
            .collect();
        let mut model = Wizard {
            manager,
            on_done,
            window: root.clone(),
            state: WizardState::new(limits),
            page: Page::Source,
            db: DbState::Loading,
            query: String::new(),
            iso_generation: 0,
            import_generation: 0,
            recent_file,
            recent,
            creating: false,
            error: None,
            chooser: None,
            focus_pending: Cell::new(true),
            quiet: Rc::default(),
        };
        let manager = model.manager.clone();
        model.state.sync_name(&|n: &str| manager.store().exists(n));

        let vms = model.manager.store().paths().vms.clone();
        sender.spawn_oneshot_command(move || WizardCmd::HostReady {
            db: hangar_core::osinfo::system_db().map_err(|e| e.to_string()),
            free_disk: actions::free_space(&vms),
        });

        let input = Input {
            sender: sender.input_sender().clone(),
            quiet: model.quiet.clone(),
        };
        let widgets = build_widgets(&root, &input);
        model.refresh(&widgets);
        ComponentParts { model, widgets }
    }

    fn update_with_view(
        &mut self,
        widgets: &mut WizardWidgets,
        message: WizardInput,
        sender: ComponentSender<Self>,
        _root: &adw::Window,
    ) {
        self.handle(message, &sender);
        self.state.sync_name(&|n: &str| self.manager.store().exists(n));
        self.refresh(widgets);
    }

    fn update_cmd_with_view(
        &mut self,
        widgets: &mut WizardWidgets,
        message: WizardCmd,
        _sender: ComponentSender<Self>,
        root: &adw::Window,
    ) {
        match message {
            WizardCmd::HostReady { db, free_disk } => {
                self.db = match db {
                    Ok(db) => DbState::Ready(db),
                    Err(why) => {
                        tracing::warn!("operating system list unavailable: {why}");
                        DbState::Failed(why)
                    }
                };
                self.state
                    .set_limits(HostLimits::from_caps(self.manager.host(), free_disk));
            }
            WizardCmd::IsoChecked { generation, result } => {
                if generation == self.iso_generation {
                    self.state.set_iso_checked(result.map(|found| found.map(|m| *m)));
                }
            }
            WizardCmd::ImportChecked { generation, result } => {
                if generation == self.import_generation {
                    self.state.import = match result {
                        Ok(disk) => model::Check::Ready(disk),
                        Err(why) => model::Check::Failed(why),
                    };
                }
            }
            WizardCmd::Created(result) => {
                self.creating = false;
                match result {
                    Ok(created) => {
                        (self.on_done)(WizardOutcome::Created {
                            name: created.name,
                            customize: self.state.customize,
                        });
                        // The window refuses to close while its spinner turns (creation
                        // under way): stop it first, or the wizard stays open for good.
                        widgets.spinner.set_spinning(false);
                        root.close();
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(summary = %err.summary, details = %err.details, "creation failed");
                        self.error = Some(err);
                    }
                }
            }
        }
        self.state.sync_name(&|n: &str| self.manager.store().exists(n));
        self.refresh(widgets);
    }

    fn shutdown(&mut self, _widgets: &mut WizardWidgets, _output: relm4::Sender<()>) {
        if let Some(chooser) = self.chooser.take() {
            chooser.destroy();
        }
    }
}

/// A button whose label has a mnemonic. The label is its child (not the button's `label`
/// property), so that screen readers hear "Next" rather than "_Next".
fn mnemonic_button(text: &str) -> gtk::Button {
    let label = gtk::Label::with_mnemonic(text);
    let button = gtk::Button::builder().child(&label).build();
    label.set_mnemonic_widget(Some(&button));
    button
}

/// The header bar, the stack of pages and the window's keys.
fn build_widgets(root: &adw::Window, input: &Input) -> WizardWidgets {
    let title = adw::WindowTitle::new(&gettext("New Virtual Machine"), "");
    let header = adw::HeaderBar::builder().title_widget(&title).build();
    let back = mnemonic_button(&gettext("_Back"));
    let next = mnemonic_button(&gettext("_Next"));
    next.add_css_class("suggested-action");
    next.set_receives_default(true);
    let spinner = gtk::Spinner::new();
    spinner.set_accessible_label(&gettext("Creating the virtual machine"));
    header.pack_start(&back);
    header.pack_end(&next);
    header.pack_end(&spinner);
    {
        let input = input.clone();
        back.connect_clicked(move |_| input.emit(WizardInput::Back));
    }
    {
        let input = input.clone();
        next.connect_clicked(move |_| input.emit(WizardInput::Next));
    }

    let stack = gtk::Stack::builder()
        .transition_type(gtk::StackTransitionType::SlideLeftRight)
        .vexpand(true)
        .build();
    let source = source::SourcePage::new(input);
    let os = os::OsPage::new(input);
    let resources = resources::ResourcesPage::new(input);
    let system = system::SystemPage::new(input);
    let name = name::NamePage::new(input);
    let summary = summary::SummaryPage::new(input);
    stack.add_named(&source.root, Some(Page::Source.id()));
    stack.add_named(&os.root, Some(Page::Os.id()));
    stack.add_named(&resources.root, Some(Page::Resources.id()));
    stack.add_named(&system.root, Some(Page::System.id()));
    stack.add_named(&name.root, Some(Page::Name.id()));
    stack.add_named(&summary.root, Some(Page::Summary.id()));

    let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
    content.append(&header);
    content.append(&stack);
    root.set_content(Some(&content));
    root.set_default_widget(Some(&next));

    // Escape closes (cancels); close requests wait while the VM is being created.
    let keys = gtk::ShortcutController::new();
    keys.add_shortcut(gtk::Shortcut::new(
        gtk::ShortcutTrigger::parse_string("Escape"),
        Some(gtk::NamedAction::new("window.close")),
    ));
    root.add_controller(keys);
    {
        let spinner = spinner.clone();
        root.connect_close_request(move |_| {
            if spinner.is_spinning() {
                glib::Propagation::Stop
            } else {
                glib::Propagation::Proceed
            }
        });
    }

    WizardWidgets {
        title,
        back,
        next,
        spinner,
        stack,
        source,
        os,
        resources,
        system,
        name,
        summary,
    }
}
