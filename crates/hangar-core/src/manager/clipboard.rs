//! The clipboard of VNC and headless VMs, shared through Hangar's own spice-vdagent host
//! ([`crate::agent`]): one [`AgentHandle`] per running VM in this process, started on first use
//! and dropped when the VM stops. SPICE VMs share their clipboard through the SPICE viewer.
//!
//! QEMU serves the agent socket to one client at a time, so only one process (the GUI, or one
//! `hangarctl clipboard` command) can share a VM's clipboard at once; a second one is told so.
//! Policy changes apply at once in this process ([`Manager::set_clipboard_policy`]) and within
//! about a second when another process edits `vm.toml`.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use super::{Event, Inner, Manager, ManagerError, Result};
use crate::agent::{AgentError, AgentEvent, AgentHandle, AgentOptions, Caps, Policy};
use crate::config::{ClipboardConfig, DisplayKind, Update, VmConfig, CONFIG_FILE};
use crate::qmp::QmpEvent;

/// QEMU id of the vdagent virtio-serial port (what `VSERPORT_CHANGE` names).
pub const VDAGENT_PORT_ID: &str = "vdagent-port";
/// QEMU id of the chardev behind it.
const VDAGENT_CHARDEV: &str = "vdagent";
/// How often a shared clipboard checks `vm.toml` for policy edits by other processes (and
/// whether the VM still runs when no watcher reports it).
const POLL: Duration = Duration::from_secs(1);
/// Longest wait for the agent driver to take a new policy.
const POLICY_APPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a closed clipboard's last writes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(6);
/// Where to get the Windows agent.
pub const SPICE_GUEST_TOOLS_URL: &str = "https://www.spice-space.org/download.html";

/// The clipboard agent of one VM as this process sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentState {
    /// A program in the guest has the agent port open.
    pub channel_open: bool,
    /// spice-vdagent in the guest announced itself: the clipboard can be shared.
    pub guest_agent_active: bool,
    /// What the guest agent can do (while active).
    pub caps: Option<Caps>,
}

/// Errors of clipboard sharing.
#[derive(Debug, thiserror::Error)]
pub enum ClipboardError {
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(
        "VM {name:?} uses a SPICE display: its clipboard is shared by the SPICE viewer (Hangar's VM \
         window or remote-viewer), not by Hangar itself; copy and paste in the viewer, or switch \
         the VM's display to VNC"
    )]
    Spice { name: String },
    #[error(
        "another program is connected to the clipboard channel of VM {name:?} (a Hangar window or \
         another `hangarctl clipboard` command) and QEMU serves one at a time; close it, or use \
         the clipboard there"
    )]
    Busy { name: String },
    #[error(
        "VM {name:?} was started without the clipboard channel; shut it down and start it again \
         from Hangar"
    )]
    NoChannel { name: String },
}

/// The clipboards this process shares, by VM name.
#[derive(Default)]
pub(super) struct Registry {
    entries: Mutex<HashMap<String, Entry>>,
    next_id: Mutex<u64>,
}

struct Entry {
    id: u64,
    handle: AgentHandle,
    state: AgentState,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn new_id(&self) -> u64 {
        let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        *next
    }
}

impl Manager {
    /// The clipboard agent of running VM `name` (VNC or no display), started on first use with
    /// the VM's effective clipboard policy; the same handle until the VM stops.
    pub async fn clipboard(&self, name: &str) -> Result<AgentHandle, ClipboardError> {
        let config = self.store().load(name).map_err(ManagerError::from)?;
        if config.display.kind == DisplayKind::Spice {
            return Err(ClipboardError::Spice { name: name.into() });
        }
        if let Some(entry) = self.inner.clipboards.lock().get(name) {
            return Ok(entry.handle.clone());
        }
        if self.pid(name).is_none() {
            return Err(ManagerError::NotRunning(name.into()).into());
        }
        let channel_open = self.vdagent_channel(name).await?;
        // Best effort: VSERPORT_CHANGE and the stop come through the watcher, which another
        // Hangar process may hold; polling covers the stop then.
        if let Err(e) = self.watch(name).await {
            tracing::debug!(vm = name, "clipboard without a watcher: {e}");
        }
        let policy = Policy::from(config.effective_clipboard());
        let handle = AgentHandle::spawn(AgentOptions::new(self.runtime(name).vdagent, policy));
        let id = self.inner.clipboards.new_id();
        let state = AgentState {
            channel_open,
            ..AgentState::default()
        };
        {
            let mut entries = self.inner.clipboards.lock();
            if let Some(entry) = entries.get(name) {
                // Another task of this process started one meanwhile.
                handle.shutdown();
                return Ok(entry.handle.clone());
            }
            entries.insert(
                name.into(),
                Entry {
                    id,
                    handle: handle.clone(),
                    state: state.clone(),
                },
            );
        }
        self.emit(Event::Agent {
            name: name.into(),
            status: state,
        });
        let monitor = Monitor {
            inner: std::sync::Arc::downgrade(&self.inner),
            name: name.into(),
            id,
            handle: handle.clone(),
            config_stamp: config_stamp(&self.store().dir(name)),
        };
        tokio::spawn(monitor.run(self.subscribe()));
        Ok(handle)
    }

    /// The clipboard agent's state, while this process shares VM `name`'s clipboard.
    pub fn agent_state(&self, name: &str) -> Option<AgentState> {
        self.inner.clipboards.lock().get(name).map(|e| e.state.clone())
    }

    /// Stop sharing VM `name`'s clipboard from this process, frees the channel for another,
    /// and returns once what was queued for the guest is written (at most a few seconds).
    pub async fn close_clipboard(&self, name: &str) {
        let Some(entry) = self.inner.clipboards.lock().remove(name) else {
            return;
        };
        let mut status = entry.handle.watch_status();
        entry.handle.shutdown();
        drop(entry);
        // The driver drops its status sender when it ends.
        let ended = async { while status.changed().await.is_ok() {} };
        if tokio::time::timeout(CLOSE_TIMEOUT, ended).await.is_err() {
            tracing::debug!(vm = name, "the clipboard agent did not stop in time");
        }
    }

    /// Save VM `name`'s clipboard policy and apply it to the running clipboard at once: when
    /// this returns, nothing crosses in a direction that is off.
    pub async fn set_clipboard_policy(
        &self,
        name: &str,
        clipboard: ClipboardConfig,
    ) -> Result<VmConfig, ClipboardError> {
        let config = self.update(name, &Update::SetClipboard(clipboard))?;
        self.apply_clipboard_policy_of(name, &config).await;
        Ok(config)
    }

    /// Apply the saved policy of VM `name` to its running clipboard (after edits that change
    /// the effective policy, like marking the VM untrusted).
    pub async fn apply_clipboard_policy(&self, name: &str) -> Result<(), ClipboardError> {
        let config = self.store().load(name).map_err(ManagerError::from)?;
        self.apply_clipboard_policy_of(name, &config).await;
        Ok(())
    }

    async fn apply_clipboard_policy_of(&self, name: &str, config: &VmConfig) {
        let handle = self.inner.clipboards.lock().get(name).map(|e| e.handle.clone());
        if let Some(handle) = handle {
            apply_policy(name, &handle, config).await;
        }
    }

    /// Whether the guest has the agent port open; refuses when another client holds the
    /// socket (QEMU would never answer this one).
    async fn vdagent_channel(&self, name: &str) -> Result<bool, ClipboardError> {
        let qmp = self.control(name).await?;
        let chardevs = qmp
            .execute(qapi_qmp::query_chardev {})
            .await
            .map_err(ManagerError::qmp(name))?;
        let chardev = chardevs
            .into_iter()
            .find(|c| c.label == VDAGENT_CHARDEV)
            .filter(|c| !c.filename.starts_with("spicevmc"))
            .ok_or_else(|| ClipboardError::NoChannel { name: name.into() })?;
        if !chardev.filename.starts_with("disconnected:") {
            return Err(ClipboardError::Busy { name: name.into() });
        }
        Ok(chardev.frontend_open)
    }
}

/// Set the policy `config` allows (keeping the size limit) and wait until the driver has it.
async fn apply_policy(name: &str, handle: &AgentHandle, config: &VmConfig) {
    let policy = Policy {
        max_bytes: handle.status().policy.max_bytes,
        ..Policy::from(config.effective_clipboard())
    };
    if handle.set_policy(policy).is_err() {
        return; // stopped: nothing crosses at all
    }
    let mut status = handle.watch_status();
    let applied = tokio::time::timeout(POLICY_APPLY_TIMEOUT, async {
        // An error means the driver stopped: nothing crosses then either.
        status.wait_for(|s| s.policy == policy).await.is_ok()
    })
    .await;
    if applied.is_err() {
        tracing::warn!(
            vm = name,
            "the clipboard agent did not take the new policy in time"
        );
    }
}

/// Modification time of `vm.toml`.
fn config_stamp(dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join(CONFIG_FILE))
        .and_then(|m| m.modified())
        .ok()
}

/// Keeps one VM's shared clipboard in step with the VM: state events, port changes, policy
/// edits by other processes, and the end when the VM stops.
struct Monitor {
    inner: Weak<Inner>,
    name: String,
    id: u64,
    handle: AgentHandle,
    config_stamp: Option<SystemTime>,
}

impl Monitor {
    fn manager(&self) -> Option<Manager> {
        self.inner.upgrade().map(|inner| Manager { inner })
    }

    async fn run(mut self, mut events: broadcast::Receiver<Event>) {
        let mut agent = self.handle.subscribe();
        let mut poll = tokio::time::interval(POLL);
        poll.tick().await;
        loop {
            tokio::select! {
                event = agent.recv() => match event {
                    Ok(event) => self.on_agent(event),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                event = events.recv() => match event {
                    Ok(Event::State { name, state }) if name == self.name && !state.is_active() => break,
                    Ok(Event::Qmp { name, event: QmpEvent::VserportChange { id, open } })
                        if name == self.name && id == VDAGENT_PORT_ID => self.on_port(open),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = poll.tick() => if !self.poll().await {
                    break;
                },
            }
        }
        self.handle.shutdown();
        if let Some(m) = self.manager() {
            let mut entries = m.inner.clipboards.lock();
            if entries.get(&self.name).is_some_and(|e| e.id == self.id) {
                entries.remove(&self.name);
            }
        }
        tracing::debug!(vm = self.name, "clipboard sharing ended");
    }

    fn on_agent(&self, event: AgentEvent) {
        match event {
            AgentEvent::GuestAgentActive { caps } => self.update(|s| {
                s.channel_open = true;
                s.guest_agent_active = true;
                s.caps = Some(caps);
            }),
            AgentEvent::GuestAgentGone => self.update(|s| {
                s.guest_agent_active = false;
                s.caps = None;
            }),
            AgentEvent::Disconnected => self.update(|s| *s = AgentState::default()),
            _ => {}
        }
    }

    fn on_port(&self, open: bool) {
        if open {
            // The agent that opened it announces itself through the socket, which may be read
            // before this event: keep what it said.
            self.update(|s| s.channel_open = true);
            return;
        }
        // The driver may have stopped; then there is nothing to tell it.
        let _ = self.handle.notify_guest_port(false);
        self.update(|s| *s = AgentState::default());
    }

    /// False once the VM is gone.
    async fn poll(&mut self) -> bool {
        let Some(m) = self.manager() else {
            return false;
        };
        let ours = m
            .inner
            .clipboards
            .lock()
            .get(&self.name)
            .is_some_and(|e| e.id == self.id);
        if !ours || m.pid(&self.name).is_none() {
            return false;
        }
        let stamp = config_stamp(&m.store().dir(&self.name));
        if stamp != self.config_stamp {
            self.config_stamp = stamp;
            match m.store().load(&self.name) {
                Ok(config) => apply_policy(&self.name, &self.handle, &config).await,
                Err(e) => tracing::warn!(vm = self.name, "keeping the clipboard policy: {e}"),
            }
        }
        true
    }

    /// Change the recorded state; report it when it changed.
    fn update(&self, change: impl FnOnce(&mut AgentState)) {
        let Some(m) = self.manager() else { return };
        let changed = {
            let mut entries = m.inner.clipboards.lock();
            match entries.get_mut(&self.name).filter(|e| e.id == self.id) {
                Some(entry) => {
                    let before = entry.state.clone();
                    change(&mut entry.state);
                    (entry.state != before).then(|| entry.state.clone())
                }
                None => None,
            }
        };
        if let Some(status) = changed {
            m.emit(Event::Agent {
                name: self.name.clone(),
                status,
            });
        }
    }
}

/// How to install the clipboard agent in a guest, by OS: an osinfo short id (`debian12`,
/// `win11`) or an os-release `ID` as the guest agent reports it (`debian`, `mswindows`).
pub fn agent_install_hint(os_short_id: Option<&str>) -> String {
    const RELOGIN: &str = "then log out and in again (or reboot)";
    let id = os_short_id.unwrap_or_default().to_ascii_lowercase();
    let has = |prefixes: &[&str]| prefixes.iter().any(|p| id.starts_with(p));
    let command = if has(&[
        "debian",
        "ubuntu",
        "linuxmint",
        "mint",
        "pop",
        "elementary",
        "kali",
        "devuan",
        "raspbian",
        "zorin",
    ]) {
        "sudo apt install spice-vdagent"
    } else if has(&[
        "fedora",
        "rhel",
        "centos",
        "rocky",
        "almalinux",
        "alma",
        "ol",
        "silverblue",
    ]) {
        "sudo dnf install spice-vdagent"
    } else if has(&["arch", "manjaro", "endeavouros"]) {
        "sudo pacman -S spice-vdagent"
    } else if has(&["opensuse", "sles", "sled", "sle", "suse"]) {
        "sudo zypper install spice-vdagent"
    } else if has(&["win", "mswindows"]) {
        return format!(
            "In the VM, install the SPICE guest tools (spice-guest-tools) from {SPICE_GUEST_TOOLS_URL}; {RELOGIN}."
        );
    } else {
        return format!(
            "Install spice-vdagent in the VM: Debian/Ubuntu `sudo apt install spice-vdagent`, Fedora \
             `sudo dnf install spice-vdagent`, Arch `sudo pacman -S spice-vdagent`, openSUSE \
             `sudo zypper install spice-vdagent`; Windows: the SPICE guest tools \
             (spice-guest-tools) from {SPICE_GUEST_TOOLS_URL}; {RELOGIN}."
        );
    };
    format!("In the VM, run `{command}`; {RELOGIN}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VmConfig;
    use crate::host::HostCaps;
    use crate::paths::Paths;
    use crate::store::Store;

    #[test]
    fn install_hints_per_os_family() {
        let hint = |id| agent_install_hint(Some(id));
        assert_eq!(
            hint("debian12"),
            "In the VM, run `sudo apt install spice-vdagent`; then log out and in again (or reboot)."
        );
        assert!(hint("ubuntu24.04").contains("sudo apt install spice-vdagent"));
        assert!(hint("fedora40").contains("sudo dnf install spice-vdagent"));
        assert!(hint("centos-stream9").contains("sudo dnf install"));
        assert!(hint("archlinux").contains("sudo pacman -S spice-vdagent"));
        assert!(hint("opensuse15.5").contains("sudo zypper install spice-vdagent"));
        assert!(hint("opensuse-tumbleweed").contains("zypper"));
        for win in ["win11", "win10", "mswindows"] {
            let h = hint(win);
            assert!(
                h.contains("spice-guest-tools") && h.contains(SPICE_GUEST_TOOLS_URL),
                "{h}"
            );
            assert!(h.ends_with("then log out and in again (or reboot)."), "{h}");
        }
        let unknown = agent_install_hint(None);
        for words in [
            "apt install",
            "dnf install",
            "pacman -S",
            "zypper install",
            "spice-guest-tools",
        ] {
            assert!(unknown.contains(words), "{words} missing: {unknown}");
        }
        assert_eq!(agent_install_hint(Some("haiku")), unknown);
    }

    fn manager_with(config: VmConfig) -> (tempfile::TempDir, Manager) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("vms"), dir.path().join("rt"));
        let m = Manager::new(Store::new(paths), HostCaps::probe());
        m.store().create(&config).unwrap();
        (dir, m)
    }

    #[tokio::test]
    async fn spice_and_stopped_vms_are_refused_clearly() {
        let mut config = VmConfig::new("sp");
        config.display.kind = DisplayKind::Spice;
        let (_dir, m) = manager_with(config);
        let e = m.clipboard("sp").await.unwrap_err();
        assert!(matches!(e, ClipboardError::Spice { .. }), "{e:?}");
        assert!(e.to_string().contains("shared by the SPICE viewer"), "{e}");

        let (_dir, m) = manager_with(VmConfig::new("off"));
        let e = m.clipboard("off").await.unwrap_err();
        assert!(
            matches!(e, ClipboardError::Manager(ManagerError::NotRunning(_))),
            "{e:?}"
        );
        assert!(m.agent_state("off").is_none());
    }

    #[tokio::test]
    async fn policy_of_a_stopped_vm_is_saved() {
        let (_dir, m) = manager_with(VmConfig::new("p"));
        let off = ClipboardConfig {
            host_to_guest: false,
            guest_to_host: true,
        };
        let config = m.set_clipboard_policy("p", off).await.unwrap();
        assert_eq!(config.clipboard, off);
        assert_eq!(m.store().load("p").unwrap().clipboard, off);
        m.apply_clipboard_policy("p").await.unwrap();
    }
}
