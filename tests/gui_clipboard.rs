//! The console's clipboard against a real guest: `examples/console.rs` on a private Xvfb (the
//! harness of tests/gui_console.rs), the tiny test guest with the static clipboard agent
//! (`tests/guest/build.sh --with-agent`), QEMU under TCG.
//!
//! Checked, on a VNC VM (Hangar's own agent channel), then on a SPICE VM (spice-client-glib):
//! * a host copy (xclip owns the X CLIPBOARD) reaches the guest (`clipget` on serial);
//! * a guest copy (`clipset`) reaches the host X clipboard (`xclip -o`), and is not sent back;
//! * "Host → guest" switched off in the Clipboard menu (AT-SPI): vm.toml says so, the button
//!   shows the badge, a new host copy does not reach the guest; switched on again, the host's
//!   current text does;
//! * "Guest → host" switched off: a guest copy does not reach the host;
//! * (VNC) "Type Clipboard Text" types the host clipboard into tty1 (`KEYLINE:` on serial);
//! * a VM without a display shares its clipboard both ways while its console is open.
//!
//! Needs what tests/gui_console.rs needs, plus xclip. Screenshots go to
//! `target/screenshots/console-clipboard-*.png`. Skipped only without Xvfb or with
//! `HANGAR_SKIP_QEMU_TESTS=1`.

// The console test's harness; this test uses part of it.
#[allow(dead_code)]
#[path = "gui_console/app.rs"]
mod app;
#[path = "gui_clipboard/guest.rs"]
mod guest;
#[allow(dead_code)]
#[path = "gui_console/support.rs"]
mod support;
#[path = "gui_clipboard/ui.rs"]
mod ui;

use std::time::Duration;

use app::App;
use guest::{Clip, GuestSerial};
use support::Session;
use ui::Menu;

/// How long a copy that must NOT cross is given to cross anyway.
const QUIET: Duration = Duration::from_secs(3);

/// Flips the menu switch named `name` and waits for the saved policy to be logged.
fn flip(app: &App, menu: &Menu, name: &str, logged: &str) {
    menu.show();
    let mark = app.log.len();
    menu.activate(name);
    app.log.wait(logged, mark, Duration::from_secs(20));
    menu.hide();
}

/// Both directions, the switches, the badge; typing on VNC only.
fn exercise(s: &Session, vm: &str, protocol: &str) {
    let clip = Clip::new(s);
    let app = App::start(s, vm);
    app.log.wait(r#"phase="off""#, 0, Duration::from_secs(30));
    let menu = Menu::find(s, &app, vm);
    let mark = app.log.len();
    s.ctl(&["start", vm]);
    app.log
        .wait(r#"phase="connected""#, mark, Duration::from_secs(30));
    s.wait_serial(vm, "HANGAR-BOOT-OK", 1, Duration::from_secs(60));
    app.log.wait(
        &format!("clipboard shared through {protocol}"),
        mark,
        Duration::from_secs(10),
    );
    app.log.wait("active=true", mark, Duration::from_secs(30));
    let mut serial = GuestSerial::connect(s, vm);
    let tag = if protocol == "SPICE" { "spice" } else { "vnc" };

    // Host → guest.
    clip.copy(&format!("host one {tag}"));
    serial.wait_clip(&format!("CLIP:host one {tag}"));
    // Guest → host, not bounced back to the guest.
    serial.ask(&format!("clipset guest one {tag}"), "CLIPSET:");
    clip.wait_host(&format!("guest one {tag}"));
    std::thread::sleep(QUIET);
    assert_eq!(serial.ask("clipget", "CLIP"), format!("CLIP:host one {tag}"));

    // Host → guest off.
    flip(
        &app,
        &menu,
        "Host → guest",
        "host_to_guest=false guest_to_host=true",
    );
    assert!(
        guest::vm_toml(s, vm).contains("host_to_guest = false"),
        "{}",
        guest::vm_toml(s, vm)
    );
    menu.wait_badge("Clipboard: host → guest is off", true);
    s.screenshot("clipboard-badge");
    clip.copy(&format!("host two {tag}"));
    std::thread::sleep(QUIET);
    assert_eq!(serial.ask("clipget", "CLIP"), format!("CLIP:host one {tag}"));
    // On again: the host's current text is offered.
    flip(
        &app,
        &menu,
        "Host → guest",
        "host_to_guest=true guest_to_host=true",
    );
    serial.wait_clip(&format!("CLIP:host two {tag}"));
    menu.wait_badge("Clipboard: host → guest is off", false);

    // Guest → host off.
    flip(
        &app,
        &menu,
        "Guest → host",
        "host_to_guest=true guest_to_host=false",
    );
    menu.wait_badge("Clipboard: guest → host is off", true);
    serial.ask(&format!("clipset guest two {tag}"), "CLIPSET:");
    std::thread::sleep(QUIET);
    assert_eq!(clip.host_text(), format!("host two {tag}"));
    flip(
        &app,
        &menu,
        "Guest → host",
        "host_to_guest=true guest_to_host=true",
    );
    serial.ask(&format!("clipset guest three {tag}"), "CLIPSET:");
    clip.wait_host(&format!("guest three {tag}"));

    // Type Clipboard Text into tty1.
    if protocol != "SPICE" {
        clip.copy("Typed: clip 42!\n");
        serial.wait_clip("CLIP:Typed: clip 42!\\n");
        menu.show();
        s.screenshot("clipboard-menu");
        let mark = app.log.len();
        menu.activate("Type Clipboard Text");
        app.log
            .wait("typed the clipboard text", mark, Duration::from_secs(30));
        serial.wait_line("KEYLINE:Typed: clip 42!");
    }
    s.ctl(&["stop", "--force", vm]);
    let after = app.log.text();
    assert!(!after.contains("panicked"), "the example panicked:\n{after}");
}

/// A VM without a display shares its clipboard too (the console shows the serial hint).
fn headless(s: &Session, vm: &str) {
    let clip = Clip::new(s);
    let app = App::start(s, vm);
    // A VM without a display shows the serial console hint, running or not.
    app.log.wait(r#"phase="headless""#, 0, Duration::from_secs(30));
    let mark = app.log.len();
    s.ctl(&["start", vm]);
    app.log.wait(
        "clipboard shared through the agent channel",
        mark,
        Duration::from_secs(10),
    );
    s.wait_serial(vm, "HANGAR-BOOT-OK", 1, Duration::from_secs(60));
    app.log.wait("active=true", mark, Duration::from_secs(30));
    let mut serial = GuestSerial::connect(s, vm);
    clip.copy("host to headless");
    serial.wait_clip("CLIP:host to headless");
    serial.ask("clipset headless to host", "CLIPSET:");
    clip.wait_host("headless to host");
    s.ctl(&["stop", "--force", vm]);
    app.log
        .wait("clipboard no longer shared", mark, Duration::from_secs(20));
}

#[test]
fn clipboard_crosses_both_ways_as_the_switches_say() {
    let Some(s) = Session::new() else {
        return;
    };
    guest::create_agent_vm(&s, "cvnc", "vnc");
    exercise(&s, "cvnc", "the agent channel");
    guest::create_agent_vm(&s, "cspice", "spice");
    exercise(&s, "cspice", "SPICE");
    guest::create_agent_vm(&s, "chl", "none");
    headless(&s, "chl");
}
