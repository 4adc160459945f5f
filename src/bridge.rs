//! The one link between hangar-core's [`Manager`] and the window.
//!
//! [`manager_for`] builds the manager of the chosen VM folder. [`start`] runs, inside relm4's
//! tokio runtime, a long-lived command that starts the manager's discovery (inotify on the VM
//! and runtime folders: VMs created, edited, deleted or started by `hangarctl` are seen at
//! once) and forwards every [`Event`] of `manager.subscribe()` to the app as a [`BridgeMsg`].
//! Nothing polls. The command ends when the app shuts down or when the returned [`Bridge`] is
//! dropped (the VM folder changed); discovery ends with it. Running VMs are not touched: QEMU
//! runs detached, so closing the window leaves them running.

use hangar_core::host::HostCaps;
use hangar_core::manager::{Event, Manager};
use hangar_core::paths::Paths;
use hangar_core::store::Store;
use relm4::{Component, ComponentSender};
use tokio::sync::{broadcast, oneshot};

/// What the bridge tells the app.
#[derive(Debug)]
pub enum BridgeMsg {
    /// An event of the manager.
    Event(Event),
    /// Events were lost (the window did not keep up): list everything again.
    Resync,
    /// Discovery could not start; the list does not follow changes made elsewhere.
    DiscoveryFailed(String),
}

/// Keeps the bridge running; dropping it stops the bridge and its discovery.
#[derive(Debug)]
pub struct Bridge {
    _stop: oneshot::Sender<()>,
}

/// The folders to use: `HANGAR_HOME` wins, then a non-empty `vm-folder` setting, then
/// hangar-core's default. The runtime folder always comes from hangar-core.
pub fn resolve_paths(vm_folder_setting: &str) -> Paths {
    resolve_with(Paths::from_env(), folder_from_environment(), vm_folder_setting)
}

fn resolve_with(env: Paths, hangar_home_set: bool, vm_folder_setting: &str) -> Paths {
    let setting = vm_folder_setting.trim();
    if hangar_home_set || setting.is_empty() {
        env
    } else {
        Paths::new(setting, env.runtime)
    }
}

/// Whether `HANGAR_HOME` overrides the `vm-folder` setting.
pub fn folder_from_environment() -> bool {
    std::env::var_os("HANGAR_HOME").is_some_and(|v| !v.is_empty())
}

/// The manager of the VMs in the folder chosen by `vm_folder_setting` (see [`resolve_paths`]).
pub fn manager_for(vm_folder_setting: &str) -> Manager {
    Manager::new(Store::new(resolve_paths(vm_folder_setting)), HostCaps::probe())
}

/// Starts the bridge of `manager` on `sender`'s component; `wrap` makes its messages into the
/// component's command output.
pub fn start<C: Component>(
    sender: &ComponentSender<C>,
    manager: Manager,
    wrap: impl Fn(BridgeMsg) -> C::CommandOutput + Send + 'static,
) -> Bridge {
    let (stop_tx, stop_rx) = oneshot::channel();
    sender.command(move |out, shutdown| {
        shutdown
            .register(run(manager, stop_rx, move |msg| out.send(wrap(msg)).is_ok()))
            .drop_on_shutdown()
    });
    Bridge { _stop: stop_tx }
}

/// Forwards the manager's events to `emit` until `stop` fires (or its sender is dropped) or
/// `emit` returns `false` (nobody listens any more).
pub async fn run(manager: Manager, mut stop: oneshot::Receiver<()>, mut emit: impl FnMut(BridgeMsg) -> bool) {
    // Subscribe first: discovery reports the VMs already running as soon as it starts.
    let mut events = manager.subscribe();
    let discovery = match manager.spawn_discovery() {
        Ok(task) => Some(task),
        Err(err) => {
            let folders = manager.store().paths();
            let text = format!(
                "cannot watch {} and {} for changes ({err}); check that both folders exist and may be read",
                folders.vms.display(),
                folders.runtime.display()
            );
            tracing::warn!("{text}");
            if !emit(BridgeMsg::DiscoveryFailed(text)) {
                return;
            }
            None
        }
    };
    tracing::debug!(folder = %manager.store().paths().vms.display(), "bridge running");
    loop {
        let msg = tokio::select! {
            _ = &mut stop => break,
            received = events.recv() => match received {
                Ok(event) => BridgeMsg::Event(event),
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    tracing::debug!(lost, "the window fell behind the manager's events");
                    BridgeMsg::Resync
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        if !emit(msg) {
            break;
        }
    }
    if let Some(task) = discovery {
        task.abort();
    }
    tracing::debug!("bridge stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_core::config::VmConfig;
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn environment_wins_over_the_setting() {
        let env = Paths::new("/env/vms", "/run/h");
        assert_eq!(
            resolve_with(env.clone(), true, "/setting").vms,
            PathBuf::from("/env/vms")
        );
        assert_eq!(
            resolve_with(env.clone(), false, "  ").vms,
            PathBuf::from("/env/vms")
        );
        let chosen = resolve_with(env, false, "/setting");
        assert_eq!(chosen.vms, PathBuf::from("/setting"));
        assert_eq!(chosen.runtime, PathBuf::from("/run/h"));
    }

    fn recv_list_changed(rx: &mpsc::Receiver<BridgeMsg>) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(BridgeMsg::Event(Event::ListChanged)) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
        false
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forwards_changes_made_elsewhere_and_stops_when_dropped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(tmp.path().join("vms"), tmp.path().join("run"));
        let manager = Manager::new(Store::new(paths.clone()), HostCaps::probe());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel();
        let task = tokio::spawn(run(manager, stop_rx, move |msg| tx.send(msg).is_ok()));

        // Another process's store: same folders, nothing shared in memory. Retried, because
        // the discovery watch is set up inside the task, which may not have run yet.
        let other = Store::new(paths);
        let rx = tokio::task::spawn_blocking(move || {
            let seen = (0..10).any(|i| {
                other.create(&VmConfig::new(format!("a{i}"))).expect("create");
                recv_list_changed(&rx)
            });
            (rx, seen)
        });
        let (_rx, seen) = rx.await.expect("join");
        assert!(seen, "a VM created elsewhere is reported");

        drop(stop_tx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the bridge ends when its handle is dropped")
            .expect("join");
    }

    #[tokio::test]
    async fn ends_when_nobody_listens() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(tmp.path().join("vms"), tmp.path().join("run"));
        let manager = Manager::new(Store::new(paths), HostCaps::probe());
        let (_stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(manager.clone(), stop_rx, |_| false));
        // Any event: the first emit fails and the bridge ends.
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::fs::create_dir_all(tmp.path().join("vms/b")).expect("mkdir");
        std::fs::write(tmp.path().join("vms/b/vm.toml"), "name = \"b\"\n").expect("write");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the bridge ends when emit fails")
            .expect("join");
    }
}
