//! Host USB devices as the details panel (`details/usb.rs`) and the console's USB menu
//! (`console/usb.rs`) both show them: what is plugged in and who has it, the labels of a
//! device row, the question before giving away the host's only keyboard, the udev-rule fix
//! for a device this user cannot open, and attach/detach with messages for toasts.
//!
//! Two mechanisms, always named so: **Passthrough (QEMU)** hands the host device itself to
//! QEMU (`device_add usb-host`, see `hangar_core::manager::usb`); **Redirected (SPICE)** sends
//! a device of the computer running the viewer over the SPICE connection
//! (`hangar_display::usbredir`).

mod widgets;

use hangar_core::manager::{AttachedUsb, Manager, PassthroughError};
use hangar_core::usb::{AccessError, AccessProblem, UsbDevice, UsbKind};

pub use widgets::{confirm_attach, fix_box, permission_text};

use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};

/// Heading of host-device passthrough.
pub fn passthrough_title() -> String {
    gettext("Passthrough (QEMU)")
}

/// Heading of SPICE USB redirection.
pub fn redirect_title() -> String {
    gettext("Redirected (SPICE)")
}

/// A host USB device that can be passed through, with why this user cannot open it (if so).
#[derive(Debug, Clone)]
pub struct HostUsb {
    pub device: UsbDevice,
    pub denied: Option<AccessProblem>,
    /// Other reason the device cannot be opened (unplugged meanwhile, I/O error).
    pub unusable: Option<String>,
}

/// The host's USB devices (hubs left out) and which VM has which.
#[derive(Debug, Clone, Default)]
pub struct UsbFacts {
    pub loaded: bool,
    pub devices: Vec<HostUsb>,
    /// The computer has no USB bus at all.
    pub no_bus: Option<String>,
    /// Listing failed for another reason.
    pub error: Option<String>,
    /// Host devices attached to this VM.
    pub attached: Vec<AttachedUsb>,
    /// Host devices attached to other running VMs, as `(vm, device)`.
    pub elsewhere: Vec<(String, AttachedUsb)>,
}

/// Reads the host's devices, their permissions, and what running VMs have attached.
pub async fn usb_facts(manager: Manager, name: String, running: bool) -> UsbFacts {
    let mut facts = UsbFacts {
        loaded: true,
        ..UsbFacts::default()
    };
    match manager.usb_devices() {
        Ok(devices) => {
            let access = manager.usb_access();
            for device in devices.into_iter().filter(|d| !d.is_hub()) {
                let (denied, unusable) = match access.check(&device) {
                    Ok(()) => (None, None),
                    Err(AccessError::Denied(problem)) => (Some(*problem), None),
                    Err(other) => (None, Some(other.to_string())),
                };
                facts.devices.push(HostUsb {
                    device,
                    denied,
                    unusable,
                });
            }
        }
        Err(e) if e.is_no_bus() => facts.no_bus = Some(e.to_string()),
        Err(e) => facts.error = Some(e.to_string()),
    }
    if facts.devices.is_empty() {
        return facts;
    }
    for (vm, a) in manager.usb_attached_all().await {
        if vm == name {
            facts.attached.push(a);
        } else {
            facts.elsewhere.push((vm, a));
        }
    }
    if !running {
        facts.attached.clear();
    }
    facts
}

impl UsbFacts {
    /// This VM's attachment of `dev`.
    pub fn attached_here(&self, dev: &UsbDevice) -> Option<&AttachedUsb> {
        self.attached.iter().find(|a| a.is_device(dev))
    }

    /// The other VM that has `dev`.
    pub fn attached_elsewhere(&self, dev: &UsbDevice) -> Option<&str> {
        self.elsewhere
            .iter()
            .find(|(_, a)| a.is_device(dev))
            .map(|(vm, _)| vm.as_str())
    }

    /// Whether attaching `dev` would leave this computer without a keyboard: it is one, and
    /// every other keyboard is already attached to a VM (or there is none).
    pub fn needs_confirmation(&self, dev: &UsbDevice) -> bool {
        let keyboard = |d: &UsbDevice| d.kinds().contains(&UsbKind::Keyboard);
        keyboard(dev)
            && !self.devices.iter().any(|h| {
                let d = &h.device;
                d.sysname != dev.sysname
                    && keyboard(d)
                    && self.attached_here(d).is_none()
                    && self.attached_elsewhere(d).is_none()
            })
    }

    /// What to say instead of (or above) the list, when anything: no bus, an error, loading,
    /// nothing plugged in.
    pub fn empty_note(&self) -> Option<String> {
        if let Some(no_bus) = &self.no_bus {
            tracing::debug!("no USB bus: {no_bus}");
            Some(gettext(
                "This computer has no USB bus, so there are no host USB devices to pass through.",
            ))
        } else if let Some(error) = &self.error {
            Some(i18n_f("The USB devices cannot be listed: {}", &[error]))
        } else if !self.loaded {
            Some(gettext("Looking for USB devices…"))
        } else if self.devices.is_empty() {
            Some(gettext("No USB device is plugged into this computer."))
        } else {
            None
        }
    }

    /// Second line of a device row: where it is, its id, and why it cannot be switched.
    pub fn subtitle(&self, host: &HostUsb) -> String {
        let dev = &host.device;
        let base = format!("{} · {}", dev.location(), dev.id());
        if let Some(vm) = self.attached_elsewhere(dev) {
            i18n_f("{} · attached to {}", &[&base, vm])
        } else if host.denied.is_some() {
            i18n_f("{} · no permission", &[&base])
        } else if host.unusable.is_some() {
            i18n_f("{} · cannot be opened", &[&base])
        } else {
            base
        }
    }
}

/// Why an attach failed: a permission problem (show its fix) or anything else (an error).
#[derive(Debug, Clone)]
pub enum AttachFailure {
    Denied(Box<AccessProblem>),
    Failed(UserError),
}

impl AttachFailure {
    /// Everything as one text (for a message beside a field).
    pub fn text(&self) -> String {
        match self {
            AttachFailure::Denied(p) => p.to_string(),
            AttachFailure::Failed(e) => e.details.clone(),
        }
    }
}

/// Attaches `dev` to running VM `vm`; `Ok` holds the text of a toast.
pub async fn attach(manager: &Manager, vm: &str, dev: &UsbDevice) -> Result<String, AttachFailure> {
    match manager.usb_attach(vm, dev).await {
        Ok(attached) => {
            tracing::info!(vm, id = attached.id, "USB device attached");
            Ok(i18n_f("{} attached", &[&dev.name()]))
        }
        Err(PassthroughError::Access(AccessError::Denied(problem))) => Err(AttachFailure::Denied(problem)),
        Err(e) => {
            tracing::info!(vm, device = %dev.summary(), "USB attach failed: {e}");
            Err(AttachFailure::Failed(UserError::from_error(
                i18n_f("Could not attach {}", &[&dev.name()]),
                &e,
            )))
        }
    }
}

/// Detaches device `id` from running VM `vm`; `Ok` holds the text of a toast.
pub async fn detach(manager: &Manager, vm: &str, id: &str) -> Result<String, UserError> {
    match manager.usb_detach(vm, id).await {
        Ok(()) => Ok(gettext("USB device detached")),
        Err(e) => Err(UserError::from_error(
            gettext("Could not detach the USB device"),
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_core::usb::UsbReader;
    use std::path::Path;

    fn fixture() -> Vec<HostUsb> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/usb/desk");
        UsbReader::new(root)
            .list()
            .expect("fixture")
            .into_iter()
            .filter(|d| !d.is_hub())
            .map(|device| HostUsb {
                device,
                denied: None,
                unusable: None,
            })
            .collect()
    }

    fn facts(devices: Vec<HostUsb>) -> UsbFacts {
        UsbFacts {
            loaded: true,
            devices,
            ..UsbFacts::default()
        }
    }

    fn dev<'a>(f: &'a UsbFacts, sysname: &str) -> &'a UsbDevice {
        &f.devices
            .iter()
            .find(|h| h.device.sysname == sysname)
            .expect(sysname)
            .device
    }

    fn attached(d: &UsbDevice) -> AttachedUsb {
        AttachedUsb {
            id: format!("usb-{}", d.sysname),
            bus: Some(d.bus),
            addr: Some(d.devnum),
            port: d.port.clone(),
            vendor_id: Some(d.vendor_id),
            product_id: Some(d.product_id),
            fdset: None,
        }
    }

    #[test]
    fn only_the_last_free_keyboard_asks_first() {
        let mut f = facts(fixture());
        // The desk has a keyboard (1-3) and two receivers with a keyboard interface.
        assert!(!f.needs_confirmation(dev(&f, "1-3")));
        assert!(!f.needs_confirmation(dev(&f, "1-4")), "a mouse never asks");
        let receivers = [dev(&f, "1-2.1").clone(), dev(&f, "1-6").clone()];
        f.attached.push(attached(&receivers[0]));
        assert!(
            !f.needs_confirmation(dev(&f, "1-3")),
            "one receiver is still free"
        );
        f.elsewhere.push(("other".into(), attached(&receivers[1])));
        assert!(
            f.needs_confirmation(dev(&f, "1-3")),
            "every other keyboard is taken"
        );
        assert!(!f.needs_confirmation(dev(&f, "2-1")), "a stick never asks");

        let alone = facts(
            fixture()
                .into_iter()
                .filter(|h| h.device.sysname == "1-3")
                .collect(),
        );
        assert!(alone.needs_confirmation(dev(&alone, "1-3")));
    }

    #[test]
    fn rows_say_who_has_the_device_and_why_it_cannot_be_switched() {
        let mut f = facts(fixture());
        let stick = dev(&f, "2-1").clone();
        let host = |f: &UsbFacts| {
            f.devices
                .iter()
                .find(|h| h.device.sysname == "2-1")
                .cloned()
                .unwrap()
        };
        assert_eq!(f.subtitle(&host(&f)), "2-1 · 0781:5581");
        f.elsewhere.push(("win".into(), attached(&stick)));
        assert_eq!(f.attached_elsewhere(&stick), Some("win"));
        assert!(f.attached_here(&stick).is_none());
        assert_eq!(f.subtitle(&host(&f)), "2-1 · 0781:5581 · attached to win");
        f.elsewhere.clear();
        let mut h = host(&f);
        h.unusable = Some("gone".into());
        assert_eq!(f.subtitle(&h), "2-1 · 0781:5581 · cannot be opened");
    }

    #[test]
    fn empty_states_in_order_of_importance() {
        let mut f = UsbFacts::default();
        assert_eq!(f.empty_note().as_deref(), Some("Looking for USB devices…"));
        f.loaded = true;
        assert_eq!(
            f.empty_note().as_deref(),
            Some("No USB device is plugged into this computer.")
        );
        f.error = Some("boom".into());
        assert_eq!(
            f.empty_note().as_deref(),
            Some("The USB devices cannot be listed: boom")
        );
        f.no_bus = Some("no /sys/bus/usb".into());
        assert!(f.empty_note().unwrap().contains("no USB bus"));
        assert!(facts(fixture()).empty_note().is_none());
    }
}
