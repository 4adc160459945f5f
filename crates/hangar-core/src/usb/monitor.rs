//! Live plug/unplug detection without polling: inotify on `<root>/dev/bus/usb` and its bus folders.
//!
//! The kernel creates `/dev/bus/usb/BBB/DDD` when a device arrives and removes it when the device
//! goes. A new node is looked up in sysfs (by bus and address) before [`UsbEvent::Added`] is sent;
//! new bus folders (a controller appearing) are watched as they come.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};
use thiserror::Error;
use tokio::io::unix::AsyncFd;

use super::device::{parse_decimal, UsbDevice};
use super::sysfs::UsbReader;

/// A change on the host's USB buses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbEvent {
    /// A device was plugged in (read from sysfs after its node appeared).
    Added(Box<UsbDevice>),
    /// The device at this bus and address was unplugged.
    Removed { bus: u16, devnum: u16 },
    /// The kernel dropped events (its queue overflowed): list the devices again.
    Resync,
}

#[derive(Debug, Error)]
pub enum MonitorError {
    /// There is nothing to watch on this machine.
    #[error("{0}")]
    Unavailable(String),

    #[error("cannot watch {} for USB plug events: {source}; check that it is readable, and raise \
             fs.inotify.max_user_watches if the limit is reached", path.display())]
    Watch { path: PathBuf, source: nix::Error },

    #[error("USB plug events need a running tokio runtime; create the monitor from async code")]
    NoRuntime,

    #[error("reading USB plug events failed: {0}; close and reopen the USB device list")]
    Read(#[source] io::Error),
}

/// How long a new device node may wait for its sysfs entry.
const SYSFS_RETRIES: u32 = 10;
const SYSFS_RETRY_DELAY: Duration = Duration::from_millis(50);

const DIR_EVENTS: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_ONLYDIR);

/// `AsyncFd` needs `AsRawFd`; nix's `Inotify` only implements `AsFd`.
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Watches one root (`/` in production) for USB devices coming and going.
pub struct UsbMonitor {
    reader: UsbReader,
    base: PathBuf,
    fd: AsyncFd<InotifyFd>,
    base_wd: WatchDescriptor,
    bus_wds: HashMap<WatchDescriptor, u16>,
    /// Device nodes present (bus, devnum): an event is sent once per arrival and departure.
    known: BTreeSet<(u16, u16)>,
    /// Raw events read but not yet handled (kept across cancellation of `next_event`).
    raw: VecDeque<(WatchDescriptor, AddWatchFlags, Option<OsString>)>,
    pending: VecDeque<UsbEvent>,
}

impl std::fmt::Debug for UsbMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbMonitor")
            .field("base", &self.base)
            .field("buses", &self.bus_wds.values().collect::<BTreeSet<_>>())
            .field("known", &self.known)
            .finish()
    }
}

impl UsbMonitor {
    /// Starts watching `<root>/dev/bus/usb`. Must run inside a tokio runtime.
    ///
    /// Devices already plugged in produce no event: list them with [`UsbReader::list`] after this
    /// returns, so no plug-in falls between the list and the watch.
    pub fn new(root: impl Into<PathBuf>) -> Result<UsbMonitor, MonitorError> {
        let root = root.into();
        let base = root.join("dev/bus/usb");
        if !base.is_dir() {
            return Err(MonitorError::Unavailable(format!(
                "this system has no USB bus (no {})",
                base.display()
            )));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MonitorError::NoRuntime);
        }
        let watch_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MonitorError::Watch { path, source }
        };
        let inotify =
            Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(watch_err(&base))?;
        let base_wd = inotify.add_watch(&base, DIR_EVENTS).map_err(watch_err(&base))?;
        // SAFETY: `InotifyFd` owns the inotify descriptor, always returns that same descriptor, and
        // is never swapped out (no `get_mut`), so it stays open for the whole registration.
        let registered =
            unsafe { AsyncFd::register_with_interest(InotifyFd(inotify), tokio::io::Interest::READABLE) };
        let fd = registered.map_err(|e| MonitorError::Read(e.into_parts().1))?;
        let mut monitor = UsbMonitor {
            reader: UsbReader::new(root),
            base,
            fd,
            base_wd,
            bus_wds: HashMap::new(),
            known: BTreeSet::new(),
            raw: VecDeque::new(),
            pending: VecDeque::new(),
        };
        for (bus, _) in monitor.bus_dirs() {
            let nodes = monitor.watch_bus(bus)?;
            monitor.known.extend(nodes.into_iter().map(|d| (bus, d)));
        }
        Ok(monitor)
    }

    /// The reader used to look new devices up.
    pub fn reader(&self) -> &UsbReader {
        &self.reader
    }

    /// The next change. Cancel-safe: dropping the future loses no event.
    pub async fn next_event(&mut self) -> Result<UsbEvent, MonitorError> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(ev);
            }
            if let Some((wd, mask, name)) = self.raw.front().cloned() {
                self.handle(wd, mask, name).await?;
                self.raw.pop_front();
                continue;
            }
            let events = self.read_batch().await?;
            self.raw
                .extend(events.into_iter().map(|e: InotifyEvent| (e.wd, e.mask, e.name)));
        }
    }

    async fn read_batch(&self) -> Result<Vec<InotifyEvent>, MonitorError> {
        loop {
            let mut guard = self.fd.readable().await.map_err(MonitorError::Read)?;
            match guard.try_io(|inner| inner.get_ref().0.read_events().map_err(io::Error::from)) {
                Ok(Ok(events)) => return Ok(events),
                Ok(Err(e)) => return Err(MonitorError::Read(e)),
                Err(_would_block) => continue,
            }
        }
    }

    async fn handle(
        &mut self,
        wd: WatchDescriptor,
        mask: AddWatchFlags,
        name: Option<OsString>,
    ) -> Result<(), MonitorError> {
        if mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            return self.resync().await;
        }
        let number = name
            .as_ref()
            .and_then(|n| n.to_str())
            .and_then(parse_decimal::<u16>);
        if wd == self.base_wd {
            let (Some(bus), true) = (number, mask.contains(AddWatchFlags::IN_ISDIR)) else {
                return Ok(());
            };
            if mask.contains(AddWatchFlags::IN_CREATE) {
                // Nodes made before the watch took hold are found by the scan.
                for devnum in self.watch_bus(bus)? {
                    self.arrived(bus, devnum).await;
                }
            } else if mask.contains(AddWatchFlags::IN_DELETE) {
                let gone: Vec<(u16, u16)> = self.known.iter().copied().filter(|(b, _)| *b == bus).collect();
                for (b, devnum) in gone {
                    self.departed(b, devnum);
                }
                self.bus_wds.retain(|_, b| *b != bus);
            }
            return Ok(());
        }
        let Some(&bus) = self.bus_wds.get(&wd) else {
            return Ok(());
        };
        if mask.contains(AddWatchFlags::IN_IGNORED) {
            self.bus_wds.remove(&wd);
            return Ok(());
        }
        let Some(devnum) = number else {
            return Ok(());
        };
        if mask.contains(AddWatchFlags::IN_CREATE) {
            self.arrived(bus, devnum).await;
        } else if mask.contains(AddWatchFlags::IN_DELETE) {
            self.departed(bus, devnum);
        }
        Ok(())
    }

    /// After lost events: watch every bus again and report the difference as events, then `Resync`.
    async fn resync(&mut self) -> Result<(), MonitorError> {
        let mut now = BTreeSet::new();
        for (bus, _) in self.bus_dirs() {
            now.extend(self.watch_bus(bus)?.into_iter().map(|d| (bus, d)));
        }
        let gone: Vec<(u16, u16)> = self.known.difference(&now).copied().collect();
        for (bus, devnum) in gone {
            self.departed(bus, devnum);
        }
        for (bus, devnum) in now {
            self.arrived(bus, devnum).await;
        }
        self.pending.push_back(UsbEvent::Resync);
        Ok(())
    }

    async fn arrived(&mut self, bus: u16, devnum: u16) {
        if self.known.contains(&(bus, devnum)) {
            return;
        }
        for attempt in 0..SYSFS_RETRIES {
            match self.reader.find(bus, devnum) {
                Ok(Some(dev)) => {
                    self.known.insert((bus, devnum));
                    self.pending.push_back(UsbEvent::Added(Box::new(dev)));
                    return;
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("USB device {bus}:{devnum} not readable yet: {e}"),
            }
            if attempt + 1 < SYSFS_RETRIES {
                tokio::time::sleep(SYSFS_RETRY_DELAY).await;
            }
        }
        tracing::warn!(
            "a USB device node appeared for bus {bus} address {devnum} but sysfs never showed the device; ignored"
        );
    }

    fn departed(&mut self, bus: u16, devnum: u16) {
        if self.known.remove(&(bus, devnum)) {
            self.pending.push_back(UsbEvent::Removed { bus, devnum });
        }
    }

    /// Bus folders (`001`, `002`, …) under the base.
    fn bus_dirs(&self) -> Vec<(u16, PathBuf)> {
        numbered_entries(&self.base)
    }

    /// Watches one bus folder; returns the device numbers in it.
    fn watch_bus(&mut self, bus: u16) -> Result<Vec<u16>, MonitorError> {
        let dir = self.base.join(format!("{bus:03}"));
        match self.fd.get_ref().0.add_watch(&dir, DIR_EVENTS) {
            Ok(wd) => {
                self.bus_wds.insert(wd, bus);
            }
            // The bus vanished again before we got to it.
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR) => return Ok(vec![]),
            Err(source) => return Err(MonitorError::Watch { path: dir, source }),
        }
        Ok(numbered_entries(&dir).into_iter().map(|(n, _)| n).collect())
    }
}

/// Entries of `dir` whose names are decimal numbers, sorted.
fn numbered_entries(dir: &Path) -> Vec<(u16, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return vec![];
    };
    let mut out: Vec<(u16, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str().and_then(parse_decimal::<u16>)?;
            Some((n, e.path()))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
#[path = "monitor_tests.rs"]
mod tests;
