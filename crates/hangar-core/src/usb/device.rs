//! The model of one host USB device as read from sysfs.

use std::fmt;
use std::path::{Path, PathBuf};

/// A physical port path: the bus and the chain of hub ports (`1-2.4` = bus 1, root port 2, hub port 4).
///
/// Unlike the device address, the port path stays the same across replugs into the same socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortPath {
    bus: u16,
    ports: Vec<u8>,
}

impl PortPath {
    /// A port path; `None` when `ports` is empty or holds a 0 (ports count from 1).
    pub fn new(bus: u16, ports: Vec<u8>) -> Option<PortPath> {
        if ports.is_empty() || ports.contains(&0) {
            return None;
        }
        Some(PortPath { bus, ports })
    }

    /// Parses `bus-port.port…` (`1-2`, `3-1.4.2`); `None` for anything else.
    pub fn parse(s: &str) -> Option<PortPath> {
        let (bus, path) = s.split_once('-')?;
        let bus = parse_decimal::<u16>(bus)?;
        let ports = path
            .split('.')
            .map(parse_decimal::<u8>)
            .collect::<Option<Vec<u8>>>()?;
        PortPath::new(bus, ports)
    }

    pub fn bus(&self) -> u16 {
        self.bus
    }

    pub fn ports(&self) -> &[u8] {
        &self.ports
    }

    /// The port chain without the bus, as QEMU's `usb-host` `hostport` property takes it (`2.4`).
    pub fn hostport(&self) -> String {
        self.ports.iter().map(u8::to_string).collect::<Vec<_>>().join(".")
    }
}

impl fmt::Display for PortPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.bus, self.hostport())
    }
}

/// Parses a plain decimal number (digits only, no sign, no spaces).
pub(crate) fn parse_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses exactly four hex digits (`046d`).
pub(crate) fn parse_hex4(s: &str) -> Option<u16> {
    if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(s, 16).ok()
}

/// Negotiated link speed (sysfs `speed`, in Mbit/s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbSpeed {
    /// 1.5 Mbit/s (USB 1.0).
    Low,
    /// 12 Mbit/s (USB 1.1).
    Full,
    /// 480 Mbit/s (USB 2.0).
    High,
    /// 5 Gbit/s (USB 3.0).
    Super,
    /// 10 Gbit/s (USB 3.1 Gen 2).
    SuperPlus,
    /// 20 Gbit/s (USB 3.2 Gen 2x2).
    SuperPlusX2,
    /// Any other value the kernel reports, kept as written.
    Other(String),
}

impl UsbSpeed {
    pub fn from_sysfs(s: &str) -> UsbSpeed {
        match s.trim() {
            "1.5" => UsbSpeed::Low,
            "12" => UsbSpeed::Full,
            "480" => UsbSpeed::High,
            "5000" => UsbSpeed::Super,
            "10000" => UsbSpeed::SuperPlus,
            "20000" => UsbSpeed::SuperPlusX2,
            other => UsbSpeed::Other(other.to_string()),
        }
    }
}

impl fmt::Display for UsbSpeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsbSpeed::Low => f.write_str("1.5 Mbit/s"),
            UsbSpeed::Full => f.write_str("12 Mbit/s"),
            UsbSpeed::High => f.write_str("480 Mbit/s"),
            UsbSpeed::Super => f.write_str("5 Gbit/s"),
            UsbSpeed::SuperPlus => f.write_str("10 Gbit/s"),
            UsbSpeed::SuperPlusX2 => f.write_str("20 Gbit/s"),
            UsbSpeed::Other(s) => write!(f, "{s} Mbit/s"),
        }
    }
}

/// USB class codes Hangar looks at.
pub const CLASS_HID: u8 = 0x03;
pub const CLASS_STORAGE: u8 = 0x08;
pub const CLASS_HUB: u8 = 0x09;
/// HID boot protocols.
pub const HID_PROTOCOL_KEYBOARD: u8 = 1;
pub const HID_PROTOCOL_MOUSE: u8 = 2;

/// One interface of the device's active configuration (`1-2:1.0` = configuration 1, interface 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbInterface {
    pub config: u8,
    pub number: u8,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
}

impl UsbInterface {
    /// What this interface is, for display.
    pub fn kind(&self) -> UsbKind {
        match (self.class, self.protocol) {
            (CLASS_HUB, _) => UsbKind::Hub,
            (CLASS_STORAGE, _) => UsbKind::Storage,
            (CLASS_HID, HID_PROTOCOL_KEYBOARD) => UsbKind::Keyboard,
            (CLASS_HID, HID_PROTOCOL_MOUSE) => UsbKind::Mouse,
            _ => UsbKind::Other,
        }
    }
}

/// Coarse device kind, for icons and for warnings ("you are about to give away your keyboard").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UsbKind {
    Hub,
    Keyboard,
    Mouse,
    Storage,
    Other,
}

impl fmt::Display for UsbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsbKind::Hub => "hub",
            UsbKind::Keyboard => "keyboard",
            UsbKind::Mouse => "mouse",
            UsbKind::Storage => "storage",
            UsbKind::Other => "other",
        })
    }
}

/// A USB device plugged into the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    /// Kernel name (`usb1`, `1-2`, `1-2.4`).
    pub sysname: String,
    /// Bus number (`busnum`).
    pub bus: u16,
    /// Device address on the bus (`devnum`); changes on every plug-in.
    pub devnum: u16,
    pub vendor_id: u16,
    pub product_id: u16,
    /// Strings the device reports about itself, if any.
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
    /// Names from `usb.ids`, filled only when the device gives no string of its own.
    pub vendor_name: Option<String>,
    pub product_name: Option<String>,
    /// Physical port; `None` for a root hub.
    pub port: Option<PortPath>,
    pub speed: Option<UsbSpeed>,
    /// `bDeviceClass` (0 when the interfaces say what the device is).
    pub device_class: u8,
    pub interfaces: Vec<UsbInterface>,
    /// `<root>/dev/bus/usb/BBB/DDD`.
    pub node: PathBuf,
}

impl UsbDevice {
    /// `vendor:product` in lower-case hex (`046d:c52b`).
    pub fn id(&self) -> String {
        format!("{:04x}:{:04x}", self.vendor_id, self.product_id)
    }

    /// The usbfs node QEMU opens: `<root>/dev/bus/usb/BBB/DDD`.
    pub fn devnode(&self) -> &Path {
        &self.node
    }

    pub fn is_root_hub(&self) -> bool {
        self.port.is_none()
    }

    pub fn is_hub(&self) -> bool {
        self.device_class == CLASS_HUB || self.interfaces.iter().any(|i| i.class == CLASS_HUB)
    }

    /// More than one interface: one device that is several functions (keyboard + mouse receiver).
    pub fn is_composite(&self) -> bool {
        self.interfaces.len() > 1
    }

    /// Every kind the device's functions have, in a fixed order, without repeats; `[Other]` when none
    /// is recognised. A keyboard+mouse receiver gives `[Keyboard, Mouse]`.
    pub fn kinds(&self) -> Vec<UsbKind> {
        let mut kinds: Vec<UsbKind> = self.interfaces.iter().map(UsbInterface::kind).collect();
        if self.device_class == CLASS_HUB {
            kinds.push(UsbKind::Hub);
        }
        if self.device_class == CLASS_STORAGE {
            kinds.push(UsbKind::Storage);
        }
        kinds.retain(|k| *k != UsbKind::Other);
        kinds.sort();
        kinds.dedup();
        if kinds.is_empty() {
            kinds.push(UsbKind::Other);
        }
        kinds
    }

    /// The main kind (first of [`UsbDevice::kinds`]).
    pub fn kind(&self) -> UsbKind {
        self.kinds().first().copied().unwrap_or(UsbKind::Other)
    }

    /// A human name: the device's own strings, else `usb.ids` names, else `Unknown device vvvv:pppp`.
    pub fn name(&self) -> String {
        let vendor = self.manufacturer.as_deref().or(self.vendor_name.as_deref());
        let product = self.product.as_deref().or(self.product_name.as_deref());
        match (vendor, product) {
            (None, None) => format!("Unknown device {}", self.id()),
            (None, Some(p)) => p.to_string(),
            (Some(v), None) => format!("{v} device {}", self.id()),
            (Some(v), Some(p)) => {
                if p.to_lowercase().starts_with(&v.to_lowercase()) {
                    p.to_string()
                } else {
                    format!("{v} {p}")
                }
            }
        }
    }

    /// The port text (`1-2.4`), or `usbN` for a root hub.
    pub fn location(&self) -> String {
        match &self.port {
            Some(p) => p.to_string(),
            None => self.sysname.clone(),
        }
    }

    /// One line for lists and error messages: `1-2.1 046d:c52b Logitech USB Receiver (bus 1 address 5)`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} {} {} (bus {} address {}",
            self.location(),
            self.id(),
            self.name(),
            self.bus,
            self.devnum
        );
        if let Some(serial) = &self.serial {
            s.push_str(", serial ");
            s.push_str(serial);
        }
        s.push(')');
        s
    }
}

/// `<root>/dev/bus/usb/BBB/DDD`.
pub fn devnode_path(root: &Path, bus: u16, devnum: u16) -> PathBuf {
    root.join(format!("dev/bus/usb/{bus:03}/{devnum:03}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_paths() {
        let p = PortPath::parse("1-2.4").unwrap();
        assert_eq!((p.bus(), p.ports()), (1, &[2u8, 4][..]));
        assert_eq!(p.to_string(), "1-2.4");
        assert_eq!(p.hostport(), "2.4");
        assert_eq!(PortPath::parse("3-10").unwrap().to_string(), "3-10");
        for bad in [
            "usb1", "1-0", "1-", "-2", "1-2.", "1-2..4", "1:2", "a-2", "1-+2", "1-256",
        ] {
            assert_eq!(PortPath::parse(bad), None, "{bad}");
        }
        assert!(PortPath::parse("1-2") < PortPath::parse("1-2.1"));
        assert!(PortPath::parse("1-9") < PortPath::parse("1-10"));
    }

    #[test]
    fn hex_and_decimal() {
        assert_eq!(parse_hex4("046D"), Some(0x046d));
        assert_eq!(parse_hex4("46d"), None);
        assert_eq!(parse_hex4("+46d"), None);
        assert_eq!(parse_decimal::<u16>("12"), Some(12));
        assert_eq!(parse_decimal::<u16>("+12"), None);
        assert_eq!(parse_decimal::<u8>("300"), None);
    }

    fn dev(manufacturer: Option<&str>, product: Option<&str>) -> UsbDevice {
        UsbDevice {
            sysname: "1-2".into(),
            bus: 1,
            devnum: 3,
            vendor_id: 0x046d,
            product_id: 0xc52b,
            manufacturer: manufacturer.map(String::from),
            product: product.map(String::from),
            serial: None,
            vendor_name: None,
            product_name: None,
            port: PortPath::parse("1-2"),
            speed: None,
            device_class: 0,
            interfaces: vec![],
            node: devnode_path(Path::new("/"), 1, 3),
        }
    }

    #[test]
    fn names() {
        assert_eq!(dev(None, None).name(), "Unknown device 046d:c52b");
        assert_eq!(
            dev(Some("Logitech"), Some("USB Receiver")).name(),
            "Logitech USB Receiver"
        );
        assert_eq!(
            dev(Some("SanDisk"), Some("SanDisk 3.2Gen1")).name(),
            "SanDisk 3.2Gen1"
        );
        assert_eq!(dev(Some("Logitech"), None).name(), "Logitech device 046d:c52b");
        let mut d = dev(None, Some("Receiver"));
        d.vendor_name = Some("Logitech, Inc.".into());
        assert_eq!(d.name(), "Logitech, Inc. Receiver");
        assert_eq!(d.node, PathBuf::from("/dev/bus/usb/001/003"));
        assert_eq!(
            d.summary(),
            "1-2 046d:c52b Logitech, Inc. Receiver (bus 1 address 3)"
        );
    }

    #[test]
    fn kinds_of_composite_and_plain_devices() {
        let iface = |number, class, protocol| UsbInterface {
            config: 1,
            number,
            class,
            subclass: 1,
            protocol,
        };
        let mut d = dev(None, None);
        assert_eq!(d.kinds(), vec![UsbKind::Other]);
        d.interfaces = vec![iface(0, 3, 2), iface(1, 3, 1), iface(2, 3, 0)];
        assert_eq!(d.kinds(), vec![UsbKind::Keyboard, UsbKind::Mouse]);
        assert_eq!(d.kind(), UsbKind::Keyboard);
        assert!(d.is_composite());
        d.interfaces = vec![iface(0, 8, 0x50)];
        assert_eq!(d.kind(), UsbKind::Storage);
        assert!(!d.is_composite());
        d.device_class = 9;
        assert!(d.is_hub());
        assert_eq!(UsbSpeed::from_sysfs("480\n"), UsbSpeed::High);
        assert_eq!(UsbSpeed::from_sysfs("40000").to_string(), "40000 Mbit/s");
    }
}
