//! The Hangar side of the benchmark, run in a child process: a window with a `DisplayView`
//! at 1:1 connected to the source's unix socket. Every 100 ms it prints
//! `stats PAINTS TEXTURES` (the widget's frame counters) on stdout.

use std::io::Write;
use std::time::Duration;

use gtk::glib;
use gtk::prelude::*;
use hangar_display::{ConnectionState, DisplayView, ScalingMode};

/// Set (to the socket path) in the environment of the child that plays the client.
pub const ROLE_ENV: &str = "HANGAR_BENCH_CLIENT_SOCKET";

/// Runs the client until its window is closed or it is killed; the process exit code.
pub fn run() -> i32 {
    let Some(socket) = std::env::var_os(ROLE_ENV) else {
        return 2;
    };
    if let Err(e) = gtk::init() {
        eprintln!("bench client: cannot open the display: {e}");
        return 1;
    }
    let view = DisplayView::new();
    view.set_scaling_mode(ScalingMode::OneToOne);
    let window = gtk::Window::builder()
        .title("hangar bench")
        .default_width(1920)
        .default_height(1080)
        .child(&view)
        .build();
    let main_loop = glib::MainLoop::new(None, false);
    let ml = main_loop.clone();
    window.connect_close_request(move |_| {
        ml.quit();
        glib::Propagation::Proceed
    });
    let ml = main_loop.clone();
    view.connect_state_changed(move |_, state| {
        eprintln!("bench client: {state:?}");
        if matches!(state, ConnectionState::Error(_) | ConnectionState::Disconnected) {
            ml.quit();
        }
    });
    if let Err(e) = view.connect_vnc_unix(&socket) {
        eprintln!("bench client: {e}");
        return 1;
    }
    window.present();
    let v = view.clone();
    glib::timeout_add_local(Duration::from_millis(100), move || {
        let s = v.frame_stats();
        let mut out = std::io::stdout().lock();
        if writeln!(out, "stats {} {}", s.paints, s.frames)
            .and_then(|()| out.flush())
            .is_err()
        {
            // The bench went away.
            std::process::exit(0);
        }
        glib::ControlFlow::Continue
    });
    main_loop.run();
    0
}
