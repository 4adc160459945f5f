//! Watchers: one long-lived QMP connection per running VM (on its primary socket) that turns
//! QEMU's events into [`Event`]s. When QEMU goes away the watcher sees the socket close, waits
//! for the process to end, removes the runtime files and reports the VM stopped.

use std::time::Duration;

use super::{Event, Manager, ManagerError, Result, VmState};
use crate::qemu::process;
use crate::qmp::{Qmp, QmpEvent};

impl Manager {
    /// Attach a watcher to VM `name` (no-op when this process already watches this QEMU).
    /// Returns the VM's state at attach time. Watchers are keyed by QEMU's pid: a VM restarted
    /// before the watcher of its previous QEMU has finished gets a watcher of its own.
    pub async fn watch(&self, name: &str) -> Result<VmState> {
        let Some(pid) = self.pid(name) else {
            return Ok(VmState::Stopped);
        };
        let newly_watched = self
            .inner
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), pid)
            != Some(pid);
        if !newly_watched {
            return self.state(name).await;
        }
        let rt = self.runtime(name);
        let connected = tokio::time::timeout(Duration::from_secs(10), Qmp::connect(&rt.qmp)).await;
        let (qmp, mut events) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                self.unwatch(name, pid);
                return Err(ManagerError::qmp(name)(e));
            }
            Err(_) => {
                self.unwatch(name, pid);
                return Err(ManagerError::Unsupported(format!(
                    "another Hangar window is already watching VM {name:?}; close it to watch from here"
                )));
            }
        };
        let status = match qmp.execute(qapi_qmp::query_status {}).await {
            Ok(s) => s,
            Err(e) => {
                self.unwatch(name, pid);
                return Err(ManagerError::qmp(name)(e));
            }
        };
        let state = VmState::from_qmp_status(&super::qmp_enum_name(&status.status));
        self.emit(Event::State {
            name: name.into(),
            state,
        });
        let manager = self.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let _keep = qmp;
            while let Some(event) = events.recv().await {
                if let Some(state) = state_after(&event) {
                    manager.emit(Event::State {
                        name: name.clone(),
                        state,
                    });
                }
                manager.emit(Event::Qmp {
                    name: name.clone(),
                    event,
                });
            }
            // The socket closed: QEMU is exiting (or was killed).
            process::wait_exit(pid, Duration::from_secs(10)).await;
            if manager.pid(&name).is_none() {
                manager.clean_stale(&name);
                manager.emit(Event::State {
                    name: name.clone(),
                    state: VmState::Stopped,
                });
            }
            manager.unwatch(&name, pid);
        });
        Ok(state)
    }

    /// Attach watchers to every running VM (what the GUI does at start-up).
    pub async fn watch_all(&self) -> Vec<(String, ManagerError)> {
        let mut errors = vec![];
        if let Ok(list) = self.store().list() {
            for entry in list {
                if self.pid(&entry.name).is_some() {
                    if let Err(e) = self.watch(&entry.name).await {
                        errors.push((entry.name, e));
                    }
                }
            }
        }
        errors
    }

    /// Forget the watcher of QEMU `pid` (not a newer QEMU's watcher of the same VM).
    fn unwatch(&self, name: &str, pid: i32) {
        let mut watched = self.inner.watched.lock().unwrap_or_else(|p| p.into_inner());
        if watched.get(name) == Some(&pid) {
            watched.remove(name);
        }
    }
}

/// The state a QMP event implies.
fn state_after(event: &QmpEvent) -> Option<VmState> {
    match event {
        QmpEvent::Stop | QmpEvent::Suspend => Some(VmState::Paused),
        QmpEvent::Resume | QmpEvent::Wakeup => Some(VmState::Running),
        QmpEvent::Shutdown { .. } | QmpEvent::Powerdown => Some(VmState::ShuttingDown),
        QmpEvent::GuestPanicked { .. } => Some(VmState::Other),
        _ => None,
    }
}
