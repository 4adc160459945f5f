//! Host USB devices: enumeration (sysfs + `usb.ids`), selection, permissions, auto-attach rules,
//! live plug events, and the QEMU `usb-host` arguments.
//!
//! Everything reads under an injectable root (`/` in production) so it can run on fixture trees:
//!
//! ```text
//!  sysfs    UsbReader::list()          <root>/sys/bus/usb/devices/* -> Vec<UsbDevice>
//!  ids      UsbIds                     <root>/usr/share/{misc,hwdata}/usb.ids names
//!  select   Selector ("046d:c52b", "1-2.4", "1:5") -> one device, or a clear error
//!  access   AccessChecker              can we open /dev/bus/usb/BBB/DDD read-write? the udev fix
//!  rules    matching(rules, devices)   a VM's [[usb.rule]]s against what is plugged in
//!  monitor  UsbMonitor                 inotify on <root>/dev/bus/usb -> Added / Removed
//!  qemu     usb_host_device_props()    device_add usb-host by bus+addr or by fd; errors explained
//! ```

pub mod access;
pub mod device;
pub mod error;
pub mod ids;
pub mod monitor;
pub mod qemu;
pub mod rules;
pub mod select;
pub mod sysfs;

#[cfg(test)]
mod testutil;

pub use access::{AccessChecker, AccessError, AccessFix, AccessProblem, Identity, Missing};
pub use device::{PortPath, UsbDevice, UsbInterface, UsbKind, UsbSpeed};
pub use error::UsbError;
pub use ids::UsbIds;
pub use monitor::{MonitorError, UsbEvent, UsbMonitor};
pub use qemu::{explain_device_add_error, usb_host_device_props, usb_host_id, AttachError, Via, XHCI_BUS};
pub use rules::{matching, rule_for, rule_matches, RuleBy, RuleMatch};
pub use select::{SelectError, Selector};
pub use sysfs::UsbReader;
