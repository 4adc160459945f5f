//! GUI test of the New Virtual Machine wizard: on a private Xvfb display and D-Bus session,
//! `tests/gui_wizard/drive.py` walks the wizard through AT-SPI (as a screen reader user would):
//! a missing ISO and an invalid name must block Next with a message; then it creates a VM from
//! the test guest's ISO with 512 MiB, 1 vCPU, a 2 GiB disk and "customize" on. The test then
//! checks the outcome the wizard reported and the VM folder it left.
//!
//! The wizard runs in this test binary, started again as the ignored `wizard_host` test (GTK
//! wants its own process). Needs Xvfb, xdotool, dbus-run-session and Debian's python3-pyatspi;
//! a missing tool fails the test with its Debian package. The ISO comes from
//! `target/test-guest` (built there by `tests/guest/build.sh` when absent).
//! `HANGAR_WIZARD_SCREENSHOTS=DIR` saves a screenshot of every page as `DIR/wizard-*.png`.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adw::prelude::*;
use hangar::ui::wizard::{self, WizardOutcome};
use hangar_core::config::VmConfig;
use hangar_core::manager::Manager;

/// Set (to the outcome file) when this binary runs as the wizard's host.
const HOST_ENV: &str = "HANGAR_WIZARD_TEST_OUTCOME";
const NAME: &str = "wizvm";
const GIB: u64 = 1 << 30;

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A child process killed when the guard goes away (also on test failure).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_xvfb(xvfb: &Path) -> (Reaped, String) {
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe for -displayfd");
    let child = Command::new(xvfb)
        .args(["-displayfd", &write_end.as_raw_fd().to_string()])
        .args(["-screen", "0", "1024x768x24", "-nolisten", "tcp"])
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

/// The test guest's ISO, built with tests/guest/build.sh when it is not there yet.
fn guest_iso() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/test-guest");
    let iso = dir.join("guest.iso");
    if !iso.is_file() {
        let status = Command::new(root.join("tests/guest/build.sh"))
            .arg(&dir)
            .status()
            .expect("run tests/guest/build.sh");
        assert!(
            status.success(),
            "tests/guest/build.sh failed ({status}); see its output above"
        );
    }
    iso
}

/// The virtual size recorded in a qcow2 header (big-endian u64 at offset 24).
fn qcow2_virtual_size(path: &Path) -> u64 {
    let mut header = [0u8; 32];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(
        &header[..4],
        b"QFI\xfb",
        "{} is not a qcow2 image",
        path.display()
    );
    u64::from_be_bytes(header[24..32].try_into().expect("8 bytes"))
}

#[test]
fn creates_a_vm_through_the_wizard() {
    let xvfb = find_program("Xvfb").expect("Xvfb is needed for this test (Debian package: xvfb)");
    for (program, package) in [("xdotool", "xdotool"), ("dbus-run-session", "dbus-daemon")] {
        assert!(
            find_program(program).is_some(),
            "{program} is needed for this test (Debian package: {package})"
        );
    }
    let python = Path::new("/usr/bin/python3");
    let pyatspi = Command::new(python).args(["-c", "import pyatspi"]).status();
    assert!(
        pyatspi.is_ok_and(|s| s.success()),
        "Debian's /usr/bin/python3 with pyatspi is needed (Debian package: python3-pyatspi)"
    );
    let iso = guest_iso();

    let tmp = tempfile::tempdir().expect("tempdir");
    let vms = tmp.path().join("vms");
    let data = tmp.path().join("data");
    let outcome = tmp.path().join("outcome");
    let (_xvfb, display) = start_xvfb(&xvfb);

    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gui_wizard/drive.py");
    let host = std::env::current_exe().expect("path of this test binary");
    let mut command = Command::new("dbus-run-session");
    command.arg("--").arg(python).arg(&driver);
    command.arg("--iso").arg(&iso);
    command.args([
        "--name",
        NAME,
        "--memory",
        "512",
        "--cpus",
        "1",
        "--disk",
        "2",
        "--customize",
    ]);
    if let Some(shots) = std::env::var_os("HANGAR_WIZARD_SCREENSHOTS") {
        command.arg("--shots").arg(shots);
    }
    command.arg("--").arg(&host).args([
        "--ignored",
        "--exact",
        "wizard_host",
        "--nocapture",
        "--test-threads=1",
    ]);
    command
        .env("DISPLAY", &display)
        .env("GDK_BACKEND", "x11")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("GTK_A11Y")
        .env("GSK_RENDERER", "cairo")
        .env("HANGAR_HOME", &vms)
        .env("HANGAR_RUNTIME_DIR", tmp.path().join("run"))
        .env("HANGAR_ACCEL", "tcg")
        .env("XDG_DATA_HOME", &data)
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("LC_ALL", "C.UTF-8")
        .env(HOST_ENV, &outcome)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut run = Reaped(command.spawn().expect("start the AT-SPI driver"));
    let status = loop {
        if let Some(status) = run.0.try_wait().expect("wait for the driver") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(80) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut log = String::new();
    if let Some(mut out) = run.0.stdout.take() {
        out.read_to_string(&mut log).ok();
    }
    if let Some(mut err) = run.0.stderr.take() {
        err.read_to_string(&mut log).ok();
    }
    let Some(status) = status else {
        panic!("the wizard was not done within 80 s; output so far:\n{log}");
    };
    assert!(status.success(), "driving the wizard failed ({status}):\n{log}");
    eprintln!("wizard driven in {:.1} s", started.elapsed().as_secs_f64());

    let reported = std::fs::read_to_string(&outcome).unwrap_or_default();
    assert_eq!(
        reported.trim(),
        format!("created {NAME} customize=true"),
        "log:\n{log}"
    );

    let dir = vms.join(NAME);
    let text = std::fs::read_to_string(dir.join("vm.toml")).expect("vm.toml of the new VM");
    let config = VmConfig::parse(&text, &dir.join("vm.toml")).expect("a valid vm.toml");
    assert_eq!(config.name, NAME);
    assert_eq!(config.machine.memory_mib, 512, "{text}");
    assert_eq!(config.machine.cpus, 1, "{text}");
    let cdrom = config.cdrom.as_ref().and_then(|c| c.path.clone());
    assert_eq!(cdrom.as_deref(), Some(iso.as_path()), "{text}");
    assert_eq!(config.disks.len(), 1, "{text}");
    assert_eq!(config.disks[0].path, Path::new("disk0.qcow2"), "{text}");
    assert_eq!(qcow2_virtual_size(&dir.join("disk0.qcow2")), 2 * GIB);
    assert_eq!(config.networks.len(), 1);
    assert!(config.networks[0].mac.is_some(), "{text}");

    let recent = std::fs::read_to_string(data.join("hangar/recent-isos")).unwrap_or_default();
    assert_eq!(recent.lines().next(), Some(iso.to_str().expect("UTF-8 ISO path")));
}

/// The wizard over an empty main window; writes its outcome to `$HANGAR_WIZARD_TEST_OUTCOME`
/// and quits once a VM was created. Started by `creates_a_vm_through_the_wizard`.
#[test]
#[ignore = "host process of creates_a_vm_through_the_wizard, which starts it"]
fn wizard_host() {
    let outcome = PathBuf::from(
        std::env::var_os(HOST_ENV)
            .expect("run by creates_a_vm_through_the_wizard, which sets the outcome file"),
    );
    gtk::init().expect("a display");
    let app = adw::Application::builder()
        .application_id("org.hangar.Hangar.WizardTest")
        .flags(gtk::gio::ApplicationFlags::NON_UNIQUE)
        .build();
    app.connect_activate(move |app| {
        let window = adw::ApplicationWindow::builder()
            .application(app)
            .title("Hangar")
            .default_width(900)
            .default_height(650)
            .build();
        window.present();
        let app = app.clone();
        let outcome = outcome.clone();
        wizard::present(&window, Manager::from_env(), move |result| {
            let line = match result {
                WizardOutcome::Created { name, customize } => {
                    format!("created {name} customize={customize}\n")
                }
                WizardOutcome::Failed(err) => format!("failed {}: {}\n", err.summary, err.details),
            };
            let mut text = std::fs::read_to_string(&outcome).unwrap_or_default();
            text.push_str(&line);
            std::fs::write(&outcome, text).expect("write the outcome file");
            if line.starts_with("created") {
                app.quit();
            }
        });
    });
    app.run_with_args::<&str>(&[]);
}
