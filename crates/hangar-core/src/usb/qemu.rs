//! QEMU side of USB passthrough (pure): `device_add usb-host` arguments and QEMU's errors in
//! Hangar's words.
//!
//! Devices are only ever named by bus+address or by an opened file descriptor. QEMU answers
//! `device_add` with success for a `vendorid`/`productid` pair that is not plugged in and silently
//! waits for it, so that form would let Hangar call an absent device attached; it is never built.

use serde_json::{json, Value};
use thiserror::Error;

use super::access::{udev_rule, UDEV_RELOAD, UDEV_RULES_FILE};
use super::device::{devnode_path, parse_decimal, UsbDevice};

/// The bus of the VM's `qemu-xhci` controller (the controller's id is `xhci`).
pub const XHCI_BUS: &str = "xhci.0";

/// How QEMU reaches the host device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `hostbus` + `hostaddr`: QEMU opens `/dev/bus/usb/BBB/DDD` itself.
    BusAddr,
    /// `hostdevice=/dev/fdset/N`: an fd Hangar opened and passed with `add-fd`.
    Fd { fdset: u32 },
}

/// QEMU device id for a host device: `usb-<bus>-<port>` (`usb-1-2.4`), stable for a physical port
/// across replugs, so a VM can tell "the device in that socket" from its device list.
pub fn usb_host_id(dev: &UsbDevice) -> String {
    format!("usb-{}", dev.location())
}

/// Arguments of `device_add` for passing `dev` through as `id` on [`XHCI_BUS`].
pub fn usb_host_device_props(dev: &UsbDevice, id: &str, via: Via) -> Vec<(String, Value)> {
    let mut props = vec![
        ("driver".to_string(), json!("usb-host")),
        ("id".to_string(), json!(id)),
        ("bus".to_string(), json!(XHCI_BUS)),
    ];
    match via {
        Via::BusAddr => {
            props.push(("hostbus".to_string(), json!(dev.bus)));
            props.push(("hostaddr".to_string(), json!(dev.devnum)));
        }
        Via::Fd { fdset } => props.push(("hostdevice".to_string(), json!(format!("/dev/fdset/{fdset}")))),
    }
    props
}

/// A failed `device_add usb-host`, explained.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttachError {
    #[error(
        "the device on bus {bus} address {addr} is no longer plugged in; plug it in again and choose it \
         from the refreshed list (its address changes with every plug-in)"
    )]
    Gone { bus: u16, addr: u16 },

    #[error(
        "QEMU could not open {node} ({reason}): QEMU runs as your user, which needs read and write \
         permission on the device node. {fix}"
    )]
    NodeDenied {
        node: String,
        reason: String,
        fix: String,
    },

    #[error(
        "QEMU found the device on bus {bus} address {addr} but could not open it: your user most likely \
         lacks read and write permission on {node}, or another program holds it. {fix}"
    )]
    OpenFailed {
        bus: u16,
        addr: u16,
        node: String,
        fix: String,
    },

    #[error(
        "QEMU could not use the file descriptor Hangar passed for the device ({detail}); attach the \
         device again, and report this if it repeats"
    )]
    FdSet { detail: String },

    #[error("this VM has no USB controller: turn on usb.controller in its settings, then restart it")]
    NoController,

    #[error("a device with id {id} is already attached to this VM; detach it first")]
    Duplicate { id: String },

    #[error(
        "this QEMU was built without USB passthrough (no usb-host device); install a QEMU with \
         libusb support (on Debian: qemu-system-x86)"
    )]
    NoLibusb,

    #[error("QEMU refused the USB device: {0}")]
    Other(String),
}

/// How to grant access, with the exact udev line when the device is known.
fn fix_text(node: &str, dev: Option<&UsbDevice>) -> String {
    let rule = match dev {
        Some(d) => format!(
            "To allow this device for good, add this line to {UDEV_RULES_FILE}:\n    {}\nthen run: {UDEV_RELOAD}\n",
            udev_rule(d.vendor_id, d.product_id)
        ),
        None => format!(
            "To allow it for good, add a udev rule for the device with TAG+=\"uaccess\" to \
             {UDEV_RULES_FILE}, then run: {UDEV_RELOAD}\n"
        ),
    };
    format!("{rule}Or, until it is unplugged: sudo setfacl -m u:$USER:rw {node}")
}

/// `"B:A"` → (B, A).
fn bus_addr(s: &str) -> Option<(u16, u16)> {
    let (b, a) = s.trim().split_once(':')?;
    Some((parse_decimal(b)?, parse_decimal(a)?))
}

/// The text after `prefix` in `message` (QMP clients may put their own words in front).
fn after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.find(prefix).map(|i| message[i + prefix.len()..].trim())
}

/// Turns QEMU's `device_add usb-host` error into an [`AttachError`]. `dev`, when known, is the device
/// that was being attached (it lets the permission advice name the exact udev rule).
pub fn explain_device_add_error(message: &str, dev: Option<&UsbDevice>) -> AttachError {
    if let Some((bus, addr)) = after(message, "failed to find host usb device ").and_then(bus_addr) {
        return AttachError::Gone { bus, addr };
    }
    if let Some(rest) = after(message, "failed to open host usb device ") {
        if let Some((bus, addr)) = bus_addr(rest) {
            let node = devnode_path(std::path::Path::new("/"), bus, addr)
                .display()
                .to_string();
            let fix = fix_text(&node, dev);
            return AttachError::OpenFailed { bus, addr, node, fix };
        }
        // libusb could not use the fd we passed (it is not a USB device node).
        return AttachError::FdSet {
            detail: rest.to_string(),
        };
    }
    if let Some(rest) = after(message, "failed to open ") {
        let (path, reason) = rest.split_once(": ").unwrap_or((rest, "error"));
        if path.starts_with("/dev/fdset/") {
            return AttachError::FdSet {
                detail: rest.to_string(),
            };
        }
        if reason.contains("No such file or directory") || reason.contains("No such device") {
            if let Some(d) = dev {
                return AttachError::Gone {
                    bus: d.bus,
                    addr: d.devnum,
                };
            }
        }
        return AttachError::NodeDenied {
            node: path.to_string(),
            reason: reason.to_string(),
            fix: fix_text(path, dev),
        };
    }
    if message.contains("No 'usb-bus' bus found") || message.contains(&format!("Bus '{XHCI_BUS}' not found"))
    {
        return AttachError::NoController;
    }
    if let Some(rest) = after(message, "Duplicate device ID '") {
        let id = rest.split('\'').next().unwrap_or(rest);
        return AttachError::Duplicate { id: id.to_string() };
    }
    if message.contains("'usb-host' is not a valid device model name") {
        return AttachError::NoLibusb;
    }
    AttachError::Other(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usb::testutil::{by_name, fixture_devices};

    fn props_json(p: Vec<(String, Value)>) -> Value {
        Value::Object(p.into_iter().collect())
    }

    #[test]
    fn ids_follow_the_physical_port() {
        let devices = fixture_devices("desk");
        let stick = by_name(&devices, "1-2.4");
        assert_eq!(usb_host_id(stick), "usb-1-2.4");
        let mut replugged = stick.clone();
        replugged.devnum = 23;
        assert_eq!(usb_host_id(&replugged), "usb-1-2.4");
        assert_eq!(usb_host_id(by_name(&devices, "2-1")), "usb-2-1");
    }

    #[test]
    fn device_add_arguments() {
        let devices = fixture_devices("desk");
        let stick = by_name(&devices, "1-2.4");
        let by_addr = usb_host_device_props(stick, "usb-1-2.4", Via::BusAddr);
        assert_eq!(by_addr[0], ("driver".to_string(), json!("usb-host")));
        assert_eq!(
            props_json(by_addr),
            json!({"driver": "usb-host", "id": "usb-1-2.4", "bus": "xhci.0", "hostbus": 1, "hostaddr": 7})
        );
        let by_fd = usb_host_device_props(stick, "usb-1-2.4", Via::Fd { fdset: 3 });
        assert_eq!(
            props_json(by_fd.clone()),
            json!({"driver": "usb-host", "id": "usb-1-2.4", "bus": "xhci.0", "hostdevice": "/dev/fdset/3"})
        );
        for (k, _) in &by_fd {
            assert!(
                !["vendorid", "productid", "hostport"].contains(&k.as_str()),
                "{k}"
            );
        }
    }

    #[test]
    fn gone_device() {
        let e = explain_device_add_error("failed to find host usb device 1:9", None);
        assert_eq!(e, AttachError::Gone { bus: 1, addr: 9 });
        assert!(e
            .to_string()
            .starts_with("the device on bus 1 address 9 is no longer plugged in"));
        // A client prefix is tolerated.
        let e = explain_device_add_error("QMP device_add: failed to find host usb device 12:104", None);
        assert_eq!(e, AttachError::Gone { bus: 12, addr: 104 });
    }

    #[test]
    fn permission_errors_explain_the_fix() {
        let devices = fixture_devices("desk");
        let receiver = by_name(&devices, "1-2.1");
        let e = explain_device_add_error(
            "failed to open /dev/bus/usb/001/005: Permission denied",
            Some(receiver),
        );
        let AttachError::NodeDenied { node, reason, fix } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(
            (node.as_str(), reason.as_str()),
            ("/dev/bus/usb/001/005", "Permission denied")
        );
        assert!(fix.contains(r#"ATTRS{idVendor}=="046d", ATTRS{idProduct}=="c52b", TAG+="uaccess""#));
        let text = e.to_string();
        assert!(
            text.starts_with("QEMU could not open /dev/bus/usb/001/005 (Permission denied)"),
            "{text}"
        );
        assert!(text.contains("/etc/udev/rules.d/70-hangar-usb.rules"), "{text}");
        assert!(
            text.ends_with("sudo setfacl -m u:$USER:rw /dev/bus/usb/001/005"),
            "{text}"
        );

        let e = explain_device_add_error("failed to open host usb device 1:5", None);
        let AttachError::OpenFailed { node, fix, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(node, "/dev/bus/usb/001/005");
        assert!(fix.contains("TAG+=\"uaccess\""));
        assert!(e.to_string().contains("bus 1 address 5"));
    }

    #[test]
    fn other_errors() {
        let devices = fixture_devices("desk");
        let stick = by_name(&devices, "1-2.4");
        assert_eq!(
            explain_device_add_error(
                "failed to open /dev/bus/usb/001/007: No such file or directory",
                Some(stick)
            ),
            AttachError::Gone { bus: 1, addr: 7 }
        );
        assert!(matches!(
            explain_device_add_error("failed to open /dev/fdset/4: No such file or directory", None),
            AttachError::FdSet { .. }
        ));
        assert!(matches!(
            explain_device_add_error("failed to open host usb device /dev/fdset/4", None),
            AttachError::FdSet { .. }
        ));
        assert_eq!(
            explain_device_add_error("No 'usb-bus' bus found for device 'usb-host'", None),
            AttachError::NoController
        );
        assert_eq!(
            explain_device_add_error("Bus 'xhci.0' not found", None),
            AttachError::NoController
        );
        assert_eq!(
            explain_device_add_error("Duplicate device ID 'usb-1-2.4' for device", None),
            AttachError::Duplicate {
                id: "usb-1-2.4".into()
            }
        );
        assert_eq!(
            explain_device_add_error("'usb-host' is not a valid device model name", None),
            AttachError::NoLibusb
        );
        assert_eq!(
            explain_device_add_error("hostaddr out of range", None),
            AttachError::Other("hostaddr out of range".into())
        );
    }
}
