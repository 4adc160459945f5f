//! GUI test of the hardware editor and the snapshots view: `examples/details.rs` runs on a
//! private Xvfb with its own D-Bus session (so its own AT-SPI bus), and `tests/gui_details/drive.py`
//! (python3-pyatspi, run with /usr/bin/python3) works its widgets like a person would:
//!
//! 1. Memory 1024 → vm.toml says 1024; memory 0 → an error is shown beside the field and
//!    vm.toml is byte for byte unchanged; a good value hides the error again.
//! 2. Add Disk (32M) → `disk1.qcow2` of 32 MiB exists and vm.toml lists it.
//! 3. With the tiny test guest running (TCG, its kernel booted directly through the extra QEMU
//!    arguments): Take Snapshot, change the guest (its serial
//!    counter), Revert → the counter is back; Delete → the snapshot is gone.
//!
//! Needs Xvfb, dbus-daemon, python3-pyatspi, qemu-system-x86_64 and qemu-img. Skipped only
//! with `HANGAR_SKIP_QEMU_TESTS=1`; a missing tool fails the test with its Debian package. The guest comes from
//! `$HANGAR_TEST_GUEST`, else `target/test-guest` (built by tests/guest/build.sh when missing).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hangar_core::config::VmConfig;
use hangar_core::host::{HostCaps, ACCEL_ENV};
use hangar_core::manager::{CreateRequest, DiskSource, Manager, StartOptions, StopMode};
use hangar_core::paths::Paths;
use hangar_core::store::Store;

const VM: &str = "gd";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

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

/// A process we did not spawn as a `Child` (the forked dbus-daemon, QEMU), killed by pid.
struct Pid(i32);

impl Drop for Pid {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) of a process this test started.
        unsafe { libc::kill(self.0, libc::SIGTERM) };
    }
}

fn start_xvfb(xvfb: &Path) -> (Reaped, String) {
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe for -displayfd");
    let child = Command::new(xvfb)
        .args(["-displayfd", &write_end.as_raw_fd().to_string()])
        .args(["-screen", "0", "1000x760x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let guard = Reaped(child);
    drop(write_end);
    let mut number = String::new();
    fs::File::from(read_end).read_to_string(&mut number).ok();
    let number = number.trim().to_owned();
    assert!(!number.is_empty(), "Xvfb did not report a display number");
    (guard, format!(":{number}"))
}

/// A session bus of our own; `XDG_RUNTIME_DIR` is private so the AT-SPI bus it activates does
/// not meet other sessions' sockets.
fn start_dbus(env: &[(String, PathBuf)]) -> (Pid, String) {
    let out = Command::new("dbus-daemon")
        .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run dbus-daemon (Debian package: dbus-daemon)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let address = lines.next().unwrap_or_default().to_owned();
    let pid: i32 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("dbus-daemon pid");
    assert!(address.starts_with("unix:"), "dbus-daemon said {text:?}");
    (Pid(pid), address)
}

fn test_guest() -> PathBuf {
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

/// Builds `examples/details.rs` next to this test's binaries and returns its path.
fn example_binary() -> PathBuf {
    let profile_dir = Path::new(env!("CARGO_BIN_EXE_hangar"))
        .parent()
        .expect("target dir");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--example", "details"]).current_dir(repo());
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build --example details");
    assert!(status.success(), "cargo build --example details failed");
    profile_dir.join("examples/details")
}

fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The window, and a `drive.py serve` process talking to it over AT-SPI.
struct Gui {
    driver: Reaped,
    answers: BufReader<std::process::ChildStdout>,
    log: PathBuf,
    started: Instant,
}

impl Gui {
    fn new(env: &[(String, PathBuf)], log: PathBuf, started: Instant) -> Gui {
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo().join("tests/gui_details/drive.py"))
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run /usr/bin/python3");
        let answers = BufReader::new(child.stdout.take().expect("driver stdout"));
        Gui {
            driver: Reaped(child),
            answers,
            log,
            started,
        }
    }

    /// Runs one drive.py command; panics with its reason and the app's log on failure.
    fn drive(&mut self, args: &[&str]) {
        eprintln!("{:6.1} s  {args:?}", self.started.elapsed().as_secs_f64());
        let stdin = self.driver.0.stdin.as_mut().expect("driver stdin");
        let line = serde_json::to_string(args).expect("json");
        writeln!(stdin, "{line}").expect("write to drive.py");
        let mut answer = String::new();
        self.answers.read_line(&mut answer).expect("read drive.py");
        if answer.trim() != "OK" {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            panic!("drive.py {args:?} failed: {answer}\n--- example's stderr ---\n{log}");
        }
    }
}

/// Sends a line to the guest's serial console and returns its `COUNTER=` answer.
fn counter(socket: &Path, command: &str) -> i64 {
    let stream = UnixStream::connect(socket).expect("connect to the serial console");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    (&stream)
        .write_all(format!("{command}\n").as_bytes())
        .expect("write to serial");
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read serial");
        assert!(n > 0, "serial console closed");
        if let Some(v) = line.trim().strip_prefix("COUNTER=") {
            return v.parse().expect("counter value");
        }
    }
}

fn config_text(vm_dir: &Path) -> String {
    fs::read_to_string(vm_dir.join("vm.toml")).expect("read vm.toml")
}

#[test]
fn edits_disks_and_snapshots_through_the_window() {
    let xvfb = find_program("Xvfb").expect("Xvfb is needed for this test (Debian package: xvfb)");
    if std::env::var("HANGAR_SKIP_QEMU_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: HANGAR_SKIP_QEMU_TESTS=1");
        return;
    }
    let atspi = Command::new("/usr/bin/python3")
        .args(["-c", "import pyatspi"])
        .status();
    assert!(
        atspi.is_ok_and(|s| s.success()),
        "/usr/bin/python3 with pyatspi is needed (Debian package: python3-pyatspi)"
    );
    let started = Instant::now();
    let guest = test_guest();
    let example = example_binary();

    // The VM: a blank 64 MiB qcow2 (snapshots live there) and the test guest's ISO, booted first.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (vms, run) = (tmp.path().join("vms"), tmp.path().join("run"));
    let host = HostCaps::probe_with(Path::new("/"), |k| {
        if k == ACCEL_ENV {
            Some("tcg".into())
        } else {
            std::env::var_os(k)
        }
    });
    let manager = Manager::new(Store::new(Paths::new(&vms, &run)), host);
    // Multi-threaded: the manager's QMP tasks must keep running (and close their sockets) between
    // the test's calls, or the VM's one-client monitor stays taken.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut config = VmConfig::new(VM);
    config.machine.cpus = 1;
    config.machine.memory_mib = 256;
    // The guest's kernel is booted directly (its fastest path) through the extra arguments.
    let path = |f: &str| guest.join(f).to_string_lossy().into_owned();
    config.advanced.extra_args = vec![
        "-kernel".into(),
        path("vmlinuz"),
        "-initrd".into(),
        path("initrd.gz"),
        "-append".into(),
        "console=ttyS0,115200 console=tty0".into(),
    ];
    rt.block_on(manager.create(CreateRequest {
        config,
        iso: None,
        disk: DiskSource::New { size_bytes: 64 << 20 },
    }))
    .expect("create the VM");
    let vm_dir = vms.join(VM);

    // Display, session bus (with its AT-SPI bus) and the window.
    let (_xvfb, display) = start_xvfb(&xvfb);
    let xdg = tmp.path().join("xdg");
    fs::create_dir_all(&xdg).expect("mkdir");
    let mut env: Vec<(String, PathBuf)> = vec![
        ("DISPLAY".into(), display.into()),
        ("XDG_RUNTIME_DIR".into(), xdg.clone()),
        ("XDG_CACHE_HOME".into(), xdg.join("cache")),
        ("XDG_CONFIG_HOME".into(), xdg.join("config")),
    ];
    let (_dbus, address) = start_dbus(&env);
    env.push(("DBUS_SESSION_BUS_ADDRESS".into(), address.into()));
    let log = tmp.path().join("example.log");
    let app = Command::new(&example)
        .args(["--home".as_ref(), vms.as_os_str(), "--vm".as_ref(), VM.as_ref()])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("HANGAR_RUNTIME_DIR", &run)
        .env(ACCEL_ENV, "tcg")
        .env("GDK_BACKEND", "x11")
        .env("LC_ALL", "C.UTF-8")
        .env_remove("GTK_A11Y")
        .env_remove("HANGAR_USB_ROOT")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start the example");
    let _app = Reaped(app);
    let mut gui = Gui::new(&env, log, started);
    gui.drive(&["wait-app", "40"]);
    // The guest boots (≈10-40 s under TCG) while the window is edited.
    let report = rt
        .block_on(manager.start(VM, &StartOptions::default()))
        .expect("start the VM");
    let qemu = Pid(report.pid);

    // 1. A good edit is saved; a bad one is refused beside the field and the file stays as it was.
    gui.drive(&["select-section", "Memory"]);
    gui.drive(&["set-value", "Memory", "1024"]);
    let saved = wait_for(Duration::from_secs(5), || {
        config_text(&vm_dir).contains("memory_mib = 1024").then_some(())
    });
    assert!(
        saved.is_some(),
        "memory 1024 not saved:\n{}",
        config_text(&vm_dir)
    );
    let before = config_text(&vm_dir);
    gui.drive(&["set-value", "Memory", "0"]);
    gui.drive(&["wait-shown", "0 is out of range. Use a value from 16", "5"]);
    assert_eq!(config_text(&vm_dir), before, "a refused edit changed vm.toml");
    gui.drive(&["set-value", "Memory", "256"]);
    gui.drive(&["wait-gone", "is out of range", "5"]);
    assert!(config_text(&vm_dir).contains("memory_mib = 256"));

    // 2. Snapshots of the running guest.
    let serial_log = vm_dir.join("serial.log");
    let booted = wait_for(Duration::from_secs(90), || {
        fs::read(&serial_log)
            .ok()
            .filter(|b| String::from_utf8_lossy(b).contains("HANGAR-BOOT-OK"))
    });
    assert!(booted.is_some(), "the guest did not boot");
    let serial = manager.runtime(VM).serial;
    assert_eq!(counter(&serial, "set 41"), 41);

    gui.drive(&["click", "Snapshots", "page tab"]);
    gui.drive(&["wait-sensitive", "Take Snapshot", "20"]);
    gui.drive(&["click", "Take Snapshot"]);
    gui.drive(&["set-text", "Snapshot Name", "first"]);
    gui.drive(&["click", "_Take"]);
    gui.drive(&["wait-sensitive", "Revert to first", "60"]);
    let list = rt.block_on(manager.snapshot_list(VM)).expect("snapshot list");
    assert!(list.iter().any(|s| s.name == "first" && s.has_ram), "{list:?}");

    assert_eq!(counter(&serial, "set 99"), 99);
    gui.drive(&["click", "Revert to first"]);
    gui.drive(&["click", "_Revert"]);
    let reverted = wait_for(Duration::from_secs(60), || {
        fs::read_to_string(&gui.log)
            .ok()
            .filter(|l| l.contains("NOTIFY: Reverted to “first”"))
    });
    assert!(reverted.is_some(), "no revert confirmation");
    assert_eq!(
        counter(&serial, "get"),
        41,
        "the guest is not back at the snapshot"
    );

    gui.drive(&["wait-sensitive", "Delete first", "30"]);
    gui.drive(&["click", "Delete first"]);
    gui.drive(&["click", "_Delete"]);
    let deleted = wait_for(Duration::from_secs(30), || {
        rt.block_on(manager.snapshot_list(VM))
            .ok()
            .filter(|l| l.is_empty())
    });
    assert!(deleted.is_some(), "the snapshot was not deleted");

    rt.block_on(manager.stop(VM, StopMode::Force))
        .expect("stop the VM");
    drop(qemu);

    // 3. Add a 32 MiB disk (to the stopped VM: snapshots cover every disk of the running one).
    gui.drive(&["click", "Details", "page tab"]);
    gui.drive(&["select-section", "Disks"]);
    gui.drive(&["click", "Add Disk"]);
    gui.drive(&["set-text", "Size of the new disk", "32M"]);
    gui.drive(&["click", "_Add"]);
    let image = vm_dir.join("disk1.qcow2");
    let added = wait_for(Duration::from_secs(15), || {
        (image.exists() && config_text(&vm_dir).contains("path = \"disk1.qcow2\"")).then_some(())
    });
    assert!(added.is_some(), "disk1 not added:\n{}", config_text(&vm_dir));
    let info = rt
        .block_on(manager.qemu_img().info(&image))
        .expect("qemu-img info disk1");
    assert_eq!(info.virtual_size, 32 << 20);
    gui.drive(&["wait-shown", "VirtIO · 32 MiB", "10"]);

    assert!(
        !fs::read_to_string(&gui.log)
            .unwrap_or_default()
            .contains("ERROR:"),
        "the window reported an error:\n{}",
        fs::read_to_string(&gui.log).unwrap_or_default()
    );
    eprintln!("gui_details took {:.1} s", started.elapsed().as_secs_f64());
}
