//! Helpers of `usb_passthrough.rs`: VMs in a temporary home, the test guest's serial console,
//! USB fixture copies, and the `hangarctl` binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hangar_core::config::{Accel, DisplayKind, UsbRule, VmConfig};
use hangar_core::host::HostCaps;
use hangar_core::manager::{Event, Manager, StartOptions};
use hangar_core::paths::Paths;
use hangar_core::store::Store;
use hangar_core::usb::UsbDevice;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::broadcast;

pub fn skip_qemu() -> bool {
    std::env::var("HANGAR_SKIP_QEMU_TESTS").is_ok_and(|v| v == "1")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test guest's folder (kernel, initrd), built once when missing.
fn guest() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
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
    })
}

/// Copy of a USB fixture tree with its `modes.txt` applied (git keeps no modes).
pub fn fixture_copy(into: &Path) -> PathBuf {
    fn copy(src: &Path, dst: &Path) {
        fs::create_dir_all(dst).unwrap();
        for e in fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dst.join(e.file_name()));
            } else {
                fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
    }
    let src = repo().join("tests/fixtures/usb/desk");
    let root = into.join("usbroot");
    copy(&src, &root);
    for line in fs::read_to_string(src.join("modes.txt")).unwrap().lines() {
        if let Some((path, mode)) = line.split_once(' ').filter(|_| !line.starts_with('#')) {
            let mode = u32::from_str_radix(mode.trim(), 8).unwrap();
            fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    root
}

/// VMs in a temporary home, sockets in a short folder under /tmp; QEMUs killed on drop.
pub struct Env {
    pub home: tempfile::TempDir,
    _runtime: tempfile::TempDir,
    pub m: Manager,
}

impl Env {
    pub fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        let runtime = tempfile::Builder::new().prefix("hgu").tempdir_in("/tmp").unwrap();
        let paths = Paths::new(home.path().join("vms"), runtime.path().join("rt"));
        let m = Manager::new(Store::new(paths), HostCaps::probe());
        Env {
            home,
            _runtime: runtime,
            m,
        }
    }

    /// A small TCG VM with `xhci` but no tablet; `boot` adds the test guest's kernel.
    pub fn create(&self, name: &str, boot: bool, rules: &[UsbRule]) {
        let mut c = VmConfig::new(name);
        c.machine.cpus = 1;
        c.machine.memory_mib = 256;
        c.machine.accel = Accel::Tcg;
        c.display.kind = DisplayKind::None;
        c.networks.clear();
        c.channels.guest_agent = false;
        c.usb.tablet = false;
        c.usb.rules = rules.to_vec();
        if boot {
            let g = guest();
            for a in [
                "-kernel".to_string(),
                g.join("vmlinuz").display().to_string(),
                "-initrd".to_string(),
                g.join("initrd.gz").display().to_string(),
                "-append".to_string(),
                "console=ttyS0,115200".to_string(),
            ] {
                c.advanced.extra_args.push(a);
            }
        }
        self.m.store().create(&c).unwrap();
    }

    pub async fn start(&self, name: &str, paused: bool) -> Vec<String> {
        let opts = StartOptions {
            disposable: false,
            paused,
        };
        self.m.start(name, &opts).await.unwrap().warnings
    }

    pub async fn qmp(&self, vm: &str, execute: &str, arguments: Value) -> Value {
        let cmd = json!({"execute": execute, "arguments": arguments});
        self.m.qmp_raw(vm, cmd).await.unwrap()
    }

    /// Fd sets QEMU holds: `(id, number of fds)`.
    pub async fn fdsets(&self, vm: &str) -> Vec<(u64, usize)> {
        let sets = self.qmp(vm, "query-fdsets", json!({})).await;
        sets.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["fdset-id"].as_u64().unwrap(),
                    s["fds"].as_array().unwrap().len(),
                )
            })
            .collect()
    }

    /// Waits until QEMU holds no passed fd any more (it closes removed fds while the VM runs).
    pub async fn wait_fds_closed(&self, vm: &str) {
        let t0 = Instant::now();
        loop {
            let sets = self.fdsets(vm).await;
            if sets.iter().all(|(_, n)| *n == 0) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "QEMU still holds fds: {sets:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ids of the devices QEMU has of type `usb-host`.
    pub async fn usb_hosts(&self, vm: &str) -> Vec<String> {
        let list = self
            .qmp(vm, "qom-list", json!({"path": "/machine/peripheral"}))
            .await;
        list.as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] == "child<usb-host>")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Ok(list) = self.m.store().list() {
            for e in list {
                if let Some(pid) = self.m.pid(&e.name) {
                    // SAFETY: plain kill(2) of a QEMU this test started.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

pub fn props(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

pub fn device<'a>(devices: &'a [UsbDevice], sysname: &str) -> &'a UsbDevice {
    devices.iter().find(|d| d.sysname == sysname).unwrap()
}

/// Waits for an event matching `pred`.
pub async fn next_event(
    rx: &mut broadcast::Receiver<Event>,
    secs: u64,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .unwrap_or_else(|_| panic!("no matching event within {secs} s"))
}

/// The guest's serial console (the protocol of `tests/guest`).
pub struct Serial(BufReader<UnixStream>);

impl Serial {
    pub async fn open(env: &Env, vm: &str) -> Serial {
        let log = env.m.serial_log_path(vm);
        let deadline = Instant::now() + Duration::from_secs(180);
        while !fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("HANGAR-BOOT-OK")
        {
            assert!(Instant::now() < deadline, "the guest did not boot within 180 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Serial(BufReader::new(
            UnixStream::connect(env.m.runtime(vm).serial).await.unwrap(),
        ))
    }

    /// The guest's USB devices as `name vvvv:pppp`.
    pub async fn usb(&mut self) -> Vec<String> {
        self.0.get_mut().write_all(b"usb\n").await.unwrap();
        let mut out = vec![];
        let read = async {
            loop {
                let mut line = String::new();
                assert!(self.0.read_line(&mut line).await.unwrap() > 0, "serial closed");
                let line = line.trim();
                if line == "USB-END" {
                    return;
                }
                if let Some(dev) = line.strip_prefix("USB:") {
                    out.push(dev.to_string());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("no USB-END from the guest");
        out
    }

    /// Polls until the guest's list has (or lacks) `id`; returns the seconds it took.
    pub async fn wait_usb(&mut self, id: &str, present: bool) -> f64 {
        let t0 = Instant::now();
        loop {
            let list = self.usb().await;
            if list.iter().any(|l| l.ends_with(id)) == present {
                return t0.elapsed().as_secs_f64();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "guest USB list still {list:?} (waiting for {id} present={present})"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// `target/<profile>/hangarctl`, built on first use.
fn hangarctl() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "hangarctl", "--manifest-path"])
            .arg(repo().join("Cargo.toml"))
            .status()
            .expect("cannot run cargo");
        assert!(status.success(), "cargo build -p hangarctl failed");
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("hangarctl")
    })
}

pub fn ctl(env: &Env, usb_root: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let paths = env.m.store().paths();
    let mut cmd = Command::new(hangarctl());
    cmd.args(args)
        .env("HANGAR_HOME", &paths.vms)
        .env("HANGAR_RUNTIME_DIR", &paths.runtime)
        .env_remove("HANGAR_USB_ROOT");
    if let Some(root) = usb_root {
        cmd.env("HANGAR_USB_ROOT", root);
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        !stderr.contains("panicked"),
        "hangarctl {args:?} panicked: {stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}
