//! Plumbing of tests/gui_console.rs: X server, window manager, D-Bus, hangarctl, the console
//! example, its log, AT-SPI and screenshots.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A child process killed when the guard goes away (also on test failure).
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`, from the test binary's own path (`target/<profile>/deps/…`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Builds `args` with cargo once and returns `target/<profile>/<rel>`.
fn cargo_built(cell: &'static OnceLock<PathBuf>, args: &[&str], rel: &str) -> &'static Path {
    cell.get_or_init(|| {
        eprintln!("gui_console: cargo build {args:?}");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet"])
            .args(args)
            .arg("--manifest-path")
            .arg(repo().join("Cargo.toml"))
            .status()
            .expect("cannot run cargo");
        assert!(status.success(), "cargo build {args:?} failed");
        profile_dir().join(rel)
    })
}

fn hangarctl_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    cargo_built(&BIN, &["-p", "hangarctl"], "hangarctl")
}

pub fn example_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    cargo_built(&BIN, &["--example", "console"], "examples/console")
}

/// The test guest's folder, built when missing.
fn guest() -> PathBuf {
    let dir = std::env::var_os("HANGAR_TEST_GUEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-guest"));
    if !dir.join("vmlinuz").exists() || !dir.join("initrd.gz").exists() {
        let status = Command::new(repo().join("tests/guest/build.sh"))
            .arg(&dir)
            .status()
            .expect("cannot run tests/guest/build.sh");
        assert!(status.success(), "tests/guest/build.sh failed: {status}");
    }
    dir
}

/// Starts Xvfb on a free display chosen by the server itself (`-displayfd`).
fn start_xvfb(xvfb: &Path) -> (Reaped, String) {
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe for -displayfd");
    let child = Command::new(xvfb)
        .args(["-displayfd", &write_end.as_raw_fd().to_string()])
        .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let guard = Reaped(child);
    drop(write_end);
    let mut number = String::new();
    std::fs::File::from(read_end).read_to_string(&mut number).ok();
    let number = number.trim().to_owned();
    assert!(!number.is_empty(), "Xvfb did not report a display number");
    (guard, format!(":{number}"))
}

/// A private D-Bus session bus (AT-SPI lives on it); returns its address.
///
/// The accessibility bus it starts on demand puts its socket in `$XDG_RUNTIME_DIR/at-spi/`
/// (else `~/.cache/at-spi/`), named after `$DISPLAY`; without both set here, every test run on
/// the machine would share one socket path, and concurrent runs would take each other's bus.
fn start_dbus(display: &str, runtime_dir: &Path) -> (Reaped, String) {
    std::fs::create_dir_all(runtime_dir).expect("mkdir the D-Bus runtime dir");
    std::fs::set_permissions(runtime_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod the D-Bus runtime dir");
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .env("DISPLAY", display)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dbus-daemon (Debian package: dbus-daemon)");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = Reaped(child);
    let mut address = String::new();
    BufReader::new(stdout)
        .read_line(&mut address)
        .expect("dbus address");
    let address = address.trim().to_owned();
    assert!(!address.is_empty(), "dbus-daemon printed no address");
    (guard, address)
}

pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Everything one test run shares.
pub struct Session {
    pub tmp: tempfile::TempDir,
    pub display: String,
    pub bus: String,
    vms: PathBuf,
    run: PathBuf,
    pub shots: PathBuf,
    // Dropped last: the window manager and X server outlive the apps.
    _dbus: Reaped,
    _wm: Reaped,
    _xvfb: Reaped,
}

impl Session {
    /// `None` (with a message) when the test cannot run here.
    pub fn new() -> Option<Session> {
        if std::env::var("HANGAR_SKIP_QEMU_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: HANGAR_SKIP_QEMU_TESTS=1");
            return None;
        }
        let Some(xvfb) = find_program("Xvfb") else {
            eprintln!("SKIPPED: Xvfb is not installed (Debian package: xvfb)");
            return None;
        };
        for (tool, package) in [
            ("openbox", "openbox"),
            ("xdotool", "xdotool"),
            ("xprop", "x11-utils"),
            ("import", "imagemagick"),
            ("compare", "imagemagick"),
            ("dbus-daemon", "dbus-daemon"),
        ] {
            assert!(
                find_program(tool).is_some(),
                "{tool} is needed for this test (Debian package: {package})"
            );
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let (xvfb, display) = start_xvfb(&xvfb);
        let wm = Command::new("openbox")
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openbox");
        let wm = Reaped(wm);
        let (dbus, bus) = start_dbus(&display, &tmp.path().join("xdg-runtime"));
        let shots = profile_dir()
            .parent()
            .map(|t| t.join("screenshots"))
            .expect("target dir");
        std::fs::create_dir_all(&shots).expect("mkdir target/screenshots");
        // Build before the clock matters.
        hangarctl_bin();
        example_bin();
        eprintln!("gui_console: built; starting");
        let session = Session {
            vms: tmp.path().join("vms"),
            run: tmp.path().join("run"),
            tmp,
            display,
            bus,
            shots,
            _dbus: dbus,
            _wm: wm,
            _xvfb: xvfb,
        };
        // The Pictures folder is where the screenshot dialog opens.
        let config = session.tmp.path().join("config");
        std::fs::create_dir_all(session.pictures()).expect("mkdir pictures");
        std::fs::create_dir_all(&config).expect("mkdir config");
        std::fs::write(
            config.join("user-dirs.dirs"),
            format!("XDG_PICTURES_DIR=\"{}\"\n", session.pictures().display()),
        )
        .expect("write user-dirs.dirs");
        // Give the window manager a moment to take the screen.
        wait_for(Duration::from_secs(10), || {
            let out = session.xprop_root("_NET_SUPPORTING_WM_CHECK");
            out.contains("window id").then_some(())
        })
        .expect("openbox did not start");
        Some(session)
    }

    /// The XDG Pictures folder of the apps under test.
    pub fn pictures(&self) -> PathBuf {
        self.tmp.path().join("pictures")
    }

    pub fn env(&self, cmd: &mut Command) {
        cmd.env("HANGAR_HOME", &self.vms)
            .env("HANGAR_RUNTIME_DIR", &self.run)
            .env("HANGAR_ACCEL", "tcg")
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("GDK_BACKEND", "x11")
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_CONFIG_HOME", self.tmp.path().join("config"))
            .env("LC_ALL", "C.UTF-8")
            .env("NO_COLOR", "1");
    }

    /// Runs hangarctl; panics with its output when it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(hangarctl_bin());
        self.env(&mut cmd);
        let out = cmd.args(args).output().expect("run hangarctl");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "hangarctl {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// A VM that boots the guest's kernel directly, with Ctrl+Alt+Del restarting at once;
    /// `display` is hangarctl's `--display` (vnc, spice).
    pub fn create_kernel_vm(&self, name: &str, display: &str) {
        self.ctl(&[
            "create",
            name,
            "--disk",
            "0",
            "--memory",
            "256M",
            "--cpus",
            "1",
            "--display",
            display,
        ]);
        let g = guest();
        let toml = self.vms.join(name).join("vm.toml");
        let text = std::fs::read_to_string(&toml).expect("read vm.toml");
        let extra = format!(
            "[advanced]\nextra_args = [\"-kernel\", {:?}, \"-initrd\", {:?}, \"-append\", \
             \"console=ttyS0,115200 console=tty0 sysctl.kernel.ctrl-alt-del=1\"]",
            g.join("vmlinuz"),
            g.join("initrd.gz")
        );
        assert!(text.contains("[advanced]"), "vm.toml without [advanced]:\n{text}");
        std::fs::write(&toml, text.replacen("[advanced]", &extra, 1)).expect("write vm.toml");
        let argv = self.ctl(&["argv", name]);
        assert!(argv.contains("ctrl-alt-del=1"), "extra args not used: {argv}");
    }

    pub fn serial(&self, vm: &str) -> String {
        let bytes = std::fs::read(self.vms.join(vm).join("serial.log")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits until `needle` occurs `count` times on VM `vm`'s serial port.
    pub fn wait_serial(&self, vm: &str, needle: &str, count: usize, timeout: Duration) {
        eprintln!("gui_console: waiting for {needle:?} ×{count} on serial");
        let found = wait_for(timeout, || {
            (self.serial(vm).matches(needle).count() >= count).then_some(())
        });
        if found.is_none() {
            let serial = self.serial(vm);
            let tail = tail(&serial, 1500);
            panic!("{needle:?} ×{count} not on serial within {timeout:?}; serial ends with:\n{tail}");
        }
    }

    /// Types `text` and Enter into the focused console until the guest reports the line
    /// (`KEYLINE:`). The guest's tty1 reader starts in the background while it boots, so keys
    /// typed in the first moments after a boot can be held back; one retry covers that.
    pub fn type_line(&self, vm: &str, text: &str) {
        let needle = format!("KEYLINE:{text}");
        for attempt in 0..3 {
            let before = self.serial(vm).matches(&needle).count();
            self.xdo(&["type", "--delay", "60", text]);
            self.xdo(&["key", "Return"]);
            let seen = wait_for(Duration::from_secs(15), || {
                (self.serial(vm).matches(&needle).count() > before).then_some(())
            });
            if seen.is_some() {
                return;
            }
            eprintln!("gui_console: {needle:?} not seen (attempt {attempt}); typing again");
        }
        let tail = tail(&self.serial(vm), 800);
        panic!("typed {text:?} three times, the guest never reported it; serial ends with:\n{tail}");
    }

    pub fn xdo(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .expect("run xdotool");
        assert!(out.status.success(), "xdotool {args:?} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn try_xdo(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// The id of the visible window titled exactly `title`.
    pub fn wait_window(&self, title: &str) -> String {
        let pattern = format!("^{}$", regex_escape(title));
        wait_for(Duration::from_secs(30), || {
            self.try_xdo(&["search", "--onlyvisible", "--name", &pattern])
                .and_then(|ids| ids.lines().next().map(str::to_owned))
        })
        .unwrap_or_else(|| panic!("no visible window {title:?}"))
    }

    fn xprop_root(&self, property: &str) -> String {
        Command::new("xprop")
            .args(["-root", property])
            .env("DISPLAY", &self.display)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub fn xprop(&self, window: &str, property: &str) -> String {
        Command::new("xprop")
            .args(["-id", window, property])
            .env("DISPLAY", &self.display)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Saves the whole screen as `target/screenshots/console-NAME.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let path = self.shots.join(format!("console-{name}.png"));
        let status = Command::new("import")
            .args(["-window", "root"])
            .arg(&path)
            .env("DISPLAY", &self.display)
            .status()
            .expect("run import");
        assert!(status.success(), "import failed");
        path
    }

    /// ImageMagick with arguments; its stdout and stderr.
    pub fn magick(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .output()
            .expect("run ImageMagick");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> String {
    let skip = s.chars().count().saturating_sub(n);
    s.chars().skip(skip).collect()
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "\\^$.|?*+()[]{}".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}
