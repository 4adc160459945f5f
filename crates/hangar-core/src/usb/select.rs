//! Device selectors as the CLI takes them: `vendor:product` (hex), `bus-port` or `bus:address`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::device::{parse_decimal, parse_hex4, PortPath, UsbDevice};

/// Which host device a command means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `046d:c52b`: four hex digits each side.
    Id { vendor: u16, product: u16 },
    /// `1-2.4`: the physical port.
    Port(PortPath),
    /// `1:5`: bus and device address in decimal (the address changes on every plug-in).
    BusAddr { bus: u16, addr: u16 },
}

const SYNTAX_HELP: &str = "use vendor:product in hex (046d:c52b), a port bus-port (1-2.4) \
     or bus:address in decimal (1:5); the host USB device list shows all three";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectError {
    #[error("{input:?} is not a USB device selector: {SYNTAX_HELP}")]
    Syntax { input: String },

    #[error("no plugged-in USB device matches {selector}; {}", available_text(.available))]
    NotFound {
        selector: String,
        /// Summaries of the devices that are plugged in (hubs left out).
        available: Vec<String>,
    },

    #[error(
        "{} USB devices match {selector}: {}; choose one by its port instead, e.g. {}",
        .candidates.len(),
        .candidates.join("; "),
        .ports.first().map(String::as_str).unwrap_or("1-2")
    )]
    Ambiguous {
        selector: String,
        /// Summaries of the matching devices.
        candidates: Vec<String>,
        /// Their ports (`1-2.1`), in the same order.
        ports: Vec<String>,
    },

    #[error(
        "{summary} is a USB hub: a hub cannot be given to a VM; select a device plugged into it instead"
    )]
    IsHub { summary: String },
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        "no USB devices (other than hubs) are plugged in".to_string()
    } else {
        format!("plugged in: {}", available.join("; "))
    }
}

impl FromStr for Selector {
    type Err = SelectError;

    fn from_str(s: &str) -> Result<Selector, SelectError> {
        let input = s.trim();
        let syntax = || SelectError::Syntax { input: s.to_string() };
        if input.contains('-') {
            return PortPath::parse(input).map(Selector::Port).ok_or_else(syntax);
        }
        let (a, b) = input.split_once(':').ok_or_else(syntax)?;
        if let (Some(vendor), Some(product)) = (parse_hex4(a), parse_hex4(b)) {
            return Ok(Selector::Id { vendor, product });
        }
        // Bus numbers and addresses are at most three decimal digits (addresses 1-127).
        match (parse_decimal::<u16>(a), parse_decimal::<u16>(b)) {
            (Some(bus), Some(addr)) if a.len() <= 3 && b.len() <= 3 && bus > 0 && addr > 0 => {
                Ok(Selector::BusAddr { bus, addr })
            }
            _ => Err(syntax()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Id { vendor, product } => write!(f, "{vendor:04x}:{product:04x}"),
            Selector::Port(p) => write!(f, "port {p}"),
            Selector::BusAddr { bus, addr } => write!(f, "bus {bus} address {addr}"),
        }
    }
}

impl Selector {
    pub fn matches(&self, dev: &UsbDevice) -> bool {
        match self {
            Selector::Id { vendor, product } => dev.vendor_id == *vendor && dev.product_id == *product,
            Selector::Port(p) => dev.port.as_ref() == Some(p),
            Selector::BusAddr { bus, addr } => dev.bus == *bus && dev.devnum == *addr,
        }
    }

    /// The one device this selector means. Several devices with the same `vendor:product` are
    /// an error that lists them and asks for a port.
    pub fn resolve<'a>(&self, devices: &'a [UsbDevice]) -> Result<&'a UsbDevice, SelectError> {
        let found: Vec<&UsbDevice> = devices.iter().filter(|d| self.matches(d)).collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(SelectError::NotFound {
                selector: self.to_string(),
                available: devices
                    .iter()
                    .filter(|d| !d.is_hub())
                    .map(UsbDevice::summary)
                    .collect(),
            }),
            many => Err(SelectError::Ambiguous {
                selector: self.to_string(),
                candidates: many.iter().map(|d| d.summary()).collect(),
                ports: many.iter().map(|d| d.location()).collect(),
            }),
        }
    }

    /// Like [`Selector::resolve`], and refuses hubs, which cannot be passed through.
    pub fn resolve_for_passthrough<'a>(
        &self,
        devices: &'a [UsbDevice],
    ) -> Result<&'a UsbDevice, SelectError> {
        let dev = self.resolve(devices)?;
        if dev.is_hub() {
            return Err(SelectError::IsHub {
                summary: dev.summary(),
            });
        }
        Ok(dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usb::testutil::fixture_devices;

    fn sel(s: &str) -> Selector {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            sel("046d:C52B"),
            Selector::Id {
                vendor: 0x046d,
                product: 0xc52b
            }
        );
        assert_eq!(sel("1-2.4"), Selector::Port(PortPath::parse("1-2.4").unwrap()));
        assert_eq!(sel(" 1:5 "), Selector::BusAddr { bus: 1, addr: 5 });
        assert_eq!(sel("003:012"), Selector::BusAddr { bus: 3, addr: 12 });
        // Four decimal digits each side are hex ids, not a bus address.
        assert_eq!(
            sel("1234:5678"),
            Selector::Id {
                vendor: 0x1234,
                product: 0x5678
            }
        );
        for bad in [
            "", "046d", "046d:c52", "046dc52b", "1-", "1-2:1.0", "0:5", "1:0", "1:", "x:y", "1:2:3",
            "1234:56",
        ] {
            let err = bad.parse::<Selector>().unwrap_err();
            assert!(matches!(err, SelectError::Syntax { .. }), "{bad:?}: {err:?}");
            assert!(err.to_string().contains("vendor:product"), "{err}");
        }
        assert_eq!(sel("046d:c52b").to_string(), "046d:c52b");
        assert_eq!(sel("1-2.4").to_string(), "port 1-2.4");
        assert_eq!(sel("1:5").to_string(), "bus 1 address 5");
    }

    #[test]
    fn resolves_unique_devices() {
        let devices = fixture_devices("desk");
        assert_eq!(sel("0781:5567").resolve(&devices).unwrap().sysname, "1-2.4");
        assert_eq!(sel("1-2.1").resolve(&devices).unwrap().devnum, 5);
        assert_eq!(sel("1:8").resolve(&devices).unwrap().sysname, "1-6");
        assert_eq!(sel("2:2").resolve(&devices).unwrap().sysname, "2-1");
    }

    #[test]
    fn ambiguous_ids_list_candidates_and_ask_for_a_port() {
        let devices = fixture_devices("desk");
        let err = sel("046d:c52b").resolve(&devices).unwrap_err();
        let SelectError::Ambiguous {
            candidates, ports, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(ports, &["1-2.1", "1-6"]);
        assert_eq!(candidates.len(), 2);
        let text = err.to_string();
        assert!(
            text.starts_with(
                "2 USB devices match 046d:c52b: 1-2.1 046d:c52b Logitech USB Receiver (bus 1 address 5)"
            ),
            "{text}"
        );
        assert!(
            text.contains("choose one by its port instead, e.g. 1-2.1"),
            "{text}"
        );
        // The port form then picks exactly one.
        assert_eq!(sel(&ports[1]).resolve(&devices).unwrap().devnum, 8);
    }

    #[test]
    fn not_found_lists_what_is_plugged_in() {
        let devices = fixture_devices("desk");
        let err = sel("1:99").resolve(&devices).unwrap_err();
        let SelectError::NotFound { available, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(available.len(), 8, "hubs are left out: {available:?}");
        assert!(err
            .to_string()
            .starts_with("no plugged-in USB device matches bus 1 address 99; plugged in: 1-2.1"));
        let err = sel("dead:beef").resolve(&[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("no USB devices (other than hubs) are plugged in"),
            "{err}"
        );
    }

    #[test]
    fn hubs_are_refused_for_passthrough() {
        let devices = fixture_devices("desk");
        assert!(sel("1:1").resolve(&devices).is_ok());
        let err = sel("1:1").resolve_for_passthrough(&devices).unwrap_err();
        assert!(matches!(err, SelectError::IsHub { .. }));
        assert!(err.to_string().contains("usb1 1d6b:0002"), "{err}");
        assert!(sel("1-2").resolve_for_passthrough(&devices).is_err());
        assert!(sel("1-2.4").resolve_for_passthrough(&devices).is_ok());
    }
}
