//! Shared harness of the real-guest integration tests (and of `benches/start_to_boot.rs`).
//!
//! - [`guest`] builds (or finds) the tiny test guest once per test binary with
//!   `tests/guest/build.sh <target>/test-guest`.
//! - [`hangarctl`] makes sure `target/<profile>/hangarctl` is up to date (`cargo build -p hangarctl`).
//! - [`TestEnv`] is one private Hangar world: a temporary `HANGAR_HOME`, a short
//!   `HANGAR_RUNTIME_DIR` under /tmp (socket paths stay far below 108 bytes), `ctl*` helpers that
//!   run `hangarctl` in it, and a `Drop` that SIGKILLs every process whose command line mentions
//!   its runtime folder, so a failing test leaves no QEMU behind.
//! - [`guest_slot`] lets at most [`MAX_GUESTS`] booting guests run at once in one test binary.
//! - Serial helpers: [`TestEnv::wait_serial`] polls `<vm>/serial.log`; [`SerialClient`] talks
//!   the guest's line protocol (`get`, `inc`, `set N` → `COUNTER=n`) on `<rt>/serial.sock`.
//!
//! Every child gets `HANGAR_ACCEL=tcg` unless the environment already sets `HANGAR_ACCEL`
//! (KVM on the project's machines cannot boot Linux guests).

#![allow(dead_code)]

mod serial;
pub mod x11;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hangar_core::host::{HostCaps, ACCEL_ENV};
use hangar_core::manager::Manager;
use hangar_core::paths::{Paths, RuntimePaths};
use hangar_core::store::Store;
pub use serial::SerialClient;

/// Boot of the test guest under TCG on a loaded 2-core machine: 5–25 s; generous.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// Replies on the serial line arrive within ≈0.1 s; generous.
pub const SERIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// Booting guests allowed at once in one test binary.
pub const MAX_GUESTS: usize = 2;
/// The guest's boot marker on serial.
pub const BOOT_MARKER: &str = "HANGAR-BOOT-OK";

/// The accelerator for every QEMU of the tests.
pub fn accel() -> String {
    std::env::var(ACCEL_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "tcg".into())
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target folder (the parent of `CARGO_TARGET_TMPDIR`).
pub fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(Path::to_path_buf).unwrap_or(tmp)
}

/// The built test guest.
#[derive(Debug)]
pub struct Guest {
    pub dir: PathBuf,
}

impl Guest {
    pub fn iso(&self) -> PathBuf {
        self.dir.join("guest.iso")
    }
    pub fn qcow2(&self) -> PathBuf {
        self.dir.join("guest.qcow2")
    }
}

/// Build the guest once per test binary (cached by `build.sh` itself; it flocks).
pub fn guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        let dir = target_dir().join("test-guest");
        let script = workspace().join("tests/guest/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} {} failed ({}):\n{}\n{}",
            script.display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let guest = Guest { dir };
        assert!(
            guest.iso().is_file() && guest.qcow2().is_file(),
            "{guest:?} is incomplete"
        );
        guest
    })
}

/// `target/<profile>/hangarctl`, rebuilt when stale (a no-op build takes well under a second).
pub fn hangarctl() -> &'static Path {
    static CTL: OnceLock<PathBuf> = OnceLock::new();
    CTL.get_or_init(|| {
        // target/<profile>/deps/<test-binary>
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .expect("test binary lives in target/<profile>/deps");
        let profile = profile_dir
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("debug")
            .to_string();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "hangarctl", "--manifest-path"])
            .arg(workspace().join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir())
            .stdin(Stdio::null());
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build -p hangarctl failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join("hangarctl");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

// ---------------------------------------------------------------- guest slots

static SLOTS: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();

/// Held while a test runs a booting guest; at most [`MAX_GUESTS`] at once per test binary.
pub struct GuestSlot(());

/// Wait for a free guest slot.
pub fn guest_slot() -> GuestSlot {
    let mut used = SLOTS.lock().unwrap_or_else(|p| p.into_inner());
    while *used >= MAX_GUESTS {
        used = SLOT_FREED.wait(used).unwrap_or_else(|p| p.into_inner());
    }
    *used += 1;
    GuestSlot(())
}

impl Drop for GuestSlot {
    fn drop(&mut self) {
        let mut used = SLOTS.lock().unwrap_or_else(|p| p.into_inner());
        *used -= 1;
        SLOT_FREED.notify_one();
    }
}

// ---------------------------------------------------------------- processes

/// Pids of live (non-zombie) processes whose command line contains `needle` in one argument.
pub fn pids_with_arg_containing(needle: &OsStr) -> Vec<i32> {
    let needle = needle.as_encoded_bytes();
    let mut pids = vec![];
    let Ok(dir) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let hit = cmdline
            .split(|b| *b == 0)
            .any(|arg| arg.windows(needle.len()).any(|w| w == needle));
        if hit && is_alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Wait until `pid` is gone (or a zombie).
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// SIGKILL `pid` and wait for it.
pub fn kill_hard(pid: i32) {
    // SAFETY: plain kill(2).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    wait_gone(pid, Duration::from_secs(10));
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

// ---------------------------------------------------------------- environment

/// One private Hangar world (store + runtime folder) for a test.
pub struct TestEnv {
    home: tempfile::TempDir,
    rt: tempfile::TempDir,
    /// Extra environment for every `hangarctl` of this env.
    pub env: Vec<(OsString, OsString)>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let home = tempfile::Builder::new()
            .prefix("hangar-it-")
            .tempdir()
            .expect("temp HANGAR_HOME");
        // Short on purpose: /tmp/hgXXXXXX/<vm>/qmp-ctl.sock must fit in sun_path.
        let rt = tempfile::Builder::new()
            .prefix("hg")
            .tempdir_in("/tmp")
            .expect("temp HANGAR_RUNTIME_DIR");
        TestEnv {
            home,
            rt,
            env: vec![],
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn rt_root(&self) -> &Path {
        self.rt.path()
    }

    pub fn paths(&self) -> Paths {
        Paths::new(self.home(), self.rt_root())
    }

    pub fn vm_dir(&self, name: &str) -> PathBuf {
        self.home().join(name)
    }

    pub fn runtime(&self, name: &str) -> RuntimePaths {
        self.paths().runtime_for(name)
    }

    pub fn serial_log(&self, name: &str) -> PathBuf {
        self.vm_dir(name).join("serial.log")
    }

    /// An in-process manager on this env (accelerator as for the children).
    pub fn manager(&self) -> Manager {
        let accel = accel();
        let host = HostCaps::probe_with(Path::new("/"), |k| {
            if k == ACCEL_ENV {
                Some(OsString::from(&accel))
            } else {
                std::env::var_os(k)
            }
        });
        Manager::new(Store::new(self.paths()), host)
    }

    /// `hangarctl ARGS` with this env, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(hangarctl());
        cmd.args(args)
            .env("HANGAR_HOME", self.home())
            .env("HANGAR_RUNTIME_DIR", self.rt_root())
            .env(ACCEL_ENV, accel())
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run `hangarctl ARGS`; never panics in the child (checked here).
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_with(args, &[])
    }

    /// [`TestEnv::ctl`] with extra environment variables.
    pub fn ctl_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("cannot run hangarctl");
        assert_no_panic(args, &out);
        out
    }

    /// Run and expect exit code 0; returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        expect_code(args, &out, 0);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run and expect exit code `code` (1 failure, 2 usage); returns stderr.
    pub fn ctl_err(&self, code: i32, args: &[&str]) -> String {
        let out = self.ctl(args);
        expect_code(args, &out, code);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `hangarctl --json ARGS`, parsed.
    pub fn ctl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ctl_ok(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("hangarctl {all:?} printed no JSON ({e}):\n{text}"))
    }

    /// A VM booting the test guest's ISO (256 MiB, 1 vCPU, a 1 GiB empty qcow2 disk).
    pub fn create_iso_vm(&self, name: &str) {
        let iso = guest().iso();
        let iso = iso.to_str().expect("utf-8 path");
        self.ctl_ok(&[
            "create", name, "--iso", iso, "--memory", "256M", "--cpus", "1", "--disk", "1G",
        ]);
    }

    /// A VM with no disk and no CD-ROM (QEMU runs, the guest never boots anything).
    pub fn create_empty_vm(&self, name: &str) {
        self.ctl_ok(&[
            "create",
            name,
            "--memory",
            "64M",
            "--cpus",
            "1",
            "--disk",
            "0",
            "--display",
            "none",
        ]);
    }

    /// The pid of VM `name`'s QEMU per its pidfile (checked like Hangar does).
    pub fn pid(&self, name: &str) -> Option<i32> {
        hangar_core::qemu::process::running_pid(&self.runtime(name))
    }

    /// Live processes that are QEMUs of VM `name` (their command line holds its pidfile path).
    pub fn qemu_pids(&self, name: &str) -> Vec<i32> {
        pids_with_arg_containing(self.runtime(name).pidfile.as_os_str())
    }

    /// VM `name` has no process and no runtime files.
    pub fn assert_stopped_clean(&self, name: &str) {
        let rt = self.runtime(name);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.qemu_pids(name).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            self.qemu_pids(name).is_empty(),
            "QEMU of {name} still runs: {:?}",
            self.qemu_pids(name)
        );
        assert!(
            !rt.dir.exists(),
            "runtime folder {} left behind: {:?}",
            rt.dir.display(),
            fs::read_dir(&rt.dir).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
    }

    /// Current length of `<vm>/serial.log` (0 when absent): pass it to [`TestEnv::wait_serial`]
    /// to only look at what comes after (QEMU appends to the log across runs).
    pub fn serial_mark(&self, name: &str) -> u64 {
        fs::metadata(self.serial_log(name)).map(|m| m.len()).unwrap_or(0)
    }

    /// Wait for a line containing `needle` in `<vm>/serial.log` after byte `since`.
    pub fn wait_serial(&self, name: &str, needle: &str, since: u64, timeout: Duration) -> Duration {
        let start = Instant::now();
        let log = self.serial_log(name);
        loop {
            if serial_has(&log, needle, since) {
                return start.elapsed();
            }
            if start.elapsed() >= timeout {
                panic!(
                    "{needle:?} did not appear in {} within {timeout:?}\n--- serial.log tail ---\n{}\n--- qemu.log tail ---\n{}",
                    log.display(),
                    tail(&log, 3000),
                    tail(&self.vm_dir(name).join("qemu.log"), 3000)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether `<vm>/serial.log` has `needle` after byte `since`.
    pub fn serial_has(&self, name: &str, needle: &str, since: u64) -> bool {
        serial_has(&self.serial_log(name), needle, since)
    }

    /// A client on the VM's serial socket.
    pub fn serial(&self, name: &str) -> SerialClient {
        SerialClient::connect(&self.runtime(name).serial)
    }

    /// Kill every process that mentions this env's runtime folder (QEMUs, fakes, swtpm).
    pub fn kill_all(&self) {
        let mut needle = self.rt_root().as_os_str().to_owned();
        needle.push("/");
        for pid in pids_with_arg_containing(&needle) {
            kill_hard(pid);
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(dir) = fs::read_dir(self.home()) {
                for vm in dir.flatten() {
                    for f in ["qemu.log", "serial.log"] {
                        let p = vm.path().join(f);
                        if p.exists() {
                            eprintln!("--- {} (tail) ---\n{}", p.display(), tail(&p, 2000));
                        }
                    }
                }
            }
        }
        self.kill_all();
    }
}

fn serial_has(log: &Path, needle: &str, since: u64) -> bool {
    let Ok(bytes) = fs::read(log) else {
        return false;
    };
    let from = usize::try_from(since).unwrap_or(usize::MAX).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..])
        .lines()
        .any(|l| l.contains(needle))
}

/// The last `max` bytes of a file, for failure messages.
pub fn tail(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b[b.len().saturating_sub(max)..]).into_owned(),
        Err(e) => format!("({e})"),
    }
}

fn assert_no_panic(args: &[&str], out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "hangarctl {args:?} panicked:\n{stderr}"
    );
}

/// Assert an exit code, showing the output when it differs.
pub fn expect_code(args: &[&str], out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "hangarctl {args:?}: expected exit code {code}, got {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- manager events

/// Wait for the first event of VM `name` that `pred` accepts; earlier events are returned too
/// (for messages). Panics after `timeout`.
pub async fn wait_event(
    rx: &mut tokio::sync::broadcast::Receiver<hangar_core::manager::Event>,
    timeout: Duration,
    what: &str,
    mut pred: impl FnMut(&hangar_core::manager::Event) -> bool,
) -> Vec<hangar_core::manager::Event> {
    let mut seen = vec![];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(event)) => {
                let hit = pred(&event);
                seen.push(event);
                if hit {
                    return seen;
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                panic!("event receiver lagged by {n} while waiting for {what}; seen {seen:?}")
            }
            Ok(Err(e)) => panic!("event stream ended ({e}) while waiting for {what}; seen {seen:?}"),
            Err(_) => panic!("no {what} within {timeout:?}; seen {seen:?}"),
        }
    }
}

/// `qemu-img info --output=json FILE`.
pub fn qemu_img_info(file: &Path) -> serde_json::Value {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(file)
        .output()
        .expect("cannot run qemu-img");
    assert!(
        out.status.success(),
        "qemu-img info {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("qemu-img info JSON")
}
