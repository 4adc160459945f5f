//! Automatic attachment: a VM's `usb.rules` right after it starts, and live plug events while a
//! [`UsbWatch`] runs (plugged in → attached to the running VM whose rule matches; unplugged →
//! removed from the VM it was attached to).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::task::JoinHandle;

use super::error::PassthroughError;
use super::AttachedUsb;
use crate::config::UsbRule;
use crate::manager::{Event, Inner, Manager, ManagerError};
use crate::usb::{matching, rule_matches, PortPath, UsbDevice, UsbEvent, UsbMonitor};

/// One device a rule selected and what attaching it gave.
#[derive(Debug)]
pub struct RuleAttempt {
    pub device: UsbDevice,
    /// Index of the rule in `usb.rules` that selected it.
    pub rule: usize,
    pub result: Result<AttachedUsb, PassthroughError>,
}

/// The running plug watcher; dropping it stops the watch.
#[derive(Debug)]
pub struct UsbWatch {
    task: JoinHandle<()>,
}

impl UsbWatch {
    /// True once the watch ended (its last words went out as an [`Event::Warning`]).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for UsbWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `device = "046d:c52b"` or `port = "1-2.4"`, for messages.
fn rule_text(rule: &UsbRule) -> String {
    if rule.device.is_empty() {
        format!("port = \"{}\"", rule.port)
    } else {
        format!("device = \"{}\"", rule.device)
    }
}

/// (bus, address) → port of every device seen, so an unplug (which only names bus and address)
/// can be matched to a VM's device by port too.
type Ports = HashMap<(u16, u16), Option<PortPath>>;

fn ports_of(devices: &[UsbDevice]) -> Ports {
    devices
        .iter()
        .map(|d| ((d.bus, d.devnum), d.port.clone()))
        .collect()
}

impl Manager {
    /// Attach every plugged-in device that one of running VM `vm`'s `usb.rules` selects. One
    /// attempt per device (each device once, by bus and port); the result of each is returned,
    /// failures included. A VM without rules reads nothing.
    pub async fn apply_usb_rules(&self, vm: &str) -> Result<Vec<RuleAttempt>, PassthroughError> {
        let config = self.store().load(vm).map_err(ManagerError::from)?;
        if config.usb.rules.is_empty() {
            return Ok(vec![]);
        }
        let devices = self.usb_devices()?;
        let selected: Vec<(usize, UsbDevice)> = matching(&config.usb.rules, &devices)
            .into_iter()
            .map(|m| (m.rule, m.device.clone()))
            .collect();
        let mut out = vec![];
        for (rule, device) in selected {
            let result = self.usb_attach(vm, &device).await;
            out.push(RuleAttempt { device, rule, result });
        }
        Ok(out)
    }

    /// After a start: apply the VM's rules, turning every failure into a warning (emitted as
    /// [`Event::Warning`] and returned), so a missing device never fails a start.
    pub(in crate::manager) async fn usb_rules_after_start(&self, vm: &str) -> Vec<String> {
        let mut warnings = vec![];
        match self.apply_usb_rules(vm).await {
            Ok(attempts) => {
                let rules = self.store().load(vm).map(|c| c.usb.rules).unwrap_or_default();
                for a in attempts {
                    match a.result {
                        Ok(_) | Err(PassthroughError::AlreadyAttached { .. }) => {}
                        Err(e) => {
                            let rule = rules.get(a.rule).map(rule_text).unwrap_or_default();
                            warnings.push(format!(
                                "could not attach {} (USB rule {rule}): {e}",
                                a.device.summary()
                            ));
                        }
                    }
                }
            }
            Err(e) => warnings.push(format!("the VM's USB rules were not applied: {e}")),
        }
        for message in &warnings {
            self.emit(Event::Warning {
                name: vm.to_string(),
                message: message.clone(),
            });
        }
        warnings
    }

    /// Watch host USB plug events in the background (inotify; no polling). A plugged-in device is
    /// attached to the first running VM (by name) whose rule selects it; [`Event::UsbAttached`] or
    /// an [`Event::Warning`] tells how it went. An unplugged device is removed from the VM that had
    /// it ([`Event::UsbGone`]). Every change also sends [`Event::UsbHostChanged`].
    ///
    /// Errors: [`PassthroughError::Monitor`] with [`crate::usb::MonitorError::Unavailable`] when the
    /// computer has no USB bus ([`PassthroughError::is_no_bus`]). Must run inside a tokio runtime.
    /// The task also ends when the manager's last handle is dropped.
    pub fn spawn_usb_watch(&self) -> Result<UsbWatch, PassthroughError> {
        let mut monitor = UsbMonitor::new(self.usb_root())?;
        // Listed after the watch began, so no plug-in falls in between.
        let mut ports = ports_of(&monitor.reader().list().unwrap_or_default());
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            loop {
                let event = monitor.next_event().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let manager = Manager { inner };
                match event {
                    Ok(event) => manager.on_usb_event(event, &mut ports).await,
                    Err(e) => {
                        tracing::warn!("USB plug watch stopped: {e}");
                        manager.emit(Event::Warning {
                            name: String::new(),
                            message: format!("USB devices plugged in or out are no longer noticed: {e}"),
                        });
                        return;
                    }
                }
            }
        });
        Ok(UsbWatch { task })
    }

    async fn on_usb_event(&self, event: UsbEvent, ports: &mut Ports) {
        match event {
            UsbEvent::Added(dev) => {
                ports.insert((dev.bus, dev.devnum), dev.port.clone());
                self.emit(Event::UsbHostChanged);
                self.plugged_in(&dev).await;
            }
            UsbEvent::Removed { bus, devnum } => {
                let port = ports.remove(&(bus, devnum)).flatten();
                self.emit(Event::UsbHostChanged);
                self.unplugged(bus, devnum, port.as_ref()).await;
            }
            UsbEvent::Resync => {
                *ports = ports_of(&self.usb_reader().list().unwrap_or_default());
                self.emit(Event::UsbHostChanged);
            }
        }
    }

    /// The first running VM (by name) with a rule selecting `dev`, if any.
    fn vm_wanting(&self, dev: &UsbDevice) -> Option<String> {
        self.running_vm_names().into_iter().find(|vm| {
            self.store()
                .load(vm)
                .is_ok_and(|c| c.usb.rules.iter().any(|r| rule_matches(r, dev)))
        })
    }

    async fn plugged_in(&self, dev: &UsbDevice) {
        let Some(vm) = self.vm_wanting(dev) else {
            return;
        };
        tracing::info!(vm, device = %dev.summary(), "USB device plugged in; a rule selects it");
        if let Err(e) = self.usb_attach(&vm, dev).await {
            self.emit(Event::Warning {
                name: vm,
                message: format!("could not attach {} automatically: {e}", dev.summary()),
            });
        }
    }

    async fn unplugged(&self, bus: u16, devnum: u16, port: Option<&PortPath>) {
        for (vm, a) in self.usb_attached_all().await {
            if !a.is_at(bus, devnum, port) {
                continue;
            }
            match self.usb_detach(&vm, &a.id).await {
                Ok(()) => self.emit(Event::UsbGone { name: vm, id: a.id }),
                Err(e) => self.emit(Event::Warning {
                    name: vm,
                    message: format!(
                        "{} was unplugged from this computer but could not be removed from the VM: {e}",
                        a.summary()
                    ),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_written_in_vm_toml() {
        let by_id = UsbRule {
            device: "046d:c52b".into(),
            port: String::new(),
        };
        let by_port = UsbRule {
            device: String::new(),
            port: "1-2.4".into(),
        };
        assert_eq!(rule_text(&by_id), "device = \"046d:c52b\"");
        assert_eq!(rule_text(&by_port), "port = \"1-2.4\"");
    }

    #[test]
    fn unplugs_find_the_port_of_a_device_seen_before() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/usb/desk");
        let devices = crate::usb::UsbReader::new(root).list().unwrap();
        let ports = ports_of(&devices);
        assert_eq!(ports[&(1, 7)], PortPath::parse("1-2.4"));
        assert_eq!(ports[&(1, 1)], None, "a root hub has no port");
        assert_eq!(ports.len(), devices.len());
    }
}
