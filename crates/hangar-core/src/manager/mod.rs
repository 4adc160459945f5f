//! The manager owns every VM of one Hangar process: the GUI and the CLI call its async handle
//! and listen to its event stream; they never spawn QEMU or speak QMP themselves.
//!
//! State comes from QEMU: a VM is running when its pidfile names a live QEMU of that VM (so any
//! Hangar process finds VMs started by another one), and changes arrive as QMP events through a
//! watcher ([`Manager::watch`]) instead of polling.

mod clipboard;
mod clone;
mod create;
mod discover;
mod error;
mod guest;
mod lifecycle;
mod media;
mod snapshot;
mod typing;
mod usb;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

pub use clipboard::{agent_install_hint, AgentState, ClipboardError, SPICE_GUEST_TOOLS_URL, VDAGENT_PORT_ID};
pub use create::{random_mac, CreateRequest, DiskSource};
pub use error::{ManagerError, Result};
pub use guest::{GuestInfo, GUEST_AGENT_PROBE_TIMEOUT, GUEST_AGENT_QUERY_TIMEOUT};
pub use lifecycle::{StartOptions, StartReport, StopMode};
pub use snapshot::SnapshotEntry;
pub use typing::{TypeError, TypeReport, TYPE_CONFIRM_CHARS, TYPE_MAX_CHARS};
pub use usb::{
    find_attached, AttachBy, AttachedUsb, PassthroughError, RuleAttempt, UsbWatch, USB_DETACH_TIMEOUT,
};

use crate::config::{Update, VmConfig};
use crate::host::HostCaps;
use crate::paths::{Paths, RuntimePaths};
use crate::qemu::process::{self, VmLock};
use crate::qmp::{Qmp, QmpEvent};
use crate::storage::QemuImg;
use crate::store::{Store, VmEntry};

/// How long one-shot control commands may take.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// Run state of a VM, as QEMU reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmState {
    Stopped,
    Starting,
    Running,
    Paused,
    /// The guest was asked to power off and has not yet.
    ShuttingDown,
    /// QEMU runs but its state is neither running nor paused (e.g. `internal-error`, `guest-panicked`).
    Other,
}

impl VmState {
    pub fn is_active(self) -> bool {
        !matches!(self, VmState::Stopped)
    }

    /// Label for people.
    pub fn label(self) -> &'static str {
        match self {
            VmState::Stopped => "stopped",
            VmState::Starting => "starting",
            VmState::Running => "running",
            VmState::Paused => "paused",
            VmState::ShuttingDown => "shutting down",
            VmState::Other => "not running normally",
        }
    }

    /// From QMP `query-status`'s `status` string.
    pub fn from_qmp_status(status: &str) -> VmState {
        match status {
            "running" => VmState::Running,
            "paused" | "suspended" | "prelaunch" | "save-vm" | "restore-vm" | "finish-migrate"
            | "inmigrate" => VmState::Paused,
            "shutdown" => VmState::ShuttingDown,
            _ => VmState::Other,
        }
    }
}

/// What the manager tells its listeners.
#[derive(Debug, Clone)]
pub enum Event {
    /// A VM's state changed.
    State { name: String, state: VmState },
    /// A QMP event of a watched VM (device removal, serial port open/close, jobs, …).
    Qmp { name: String, event: QmpEvent },
    /// Something the user should see that is not an error (e.g. falling back to TCG).
    Warning { name: String, message: String },
    /// VMs were created, renamed or deleted.
    ListChanged,
    /// A host USB device was attached to a VM (`id` is its QEMU device id, `usb-<port>`).
    UsbAttached { name: String, id: String },
    /// A USB device was detached from a VM.
    UsbDetached { name: String, id: String },
    /// A host USB device attached to a VM was unplugged from the computer (and removed from the VM).
    UsbGone { name: String, id: String },
    /// Host USB devices were plugged in or unplugged: refresh device lists.
    UsbHostChanged,
    /// The clipboard agent of a VM whose clipboard this process shares changed state.
    Agent { name: String, status: AgentState },
}

/// A VM as listed.
#[derive(Debug, Clone)]
pub struct VmInfo {
    pub entry: VmEntry,
    pub state: VmState,
    pub pid: Option<i32>,
}

/// Cheap, cloneable handle to the manager.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    host: HostCaps,
    qemu_img: QemuImg,
    events: broadcast::Sender<Event>,
    /// VMs this process has a watcher on, with the pid of the QEMU watched.
    watched: Mutex<std::collections::HashMap<String, i32>>,
    /// Where host USB devices are read (see [`Manager::with_usb_root`]).
    usb: Mutex<usb::UsbSetup>,
    /// Clipboards this process shares (see [`Manager::clipboard`]).
    clipboards: clipboard::Registry,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("paths", self.inner.store.paths())
            .finish_non_exhaustive()
    }
}

impl Manager {
    pub fn new(store: Store, host: HostCaps) -> Manager {
        let (events, _) = broadcast::channel(256);
        Manager {
            inner: Arc::new(Inner {
                store,
                host,
                qemu_img: QemuImg::default(),
                events,
                watched: Mutex::default(),
                usb: Mutex::default(),
                clipboards: clipboard::Registry::default(),
            }),
        }
    }

    /// Paths and host capabilities from the environment.
    pub fn from_env() -> Manager {
        Manager::new(Store::new(Paths::from_env()), HostCaps::probe())
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn host(&self) -> &HostCaps {
        &self.inner.host
    }

    /// The `qemu-img` wrapper used for disk work.
    pub fn qemu_img(&self) -> &QemuImg {
        &self.inner.qemu_img
    }

    /// Listen to state changes and events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, event: Event) {
        // No listener is fine: a CLI often has none.
        let _ = self.inner.events.send(event);
    }

    /// Runtime paths of VM `name`.
    pub fn runtime(&self, name: &str) -> RuntimePaths {
        self.inner.store.paths().runtime_for(name)
    }

    /// The QEMU log of VM `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.inner.store.dir(name).join(process::LOG_FILE)
    }

    /// The serial console log of VM `name`.
    pub fn serial_log_path(&self, name: &str) -> PathBuf {
        self.inner.store.dir(name).join("serial.log")
    }

    /// Pid of the VM's QEMU when it runs.
    pub fn pid(&self, name: &str) -> Option<i32> {
        process::running_pid(&self.runtime(name))
    }

    /// Remove the runtime files of a VM that is not running (left by a crash or an unwatched
    /// power-off). Skipped while another process holds the VM's lock (it may be starting it).
    pub fn clean_stale(&self, name: &str) {
        let rt = self.runtime(name);
        if !rt.dir.exists() || self.pid(name).is_some() {
            return;
        }
        if let Ok(Some(_lock)) = VmLock::try_acquire(&self.inner.store.dir(name)) {
            if self.pid(name).is_none() {
                tracing::debug!(vm = name, "removing stale runtime files");
                process::cleanup_runtime_dir(&rt);
            }
        }
    }

    /// Every VM with its state. Broken configs are listed with their error.
    pub async fn list(&self) -> Result<Vec<VmInfo>> {
        let mut out = vec![];
        for entry in self.inner.store.list()? {
            let pid = self.pid(&entry.name);
            let state = match pid {
                None => {
                    self.clean_stale(&entry.name);
                    VmState::Stopped
                }
                Some(_) => self.state(&entry.name).await.unwrap_or(VmState::Other),
            };
            out.push(VmInfo { entry, state, pid });
        }
        Ok(out)
    }

    /// The current state, asked from QEMU.
    pub async fn state(&self, name: &str) -> Result<VmState> {
        if self.pid(name).is_none() {
            return Ok(VmState::Stopped);
        }
        let qmp = self.control(name).await?;
        let status = qmp
            .execute(qapi_qmp::query_status {})
            .await
            .map_err(ManagerError::qmp(name))?;
        Ok(VmState::from_qmp_status(&qmp_enum_name(&status.status)))
    }

    /// A one-shot QMP connection on the VM's control socket.
    pub async fn control(&self, name: &str) -> Result<Qmp> {
        let rt = self.runtime(name);
        if self.pid(name).is_none() {
            return Err(ManagerError::NotRunning(name.into()));
        }
        let (qmp, _events) = tokio::time::timeout(CONTROL_TIMEOUT, Qmp::connect(&rt.qmp_ctl))
            .await
            .map_err(|_| {
                ManagerError::Unsupported(format!(
                    "VM {name:?} did not answer on {} within {} s: another hangarctl command may be using it; try again",
                    rt.qmp_ctl.display(),
                    CONTROL_TIMEOUT.as_secs()
                ))
            })?
            .map_err(ManagerError::qmp(name))?;
        Ok(qmp)
    }

    /// Pause the vCPUs.
    pub async fn pause(&self, name: &str) -> Result<()> {
        let qmp = self.control(name).await?;
        qmp.execute(qapi_qmp::stop {})
            .await
            .map_err(ManagerError::qmp(name))?;
        self.emit(Event::State {
            name: name.into(),
            state: VmState::Paused,
        });
        Ok(())
    }

    /// Resume the vCPUs, then (best effort) set the guest's clock through its agent.
    pub async fn resume(&self, name: &str) -> Result<()> {
        let qmp = self.control(name).await?;
        qmp.execute(qapi_qmp::cont {})
            .await
            .map_err(ManagerError::qmp(name))?;
        drop(qmp);
        self.emit(Event::State {
            name: name.into(),
            state: VmState::Running,
        });
        self.sync_guest_clock_quietly(name).await;
        Ok(())
    }

    /// Hard reset (like the reset button).
    pub async fn reset(&self, name: &str) -> Result<()> {
        let qmp = self.control(name).await?;
        qmp.execute(qapi_qmp::system_reset {})
            .await
            .map_err(ManagerError::qmp(name))?;
        Ok(())
    }

    /// Send a raw QMP command (`{"execute": …}`) and return QEMU's `return` value.
    pub async fn qmp_raw(&self, name: &str, command: serde_json::Value) -> Result<serde_json::Value> {
        let qmp = self.control(name).await?;
        qmp.execute_raw(command).await.map_err(ManagerError::qmp(name))
    }

    /// Run a human monitor (HMP) command and return its output.
    pub async fn hmp(&self, name: &str, command_line: &str) -> Result<String> {
        let qmp = self.control(name).await?;
        qmp.hmp(command_line).await.map_err(ManagerError::qmp(name))
    }

    /// Save the guest's screen as a PNG file.
    pub async fn screendump(&self, name: &str, file: &Path) -> Result<()> {
        let qmp = self.control(name).await?;
        let path = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let cmd = serde_json::json!({
            "execute": "screendump",
            "arguments": { "filename": path.to_string_lossy(), "format": "png" }
        });
        qmp.execute_raw(cmd).await.map_err(ManagerError::qmp(name))?;
        Ok(())
    }

    /// Apply one edit to a VM's config. Renames and deletions of running VMs are refused.
    pub fn update(&self, name: &str, update: &Update) -> Result<VmConfig> {
        if matches!(update, Update::Rename(_)) && self.pid(name).is_some() {
            return Err(ManagerError::Running(name.into()));
        }
        let config = self.inner.store.update(name, update)?;
        if config.name != name {
            self.emit(Event::ListChanged);
        }
        Ok(config)
    }

    /// Delete a stopped VM (its folder; disks kept on request).
    pub fn delete(&self, name: &str, keep_disks: bool) -> Result<crate::store::DeletePlan> {
        crate::config::validate_name(name)?;
        if !self.inner.store.dir(name).is_dir() {
            return Err(crate::store::StoreError::NotFound(name.into()).into());
        }
        let _lock = VmLock::acquire(&self.inner.store.dir(name), Duration::from_secs(10))?;
        if self.pid(name).is_some() {
            return Err(ManagerError::Running(name.into()));
        }
        process::cleanup_runtime_dir(&self.runtime(name));
        let plan = self.inner.store.delete(name, keep_disks)?;
        self.emit(Event::ListChanged);
        Ok(plan)
    }
}

/// The wire name of a qapi enum value (`running`, `paused`, …).
pub(crate) fn qmp_enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qmp_status_mapping() {
        assert_eq!(VmState::from_qmp_status("running"), VmState::Running);
        assert_eq!(VmState::from_qmp_status("paused"), VmState::Paused);
        assert_eq!(VmState::from_qmp_status("prelaunch"), VmState::Paused);
        assert_eq!(VmState::from_qmp_status("shutdown"), VmState::ShuttingDown);
        assert_eq!(VmState::from_qmp_status("internal-error"), VmState::Other);
        assert_eq!(qmp_enum_name(&qapi_qmp::RunState::running), "running");
    }

    #[test]
    fn deleting_a_missing_vm_says_so_and_creates_nothing() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(Paths::new(t.path().join("vms"), t.path().join("run")));
        let m = Manager::new(store, HostCaps::probe_with(t.path(), |_| None));
        let e = m.delete("nosuch", false).unwrap_err();
        assert!(e.to_string().contains("no VM named \"nosuch\""), "{e}");
        assert!(!t.path().join("vms/nosuch").exists());
        let e = m.delete("../x", false).unwrap_err();
        assert!(e.to_string().contains("invalid VM name"), "{e}");
    }
}
