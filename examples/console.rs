//! A window with nothing but the embedded console of one VM, as the VM page shows it. Used by
//! `tests/gui_console.rs` and handy to look at the console on its own:
//!
//! ```text
//! HANGAR_HOME=… HANGAR_RUNTIME_DIR=… cargo run --example console -- NAME
//! ```
//!
//! The window title is `NAME (console example)`. It does what the VM page does with the console's
//! outputs: Start starts the VM, SetFullscreen fullscreens the window (and hides its header
//! bar), errors and notices are shown in toasts and printed on stderr. Manager events are
//! forwarded, and discovery attaches to VMs started elsewhere (e.g. by hangarctl).
//! `HANGAR_USB_ROOT` reads host USB devices under a fixture tree, and `HANGAR_EXAMPLE_USB_UID`
//! judges their permissions as that user (tests of the USB menu).

use std::process::ExitCode;

use adw::prelude::*;
use gtk::glib;
use hangar::error::UserError;
use hangar::settings::Prefs;
use hangar::ui::console::{Console, ConsoleInit, ConsoleInput, ConsoleOutput};
use hangar_core::manager::{Event, Manager, StartOptions};
use hangar_core::usb::Identity;
use relm4::{Component, ComponentController, ComponentParts, ComponentSender, Controller, RelmApp};
use tokio::sync::broadcast::error::RecvError;

struct Demo {
    manager: Manager,
    name: String,
    console: Controller<Console>,
    header: adw::HeaderBar,
    toasts: adw::ToastOverlay,
}

#[derive(Debug)]
enum DemoMsg {
    Event(Event),
    Console(ConsoleOutput),
}

#[derive(Debug)]
enum DemoCmd {
    Started(Result<(), UserError>),
}

struct DemoInit {
    manager: Manager,
    name: String,
    prefs: Prefs,
}

impl Demo {
    fn toast(&self, text: &str) {
        self.toasts
            .add_toast(adw::Toast::new(&glib::markup_escape_text(text)));
    }
}

impl Component for Demo {
    type Init = DemoInit;
    type Input = DemoMsg;
    type Output = ();
    type CommandOutput = DemoCmd;
    type Root = adw::ApplicationWindow;
    type Widgets = ();

    fn init_root() -> Self::Root {
        adw::ApplicationWindow::builder()
            .default_width(900)
            .default_height(640)
            .build()
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let DemoInit { manager, name, prefs } = init;
        root.set_title(Some(&format!("{name} (console example)")));
        let console = Console::builder()
            .launch(ConsoleInit {
                manager: manager.clone(),
                name: name.clone(),
                prefs,
            })
            .forward(sender.input_sender(), DemoMsg::Console);
        let header = adw::HeaderBar::builder()
            .title_widget(&adw::WindowTitle::new(&name, "Console"))
            .build();
        let body = gtk::Box::new(gtk::Orientation::Vertical, 0);
        body.append(&header);
        body.append(console.widget());
        let toasts = adw::ToastOverlay::new();
        toasts.set_child(Some(&body));
        root.set_content(Some(&toasts));
        let bar = header.clone();
        root.connect_fullscreened_notify(move |w| bar.set_visible(!w.is_fullscreen()));

        let input = sender.input_sender().clone();
        let events_of = manager.clone();
        relm4::spawn(async move {
            let mut events = events_of.subscribe();
            if let Err(err) = events_of.spawn_discovery() {
                eprintln!("console example: no discovery: {err}");
            }
            loop {
                match events.recv().await {
                    Ok(event) => input.emit(DemoMsg::Event(event)),
                    Err(RecvError::Lagged(n)) => eprintln!("console example: {n} events missed"),
                    Err(RecvError::Closed) => break,
                }
            }
        });
        root.present();
        let model = Demo {
            manager,
            name,
            console,
            header,
            toasts,
        };
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, root: &Self::Root) {
        match msg {
            DemoMsg::Event(event) => self.console.emit(ConsoleInput::VmEvent(event)),
            DemoMsg::Console(ConsoleOutput::SetFullscreen(on)) => {
                self.header.set_visible(!on);
                root.set_fullscreened(on);
            }
            DemoMsg::Console(ConsoleOutput::Start) => {
                let manager = self.manager.clone();
                let name = self.name.clone();
                sender.oneshot_command(async move {
                    let result = manager
                        .start(&name, &StartOptions::default())
                        .await
                        .map(drop)
                        .map_err(|e| UserError::from_error("Could not start the virtual machine", &e));
                    DemoCmd::Started(result)
                });
            }
            DemoMsg::Console(ConsoleOutput::Notify(text)) => {
                eprintln!("console example: notice: {text}");
                self.toast(&text);
            }
            DemoMsg::Console(ConsoleOutput::Error(err)) => {
                eprintln!("console example: error: {}: {}", err.summary, err.details);
                self.toast(&err.summary);
            }
        }
    }

    fn update_cmd(&mut self, cmd: Self::CommandOutput, _sender: ComponentSender<Self>, _root: &Self::Root) {
        match cmd {
            DemoCmd::Started(Ok(())) => {}
            DemoCmd::Started(Err(err)) => {
                eprintln!("console example: error: {}: {}", err.summary, err.details);
                self.toast(&err.summary);
            }
        }
    }
}

fn main() -> ExitCode {
    hangar::logging::init();
    hangar::i18n::init();
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: console VM-NAME   (the VM is looked up in $HANGAR_HOME)");
        return ExitCode::from(2);
    };
    if let Err(err) = hangar::resources::register() {
        eprintln!("console example: the built-in resources are damaged: {err}");
        return ExitCode::FAILURE;
    }
    if let Err(err) = gtk::init() {
        eprintln!("console example: cannot open a display: {err}");
        return ExitCode::FAILURE;
    }
    if let Err(err) = adw::init() {
        eprintln!("console example: libadwaita did not initialise: {err}");
    }
    let app = adw::Application::builder()
        .application_id("org.hangar.Hangar.ConsoleExample")
        .flags(gtk::gio::ApplicationFlags::NON_UNIQUE)
        .resource_base_path(hangar::config::RESOURCE_BASE)
        .build();
    let prefs = Prefs::load();
    let mut manager = Manager::from_env();
    // Host USB devices from a fixture tree, judged as another user (tests of the USB menu).
    if let Some(root) = std::env::var_os("HANGAR_USB_ROOT") {
        manager = manager.with_usb_root(root);
    }
    if let Some(uid) = std::env::var("HANGAR_EXAMPLE_USB_UID")
        .ok()
        .and_then(|u| u.parse().ok())
    {
        manager = manager.with_usb_identity(Identity::User {
            uid,
            gid: uid,
            groups: vec![],
        });
    }
    RelmApp::from_app(app)
        .with_args(Vec::new())
        .run::<Demo>(DemoInit { manager, name, prefs });
    ExitCode::SUCCESS
}
