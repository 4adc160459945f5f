//! The console's USB menu against a real TCG guest, with host USB devices from the fixture tree
//! `tests/fixtures/usb/desk` (these machines have no USB bus). The console example runs with
//! `HANGAR_USB_ROOT` on a copy of the tree and judges permissions as uid 1000
//! (`HANGAR_EXAMPLE_USB_UID`), so some nodes are openable and others are not.
//!
//! The copy keeps one keyboard (the Dell, 1-3; its node made 0666) and drops the two
//! keyboard+mouse receivers, so the keyboard is the host's only one. Checked:
//! * the menu lists the fixture devices under "Passthrough (QEMU)", hubs left out, and says
//!   why nothing can be redirected under "Redirected (SPICE)";
//! * flipping the keyboard asks first; agreeing attaches it, and QEMU's refusal of the fixture
//!   "node" (a regular file passed by fd) comes back as Hangar's error message;
//! * flipping the SanDisk Ultra (node 0664 root:root, not writable by uid 1000) shows the
//!   udev rule that fixes it, and nothing reaches QEMU.
//!
//! Needs what tests/gui_console.rs needs. Skipped only without Xvfb or with
//! `HANGAR_SKIP_QEMU_TESTS=1`.

// Shared with tests/gui_console.rs, which uses all of them.
#[allow(dead_code)]
#[path = "gui_console/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "gui_console/support.rs"]
mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use app::App;
use support::{repo, wait_for, Session};

const VM: &str = "usbcon";
const KEYBOARD: &str = "Attach Dell KB216 Wired Keyboard";
const STICK: &str = "Attach SanDisk Ultra";

/// Copy of the desk fixture with modes applied, the receivers removed and the keyboard openable.
fn fixture(into: &Path) -> PathBuf {
    fn copy(src: &Path, dst: &Path) {
        fs::create_dir_all(dst).expect("mkdir");
        for e in fs::read_dir(src).expect("read fixture") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                copy(&e.path(), &dst.join(e.file_name()));
            } else {
                fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
            }
        }
    }
    let src = repo().join("tests/fixtures/usb/desk");
    let root = into.join("usbroot");
    copy(&src, &root);
    let modes = fs::read_to_string(src.join("modes.txt")).expect("modes.txt");
    for line in modes.lines().filter(|l| !l.starts_with('#')) {
        if let Some((path, mode)) = line.split_once(' ') {
            let mode = u32::from_str_radix(mode.trim(), 8).expect("octal mode");
            fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
    for receiver in ["1-2.1", "1-6"] {
        fs::remove_dir_all(root.join("sys/bus/usb/devices").join(receiver)).expect("remove receiver");
    }
    let keyboard = root.join("dev/bus/usb/001/003");
    fs::set_permissions(keyboard, fs::Permissions::from_mode(0o666)).expect("chmod keyboard");
    root
}

struct Atspi<'a> {
    s: &'a Session,
}

impl Atspi<'_> {
    fn run(&self, command: &str, name: &str) -> Option<String> {
        let out = Command::new("/usr/bin/python3")
            .arg(repo().join("tests/gui_console_usb/atspi.py"))
            .args(["console", command, name])
            .env("DISPLAY", &self.s.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.s.bus)
            .output()
            .expect("run /usr/bin/python3 (python3-pyatspi)");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if command == "dump" {
            return Some(format!("{text}\n{}", String::from_utf8_lossy(&out.stderr)));
        }
        out.status.success().then_some(text)
    }

    fn wait(&self, command: &str, name: &str) -> String {
        wait_for(Duration::from_secs(15), || self.run(command, name)).unwrap_or_else(|| {
            self.s.screenshot("usb-failed");
            panic!(
                "no widget {command} {name:?}; the tree:\n{}",
                self.run("dump", "-").unwrap_or_default()
            )
        })
    }
}

#[test]
fn console_usb_menu_lists_asks_explains_and_reports() {
    // A runtime folder of our own: the AT-SPI bus launcher otherwise puts its socket in
    // ~/.cache/at-spi/bus, which other GUI tests running at the same time replace.
    let xdg = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(xdg.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
    std::env::set_var("XDG_RUNTIME_DIR", xdg.path());
    let Some(s) = Session::new() else {
        return;
    };
    let root = fixture(s.tmp.path());
    // The example (and hangarctl) inherit these.
    std::env::set_var("HANGAR_USB_ROOT", &root);
    std::env::set_var("HANGAR_EXAMPLE_USB_UID", "1000");
    s.create_kernel_vm(VM, "vnc");
    s.ctl(&["start", VM]);
    let app = App::start(&s, VM);
    app.log.wait(r#"phase="connected""#, 0, Duration::from_secs(60));
    let a = Atspi { s: &s };

    // The menu: both mechanisms, the fixture devices, no hub.
    let mark = app.log.len();
    app.click_widget(&s, "USB Devices");
    app.log.wait("USB menu listed", mark, Duration::from_secs(15));
    a.wait("has", "Passthrough (QEMU)");
    a.wait("has", "Redirected (SPICE)");
    a.wait("has", KEYBOARD);
    a.wait("has", STICK);
    a.wait("has", "Attach SanDisk Cruzer Blade");
    assert!(
        a.run("has", "Attach Genesys Logic, Inc. USB2.0 Hub").is_none(),
        "a hub is listed"
    );
    // A VNC console (or a computer without usbfs) has nothing to redirect, and says why.
    let why = a.wait("has-sub", "USB redirection is not available");
    assert!(
        why.contains("SPICE") || why.contains("/dev/bus/usb"),
        "unclear: {why}"
    );
    std::thread::sleep(Duration::from_millis(500));
    s.screenshot("usb-menu");

    // The only keyboard: asked first, then QEMU's refusal in Hangar's words.
    let mark = app.log.len();
    a.wait("activate", KEYBOARD);
    app.log.wait(
        "asking before attaching the only keyboard",
        mark,
        Duration::from_secs(10),
    );
    a.wait("has", "Attach This Computer’s Only Keyboard?");
    std::thread::sleep(Duration::from_millis(500));
    s.screenshot("usb-keyboard-question");
    a.wait("press", "Attach Keyboard");
    app.log.wait(
        "error: Could not attach Dell KB216 Wired Keyboard",
        mark,
        Duration::from_secs(30),
    );
    let said = app.log.since(mark);
    assert!(
        said.contains("VM \"usbcon\""),
        "the error does not name the VM:\n{said}"
    );
    assert_eq!(
        a.wait("checked", KEYBOARD),
        "off",
        "the switch stays off after a failed attach"
    );

    // A node uid 1000 cannot open: the udev rule, and QEMU is not asked.
    if a.run("has", STICK).is_none() {
        app.click_widget(&s, "USB Devices");
    }
    let mark = app.log.len();
    a.wait("activate", STICK);
    app.log
        .wait("not openable: showing the fix", mark, Duration::from_secs(10));
    a.wait("has", "udev Rule");
    a.wait("has", "Copy the udev Rule");
    let rule = a.wait("has-sub", "/etc/udev/rules.d/70-hangar-usb.rules");
    assert!(
        rule.contains("/dev/bus/usb/002/002"),
        "the explanation names the node: {rule}"
    );
    std::thread::sleep(Duration::from_millis(500));
    s.screenshot("usb-permission-fix");
    assert!(
        !app.log.since(mark).contains("Could not attach SanDisk Ultra"),
        "QEMU was asked"
    );
    s.ctl(&["stop", "--force", VM]);
}
