//! `hangarctl usb …`: host USB devices, passthrough to running VMs, auto-attach rules, udev help.
//!
//! `HANGAR_USB_ROOT` reads devices under another root (a fixture tree) instead of `/`.

use clap::Subcommand;
use hangar_core::config::{Update, UsbRule};
use hangar_core::manager::{find_attached, AttachBy, Manager, PassthroughError};
use hangar_core::usb::access::{udev_rule, UDEV_RELOAD, UDEV_RULES_FILE};
use hangar_core::usb::rules::rules_for_device;
use hangar_core::usb::{rule_for, rule_matches, RuleBy, Selector, UsbDevice, UsbKind};
use serde_json::json;

use crate::output::{emit, table};

type CmdResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Subcommand)]
pub enum UsbCmd {
    /// List the host's USB devices and the running VM each one is attached to.
    List {
        /// Also list the root hubs (the USB controllers themselves).
        #[arg(long)]
        all: bool,
    },
    /// Pass a host USB device through to a running VM.
    Attach {
        vm: String,
        /// The device: vendor:product in hex (046d:c52b), port bus-port (1-2.4) or bus:address (1:5).
        device: String,
        /// Let QEMU open /dev/bus/usb/BBB/DDD itself instead of passing it an opened descriptor.
        #[arg(long)]
        qemu_opens: bool,
    },
    /// Remove a USB device from a running VM.
    Detach {
        vm: String,
        /// The device as for attach, or its QEMU id (usb-1-2.4).
        device: String,
    },
    /// Show or change the devices a VM attaches automatically (at start and when plugged in).
    Rules {
        vm: String,
        #[command(subcommand)]
        action: Option<RulesCmd>,
    },
    /// Print the udev rule that lets your user pass a device through, and how to apply it.
    UdevRule {
        /// The device: vendor:product in hex (046d:c52b), port bus-port (1-2.4) or bus:address (1:5).
        device: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// List the rules and the plugged-in devices they select.
    List,
    /// Attach this device automatically: vendor:product means this model in any port,
    /// bus-port means whatever is plugged into that port.
    Add {
        device: String,
        /// Pin the device by its id or by its port (default: what DEVICE names; id for bus:address).
        #[arg(long, value_enum)]
        by: Option<By>,
    },
    /// Remove the rules that select this device.
    Remove { device: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Id,
    Port,
}

impl From<By> for RuleBy {
    fn from(b: By) -> RuleBy {
        match b {
            By::Id => RuleBy::Id,
            By::Port => RuleBy::Port,
        }
    }
}

/// Run one `usb` command.
pub async fn run(m: &Manager, json: bool, cmd: UsbCmd) -> CmdResult {
    let m = match std::env::var_os("HANGAR_USB_ROOT") {
        Some(root) if !root.is_empty() => m.clone().with_usb_root(root),
        _ => m.clone(),
    };
    match cmd {
        UsbCmd::List { all } => list(&m, json, all).await,
        UsbCmd::Attach {
            vm,
            device,
            qemu_opens,
        } => attach(&m, json, &vm, &device, qemu_opens).await,
        UsbCmd::Detach { vm, device } => detach(&m, json, &vm, &device).await,
        UsbCmd::Rules { vm, action } => match action.unwrap_or(RulesCmd::List) {
            RulesCmd::List => rules_list(&m, json, &vm),
            RulesCmd::Add { device, by } => rules_add(&m, json, &vm, &device, by),
            RulesCmd::Remove { device } => rules_remove(&m, json, &vm, &device),
        },
        UsbCmd::UdevRule { device } => udev(&m, json, &device),
    }
}

fn selector(text: &str) -> Result<Selector, Box<dyn std::error::Error>> {
    Ok(text.parse::<Selector>()?)
}

async fn list(m: &Manager, json: bool, all: bool) -> CmdResult {
    let devices: Vec<UsbDevice> = m
        .usb_devices()?
        .into_iter()
        .filter(|d| all || !d.is_root_hub())
        .collect();
    let attached = m.usb_attached_all().await;
    let owner = |d: &UsbDevice| attached.iter().find(|(_, a)| a.is_device(d));
    let rows: Vec<serde_json::Value> = devices
        .iter()
        .map(|d| {
            let o = owner(d);
            json!({
                "bus": d.bus, "address": d.devnum, "port": d.port.as_ref().map(|p| p.to_string()),
                "id": d.id(), "name": d.name(), "kind": d.kind().to_string(),
                "kinds": d.kinds().iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                "serial": d.serial, "node": d.devnode(),
                "attached_to": o.map(|(vm, _)| vm), "qemu_id": o.map(|(_, a)| &a.id),
            })
        })
        .collect();
    emit(json, &rows, || {
        if devices.is_empty() {
            return "No USB devices are plugged in (other than the controllers' root hubs).".into();
        }
        let cells: Vec<Vec<String>> = devices
            .iter()
            .map(|d| {
                vec![
                    format!("{}:{}", d.bus, d.devnum),
                    d.location(),
                    d.id(),
                    d.name(),
                    d.kinds()
                        .iter()
                        .map(|k| k.to_string())
                        .collect::<Vec<_>>()
                        .join("+"),
                    owner(d).map(|(vm, _)| vm.clone()).unwrap_or_default(),
                ]
            })
            .collect();
        table(&["BUS:ADDR", "PORT", "ID", "NAME", "KIND", "VM"], &cells)
    });
    Ok(())
}

async fn attach(m: &Manager, json: bool, vm: &str, text: &str, qemu_opens: bool) -> CmdResult {
    let sel = selector(text)?;
    let devices = m.usb_devices()?;
    let dev = sel.resolve_for_passthrough(&devices)?;
    let by = if qemu_opens {
        AttachBy::BusAddr
    } else {
        AttachBy::Fd
    };
    let a = m.usb_attach_by(vm, dev, by).await?;
    let kinds = dev.kinds();
    if !json && (kinds.contains(&UsbKind::Keyboard) || kinds.contains(&UsbKind::Mouse)) {
        eprintln!(
            "hangarctl: note: {} is a keyboard or mouse; while {vm} has it, this computer cannot use it",
            dev.name()
        );
    }
    emit(
        json,
        &json!({"name": vm, "qemu_id": a.id, "device": dev.id(), "port": dev.location(), "bus": dev.bus, "address": dev.devnum}),
        || format!("attached {} to {vm} as {}", dev.summary(), a.id),
    );
    Ok(())
}

async fn detach(m: &Manager, json: bool, vm: &str, text: &str) -> CmdResult {
    let attached = m.usb_attached(vm).await?;
    let id = match find_attached(vm, &attached, text) {
        Ok(a) => a.id.clone(),
        // Not a passed-through host device: maybe an emulated device's id.
        Err(PassthroughError::NotAttached { .. }) => text.to_string(),
        Err(e) => return Err(e.into()),
    };
    m.usb_detach(vm, &id).await?;
    emit(json, &json!({"name": vm, "detached": id}), || {
        format!("detached {id} from {vm}")
    });
    Ok(())
}

fn describe(rule: &UsbRule) -> String {
    if rule.device.is_empty() {
        format!("port {}", rule.port)
    } else {
        format!("device {}", rule.device)
    }
}

fn rules_list(m: &Manager, json: bool, vm: &str) -> CmdResult {
    let config = m.store().load(vm)?;
    let devices = m.usb_devices();
    let present = |r: &UsbRule| -> Vec<String> {
        match &devices {
            Ok(list) => list
                .iter()
                .filter(|d| rule_matches(r, d))
                .map(UsbDevice::summary)
                .collect(),
            Err(_) => vec![],
        }
    };
    let rows: Vec<serde_json::Value> = config
        .usb
        .rules
        .iter()
        .map(|r| json!({"device": r.device, "port": r.port, "plugged_in": present(r)}))
        .collect();
    emit(json, &rows, || {
        if config.usb.rules.is_empty() {
            return format!(
                "{vm} attaches no USB device automatically; add one with `hangarctl usb rules {vm} add DEVICE`"
            );
        }
        let cells: Vec<Vec<String>> = config
            .usb
            .rules
            .iter()
            .map(|r| {
                let now = match &devices {
                    Err(e) if e.is_no_bus() => "(this computer has no USB bus)".to_string(),
                    Err(e) => format!("(cannot list devices: {e})"),
                    Ok(_) => {
                        let p = present(r);
                        if p.is_empty() {
                            "not plugged in".into()
                        } else {
                            p.join("; ")
                        }
                    }
                };
                vec![describe(r), now]
            })
            .collect();
        table(&["RULE", "PLUGGED IN NOW"], &cells)
    });
    Ok(())
}

/// The rule `text` asks for.
fn rule_from(m: &Manager, text: &str, by: Option<By>) -> Result<UsbRule, Box<dyn std::error::Error>> {
    let sel = selector(text)?;
    match (&sel, by) {
        (Selector::Id { .. }, None | Some(By::Id)) => Ok(UsbRule {
            device: sel.to_string(),
            port: String::new(),
        }),
        (Selector::Port(p), None | Some(By::Port)) => Ok(UsbRule {
            device: String::new(),
            port: p.to_string(),
        }),
        _ => {
            let devices = m.usb_devices()?;
            let dev = sel.resolve_for_passthrough(&devices)?;
            let by = by.map_or(RuleBy::Id, RuleBy::from);
            rule_for(dev, by).ok_or_else(|| format!("{} has no port to pin a rule to", dev.summary()).into())
        }
    }
}

fn rules_add(m: &Manager, json: bool, vm: &str, text: &str, by: Option<By>) -> CmdResult {
    let rule = rule_from(m, text, by)?;
    m.update(vm, &Update::AddUsbRule(rule.clone()))?;
    emit(
        json,
        &json!({"name": vm, "added": {"device": rule.device, "port": rule.port}}),
        || {
            format!(
            "{vm} now attaches {} automatically when it starts and whenever it is plugged in while {vm} runs",
            describe(&rule)
        )
        },
    );
    Ok(())
}

fn rules_remove(m: &Manager, json: bool, vm: &str, text: &str) -> CmdResult {
    let rules = m.store().load(vm)?.usb.rules;
    let sel = selector(text)?;
    let doomed: Vec<UsbRule> = match &sel {
        Selector::Id { .. } => rules
            .iter()
            .filter(|r| r.device == sel.to_string())
            .cloned()
            .collect(),
        Selector::Port(p) => rules
            .iter()
            .filter(|r| r.port == p.to_string())
            .cloned()
            .collect(),
        Selector::BusAddr { .. } => {
            let devices = m.usb_devices()?;
            let dev = sel.resolve(&devices)?;
            rules_for_device(&rules, dev)
                .into_iter()
                .map(|i| rules[i].clone())
                .collect()
        }
    };
    if doomed.is_empty() {
        let have: Vec<String> = rules.iter().map(describe).collect();
        return Err(format!(
            "{vm} has no rule for {sel}; {}",
            if have.is_empty() {
                "it has no rules".to_string()
            } else {
                format!("its rules are: {}", have.join(", "))
            }
        )
        .into());
    }
    for r in &doomed {
        m.update(vm, &Update::RemoveUsbRule(r.clone()))?;
    }
    let removed: Vec<String> = doomed.iter().map(describe).collect();
    emit(json, &json!({"name": vm, "removed": removed}), || {
        format!("{vm} no longer attaches {} automatically", removed.join(", "))
    });
    Ok(())
}

fn udev(m: &Manager, json: bool, text: &str) -> CmdResult {
    let sel = selector(text)?;
    let (vendor, product) = match sel {
        Selector::Id { vendor, product } => (vendor, product),
        _ => {
            let devices = m.usb_devices()?;
            let dev = sel.resolve_for_passthrough(&devices)?;
            (dev.vendor_id, dev.product_id)
        }
    };
    let rule = udev_rule(vendor, product);
    emit(
        json,
        &json!({"rule": rule, "file": UDEV_RULES_FILE, "reload": UDEV_RELOAD}),
        || {
            format!(
            "Add this line to {UDEV_RULES_FILE} (as root):\n    {rule}\nThen apply it: {UDEV_RELOAD}\n\
             TAG+=\"uaccess\" gives the user logged in at this computer read and write access to \
             {vendor:04x}:{product:04x} devices; if access is still denied, unplug the device and plug it in again."
        )
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_core::paths::Paths;
    use hangar_core::store::Store;

    fn manager() -> Manager {
        let paths = Paths::new("/nonexistent/vms", "/nonexistent/run");
        Manager::new(Store::new(paths), hangar_core::host::HostCaps::probe()).with_usb_root("/nonexistent")
    }

    #[test]
    fn rules_from_selectors_need_no_device_when_the_form_matches() {
        let m = manager();
        let r = rule_from(&m, "046D:C52B", None).unwrap();
        assert_eq!((r.device.as_str(), r.port.as_str()), ("046d:c52b", ""));
        let r = rule_from(&m, "1-2.4", Some(By::Port)).unwrap();
        assert_eq!((r.device.as_str(), r.port.as_str()), ("", "1-2.4"));
        // Switching form needs the device: here there is no USB bus.
        let e = rule_from(&m, "1-2.4", Some(By::Id)).unwrap_err();
        assert!(e.to_string().contains("no USB bus"), "{e}");
        let e = rule_from(&m, "nonsense", None).unwrap_err();
        assert!(e.to_string().contains("vendor:product"), "{e}");
    }
}
