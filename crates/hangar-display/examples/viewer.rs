//! A plain window around [`DisplayView`], to look at a VM console and to test the widget.
//!
//! ```text
//! cargo run -p hangar-display --example viewer -- --vnc /path/to/vnc.sock
//! cargo run -p hangar-display --example viewer -- --spice /path/to/spice.sock [--scale fit|one|fill] [--size 800x600]
//! ```
//!
//! Application shortcuts (they do not fire while the console is grabbed): Ctrl+plus / Ctrl+minus
//! / Ctrl+0 zoom, Ctrl+Shift+Delete sends Ctrl+Alt+Del. A click grabs, Ctrl+Alt releases, F11
//! (while grabbed) toggles fullscreen. State changes are printed on stdout, one per line.

use std::path::PathBuf;
use std::process::ExitCode;

use gtk::prelude::*;
use gtk::{gdk, gio, glib};
use hangar_display::{ConnectionState, DisplayView, ScalingMode};

enum Target {
    Vnc(PathBuf),
    Spice(PathBuf),
}

struct Args {
    target: Target,
    scale: ScalingMode,
    size: Option<(i32, i32)>,
}

const USAGE: &str = "usage: viewer (--vnc PATH | --spice PATH) [--scale fit|one|fill] [--size WxH]";

fn parse_args() -> Result<Args, String> {
    let mut target = None;
    let mut scale = ScalingMode::Fit;
    let mut size = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--vnc" => target = Some(Target::Vnc(value()?.into())),
            "--spice" => target = Some(Target::Spice(value()?.into())),
            "--scale" => {
                scale = match value()?.as_str() {
                    "fit" => ScalingMode::Fit,
                    "one" => ScalingMode::OneToOne,
                    "fill" => ScalingMode::Fill,
                    other => return Err(format!("unknown scale {other:?}\n{USAGE}")),
                }
            }
            "--size" => {
                let v = value()?;
                let parsed = v
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
                size = Some(parsed.ok_or_else(|| format!("bad size {v:?}, expected WxH\n{USAGE}"))?);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let target = target.ok_or_else(|| USAGE.to_owned())?;
    Ok(Args { target, scale, size })
}

fn state_text(state: &ConnectionState) -> String {
    match state {
        ConnectionState::Disconnected => "disconnected".into(),
        ConnectionState::Connecting => "connecting".into(),
        ConnectionState::Connected => "connected".into(),
        ConnectionState::Error(e) => format!("error: {e}"),
    }
}

fn build_window(app: &gtk::Application, args: &Args) {
    let view = DisplayView::new();
    view.set_scaling_mode(args.scale);
    let window = gtk::ApplicationWindow::builder()
        .application(app)
        .title("Hangar viewer")
        .child(&view)
        .build();
    if let Some((w, h)) = args.size {
        window.set_default_size(w, h);
    }

    let action = |name: &str, accels: &[&str], f: Box<dyn Fn(&DisplayView)>| {
        let a = gio::SimpleAction::new(name, None);
        let v = view.clone();
        a.connect_activate(move |_, _| f(&v));
        window.add_action(&a);
        app.set_accels_for_action(&format!("win.{name}"), accels);
    };
    action(
        "zoom-in",
        &["<Control>plus", "<Control>equal"],
        Box::new(|v| v.zoom_in()),
    );
    action("zoom-out", &["<Control>minus"], Box::new(|v| v.zoom_out()));
    action("zoom-reset", &["<Control>0"], Box::new(|v| v.zoom_reset()));
    action(
        "ctrl-alt-del",
        &["<Control><Shift>Delete"],
        Box::new(|v| {
            println!("app-action ctrl-alt-del");
            if let Err(e) = v.send_keys(&[gdk::Key::Control_L, gdk::Key::Alt_L, gdk::Key::Delete]) {
                eprintln!("{e}");
            }
        }),
    );
    // An application shortcut on a plain key combination, to show it does not leak while the
    // console is grabbed (Ctrl+H is Backspace in a terminal guest).
    action(
        "probe",
        &["<Control>h"],
        Box::new(|_| println!("app-action probe")),
    );

    let w = window.clone();
    view.connect_state_changed(move |_, state| {
        println!("state {}", state_text(state));
        w.set_title(Some(&format!("Hangar viewer — {}", state_text(state))));
    });
    let w = window.clone();
    view.connect_grab_changed(move |_, grabbed| {
        println!("grab {grabbed}");
        let hint = if grabbed {
            " — press Ctrl+Alt to release"
        } else {
            ""
        };
        w.set_title(Some(&format!("Hangar viewer{hint}")));
    });
    let w = window.clone();
    view.connect_fullscreen_toggle(move |_| {
        println!("fullscreen-toggle");
        w.set_fullscreened(!w.is_fullscreen());
    });
    let sized = std::cell::Cell::new(args.size.is_some());
    let w = window.clone();
    view.connect_guest_resized(move |v, width, height| {
        println!("resized {width}x{height}");
        // Fit the window to the first guest picture unless a size was asked for.
        if !sized.replace(true) {
            let sf = v.scale_factor().max(1);
            let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX) / sf;
            w.set_default_size(to_i32(width), to_i32(height));
        }
    });
    view.connect_clipboard_text(|_, text| println!("clipboard {text:?}"));

    let result = match &args.target {
        Target::Vnc(p) => view.connect_vnc_unix(p),
        Target::Spice(p) => view.connect_spice_unix(p),
    };
    if let Err(e) = result {
        eprintln!("{e}");
    }
    window.present();
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let app = gtk::Application::new(
        Some("org.hangar.DisplayViewer"),
        gio::ApplicationFlags::NON_UNIQUE,
    );
    let args = std::rc::Rc::new(args);
    app.connect_activate(move |app| build_window(app, &args));
    let status = app.run_with_args(&["viewer"]);
    if status == glib::ExitCode::SUCCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
