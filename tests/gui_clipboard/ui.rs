//! The Clipboard menu driven through AT-SPI with patience: while the guest runs under TCG on a
//! loaded machine, one walk of the accessibility tree can take seconds, so the waits here are
//! longer than the console test's, and the button is clicked where it was found while the VM
//! was still off (the toolbar does not move).

use std::process::Command;
use std::time::Duration;

use super::app::App;
use super::support::{repo, wait_for, Session};

/// How long a widget may take to show up (or go away) in the accessibility tree.
const PATIENCE: Duration = Duration::from_secs(60);
/// A widget of the popover, in the accessibility tree only while the menu is open.
const IN_MENU: &str = "Type Clipboard Text";

/// Runs tests/gui_console/atspi.py (`APP COMMAND FRAME NAME`); its output when it succeeds.
fn atspi(s: &Session, command: &str, frame: &str, name: &str) -> Option<String> {
    let out = Command::new("/usr/bin/python3")
        .arg(repo().join("tests/gui_console/atspi.py"))
        .args(["console", command, frame, name])
        .env("DISPLAY", &s.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &s.bus)
        .output()
        .expect("run /usr/bin/python3 (python3-pyatspi)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Everything atspi.py printed, for failure messages.
fn atspi_output(s: &Session, command: &str, frame: &str, name: &str) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg(repo().join("tests/gui_console/atspi.py"))
        .args(["console", command, frame, name])
        .env("DISPLAY", &s.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &s.bus)
        .output()
        .expect("run /usr/bin/python3 (python3-pyatspi)");
    format!(
        "{} {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub struct Menu<'a> {
    s: &'a Session,
    app: &'a App,
    frame: String,
}

impl<'a> Menu<'a> {
    /// The Clipboard menu of VM `vm`'s console.
    pub fn find(s: &'a Session, app: &'a App, vm: &str) -> Menu<'a> {
        let menu = Menu {
            s,
            app,
            frame: format!("{vm} (console example)"),
        };
        menu.button_middle();
        menu
    }

    /// Middle of the Clipboard button, in window coordinates (looked up each time: the window
    /// may have grown with the guest screen).
    fn button_middle(&self) -> (String, String) {
        // A console closed a moment ago may still be listed by the registry: retry.
        let text =
            wait_for(PATIENCE, || atspi(self.s, "extents", &self.frame, "Clipboard")).unwrap_or_else(|| {
                self.s.screenshot("clipboard-button-missing");
                panic!(
                    "no Clipboard button in the console; AT-SPI says: {}",
                    atspi_output(self.s, "extents", &self.frame, "Clipboard")
                )
            });
        let v: Vec<i32> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        assert_eq!(v.len(), 4, "bad extents {text:?}");
        ((v[0] + v[2] / 2).to_string(), (v[1] + v[3] / 2).to_string())
    }

    fn open(&self) -> bool {
        atspi(self.s, "has", "-", IN_MENU).is_some()
    }

    pub fn show(&self) {
        for _ in 0..4 {
            if self.open() {
                return;
            }
            let (x, y) = self.button_middle();
            self.s.xdo(&["mousemove", "--window", &self.app.window, &x, &y]);
            self.s.xdo(&["click", "1"]);
            if wait_for(PATIENCE / 4, || self.open().then_some(())).is_some() {
                self.s.screenshot("clipboard-menu");
                return;
            }
        }
        self.s.screenshot("clipboard-menu-failed");
        panic!("the Clipboard menu did not open");
    }

    pub fn hide(&self) {
        self.s.xdo(&["key", "Escape"]);
        let hidden = wait_for(PATIENCE, || (!self.open()).then_some(()));
        assert!(hidden.is_some(), "the Clipboard menu did not close");
    }

    /// Runs the accessible action of the menu's widget `name` (a switch, the type button).
    pub fn activate(&self, name: &str) {
        let done = wait_for(PATIENCE, || atspi(self.s, "activate", "-", name));
        assert!(done.is_some(), "no activatable {name:?} in the Clipboard menu");
    }

    /// Whether the button's badge says `text` (the badge is out of the tree while hidden).
    pub fn badge(&self, text: &str) -> bool {
        atspi(self.s, "has", "-", text).is_some()
    }

    /// Waits until the badge says `text` (or, with `shown` false, until it no longer does).
    pub fn wait_badge(&self, text: &str, shown: bool) {
        let ok = wait_for(PATIENCE, || (self.badge(text) == shown).then_some(()));
        assert!(ok.is_some(), "badge {text:?} should be shown: {shown}");
    }
}
