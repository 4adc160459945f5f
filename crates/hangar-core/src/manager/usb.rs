//! Host USB passthrough on running VMs: list host devices, attach, detach, what is attached,
//! automatic attachment by a VM's `usb.rules` and on plug-in.
//!
//! ```text
//!  usb_attach(vm, dev)   refuse hubs / devices another running VM has
//!    open /dev/bus/usb/BBB/DDD read-write      (AccessProblem with the udev rule if we cannot)
//!    add-fd (SCM_RIGHTS, opaque label)         QEMU itself needs no access to the node
//!    device_add usb-host hostdevice=/dev/fdset/N, id usb-<port>, bus xhci.0
//!    error -> remove-fd, explain_device_add_error
//!  usb_detach(vm, id)    subscribe, device_del, wait for DEVICE_DELETED, remove-fd
//!  usb_attached(vm)      qom-list /machine/peripheral + qom-get + query-fdsets labels
//! ```
//!
//! Devices are never added by vendor:product: QEMU accepts that form for absent devices.
//! Host devices are read under an injectable root ([`Manager::with_usb_root`], `/` by default).

mod attached;
mod auto;
mod error;

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};

pub use attached::{find_attached, AttachedUsb};
pub use auto::{RuleAttempt, UsbWatch};
pub use error::PassthroughError;

use super::{Event, Manager, ManagerError};
use crate::qmp::qapi_qmp;
use crate::qmp::{Qmp, QmpError, QmpEvent};
use crate::usb::{
    explain_device_add_error, usb_host_device_props, usb_host_id, AccessChecker, Identity, SelectError,
    UsbDevice, UsbReader, Via,
};

/// How long a detach waits for QEMU's DEVICE_DELETED.
pub const USB_DETACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where host USB devices are read from and whose permissions count.
#[derive(Debug, Clone)]
pub(super) struct UsbSetup {
    root: PathBuf,
    identity: Identity,
}

impl Default for UsbSetup {
    fn default() -> Self {
        UsbSetup {
            root: PathBuf::from("/"),
            identity: Identity::Current,
        }
    }
}

/// How QEMU gets hold of the host device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttachBy {
    /// Hangar opens the device node and passes the descriptor (`add-fd`); QEMU needs no access
    /// to `/dev/bus/usb`. The default.
    #[default]
    Fd,
    /// QEMU opens `/dev/bus/usb/BBB/DDD` itself (`hostbus` + `hostaddr`).
    BusAddr,
}

impl Manager {
    /// Read host USB devices under `root` instead of `/` (fixture trees, `HANGAR_USB_ROOT`).
    /// Applies to every clone of this handle (they share one manager).
    pub fn with_usb_root(self, root: impl Into<PathBuf>) -> Manager {
        self.usb_setup_mut(|s| s.root = root.into());
        self
    }

    /// Judge device node permissions for `who` instead of this process (tests; root opens anything).
    pub fn with_usb_identity(self, who: Identity) -> Manager {
        self.usb_setup_mut(|s| s.identity = who);
        self
    }

    fn usb_setup_mut(&self, f: impl FnOnce(&mut UsbSetup)) {
        f(&mut self.inner.usb.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn usb_setup(&self) -> UsbSetup {
        self.inner.usb.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The root host USB devices are read under (`/` in production).
    pub fn usb_root(&self) -> PathBuf {
        self.usb_setup().root
    }

    /// Reader of the host's USB devices.
    pub fn usb_reader(&self) -> UsbReader {
        UsbReader::new(self.usb_root())
    }

    /// Permission checks for device nodes.
    pub fn usb_access(&self) -> AccessChecker {
        let setup = self.usb_setup();
        AccessChecker::for_identity(setup.root, setup.identity)
    }

    /// Every host USB device (root hubs included), sorted by bus and port.
    pub fn usb_devices(&self) -> Result<Vec<UsbDevice>, PassthroughError> {
        Ok(self.usb_reader().list()?)
    }

    /// Pass host device `dev` through to running VM `vm` (by file descriptor).
    pub async fn usb_attach(&self, vm: &str, dev: &UsbDevice) -> Result<AttachedUsb, PassthroughError> {
        self.usb_attach_by(vm, dev, AttachBy::Fd).await
    }

    /// [`Manager::usb_attach`] choosing how QEMU reaches the device.
    pub async fn usb_attach_by(
        &self,
        vm: &str,
        dev: &UsbDevice,
        by: AttachBy,
    ) -> Result<AttachedUsb, PassthroughError> {
        if dev.is_hub() {
            return Err(SelectError::IsHub {
                summary: dev.summary(),
            }
            .into());
        }
        self.require_running(vm)?;
        let id = usb_host_id(dev);
        // One device, one VM. A VM that does not answer cannot be asked; it is skipped (logged).
        for other in self.running_vm_names().into_iter().filter(|n| n != vm) {
            let theirs = match self.usb_attached(&other).await {
                Ok(list) => list,
                Err(e) => {
                    tracing::warn!(vm = other, "cannot list its USB devices: {e}");
                    continue;
                }
            };
            if let Some(a) = theirs.into_iter().find(|a| a.is_device(dev)) {
                return Err(PassthroughError::InUse {
                    device: dev.summary(),
                    other,
                    id: a.id,
                });
            }
        }
        // Open before talking to QEMU: a permission problem never reaches the VM.
        let fd = match by {
            AttachBy::Fd => Some(self.usb_access().open_for_passthrough(dev)?),
            AttachBy::BusAddr => None,
        };
        let qmp = self.control(vm).await?;
        let mine = attached::read_attached(&qmp, vm).await?;
        if let Some(a) = mine.iter().find(|a| a.id == id || a.is_device(dev)) {
            return Err(PassthroughError::AlreadyAttached {
                device: dev.summary(),
                vm: vm.to_string(),
                id: a.id.clone(),
            });
        }
        let fdset = match &fd {
            Some(fd) => {
                let cmd = qapi_qmp::add_fd {
                    fdset_id: None,
                    opaque: Some(attached::opaque_label(dev, &id)),
                };
                let info = qmp
                    .execute_with_fd(cmd, fd.as_fd())
                    .await
                    .map_err(ManagerError::qmp(vm))?;
                let set = u32::try_from(info.fdset_id).map_err(|_| {
                    ManagerError::Unsupported(format!(
                        "QEMU answered add-fd with an invalid fd set id {}; restart the VM and try again",
                        info.fdset_id
                    ))
                })?;
                Some(set)
            }
            None => None,
        };
        drop(fd);
        let via = fdset.map_or(Via::BusAddr, |fdset| Via::Fd { fdset });
        let props: Map<String, Value> = usb_host_device_props(dev, &id, via).into_iter().collect();
        let added = qmp
            .execute_raw(json!({"execute": "device_add", "arguments": props}))
            .await;
        if let Err(e) = added {
            if let Some(set) = fdset {
                remove_fdset(&qmp, set).await;
            }
            return Err(match e {
                QmpError::Command { desc, .. } => PassthroughError::Qemu {
                    vm: vm.to_string(),
                    source: explain_device_add_error(&desc, Some(dev)),
                },
                other => ManagerError::qmp(vm)(other).into(),
            });
        }
        tracing::info!(vm, id, device = %dev.summary(), "USB device attached");
        self.emit(Event::UsbAttached {
            name: vm.to_string(),
            id: id.clone(),
        });
        Ok(AttachedUsb {
            id,
            bus: Some(dev.bus),
            addr: Some(dev.devnum),
            port: dev.port.clone(),
            vendor_id: Some(dev.vendor_id),
            product_id: Some(dev.product_id),
            fdset,
        })
    }

    /// Remove device `id` from running VM `vm`; returns once QEMU reports it deleted. Works for
    /// any device with an id (host devices and emulated ones alike). A host device's fd set is
    /// removed afterwards.
    pub async fn usb_detach(&self, vm: &str, id: &str) -> Result<(), PassthroughError> {
        self.require_running(vm)?;
        let qmp = self.control(vm).await?;
        let peripherals = attached::peripherals(&qmp, vm).await?;
        let not_attached = || PassthroughError::NotAttached {
            vm: vm.to_string(),
            id: id.to_string(),
            attached: peripherals
                .iter()
                .filter(|(_, ty)| ty.starts_with("usb-"))
                .map(|(p, _)| p.clone())
                .collect(),
        };
        let Some((_, ty)) = peripherals.iter().find(|(p, _)| p == id) else {
            return Err(not_attached());
        };
        let fdset = if ty == "usb-host" {
            attached::read_attached(&qmp, vm)
                .await?
                .into_iter()
                .find(|a| a.id == id)
                .and_then(|a| a.fdset)
        } else {
            None
        };
        let mut events = qmp.subscribe();
        match qmp.execute(qapi_qmp::device_del { id: id.to_string() }).await {
            Ok(_) => {}
            Err(QmpError::Command { desc, .. }) if desc.contains("not found") => return Err(not_attached()),
            Err(e) => return Err(ManagerError::qmp(vm)(e).into()),
        }
        let deleted =
            tokio::time::timeout(USB_DETACH_TIMEOUT, events.wait_for(|e| is_deletion_of(e, id))).await;
        match deleted {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ManagerError::qmp(vm)(qmp.close_error()).into()),
            Err(_) => {
                return Err(PassthroughError::DetachTimeout {
                    vm: vm.to_string(),
                    id: id.to_string(),
                    seconds: USB_DETACH_TIMEOUT.as_secs(),
                })
            }
        }
        if let Some(set) = fdset {
            remove_fdset(&qmp, set).await;
        }
        tracing::info!(vm, id, "USB device detached");
        self.emit(Event::UsbDetached {
            name: vm.to_string(),
            id: id.to_string(),
        });
        Ok(())
    }

    /// The host USB devices (`usb-host`) attached to running VM `vm`, as QEMU reports them.
    pub async fn usb_attached(&self, vm: &str) -> Result<Vec<AttachedUsb>, PassthroughError> {
        self.require_running(vm)?;
        let qmp = self.control(vm).await?;
        attached::read_attached(&qmp, vm).await
    }

    /// Host USB devices attached to any running VM, as `(vm, device)`. A VM that does not answer
    /// is left out (logged).
    pub async fn usb_attached_all(&self) -> Vec<(String, AttachedUsb)> {
        let mut out = vec![];
        for vm in self.running_vm_names() {
            match self.usb_attached(&vm).await {
                Ok(list) => out.extend(list.into_iter().map(|a| (vm.clone(), a))),
                Err(e) => tracing::warn!(vm, "cannot list its USB devices: {e}"),
            }
        }
        out
    }

    /// `device_add` with free-form properties (`driver`, `id`, `bus`, …), e.g. an emulated
    /// `usb-tablet` on `xhci.0`. Remove it again with [`Manager::usb_detach`].
    pub async fn device_add_raw(&self, vm: &str, props: Map<String, Value>) -> Result<(), PassthroughError> {
        self.require_running(vm)?;
        let qmp = self.control(vm).await?;
        qmp.execute_raw(json!({"execute": "device_add", "arguments": props}))
            .await
            .map_err(ManagerError::qmp(vm))?;
        Ok(())
    }

    /// Names of the VMs whose QEMU runs.
    pub(super) fn running_vm_names(&self) -> Vec<String> {
        match self.store().list() {
            Ok(list) => list
                .into_iter()
                .map(|e| e.name)
                .filter(|n| self.pid(n).is_some())
                .collect(),
            Err(e) => {
                tracing::warn!("cannot list VMs: {e}");
                vec![]
            }
        }
    }

    /// `NotRunning` for a VM that exists but is stopped; the store's error for one that does not.
    fn require_running(&self, vm: &str) -> Result<(), PassthroughError> {
        if self.pid(vm).is_some() {
            return Ok(());
        }
        self.store().load(vm).map_err(ManagerError::from)?;
        Err(ManagerError::NotRunning(vm.to_string()).into())
    }
}

/// Drops Hangar's fd set `set` from QEMU (QEMU frees it once no device uses it). QEMU may have
/// freed it already when the device let go of it; that is fine.
async fn remove_fdset(qmp: &Qmp, set: u32) {
    let cmd = qapi_qmp::remove_fd {
        fdset_id: i64::from(set),
        fd: None,
    };
    if let Err(e) = qmp.execute(cmd).await {
        tracing::debug!(fdset = set, "remove-fd: {e}");
    }
}

/// Whether `event` says the device `id` itself is gone. A composite device (usb-storage) first
/// reports its inner parts (`/machine/peripheral/<id>/<id>.0/legacy[0]`, no `device` field).
fn is_deletion_of(event: &QmpEvent, id: &str) -> bool {
    match event {
        QmpEvent::DeviceDeleted { device: Some(d), .. } => d == id,
        QmpEvent::DeviceDeleted { device: None, path } => {
            path.strip_prefix(attached::PERIPHERALS)
                .and_then(|rest| rest.strip_prefix('/'))
                == Some(id)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleted(device: Option<&str>, path: &str) -> QmpEvent {
        QmpEvent::DeviceDeleted {
            device: device.map(String::from),
            path: path.to_string(),
        }
    }

    #[test]
    fn deletion_events_match_the_device_itself() {
        let id = "usb-test-stick";
        // What QEMU 7.2 sends for a usb-storage, in this order.
        assert!(!is_deletion_of(
            &deleted(
                None,
                "/machine/peripheral/usb-test-stick/usb-test-stick.0/legacy[0]"
            ),
            id
        ));
        assert!(is_deletion_of(
            &deleted(Some(id), "/machine/peripheral/usb-test-stick"),
            id
        ));
        assert!(is_deletion_of(
            &deleted(None, "/machine/peripheral/usb-test-stick"),
            id
        ));
        assert!(!is_deletion_of(&deleted(Some("usb-test-stick2"), "/x"), id));
        assert!(!is_deletion_of(
            &deleted(None, "/machine/peripheral/usb-test-stick2"),
            id
        ));
        assert!(!is_deletion_of(&QmpEvent::Stop, id));
    }

    #[test]
    fn default_setup_reads_the_real_system() {
        let s = UsbSetup::default();
        assert_eq!(s.root, PathBuf::from("/"));
        assert_eq!(s.identity, Identity::Current);
    }
}
