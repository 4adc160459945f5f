//! Enumerates host USB devices from `<root>/sys/bus/usb/devices`.
//!
//! Real sysfs lists devices and interfaces there as symlinks into `/sys/devices/…`; fixture trees
//! use plain folders. Both work: attributes are read through the entry, and interfaces are found
//! inside the device's folder (`1-2/1-2:1.0`) or, failing that, beside it (`devices/1-2:1.0`).

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::device::{devnode_path, parse_decimal, parse_hex4, PortPath, UsbDevice, UsbInterface, UsbSpeed};
use super::error::UsbError;
use super::ids::{find_ids_file, UsbIds};

/// Reads USB devices under an injectable root (`/` in production, a fixture tree in tests).
#[derive(Debug, Clone)]
pub struct UsbReader {
    root: PathBuf,
}

/// What a `devices/` entry name denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryName {
    RootHub { bus: u16 },
    Device(PortPath),
}

fn classify(name: &str) -> Option<EntryName> {
    if name.contains(':') {
        return None; // an interface (`1-2:1.0`)
    }
    if let Some(n) = name.strip_prefix("usb") {
        return parse_decimal(n).map(|bus| EntryName::RootHub { bus });
    }
    PortPath::parse(name).map(EntryName::Device)
}

impl UsbReader {
    pub fn new(root: impl Into<PathBuf>) -> UsbReader {
        UsbReader { root: root.into() }
    }

    /// The real system (`/`).
    pub fn system() -> UsbReader {
        UsbReader::new("/")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/sys/bus/usb/devices`.
    pub fn devices_dir(&self) -> PathBuf {
        self.root.join("sys/bus/usb/devices")
    }

    /// Every device (root hubs included), sorted by bus then port path, with names resolved.
    ///
    /// A device that vanishes or is half-written while being read is skipped (it was being
    /// unplugged); the list is never failed because of one device.
    pub fn list(&self) -> Result<Vec<UsbDevice>, UsbError> {
        let dir = self.devices_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(UsbError::NoBus {
                    path: self.root.join("sys/bus/usb"),
                })
            }
            Err(source) => return Err(UsbError::Read { path: dir, source }),
        };
        let mut devices = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| UsbError::Read {
                path: dir.clone(),
                source,
            })?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Some(dev) = self.read_entry(&name) {
                devices.push(dev);
            }
        }
        devices.sort_by(|a, b| (a.bus, &a.port, a.devnum).cmp(&(b.bus, &b.port, b.devnum)));
        self.fill_names(&mut devices);
        Ok(devices)
    }

    /// The device at `bus`/`devnum`, if plugged in.
    pub fn find(&self, bus: u16, devnum: u16) -> Result<Option<UsbDevice>, UsbError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|d| d.bus == bus && d.devnum == devnum))
    }

    /// Reads one `devices/<name>` entry; `None` for interfaces, unknown names and unreadable devices.
    fn read_entry(&self, name: &str) -> Option<UsbDevice> {
        let kind = classify(name)?;
        let path = self.devices_dir().join(name);
        let required = |attr: &str| -> Option<String> {
            let v = read_attr(&path, attr);
            if v.is_none() {
                tracing::warn!(
                    device = name,
                    attr,
                    "USB device lacks a readable attribute; skipped"
                );
            }
            v
        };
        let bus: u16 = parse_decimal(&required("busnum")?)?;
        let devnum: u16 = parse_decimal(&required("devnum")?)?;
        let vendor_id = parse_hex4(&required("idVendor")?)?;
        let product_id = parse_hex4(&required("idProduct")?)?;
        let port = match kind {
            EntryName::RootHub { bus: b } => {
                if b != bus {
                    tracing::warn!(device = name, busnum = bus, "root hub name and busnum disagree");
                }
                None
            }
            EntryName::Device(p) => Some(p),
        };
        let device_class = read_attr(&path, "bDeviceClass")
            .and_then(|c| u8::from_str_radix(&c, 16).ok())
            .unwrap_or(0);
        Some(UsbDevice {
            sysname: name.to_string(),
            bus,
            devnum,
            vendor_id,
            product_id,
            manufacturer: read_attr(&path, "manufacturer"),
            product: read_attr(&path, "product"),
            serial: read_attr(&path, "serial"),
            vendor_name: None,
            product_name: None,
            port,
            speed: read_attr(&path, "speed").map(|s| UsbSpeed::from_sysfs(&s)),
            device_class,
            interfaces: self.read_interfaces(name, bus, &path),
            node: devnode_path(&self.root, bus, devnum),
        })
    }

    /// Interfaces of the device: folders named `<prefix><cfg>.<if>` inside it, else beside it.
    fn read_interfaces(&self, name: &str, bus: u16, path: &Path) -> Vec<UsbInterface> {
        // A root hub's interfaces are named after port 0 of its bus (`1-0:1.0` for `usb1`).
        let prefix = if name.starts_with("usb") {
            format!("{bus}-0:")
        } else {
            format!("{name}:")
        };
        let mut found = interfaces_in(path, &prefix);
        if found.is_empty() {
            found = interfaces_in(&self.devices_dir(), &prefix);
        }
        found.sort_by_key(|i| (i.config, i.number));
        found
    }

    /// Fills `vendor_name`/`product_name` from `usb.ids` for devices that lack their own strings.
    fn fill_names(&self, devices: &mut [UsbDevice]) {
        let wanted: HashSet<u16> = devices
            .iter()
            .filter(|d| d.manufacturer.is_none() || d.product.is_none())
            .map(|d| d.vendor_id)
            .collect();
        if wanted.is_empty() {
            return;
        }
        let Some(path) = find_ids_file(&self.root) else {
            tracing::debug!(
                "no usb.ids under {}; unnamed devices show their ids",
                self.root.display()
            );
            return;
        };
        let ids = match UsbIds::load_filtered(&path, |v| wanted.contains(&v)) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(
                    "cannot read {}: {e}; unnamed devices show their ids",
                    path.display()
                );
                return;
            }
        };
        for d in devices.iter_mut() {
            if d.manufacturer.is_none() {
                d.vendor_name = ids.vendor(d.vendor_id).map(str::to_string);
            }
            if d.product.is_none() {
                d.product_name = ids.product(d.vendor_id, d.product_id).map(str::to_string);
            }
        }
    }
}

/// Interface folders in `dir` whose names start with `prefix` and parse as `<cfg>.<if>`.
fn interfaces_in(dir: &Path, prefix: &str) -> Vec<UsbInterface> {
    let Ok(entries) = fs::read_dir(dir) else {
        return vec![];
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some((config, number)) = rest
            .split_once('.')
            .and_then(|(c, i)| Some((parse_decimal::<u8>(c)?, parse_decimal::<u8>(i)?)))
        else {
            continue;
        };
        let path = entry.path();
        let hex = |attr: &str| read_attr(&path, attr).and_then(|v| u8::from_str_radix(&v, 16).ok());
        let Some(class) = hex("bInterfaceClass") else {
            continue;
        };
        out.push(UsbInterface {
            config,
            number,
            class,
            subclass: hex("bInterfaceSubClass").unwrap_or(0),
            protocol: hex("bInterfaceProtocol").unwrap_or(0),
        });
    }
    out
}

/// A sysfs attribute, trimmed; `None` when absent, unreadable or empty.
fn read_attr(dir: &Path, attr: &str) -> Option<String> {
    let raw = fs::read(dir.join(attr)).ok()?;
    let text = String::from_utf8_lossy(&raw).trim().to_string();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
#[path = "sysfs_tests.rs"]
mod tests;
