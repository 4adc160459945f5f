//! What can go wrong when passing host USB devices to VMs, each with what to do about it.

use std::path::PathBuf;

use thiserror::Error;

use crate::manager::ManagerError;
use crate::usb::{AccessError, AttachError, MonitorError, SelectError};

#[derive(Debug, Error)]
pub enum PassthroughError {
    /// No `<root>/sys/bus/usb`: nothing to list or pass through.
    #[error(
        "this computer has no USB bus ({} does not exist): the kernel has no USB support or sysfs is \
         not mounted, so there are no host USB devices to pass through",
        path.display()
    )]
    NoBus { path: PathBuf },

    /// Reading sysfs failed for another reason.
    #[error(transparent)]
    Read(crate::usb::UsbError),

    /// The selector matched nothing, several devices, or a hub.
    #[error(transparent)]
    Select(#[from] SelectError),

    /// The device node cannot be opened: [`AccessError::Denied`] carries the node's owner, mode and
    /// the exact udev rule; [`AccessError::Gone`] means it was unplugged.
    #[error(transparent)]
    Access(#[from] AccessError),

    /// QEMU refused the device; its error in Hangar's words.
    #[error("VM {vm:?}: {source}")]
    Qemu {
        vm: String,
        #[source]
        source: AttachError,
    },

    /// One device, one VM.
    #[error(
        "{device} is already attached to VM {other:?}; detach it there first \
         (hangarctl usb detach {other} {id})"
    )]
    InUse {
        device: String,
        other: String,
        id: String,
    },

    #[error("{device} is already attached to VM {vm:?} (as {id})")]
    AlreadyAttached { device: String, vm: String, id: String },

    #[error("VM {vm:?} has no device {id:?}; {}", attached_text(.attached))]
    NotAttached {
        vm: String,
        id: String,
        /// Ids of the USB devices it has.
        attached: Vec<String>,
    },

    #[error(
        "VM {vm:?} did not confirm the removal of {id} within {seconds} s (no DEVICE_DELETED event); \
         the guest may be busy: check `hangarctl usb list`, and retry the detach"
    )]
    DetachTimeout { vm: String, id: String, seconds: u64 },

    /// Live plug events are unavailable (e.g. no USB bus on this computer).
    #[error(transparent)]
    Monitor(#[from] MonitorError),

    /// Everything the manager itself reports (VM not running, QMP connection, config, …).
    #[error(transparent)]
    Manager(#[from] ManagerError),
}

fn attached_text(ids: &[String]) -> String {
    if ids.is_empty() {
        "it has no USB devices attached".to_string()
    } else {
        format!("its USB devices are: {}", ids.join(", "))
    }
}

impl From<crate::usb::UsbError> for PassthroughError {
    fn from(e: crate::usb::UsbError) -> Self {
        match e {
            crate::usb::UsbError::NoBus { path } => PassthroughError::NoBus { path },
            other => PassthroughError::Read(other),
        }
    }
}

impl PassthroughError {
    /// True when the computer has no USB bus at all (the app then shows "no USB bus").
    pub fn is_no_bus(&self) -> bool {
        matches!(
            self,
            PassthroughError::NoBus { .. } | PassthroughError::Monitor(MonitorError::Unavailable(_))
        )
    }
}
