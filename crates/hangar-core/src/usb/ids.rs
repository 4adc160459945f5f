//! Reader for the system's `usb.ids` (vendor and product names).
//!
//! The file lists vendors at column 0 (`046d  Logitech, Inc.`), their products one tab in
//! (`\tc52b  Unifying Receiver`) and interfaces two tabs in. After the vendors come other sections
//! (`C 03  Human Interface Device`, `AT …`, `HID …`, …) whose lines are ignored here. The file is read
//! line by line; a filter keeps only the vendors a caller needs.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use super::device::parse_hex4;

/// Where distributions install `usb.ids`, relative to the root.
pub const IDS_LOCATIONS: &[&str] = &[
    "usr/share/misc/usb.ids",
    "usr/share/hwdata/usb.ids",
    "var/lib/usbutils/usb.ids",
];

/// The first `usb.ids` that exists under `root`.
pub fn find_ids_file(root: &Path) -> Option<PathBuf> {
    IDS_LOCATIONS.iter().map(|p| root.join(p)).find(|p| p.is_file())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Vendor {
    name: String,
    products: HashMap<u16, String>,
}

/// Vendor and product names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsbIds {
    vendors: HashMap<u16, Vendor>,
}

impl UsbIds {
    /// Reads every vendor and product.
    pub fn parse<R: BufRead>(reader: R) -> io::Result<UsbIds> {
        UsbIds::parse_filtered(reader, |_| true)
    }

    /// Reads only the vendors for which `keep(vendor_id)` is true (and their products).
    pub fn parse_filtered<R: BufRead>(mut reader: R, keep: impl Fn(u16) -> bool) -> io::Result<UsbIds> {
        let mut ids = UsbIds::default();
        // The vendor whose product lines follow, when it is kept; `None` inside other sections too.
        let mut current: Option<u16> = None;
        let mut raw = Vec::with_capacity(128);
        loop {
            raw.clear();
            if reader.read_until(b'\n', &mut raw)? == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&raw);
            let line = text.trim_end_matches(['\n', '\r']);
            if line.is_empty() || line.starts_with('#') || line.starts_with("\t\t") {
                continue;
            }
            if let Some(rest) = line.strip_prefix('\t') {
                if let (Some(vid), Some((pid, name))) = (current, split_entry(rest)) {
                    if let Some(v) = ids.vendors.get_mut(&vid) {
                        v.products.entry(pid).or_insert(name);
                    }
                }
                continue;
            }
            // Column 0: a vendor, or the header of another section (which ends the vendor's products).
            current = match split_entry(line) {
                Some((vid, name)) if keep(vid) => {
                    ids.vendors.entry(vid).or_insert_with(|| Vendor {
                        name,
                        products: HashMap::new(),
                    });
                    Some(vid)
                }
                _ => None,
            };
        }
        Ok(ids)
    }

    /// Reads a file; a missing file gives an empty table (names then fall back to the ids).
    pub fn load_filtered(path: &Path, keep: impl Fn(u16) -> bool) -> io::Result<UsbIds> {
        match std::fs::File::open(path) {
            Ok(f) => UsbIds::parse_filtered(io::BufReader::new(f), keep),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(UsbIds::default()),
            Err(e) => Err(e),
        }
    }

    pub fn vendor(&self, vendor_id: u16) -> Option<&str> {
        self.vendors.get(&vendor_id).map(|v| v.name.as_str())
    }

    pub fn product(&self, vendor_id: u16, product_id: u16) -> Option<&str> {
        self.vendors
            .get(&vendor_id)
            .and_then(|v| v.products.get(&product_id))
            .map(String::as_str)
    }

    /// Number of vendors read.
    pub fn len(&self) -> usize {
        self.vendors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vendors.is_empty()
    }
}

/// `046d  Logitech, Inc.` → (0x046d, "Logitech, Inc."); `None` when the line is not an id entry.
fn split_entry(s: &str) -> Option<(u16, String)> {
    let id = parse_hex4(s.get(..4)?)?;
    let rest = &s[4..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let name = rest.trim();
    if name.is_empty() {
        return None;
    }
    Some((id, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
#
#\tList of USB ID's
# Syntax:
# vendor  vendor_name
#\tdevice  device_name\t\t\t\t<-- single tab

046d  Logitech, Inc.
\tc077  M105 Optical Mouse
\tc52b  Unifying Receiver
\t\t0000  some interface
0781  SanDisk Corp.
\t5567  Cruzer Blade\r
0bda  Realtek Semiconductor Corp.
\t8179  RTL8188EUS 802.11n Wireless Network Adapter
\tzzzz  broken product line
garbage line at column zero
\t1234  product after garbage
ffee  FNK Tech

C 00  (Defined at Interface level)
C 03  Human Interface Device
\t01  Boot Interface Subclass
\t\t01  Keyboard
AT 0100  USB Undefined
HID 00  Undefined
\t0c52  product-looking line in another section
R 00  Not Specified
L 0001  Arabic
\t0001  Saudi Arabia
VT 0000  Undefined
";

    #[test]
    fn vendors_and_products() {
        let ids = UsbIds::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(ids.len(), 4);
        assert_eq!(ids.vendor(0x046d), Some("Logitech, Inc."));
        assert_eq!(ids.product(0x046d, 0xc52b), Some("Unifying Receiver"));
        assert_eq!(ids.product(0x0781, 0x5567), Some("Cruzer Blade"));
        assert_eq!(ids.vendor(0xffee), Some("FNK Tech"));
        assert_eq!(
            ids.product(0x046d, 0x0000),
            None,
            "interface lines are not products"
        );
        assert_eq!(
            ids.product(0x0bda, 0x1234),
            None,
            "garbage ends the vendor's products"
        );
        assert_eq!(ids.vendor(0x0c52), None);
        assert_eq!(ids.vendor(0x0001), None);
        assert_eq!(
            ids.product(0xffee, 0x0001),
            None,
            "other sections don't leak into vendors"
        );
    }

    #[test]
    fn filter_keeps_only_wanted_vendors() {
        let ids = UsbIds::parse_filtered(SAMPLE.as_bytes(), |v| v == 0x0bda).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(
            ids.product(0x0bda, 0x8179),
            Some("RTL8188EUS 802.11n Wireless Network Adapter")
        );
        assert_eq!(ids.vendor(0x046d), None);
    }

    #[test]
    fn invalid_utf8_and_missing_file_tolerated() {
        let mut bytes = b"1234  Caf\xe9 Corp\n\tabcd  Th\xffing\n".to_vec();
        bytes.extend_from_slice(b"5678  Fine\n");
        let ids = UsbIds::parse(&bytes[..]).unwrap();
        assert_eq!(ids.vendor(0x1234), Some("Caf\u{fffd} Corp"));
        assert_eq!(ids.product(0x1234, 0xabcd), Some("Th\u{fffd}ing"));
        assert_eq!(ids.vendor(0x5678), Some("Fine"));
        let dir = tempfile::tempdir().unwrap();
        assert!(UsbIds::load_filtered(&dir.path().join("none"), |_| true)
            .unwrap()
            .is_empty());
        assert_eq!(find_ids_file(dir.path()), None);
    }

    #[test]
    fn system_file_parses_when_present() {
        // Only a sanity check on the real file: the fixture tests above carry the exact assertions.
        let Some(path) = find_ids_file(Path::new("/")) else {
            return;
        };
        let ids = UsbIds::load_filtered(&path, |_| true).unwrap();
        assert!(ids.len() > 1000, "{} vendors in {}", ids.len(), path.display());
        assert_eq!(ids.vendor(0x1d6b), Some("Linux Foundation"));
    }
}
