//! The Details and Snapshots views of one VM in a window of their own, wired the way the VM
//! page wires them (manager events forwarded as `VmEvent`, outputs shown as toasts).
//!
//! ```text
//! cargo run --example details                      # a demo VM in a temporary HANGAR_HOME
//! cargo run --example details -- --home DIR --vm NAME [--section usb] [--view snapshots]
//!                                [--pending-install] [--width 1000 --height 760]
//! ```
//! `HANGAR_RUNTIME_DIR`, `HANGAR_ACCEL` and `HANGAR_USB_ROOT` (a fixture tree of host USB
//! devices, such as tests/fixtures/usb/desk) are honoured. Errors and notifications are also
//! printed on stderr as `ERROR: …` / `NOTIFY: …` lines, for scripts driving the window.

use std::path::PathBuf;
use std::process::ExitCode;

use adw::prelude::*;
use gtk::gio;
use hangar::ui::details::{Details, DetailsInit, DetailsInput, DetailsOutput};
use hangar::ui::snapshots::{Snapshots, SnapshotsInit, SnapshotsInput, SnapshotsOutput};
use hangar_core::config::{CdromConfig, PortForward, Protocol, UsbRule, VmConfig};
use hangar_core::host::HostCaps;
use hangar_core::manager::{CreateRequest, DiskSource, Event, Manager, StartOptions, StopMode};
use hangar_core::paths::Paths;
use hangar_core::store::Store;
use hangar_core::usb::Identity;
use relm4::{Component, ComponentController, ComponentParts, ComponentSender, Controller, RelmApp};

struct Args {
    home: Option<PathBuf>,
    vm: String,
    section: Option<String>,
    view: String,
    pending_install: bool,
    size: (i32, i32),
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        home: None,
        vm: "Debian 12".into(),
        section: None,
        view: "details".into(),
        pending_install: false,
        size: (1000, 760),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--home" => args.home = Some(value("--home")?.into()),
            "--vm" => args.vm = value("--vm")?,
            "--section" => args.section = Some(value("--section")?),
            "--view" => args.view = value("--view")?,
            "--pending-install" => args.pending_install = true,
            "--width" => args.size.0 = value("--width")?.parse().map_err(|e| format!("--width: {e}"))?,
            "--height" => args.size.1 = value("--height")?.parse().map_err(|e| format!("--height: {e}"))?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; see the comment at the top of examples/details.rs"
                ))
            }
        }
    }
    Ok(args)
}

/// A VM showing most of what the editor can show.
async fn create_demo(manager: &Manager, name: &str) -> Result<(), String> {
    let mut config = VmConfig::new(name);
    config.description = "Demo machine for the hardware editor".into();
    config.os = Some("debian12".into());
    config.networks[0].forwards = vec![
        PortForward {
            protocol: Protocol::Tcp,
            host_port: 2222,
            guest_port: 22,
        },
        PortForward {
            protocol: Protocol::Udp,
            host_port: 5353,
            guest_port: 53,
        },
    ];
    config.usb.rules.push(UsbRule {
        device: "046d:c52b".into(),
        port: String::new(),
    });
    config.advanced.extra_args = vec!["-device".into(), "virtio-balloon-pci".into()];
    let request = CreateRequest {
        config,
        iso: None,
        disk: DiskSource::New { size_bytes: 20 << 30 },
    };
    manager.create(request).await.map_err(|e| e.to_string())?;
    let iso = PathBuf::from("/work/main/target/test-guest/guest.iso");
    let cdrom = iso.exists().then_some(iso);
    let mut c = manager.store().load(name).map_err(|e| e.to_string())?;
    c.cdrom = Some(CdromConfig { path: cdrom });
    manager.store().save(&c).map_err(|e| e.to_string())
}

struct Init {
    manager: Manager,
    args: Args,
}

struct Demo {
    manager: Manager,
    name: String,
    details: Controller<Details>,
    snapshots: Controller<Snapshots>,
    toasts: adw::ToastOverlay,
}

#[derive(Debug)]
enum Msg {
    Event(Event),
    Notify(String),
    Error(String, String),
    Renamed(String),
    Start,
    ForceOff,
}

impl Component for Demo {
    type CommandOutput = Msg;
    type Input = Msg;
    type Output = ();
    type Init = Init;
    type Root = adw::ApplicationWindow;
    type Widgets = ();

    fn init_root() -> Self::Root {
        adw::ApplicationWindow::new(&relm4::main_application())
    }

    fn init(init: Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let Init { manager, args } = init;
        let name = args.vm.clone();
        root.set_default_size(args.size.0, args.size.1);
        root.set_title(Some(&name));
        let details = Details::builder()
            .launch(DetailsInit {
                manager: manager.clone(),
                name: name.clone(),
                pending_install: args.pending_install,
            })
            .forward(sender.input_sender(), |out| match out {
                DetailsOutput::Error(e) => Msg::Error(e.summary, e.details),
                DetailsOutput::Notify(text) => Msg::Notify(text),
                DetailsOutput::Renamed { to, .. } => Msg::Renamed(to),
                DetailsOutput::BeginInstall => Msg::Notify("Begin Installation".into()),
            });
        let snapshots = Snapshots::builder()
            .launch(SnapshotsInit {
                manager: manager.clone(),
                name: name.clone(),
            })
            .forward(sender.input_sender(), |out| match out {
                SnapshotsOutput::Error(e) => Msg::Error(e.summary, e.details),
                SnapshotsOutput::Notify(text) => Msg::Notify(text),
            });
        let stack = adw::ViewStack::new();
        stack
            .add_titled(details.widget(), Some("details"), "Details")
            .set_icon_name(Some("document-properties-symbolic"));
        stack
            .add_titled(snapshots.widget(), Some("snapshots"), "Snapshots")
            .set_icon_name(Some("document-open-recent-symbolic"));
        stack.set_visible_child_name(&args.view);
        let title = adw::ViewSwitcherTitle::builder()
            .stack(&stack)
            .title(&name)
            .build();
        let header = adw::HeaderBar::builder().title_widget(&title).build();
        let start = gtk::Button::builder().label("Start").build();
        let off = gtk::Button::builder().label("Force Off").build();
        let input = sender.input_sender().clone();
        start.connect_clicked(move |_| input.emit(Msg::Start));
        let input = sender.input_sender().clone();
        off.connect_clicked(move |_| input.emit(Msg::ForceOff));
        header.pack_start(&start);
        header.pack_start(&off);
        let body = gtk::Box::new(gtk::Orientation::Vertical, 0);
        body.append(&header);
        body.append(&stack);
        let toasts = adw::ToastOverlay::new();
        toasts.set_child(Some(&body));
        root.set_content(Some(&toasts));
        if let Some(section) = args.section {
            details.emit(DetailsInput::ShowSection(section));
        }

        // What the app does at start: discovery (attaches to VMs started elsewhere) and one
        // subscription forwarded to the VM page's children.
        let events = manager.clone();
        sender.command(move |out, shutdown| {
            shutdown
                .register(async move {
                    let mut rx = events.subscribe();
                    let _discovery = events.spawn_discovery();
                    loop {
                        match rx.recv().await {
                            Ok(event) => {
                                if out.send(Msg::Event(event)).is_err() {
                                    break;
                                }
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        }
                    }
                })
                .drop_on_shutdown()
        });
        root.present();
        eprintln!("READY");
        let model = Demo {
            manager,
            name,
            details,
            snapshots,
            toasts,
        };
        ComponentParts { model, widgets: () }
    }

    fn update(&mut self, msg: Msg, sender: ComponentSender<Self>, _root: &Self::Root) {
        match msg {
            Msg::Event(event) => {
                self.details.emit(DetailsInput::VmEvent(event.clone()));
                self.snapshots.emit(SnapshotsInput::VmEvent(event));
            }
            Msg::Notify(text) => {
                eprintln!("NOTIFY: {text}");
                self.toasts.add_toast(adw::Toast::new(&text));
            }
            Msg::Error(summary, details) => {
                eprintln!("ERROR: {summary}: {details}");
                self.toasts.add_toast(adw::Toast::new(&summary));
            }
            Msg::Renamed(to) => {
                self.name = to.clone();
                self.snapshots.emit(SnapshotsInput::SetName(to));
            }
            Msg::Start | Msg::ForceOff => {
                let (manager, name) = (self.manager.clone(), self.name.clone());
                sender.oneshot_command(async move {
                    let result = if matches!(msg, Msg::Start) {
                        manager.start(&name, &StartOptions::default()).await.map(drop)
                    } else {
                        manager.stop(&name, StopMode::Force).await
                    };
                    match result {
                        Ok(()) => Msg::Notify(format!("{msg:?} done")),
                        Err(e) => Msg::Error(format!("{msg:?} failed"), e.to_string()),
                    }
                });
            }
        }
    }

    fn update_cmd(&mut self, msg: Msg, sender: ComponentSender<Self>, root: &Self::Root) {
        self.update(msg, sender, root);
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("details example: {e}");
            return ExitCode::from(2);
        }
    };
    let env = Paths::from_env();
    let mut temp = None;
    let vms = match &args.home {
        Some(home) => home.clone(),
        None if std::env::var_os("HANGAR_HOME").is_some() => env.vms.clone(),
        None => match tempfile::tempdir() {
            Ok(dir) => {
                let vms = dir.path().join("vms");
                temp = Some(dir);
                vms
            }
            Err(e) => {
                eprintln!("details example: cannot make a temporary folder: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let runtime = match (&temp, std::env::var_os("HANGAR_RUNTIME_DIR")) {
        (_, Some(dir)) => PathBuf::from(dir),
        (Some(dir), None) => dir.path().join("run"),
        (None, None) => env.runtime.clone(),
    };
    let mut manager = Manager::new(Store::new(Paths::new(vms, runtime)), HostCaps::probe());
    if let Some(root) = std::env::var_os("HANGAR_USB_ROOT") {
        manager = manager.with_usb_root(root);
    }
    // Judge USB permissions as another user (to see the udev rule offered to people who lack them).
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
    if temp.is_some() {
        let built = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let result = match built {
            Ok(rt) => rt.block_on(create_demo(&manager, &args.vm)),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            eprintln!("details example: cannot create the demo VM: {e}");
            return ExitCode::FAILURE;
        }
    }
    hangar::i18n::init();
    if let Err(e) = hangar::resources::register() {
        eprintln!("details example: resources: {e}");
    }
    let app = adw::Application::builder()
        .application_id("org.hangar.Hangar.DetailsExample")
        .resource_base_path(hangar::config::RESOURCE_BASE)
        .flags(gio::ApplicationFlags::NON_UNIQUE)
        .build();
    RelmApp::from_app(app)
        .with_args(vec![])
        .run::<Demo>(Init { manager, args });
    drop(temp);
    ExitCode::SUCCESS
}
