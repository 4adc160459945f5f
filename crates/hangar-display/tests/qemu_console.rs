//! The console widget against a real QEMU guest, under Xvfb.
//!
//! One QEMU (TCG by default, `HANGAR_ACCEL` to change) runs the tiny test guest with VNC and
//! SPICE on unix sockets. An in-process `DisplayView` in a `GtkApplicationWindow` is driven with
//! xdotool, and the guest reports on its serial port what it received (`KEYHEX:xx`,
//! `KEYLINE:<text>`; see tests/guest/README.md). Checks:
//!
//! * VNC picture: the widget as GTK renders it equals QMP `screendump` (PNG) within a tolerance.
//! * Keys typed with xdotool into the window reach the guest (`KEYLINE:hello`).
//! * While grabbed, an application accelerator (Ctrl+H) does not fire and the key reaches the
//!   guest (`KEYHEX:08`); F11 emits `fullscreen-toggle`; the release chord (Control_L+Alt_L)
//!   ungrabs, after which the accelerator fires again.
//! * AZERTY host: with `setxkbmap fr`, xdotool types the keysyms "azerty"; on a French layout
//!   "a" and "z" sit on the physical Q and W keys, so a guest with a US layout, which receives
//!   scancodes, must report `KEYLINE:qwerty`.
//! * `send_keys` presses in order and releases in reverse (`KEYLINE:hi`).
//! * SPICE: the picture equals the screendump and typed keys arrive (`KEYLINE:spice`).
//! * SPICE USB redirection: the API answers on a SPICE session (a list, empty on a computer
//!   without USB, or a clear "not available" error) and refuses a VNC session.
//! * Unplugging the usb-tablet (QMP `device_del`) turns the pointer relative: a click then grabs
//!   and hides the host cursor; plugging it back makes it absolute again.
//! * Quitting QEMU moves the widget to `Disconnected`.
//!
//! Skipped (with the reason printed) when Xvfb, xdotool, setxkbmap or qemu-system-x86_64 is
//! missing. The harness is custom (`harness = false`): GTK must run on the main thread.

mod support;

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use gtk::prelude::*;
use gtk::{gdk, gio};
use hangar_display::{ConnectionState, DisplayView};
use support::*;

const TITLE: &str = "hangar-display-test";

struct Ctx {
    qemu: Qemu,
    window: gtk::ApplicationWindow,
    view: DisplayView,
    probe_hits: Rc<Cell<u32>>,
    fullscreen_hits: Rc<Cell<u32>>,
    grab_log: Rc<RefCell<Vec<bool>>>,
}

fn main() -> ExitCode {
    match run() {
        Ok((passed, failed)) => {
            println!("{passed} passed, {failed} failed");
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(Skip(why)) => {
            println!("qemu_console: skipped: {why}");
            println!("0 passed, 0 failed");
            ExitCode::SUCCESS
        }
    }
}

fn run() -> Result<(u32, u32), Skip> {
    for tool in ["Xvfb", "xdotool", "setxkbmap", "qemu-system-x86_64"] {
        if which(tool).is_none() {
            return Err(Skip(format!("{tool} is not installed")));
        }
    }
    let mut failed = 0;
    let mut passed = 0;
    let mut check = |name: &str, r: TestResult| match r {
        Ok(()) => {
            println!("test {name} ... ok");
            passed += 1;
        }
        Err(e) => {
            println!("test {name} ... FAILED: {e}");
            failed += 1;
        }
    };
    let setup = setup();
    let (_xvfb, ctx) = match setup {
        Ok(v) => v,
        Err(e) => {
            check("setup", Err(e));
            return Ok((passed, failed));
        }
    };
    check("vnc_connects", vnc_connect(&ctx));
    check("vnc_picture_matches_screendump", picture_matches(&ctx, true));
    check("vnc_typed_keys_reach_guest", typed_keys(&ctx));
    check("grab_blocks_app_accels_and_chord_releases", grab_and_chord(&ctx));
    check("azerty_host_sends_scancodes", azerty(&ctx));
    check("send_keys_press_then_release_reversed", send_keys(&ctx));
    check("spice_picture_and_keys", spice(&ctx));
    check("spice_usb_redirection_api", usb_redirection(&ctx));
    check("relative_pointer_mode_follows_guest", relative_mode(&ctx));
    check("qemu_exit_disconnects", qemu_exit(&ctx));
    Ok((passed, failed))
}

fn setup() -> Result<(Xvfb, Ctx), String> {
    let guest = guest_dir()?;
    let xvfb = Xvfb::start()?;
    std::env::set_var("DISPLAY", &xvfb.display);
    std::env::set_var("GDK_BACKEND", "x11");
    std::env::remove_var("WAYLAND_DISPLAY");
    let qemu = Qemu::start(&guest)?;
    gtk::init().map_err(|e| format!("gtk::init: {e}"))?;

    let app = gtk::Application::new(Some("org.hangar.DisplayTest"), gio::ApplicationFlags::NON_UNIQUE);
    app.register(None::<&gio::Cancellable>)
        .map_err(|e| format!("register: {e}"))?;
    let view = DisplayView::new();
    let window = gtk::ApplicationWindow::builder()
        .application(&app)
        .title(TITLE)
        .child(&view)
        .build();
    window.set_default_size(720, 400);
    let probe_hits = Rc::new(Cell::new(0));
    let action = gio::SimpleAction::new("probe", None);
    let hits = probe_hits.clone();
    action.connect_activate(move |_, _| hits.set(hits.get() + 1));
    window.add_action(&action);
    app.set_accels_for_action("win.probe", &["<Control>h"]);
    let fullscreen_hits = Rc::new(Cell::new(0));
    let hits = fullscreen_hits.clone();
    view.connect_fullscreen_toggle(move |_| hits.set(hits.get() + 1));
    let grab_log = Rc::new(RefCell::new(Vec::new()));
    let log = grab_log.clone();
    view.connect_grab_changed(move |_, g| log.borrow_mut().push(g));
    window.present();

    let booted = pump_until(Duration::from_secs(180), || {
        qemu.serial().contains("HANGAR-BOOT-OK")
    });
    if !booted {
        return Err(format!("guest did not boot; serial:\n{}", qemu.serial()));
    }
    // The keyboard loop prints its prompt right after the marker.
    pump_until(Duration::from_secs(2), || false);
    Ok((
        xvfb,
        Ctx {
            qemu,
            window,
            view,
            probe_hits,
            fullscreen_hits,
            grab_log,
        },
    ))
}

fn wait_connected(view: &DisplayView) -> TestResult {
    let ok = pump_until(Duration::from_secs(20), || {
        view.state() == ConnectionState::Connected && view.frame_stats().frames > 0
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "state {:?}, frames {}",
            view.state(),
            view.frame_stats().frames
        ))
    }
}

fn vnc_connect(ctx: &Ctx) -> TestResult {
    ctx.view
        .connect_vnc_unix(ctx.qemu.path("vnc.sock"))
        .map_err(|e| e.to_string())?;
    wait_connected(&ctx.view)?;
    if ctx.view.guest_size() != Some((720, 400)) {
        return Err(format!(
            "guest size {:?}, expected the 720x400 text mode",
            ctx.view.guest_size()
        ));
    }
    Ok(())
}

/// Renders the widget the way GTK draws it on screen.
fn render_widget(ctx: &Ctx) -> Result<Rgba, String> {
    let (w, h) = (ctx.view.width(), ctx.view.height());
    let paintable = gtk::WidgetPaintable::new(Some(&ctx.view));
    let snapshot = gtk::Snapshot::new();
    paintable.snapshot(&snapshot, f64::from(w), f64::from(h));
    let node = snapshot.to_node().ok_or("the widget drew nothing")?;
    let renderer = ctx.window.renderer().ok_or("window has no renderer")?;
    Ok(Rgba::from_texture(&renderer.render_texture(&node, None)))
}

fn picture_matches(ctx: &Ctx, render: bool) -> TestResult {
    // Let the last updates arrive, then compare with QEMU's own picture.
    pump_until(Duration::from_millis(800), || false);
    let png = ctx.qemu.path("screendump.png");
    let _ = std::fs::remove_file(&png);
    ctx.qemu.qmp(&format!(
        r#"{{"execute":"screendump","arguments":{{"filename":"{}","format":"png"}}}}"#,
        png.display()
    ))?;
    pump_until(Duration::from_millis(300), || false);
    let expected = Rgba::from_texture(&gdk::Texture::from_filename(&png).map_err(|e| e.to_string())?);
    if expected.distinct_levels() < 2 {
        return Err("the screendump is blank; the guest console shows nothing to compare".into());
    }
    let shot = ctx.view.screenshot().ok_or("screenshot() returned nothing")?;
    let frac = diff_fraction(&Rgba::from_texture(&shot), &expected, 24)?;
    // The text cursor blinks: allow a few character cells.
    if frac > 0.005 {
        return Err(format!(
            "screenshot differs from screendump in {:.2}% of pixels",
            frac * 100.0
        ));
    }
    if render {
        let (w, h) = (ctx.view.width(), ctx.view.height());
        if (w, h) != (720, 400) {
            return Err(format!(
                "widget is {w}x{h}; expected the window at guest size 720x400"
            ));
        }
        let drawn = render_widget(ctx)?;
        let frac = diff_fraction(&drawn, &expected, 24)?;
        if frac > 0.005 {
            return Err(format!(
                "rendered widget differs from screendump in {:.2}% of pixels",
                frac * 100.0
            ));
        }
    }
    Ok(())
}

fn window_id() -> Result<String, String> {
    let out = output("xdotool", &["search", "--onlyvisible", "--name", TITLE])?;
    out.lines()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| "test window not found by xdotool".into())
}

fn click_to_grab(ctx: &Ctx) -> TestResult {
    let win = window_id()?;
    run_pumping(
        "xdotool",
        &["mousemove", "--window", &win, "300", "200", "click", "1"],
    )?;
    if !pump_until(Duration::from_secs(30), || ctx.view.grabbed()) {
        return Err("a click did not grab the console".into());
    }
    Ok(())
}

fn type_line(ctx: &Ctx, text: &str, expect: &str) -> TestResult {
    let before = ctx.qemu.serial_lines("KEYLINE:").len();
    run_pumping("xdotool", &["type", "--delay", "60", text])?;
    run_pumping("xdotool", &["key", "Return"])?;
    let want = format!("KEYLINE:{expect}");
    let ok = pump_until(Duration::from_secs(30), || {
        ctx.qemu
            .serial_lines("KEYLINE:")
            .iter()
            .skip(before)
            .any(|l| *l == want)
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "guest did not report {want}; it reported {:?}",
            ctx.qemu.serial_lines("KEY")
        ))
    }
}

fn typed_keys(ctx: &Ctx) -> TestResult {
    click_to_grab(ctx)?;
    type_line(ctx, "hello", "hello")
}

fn grab_and_chord(ctx: &Ctx) -> TestResult {
    if !ctx.view.grabbed() {
        click_to_grab(ctx)?;
    }
    let hex_before = ctx.qemu.serial_lines("KEYHEX:").len();
    run_pumping("xdotool", &["key", "ctrl+h"])?;
    let got_bs = pump_until(Duration::from_secs(30), || {
        ctx.qemu
            .serial_lines("KEYHEX:")
            .iter()
            .skip(hex_before)
            .any(|l| l == "KEYHEX:08")
    });
    if !got_bs {
        return Err("Ctrl+H did not reach the guest while grabbed".into());
    }
    if ctx.probe_hits.get() != 0 {
        return Err("the application accelerator fired while the console was grabbed".into());
    }
    run_pumping("xdotool", &["key", "F11"])?;
    pump_until(Duration::from_millis(300), || ctx.fullscreen_hits.get() > 0);
    if ctx.fullscreen_hits.get() != 1 {
        return Err(format!(
            "F11 emitted fullscreen-toggle {} times",
            ctx.fullscreen_hits.get()
        ));
    }
    ctx.grab_log.borrow_mut().clear();
    run_pumping(
        "xdotool",
        &[
            "keydown",
            "Control_L",
            "keydown",
            "Alt_L",
            "keyup",
            "Alt_L",
            "keyup",
            "Control_L",
        ],
    )?;
    if !pump_until(Duration::from_secs(30), || !ctx.view.grabbed()) {
        return Err("the release chord did not ungrab".into());
    }
    if *ctx.grab_log.borrow() != [false] {
        return Err(format!(
            "grab-changed emitted {:?}, expected [false]",
            ctx.grab_log.borrow()
        ));
    }
    run_pumping("xdotool", &["key", "ctrl+h"])?;
    if !pump_until(Duration::from_secs(30), || ctx.probe_hits.get() == 1) {
        return Err("the application accelerator did not fire after the ungrab".into());
    }
    Ok(())
}

fn azerty(ctx: &Ctx) -> TestResult {
    run_pumping("setxkbmap", &["fr"])?;
    let result = (|| {
        // Let GDK see the new keymap.
        pump_until(Duration::from_millis(500), || false);
        if !ctx.view.grabbed() {
            click_to_grab(ctx)?;
        }
        type_line(ctx, "azerty", "qwerty")
    })();
    run_pumping("setxkbmap", &["us"])?;
    pump_until(Duration::from_millis(300), || false);
    result
}

fn send_keys(ctx: &Ctx) -> TestResult {
    let before = ctx.qemu.serial_lines("KEYLINE:").len();
    ctx.view
        .send_keys(&[gdk::Key::h, gdk::Key::i, gdk::Key::Return])
        .map_err(|e| e.to_string())?;
    let ok = pump_until(Duration::from_secs(30), || {
        ctx.qemu
            .serial_lines("KEYLINE:")
            .iter()
            .skip(before)
            .any(|l| l == "KEYLINE:hi")
    });
    if !ok {
        return Err(format!(
            "guest did not report KEYLINE:hi: {:?}",
            ctx.qemu.serial_lines("KEY")
        ));
    }
    let err = ctx.view.send_keys(&[gdk::Key::VoidSymbol]);
    if err.is_ok() {
        return Err("send_keys accepted a key without a scancode".into());
    }
    Ok(())
}

fn spice(ctx: &Ctx) -> TestResult {
    ctx.view.disconnect();
    if ctx.view.state() != ConnectionState::Disconnected {
        return Err(format!("state after disconnect: {:?}", ctx.view.state()));
    }
    let frames = ctx.view.frame_stats().frames;
    ctx.view
        .connect_spice_unix(ctx.qemu.path("spice.sock"))
        .map_err(|e| e.to_string())?;
    let ok = pump_until(Duration::from_secs(20), || {
        ctx.view.state() == ConnectionState::Connected && ctx.view.frame_stats().frames > frames
    });
    if !ok {
        return Err(format!("SPICE: state {:?}, no new frame", ctx.view.state()));
    }
    picture_matches(ctx, false).map_err(|e| format!("SPICE picture: {e}"))?;
    click_to_grab(ctx)?;
    type_line(ctx, "spice", "spice").map_err(|e| format!("SPICE keys: {e}"))?;
    ctx.view.ungrab();
    Ok(())
}

/// Runs while the SPICE session of [`spice`] is up.
fn usb_redirection(ctx: &Ctx) -> TestResult {
    if ctx.view.state() != ConnectionState::Connected {
        return Err(format!("SPICE not connected: {:?}", ctx.view.state()));
    }
    let host_has_usb = std::path::Path::new("/dev/bus/usb").exists();
    match ctx.view.usb_redirection() {
        Ok(redir) => {
            // The usbredir channels open shortly after the main channel.
            pump_until(Duration::from_secs(5), || redir.free_channels() == 2);
            let devices = redir.devices();
            println!(
                "usb redirection: {} device(s), {} free channel(s)",
                devices.len(),
                redir.free_channels()
            );
            if redir.free_channels() != 2 {
                return Err(format!("free channels {} (the VM has 2)", redir.free_channels()));
            }
            if !host_has_usb && !devices.is_empty() {
                return Err(format!("devices listed without a USB bus: {devices:?}"));
            }
            if devices.iter().any(|d| d.description.is_empty()) {
                return Err(format!("a device without description: {devices:?}"));
            }
        }
        Err(hangar_display::DisplayError::UsbRedirection(reason)) => {
            println!("usb redirection unavailable: {reason}");
            if reason.is_empty() || (!host_has_usb && !reason.contains("/dev/bus/usb")) {
                return Err(format!("unclear reason {reason:?}"));
            }
        }
        Err(other) => return Err(format!("unexpected error: {other}")),
    }
    Ok(())
}

fn qemu_exit(ctx: &Ctx) -> TestResult {
    ctx.view.disconnect();
    ctx.view
        .connect_vnc_unix(ctx.qemu.path("vnc.sock"))
        .map_err(|e| e.to_string())?;
    wait_connected(&ctx.view)?;
    match ctx.view.usb_redirection() {
        Err(hangar_display::DisplayError::UsbRedirection(r)) if r.contains("SPICE") => {}
        other => return Err(format!("USB redirection on VNC: {other:?}")),
    }
    // The reply may be lost when QEMU exits at once.
    let _ = ctx.qemu.qmp(r#"{"execute":"quit"}"#);
    if !pump_until(Duration::from_secs(30), || {
        ctx.view.state() == ConnectionState::Disconnected
    }) {
        return Err(format!("state after QEMU quit: {:?}", ctx.view.state()));
    }
    if ctx.view.connect_vnc_unix(ctx.qemu.path("vnc.sock")).is_ok() {
        return Err("connecting to a dead socket succeeded".into());
    }
    match ctx.view.state() {
        ConnectionState::Error(msg) if msg.contains("vnc.sock") => Ok(()),
        other => Err(format!("state after a failed connect: {other:?}")),
    }
}

fn relative_mode(ctx: &Ctx) -> TestResult {
    ctx.view.disconnect();
    ctx.view
        .connect_vnc_unix(ctx.qemu.path("vnc.sock"))
        .map_err(|e| e.to_string())?;
    wait_connected(&ctx.view)?;
    if !pump_until(Duration::from_secs(30), || ctx.view.pointer_absolute()) {
        return Err("pointer not absolute with a usb-tablet".into());
    }
    ctx.qemu
        .qmp(r#"{"execute":"device_del","arguments":{"id":"tablet"}}"#)?;
    if !pump_until(Duration::from_secs(30), || !ctx.view.pointer_absolute()) {
        return Err("pointer still absolute after unplugging the tablet".into());
    }
    click_to_grab(ctx)?;
    let cursor = ctx.view.cursor().and_then(|c| c.name()).map(|n| n.to_string());
    if cursor.as_deref() != Some("none") {
        return Err(format!(
            "host cursor not hidden while grabbed in relative mode: {cursor:?}"
        ));
    }
    run_pumping(
        "xdotool",
        &[
            "keydown",
            "Control_L",
            "keydown",
            "Alt_L",
            "keyup",
            "Alt_L",
            "keyup",
            "Control_L",
        ],
    )?;
    if !pump_until(Duration::from_secs(30), || !ctx.view.grabbed()) {
        return Err("the release chord did not ungrab in relative mode".into());
    }
    if ctx.view.cursor().and_then(|c| c.name()).as_deref() == Some("none") {
        return Err("host cursor still hidden after the ungrab".into());
    }
    ctx.qemu
        .qmp(r#"{"execute":"device_add","arguments":{"driver":"usb-tablet","id":"tablet"}}"#)?;
    if !pump_until(Duration::from_secs(30), || ctx.view.pointer_absolute()) {
        return Err("pointer not absolute again after plugging the tablet back".into());
    }
    Ok(())
}
