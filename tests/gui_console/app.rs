//! The console example under test: its log, AT-SPI access and the checks made on its window.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::support::{example_bin, repo, wait_for, Reaped, Session};

/// The example's stderr, written to a file.
pub struct Log {
    path: PathBuf,
}

impl Log {
    pub fn text(&self) -> String {
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&bytes))
    }

    pub fn len(&self) -> usize {
        self.text().len()
    }

    pub fn since(&self, mark: usize) -> String {
        self.text().get(mark..).unwrap_or_default().to_owned()
    }

    /// Waits for `needle` in the log after byte `mark`.
    pub fn wait(&self, needle: &str, mark: usize, timeout: Duration) {
        eprintln!("gui_console: waiting for {needle:?} in the log");
        if wait_for(timeout, || self.since(mark).contains(needle).then_some(())).is_none() {
            panic!(
                "{needle:?} not logged within {timeout:?}; log since mark:\n{}",
                self.since(mark)
            );
        }
    }

    /// The phase of the last "console phase" line.
    pub fn last_phase(&self) -> Option<String> {
        let text = self.text();
        let line = text.lines().rev().find(|l| l.contains("console phase"))?;
        let start = line.find("phase=\"")? + 7;
        let rest = &line[start..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The console example showing one VM.
pub struct App {
    pub log: Log,
    shots: PathBuf,
    vm: String,
    pub window: String,
    title: String,
    display: String,
    bus: String,
    _child: Reaped,
}

impl App {
    pub fn start(s: &Session, vm: &str) -> App {
        let log_path = s.tmp.path().join(format!("console-{vm}.log"));
        let log_file = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(example_bin());
        s.env(&mut cmd);
        let child = cmd
            .arg(vm)
            // The console's debug lines say which protocol it connects with.
            .env("RUST_LOG", "info,hangar::ui::console=debug")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start the console example");
        let child = Reaped(child);
        let title = format!("{vm} (console example)");
        let window = s.wait_window(&title);
        App {
            log: Log { path: log_path },
            shots: s.shots.clone(),
            vm: vm.to_owned(),
            window,
            title,
            display: s.display.clone(),
            bus: s.bus.clone(),
            _child: child,
        }
    }

    fn atspi(&self, command: &str, frame: &str, name: &str) -> Option<String> {
        let out = Command::new("/usr/bin/python3")
            .arg(repo().join("tests/gui_console/atspi.py"))
            .args(["console", command, frame, name])
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .expect("run /usr/bin/python3 (python3-pyatspi)");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        out.status.success().then_some(text)
    }

    /// Whether a widget with this accessible name is in the window (hidden ones are not).
    pub fn has(&self, name: &str) -> bool {
        self.atspi("has", &self.title, name).is_some()
    }

    /// Waits up to 10 s for a widget named so to appear.
    pub fn shows(&self, name: &str) -> bool {
        wait_for(Duration::from_secs(10), || self.has(name).then_some(())).is_some()
    }

    /// Runs the first accessible action of the widget named so (anywhere in the app).
    pub fn activate(&self, name: &str) {
        let done = wait_for(Duration::from_secs(10), || self.atspi("activate", "-", name));
        assert!(done.is_some(), "no activatable widget {name:?}");
    }

    pub fn activate_in(&self, frame: &str, name: &str) {
        let done = wait_for(Duration::from_secs(10), || self.atspi("activate", frame, name));
        assert!(done.is_some(), "no activatable widget {name:?} in {frame:?}");
    }

    /// Extents (x, y, w, h) of a widget of the main window, in window coordinates. Asks again
    /// for up to 30 s: on a loaded machine an AT-SPI walk can time out while the app is busy.
    pub fn extents(&self, name: &str) -> (i32, i32, i32, i32) {
        let text = wait_for(Duration::from_secs(30), || {
            self.atspi("extents", &self.title, name)
        })
        .unwrap_or_else(|| panic!("no widget {name:?}"));
        let v: Vec<i32> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        assert_eq!(v.len(), 4, "bad extents {text:?}");
        (v[0], v[1], v[2], v[3])
    }

    /// Clicks the middle of a widget (for toggles and menu buttons, which have no action).
    pub fn click_widget(&self, s: &Session, name: &str) {
        let (x, y, w, h) = self.extents(name);
        let (cx, cy) = ((x + w / 2).to_string(), (y + h / 2).to_string());
        s.xdo(&["mousemove", "--window", &self.window, &cx, &cy]);
        s.xdo(&["click", "1"]);
    }

    pub fn click_screen(&self, s: &Session) {
        self.click_widget(s, &format!("Screen of {}", self.vm));
    }

    /// Takes a screenshot with the toolbar button and accepts the save dialog's proposal (the
    /// Pictures folder, `<vm>-<date>.png`); returns the saved file.
    pub fn save_screenshot(&self, s: &Session) -> PathBuf {
        let before: Vec<PathBuf> = pngs(&s.pictures());
        let mark = self.log.len();
        self.activate("Take Screenshot");
        let dialog = s.wait_window("Save Screenshot");
        std::thread::sleep(Duration::from_millis(800));
        s.screenshot("save-dialog");
        // The name is proposed; Enter in it is the dialog's default response (Save). Keys go
        // through XTEST to the focused window.
        s.xdo(&["windowactivate", "--sync", &dialog]);
        s.xdo(&["windowfocus", "--sync", &dialog]);
        std::thread::sleep(Duration::from_millis(300));
        s.xdo(&["key", "Return"]);
        let saved = wait_for(Duration::from_secs(20), || {
            self.log.since(mark).contains("Screenshot saved as").then_some(())
        });
        if saved.is_none() {
            s.screenshot("save-dialog-after");
            eprintln!(
                "gui_console: Enter did not save; AT-SPI: {:?}",
                self.atspi("activate", "Save Screenshot", "Save")
            );
        }
        self.log
            .wait("Screenshot saved as", mark, Duration::from_secs(30));
        let saved: Vec<PathBuf> = pngs(&s.pictures())
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert_eq!(
            saved.len(),
            1,
            "expected one new PNG in {:?}: {saved:?}",
            s.pictures()
        );
        let file = saved[0].clone();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            name.starts_with(&format!("{}-", self.vm)),
            "unexpected name {name:?}"
        );
        file
    }

    /// Checks the window's fullscreen state as the window manager sees it.
    pub fn assert_fullscreen(&self, s: &Session, on: bool) {
        let ok = wait_for(Duration::from_secs(5), || {
            let state = s.xprop(&self.window, "_NET_WM_STATE");
            let geometry = s.xdo(&["getwindowgeometry", &self.window]);
            let full = state.contains("_NET_WM_STATE_FULLSCREEN") && geometry.contains("1280x800");
            (full == on).then_some(())
        });
        assert!(
            ok.is_some(),
            "fullscreen should be {on}: {} / {}",
            s.xprop(&self.window, "_NET_WM_STATE"),
            s.xdo(&["getwindowgeometry", &self.window])
        );
    }

    /// The console's picture matches QEMU's own screendump (both reduced to 90×50 so that a
    /// pixel or two of offset and the blinking cursor do not matter) and is not black.
    pub fn assert_shows_guest(&self, s: &Session) {
        let dir = s.tmp.path();
        let qemu = dir.join("qemu.png");
        s.ctl(&["screenshot", &self.vm, &qemu.to_string_lossy()]);
        let screen = s.screenshot("compare-source");
        let (x, y, w, h) = self.extents(&format!("Screen of {}", self.vm));
        let geometry = s.xdo(&["getwindowgeometry", &self.window]);
        let (wx, wy) = parse_position(&geometry);
        // The guest picture is letterboxed into the widget (Fit).
        let size = s.magick("identify", &["-format", "%w %h", &qemu.to_string_lossy()]);
        let g: Vec<f64> = size.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        assert_eq!(g.len(), 2, "identify said {size:?}");
        let scale = (f64::from(w) / g[0]).min(f64::from(h) / g[1]);
        let (pw, ph) = ((g[0] * scale).round() as i32, (g[1] * scale).round() as i32);
        let (px, py) = (wx + x + (w - pw) / 2, wy + y + (h - ph) / 2);
        let crop = format!("{pw}x{ph}+{px}+{py}");
        let a = dir.join("a.png");
        let b = dir.join("b.png");
        s.magick(
            "convert",
            &[
                &screen.to_string_lossy(),
                "-crop",
                &crop,
                "+repage",
                "-resize",
                "90x50!",
                &a.to_string_lossy(),
            ],
        );
        s.magick(
            "convert",
            &[&qemu.to_string_lossy(), "-resize", "90x50!", &b.to_string_lossy()],
        );
        let _ = std::fs::remove_file(&screen);
        let bright = s.magick(
            "convert",
            &[
                &a.to_string_lossy(),
                "-colorspace",
                "Gray",
                "-format",
                "%[fx:maxima]",
                "info:",
            ],
        );
        let bright: f64 = bright.trim().parse().unwrap_or(0.0);
        assert!(
            bright > 0.3,
            "the console picture is black (max {bright}) in {crop}"
        );
        let out = s.magick(
            "compare",
            &[
                "-metric",
                "RMSE",
                &a.to_string_lossy(),
                &b.to_string_lossy(),
                "null:",
            ],
        );
        let rmse: f64 = out
            .split(['(', ')'])
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("compare said {out:?}"));
        assert!(
            rmse < 0.12,
            "console picture differs from QEMU's screendump: RMSE {rmse} ({crop})"
        );
    }
}

impl Drop for App {
    /// Keeps the example's log beside the screenshots (it tells what happened on a failure).
    fn drop(&mut self) {
        let to = self.shots.join(format!("console-example-{}.log", self.vm));
        if let Err(err) = std::fs::copy(&self.log.path, &to) {
            eprintln!("gui_console: cannot keep the log as {}: {err}", to.display());
        }
    }
}

/// "Position: 190,80 (screen: 0)" from `xdotool getwindowgeometry`.
fn parse_position(geometry: &str) -> (i32, i32) {
    geometry
        .lines()
        .find_map(|l| l.trim().strip_prefix("Position: "))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.split_once(','))
        .and_then(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?)))
        .unwrap_or((0, 0))
}

/// The PNG files in a folder.
fn pngs(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.extension().is_some_and(|e| e == "png"));
    out
}
