//! Discovery: inotify on the VM store and the runtime folder, so a long-lived process (the app)
//! sees VMs created, deleted or edited elsewhere, and attaches to VMs started by another Hangar
//! process (e.g. `hangarctl start`) the moment their pidfile appears. No polling loop.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;

use super::{Event, Manager};
use crate::config::CONFIG_FILE;

struct Fd(Inotify);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Watched {
    StoreRoot,
    VmFolder,
    RuntimeRoot,
    RuntimeFolder(PathBuf),
}

impl Manager {
    /// Start watching the store and runtime folders in the background. Also attaches watchers
    /// to every VM already running. The task ends when the manager's last handle is dropped.
    pub fn spawn_discovery(&self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let paths = self.store().paths().clone();
        for dir in [&paths.vms, &paths.runtime] {
            std::fs::create_dir_all(dir)?;
        }
        let inotify =
            Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(std::io::Error::from)?;
        // SAFETY: the AsyncFd owns the inotify descriptor for as long as it is registered.
        let fd = unsafe { AsyncFd::register(Fd(inotify))? };
        let weak = std::sync::Arc::downgrade(&self.inner);
        let manager = self.clone();
        let mut watches: HashMap<WatchDescriptor, Watched> = HashMap::new();
        let dir_flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_ONLYDIR;
        let add = move |fd: &AsyncFd<Fd>,
                        watches: &mut HashMap<WatchDescriptor, Watched>,
                        path: &Path,
                        kind: Watched| {
            match fd.get_ref().0.add_watch(path, dir_flags) {
                Ok(wd) => {
                    watches.insert(wd, kind);
                }
                Err(e) => tracing::debug!("cannot watch {}: {e}", path.display()),
            }
        };
        add(&fd, &mut watches, &paths.vms, Watched::StoreRoot);
        add(&fd, &mut watches, &paths.runtime, Watched::RuntimeRoot);
        for dir in subdirs(&paths.vms) {
            add(&fd, &mut watches, &dir, Watched::VmFolder);
        }
        for dir in subdirs(&paths.runtime) {
            add(&fd, &mut watches, &dir, Watched::RuntimeFolder(dir.clone()));
        }
        drop(manager);
        Ok(tokio::spawn(async move {
            if let Some(inner) = weak.upgrade() {
                let m = Manager { inner };
                for (name, e) in m.watch_all().await {
                    tracing::warn!(vm = name, "cannot watch: {e}");
                }
            }
            loop {
                let mut guard = match fd.readable().await {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::warn!("VM discovery stopped: {e}");
                        return;
                    }
                };
                let events = match guard.try_io(|f| f.get_ref().0.read_events().map_err(std::io::Error::from))
                {
                    Ok(Ok(events)) => events,
                    Ok(Err(e)) => {
                        tracing::warn!("VM discovery stopped: {e}");
                        return;
                    }
                    Err(_would_block) => continue,
                };
                let Some(inner) = weak.upgrade() else { return };
                let m = Manager { inner };
                let mut list_changed = false;
                let mut started: Vec<PathBuf> = vec![];
                for ev in events {
                    let Some(kind) = watches.get(&ev.wd).cloned() else {
                        continue;
                    };
                    let name = ev.name.as_ref().map(PathBuf::from).unwrap_or_default();
                    let is_dir = ev.mask.contains(AddWatchFlags::IN_ISDIR);
                    let appeared = ev
                        .mask
                        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO);
                    match kind {
                        Watched::StoreRoot => {
                            list_changed = true;
                            if is_dir && appeared {
                                add(&fd, &mut watches, &paths.vms.join(&name), Watched::VmFolder);
                            }
                        }
                        Watched::VmFolder => list_changed |= name == Path::new(CONFIG_FILE),
                        Watched::RuntimeRoot => {
                            if is_dir && appeared {
                                let dir = paths.runtime.join(&name);
                                add(&fd, &mut watches, &dir, Watched::RuntimeFolder(dir.clone()));
                                // The pidfile may already be there.
                                started.push(dir);
                            }
                        }
                        Watched::RuntimeFolder(dir) => {
                            if name == Path::new("qemu.pid")
                                && ev.mask.contains(AddWatchFlags::IN_CLOSE_WRITE)
                            {
                                started.push(dir);
                            }
                        }
                    }
                    if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                        watches.remove(&ev.wd);
                    }
                }
                if list_changed {
                    m.emit(Event::ListChanged);
                }
                for dir in started {
                    if let Some(vm) = vm_for_runtime_dir(&m, &dir) {
                        let m2 = m.clone();
                        tokio::spawn(async move { attach_when_ready(m2, vm).await });
                    }
                }
            }
        }))
    }
}

/// Attach a watcher once QEMU's QMP socket answers (QEMU writes its pidfile a moment before
/// it serves QMP). Bounded: gives up after 30 s.
async fn attach_when_ready(m: Manager, name: String) {
    let mut delay = Duration::from_millis(50);
    for _ in 0..12 {
        if m.pid(&name).is_some() {
            match m.watch(&name).await {
                Ok(_) => return,
                Err(e) => tracing::debug!(vm = name, "not ready to watch yet: {e}"),
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

fn vm_for_runtime_dir(m: &Manager, dir: &Path) -> Option<String> {
    let list = m.store().list().ok()?;
    list.into_iter().map(|e| e.name).find(|n| m.runtime(n).dir == dir)
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Update, VmConfig};
    use crate::host::HostCaps;
    use crate::paths::Paths;
    use crate::store::Store;

    async fn next_list_change(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> bool {
        let wait = async {
            loop {
                match rx.recv().await {
                    Ok(Event::ListChanged) => return true,
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn changes_made_by_another_process_are_seen() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::new(t.path().join("vms"), t.path().join("run"));
        let m = Manager::new(Store::new(paths.clone()), HostCaps::probe());
        let mut rx = m.subscribe();
        let _task = m.spawn_discovery().unwrap();
        // Another process's store: same folders, no shared memory.
        let other = Store::new(paths);
        other.create(&VmConfig::new("a")).unwrap();
        assert!(next_list_change(&mut rx).await, "creation seen");
        while rx.try_recv().is_ok() {}
        other.update("a", &Update::SetMemoryMib(1024)).unwrap();
        assert!(next_list_change(&mut rx).await, "vm.toml edit seen");
        while rx.try_recv().is_ok() {}
        other.delete("a", false).unwrap();
        assert!(next_list_change(&mut rx).await, "deletion seen");
    }
}
