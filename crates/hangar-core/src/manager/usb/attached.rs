//! What a running VM has attached, read back from QEMU itself (no state of Hangar's own).
//!
//! QEMU 7.2 answers `qom-list /machine/peripheral` with every device that has an id and its type
//! (`child<usb-host>`); `qom-get` reads a `usb-host`'s `hostbus`/`hostaddr`/`hostdevice`/`vendorid`/
//! `productid` (0 or "" when unset). A device passed as a file descriptor only shows
//! `hostdevice=/dev/fdset/N`, so Hangar labels the fd it adds with an `opaque` text
//! (`hangar-usb id=… bus=… addr=… device=vvvv:pppp port=…`) that `query-fdsets` returns.

use serde_json::Value;

use super::error::PassthroughError;
use crate::manager::ManagerError;
use crate::qmp::qapi_qmp::{self, FdsetInfo};
use crate::qmp::Qmp;
use crate::usb::{PortPath, SelectError, Selector, UsbDevice};

/// QOM folder of the devices that have an id.
pub(super) const PERIPHERALS: &str = "/machine/peripheral";
/// First word of the `opaque` label of Hangar's fds.
const OPAQUE_TAG: &str = "hangar-usb";

/// A host USB device (`usb-host`) attached to a VM, as QEMU reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedUsb {
    /// QEMU device id (`usb-1-2.4` for devices Hangar attached).
    pub id: String,
    /// Host bus and address, when known.
    pub bus: Option<u16>,
    pub addr: Option<u16>,
    /// Host port, when known (from Hangar's id or label).
    pub port: Option<PortPath>,
    pub vendor_id: Option<u16>,
    pub product_id: Option<u16>,
    /// The fd set QEMU reads the device from (`hostdevice=/dev/fdset/N`), if passed by fd.
    pub fdset: Option<u32>,
}

impl AttachedUsb {
    /// `vendor:product` in hex, when known.
    pub fn device_id(&self) -> Option<String> {
        Some(format!("{:04x}:{:04x}", self.vendor_id?, self.product_id?))
    }

    /// Whether this is the host device `dev`: same bus and address when known, else same port.
    pub fn is_device(&self, dev: &UsbDevice) -> bool {
        self.is_at(dev.bus, dev.devnum, dev.port.as_ref())
    }

    /// Whether this is the host device at `bus`/`addr` (plugged into `port`, if known).
    pub fn is_at(&self, bus: u16, addr: u16, port: Option<&PortPath>) -> bool {
        match (self.bus, self.addr) {
            (Some(b), Some(a)) => b == bus && a == addr,
            _ => self.port.is_some() && self.port.as_ref() == port,
        }
    }

    /// One line for people: `usb-1-2.4 (bus 1 address 7, 0781:5567)`.
    pub fn summary(&self) -> String {
        let mut parts = vec![];
        if let (Some(b), Some(a)) = (self.bus, self.addr) {
            parts.push(format!("bus {b} address {a}"));
        } else if let Some(p) = &self.port {
            parts.push(format!("port {p}"));
        }
        if let Some(d) = self.device_id() {
            parts.push(d);
        }
        if parts.is_empty() {
            self.id.clone()
        } else {
            format!("{} ({})", self.id, parts.join(", "))
        }
    }
}

/// The `opaque` label of the fd Hangar passes for `dev` attached as `id`.
pub(super) fn opaque_label(dev: &UsbDevice, id: &str) -> String {
    let mut s = format!(
        "{OPAQUE_TAG} id={id} bus={} addr={} device={}",
        dev.bus,
        dev.devnum,
        dev.id()
    );
    if let Some(p) = &dev.port {
        s.push_str(&format!(" port={p}"));
    }
    s
}

/// What an `opaque` label says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Label {
    id: Option<String>,
    bus: Option<u16>,
    addr: Option<u16>,
    device: Option<(u16, u16)>,
    port: Option<PortPath>,
}

fn parse_label(text: &str) -> Option<Label> {
    let mut words = text.split_whitespace();
    if words.next() != Some(OPAQUE_TAG) {
        return None;
    }
    let mut label = Label::default();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "id" => label.id = Some(value.to_string()),
            "bus" => label.bus = value.parse().ok(),
            "addr" => label.addr = value.parse().ok(),
            "port" => label.port = PortPath::parse(value),
            "device" => {
                label.device = match value.parse::<Selector>() {
                    Ok(Selector::Id { vendor, product }) => Some((vendor, product)),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    Some(label)
}

/// The properties of one `usb-host` as `qom-get` returned them.
#[derive(Debug, Default)]
pub(super) struct HostProps {
    pub hostbus: u64,
    pub hostaddr: u64,
    pub hostdevice: String,
    pub vendorid: u64,
    pub productid: u64,
}

/// Combines QOM properties and the fd set labels into an [`AttachedUsb`].
pub(super) fn build(id: &str, props: &HostProps, fdsets: &[FdsetInfo]) -> AttachedUsb {
    let nonzero16 = |v: u64| u16::try_from(v).ok().filter(|v| *v != 0);
    let fdset = props
        .hostdevice
        .strip_prefix("/dev/fdset/")
        .and_then(|n| n.parse::<u32>().ok());
    let mut out = AttachedUsb {
        id: id.to_string(),
        bus: nonzero16(props.hostbus),
        addr: nonzero16(props.hostaddr),
        port: id.strip_prefix("usb-").and_then(PortPath::parse),
        vendor_id: nonzero16(props.vendorid),
        product_id: nonzero16(props.productid),
        fdset,
    };
    let label = fdset.and_then(|n| {
        fdsets
            .iter()
            .filter(|s| s.fdset_id == i64::from(n))
            .flat_map(|s| s.fds.iter())
            .filter_map(|fd| fd.opaque.as_deref().and_then(parse_label))
            .find(|l| l.id.as_deref().is_none_or(|l_id| l_id == id))
    });
    if let Some(label) = label {
        out.bus = out.bus.or(label.bus);
        out.addr = out.addr.or(label.addr);
        out.port = label.port.or(out.port);
        if let Some((v, p)) = label.device {
            out.vendor_id = out.vendor_id.or(Some(v));
            out.product_id = out.product_id.or(Some(p));
        }
    }
    out
}

/// Every device with an id: `(id, QOM type)` (`("usb-1-2", "usb-host")`).
pub(super) async fn peripherals(qmp: &Qmp, vm: &str) -> Result<Vec<(String, String)>, PassthroughError> {
    let list = qmp
        .execute(qapi_qmp::qom_list {
            path: PERIPHERALS.to_string(),
        })
        .await
        .map_err(ManagerError::qmp(vm))?;
    Ok(list
        .into_iter()
        .filter_map(|p| {
            let ty = p.type_.strip_prefix("child<")?.strip_suffix('>')?;
            Some((p.name, ty.to_string()))
        })
        .collect())
}

async fn qom_get(qmp: &Qmp, vm: &str, id: &str, property: &str) -> Result<Value, PassthroughError> {
    let value = qmp
        .execute(qapi_qmp::qom_get {
            path: format!("{PERIPHERALS}/{id}"),
            property: property.to_string(),
        })
        .await
        .map_err(ManagerError::qmp(vm))?;
    Ok(value)
}

/// The `usb-host` devices of the VM behind `qmp`.
pub(super) async fn read_attached(qmp: &Qmp, vm: &str) -> Result<Vec<AttachedUsb>, PassthroughError> {
    let mut found = vec![];
    for (id, ty) in peripherals(qmp, vm).await? {
        if ty != "usb-host" {
            continue;
        }
        let num = |v: Value| v.as_u64().unwrap_or(0);
        let props = HostProps {
            hostbus: num(qom_get(qmp, vm, &id, "hostbus").await?),
            hostaddr: num(qom_get(qmp, vm, &id, "hostaddr").await?),
            hostdevice: qom_get(qmp, vm, &id, "hostdevice")
                .await?
                .as_str()
                .unwrap_or_default()
                .to_string(),
            vendorid: num(qom_get(qmp, vm, &id, "vendorid").await?),
            productid: num(qom_get(qmp, vm, &id, "productid").await?),
        };
        found.push((id, props));
    }
    let fdsets = if found.iter().any(|(_, p)| p.hostdevice.starts_with("/dev/fdset/")) {
        qmp.execute(qapi_qmp::query_fdsets {})
            .await
            .map_err(ManagerError::qmp(vm))?
    } else {
        vec![]
    };
    let mut out: Vec<AttachedUsb> = found.iter().map(|(id, p)| build(id, p, &fdsets)).collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The attached device `text` names: its QEMU id, or a selector (`1-2.4`, `1:7`, `0781:5567`).
pub fn find_attached<'a>(
    vm: &str,
    attached: &'a [AttachedUsb],
    text: &str,
) -> Result<&'a AttachedUsb, PassthroughError> {
    if let Some(a) = attached.iter().find(|a| a.id == text) {
        return Ok(a);
    }
    let not_attached = || PassthroughError::NotAttached {
        vm: vm.to_string(),
        id: text.to_string(),
        attached: attached.iter().map(AttachedUsb::summary).collect(),
    };
    let Ok(selector) = text.parse::<Selector>() else {
        return Err(not_attached());
    };
    let found: Vec<&AttachedUsb> = attached
        .iter()
        .filter(|a| match &selector {
            Selector::Port(p) => a.port.as_ref() == Some(p),
            Selector::BusAddr { bus, addr } => a.bus == Some(*bus) && a.addr == Some(*addr),
            Selector::Id { vendor, product } => {
                a.vendor_id == Some(*vendor) && a.product_id == Some(*product)
            }
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(not_attached()),
        many => Err(SelectError::Ambiguous {
            selector: selector.to_string(),
            candidates: many.iter().map(|a| a.summary()).collect(),
            ports: many.iter().map(|a| a.id.clone()).collect(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qmp::qapi_qmp::FdsetFdInfo;
    use crate::usb::UsbReader;
    use std::path::Path;

    fn desk() -> Vec<UsbDevice> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/usb/desk");
        UsbReader::new(root).list().unwrap()
    }

    fn dev<'a>(devices: &'a [UsbDevice], name: &str) -> &'a UsbDevice {
        devices.iter().find(|d| d.sysname == name).unwrap()
    }

    fn fdset(id: i64, opaque: &str) -> FdsetInfo {
        FdsetInfo {
            fdset_id: id,
            fds: vec![FdsetFdInfo {
                fd: 12,
                opaque: Some(opaque.to_string()),
            }],
        }
    }

    #[test]
    fn labels_round_trip() {
        let devices = desk();
        let stick = dev(&devices, "1-2.4");
        let text = opaque_label(stick, "usb-1-2.4");
        assert_eq!(
            text,
            "hangar-usb id=usb-1-2.4 bus=1 addr=7 device=0781:5567 port=1-2.4"
        );
        let label = parse_label(&text).unwrap();
        assert_eq!(label.bus, Some(1));
        assert_eq!(label.addr, Some(7));
        assert_eq!(label.device, Some((0x0781, 0x5567)));
        assert_eq!(label.port, PortPath::parse("1-2.4"));
        assert_eq!(parse_label("someone else's fd"), None);
        assert_eq!(parse_label("hangar-usb junk bus=x").unwrap().bus, None);
    }

    #[test]
    fn fd_attached_devices_are_described_by_their_label() {
        let devices = desk();
        let stick = dev(&devices, "1-2.4");
        let props = HostProps {
            hostdevice: "/dev/fdset/3".into(),
            ..Default::default()
        };
        let sets = vec![
            fdset(1, "hangar-usb id=usb-1-3 bus=1 addr=3 device=413c:2113 port=1-3"),
            fdset(3, &opaque_label(stick, "usb-1-2.4")),
        ];
        let a = build("usb-1-2.4", &props, &sets);
        assert_eq!(
            a,
            AttachedUsb {
                id: "usb-1-2.4".into(),
                bus: Some(1),
                addr: Some(7),
                port: PortPath::parse("1-2.4"),
                vendor_id: Some(0x0781),
                product_id: Some(0x5567),
                fdset: Some(3),
            }
        );
        assert!(a.is_device(stick));
        assert!(!a.is_device(dev(&devices, "2-1")));
        assert_eq!(a.summary(), "usb-1-2.4 (bus 1 address 7, 0781:5567)");
        // Without its label only the id's port is known.
        let bare = build("usb-1-2.4", &props, &[]);
        assert_eq!(
            (bare.bus, bare.port.clone(), bare.fdset),
            (None, PortPath::parse("1-2.4"), Some(3))
        );
        assert!(bare.is_device(stick));
        let mut replugged = stick.clone();
        replugged.port = PortPath::parse("1-5");
        assert!(!bare.is_device(&replugged));
    }

    #[test]
    fn bus_address_and_foreign_devices() {
        let props = HostProps {
            hostbus: 2,
            hostaddr: 9,
            ..Default::default()
        };
        let a = build("usb-2-1", &props, &[]);
        assert_eq!(
            (a.bus, a.addr, a.fdset, a.device_id()),
            (Some(2), Some(9), None, None)
        );
        assert!(a.is_at(2, 9, None));
        assert!(!a.is_at(2, 8, PortPath::parse("2-1").as_ref()));
        // Added by hand by vendor:product with another id: no port, no address.
        let props = HostProps {
            vendorid: 0x046d,
            productid: 0xc52b,
            ..Default::default()
        };
        let a = build("mine", &props, &[]);
        assert_eq!((a.port.clone(), a.device_id()), (None, Some("046d:c52b".into())));
        assert!(!a.is_at(1, 5, None));
        assert_eq!(a.summary(), "mine (046d:c52b)");
    }

    #[test]
    fn finding_attached_devices_by_id_or_selector() {
        let list = vec![
            build(
                "usb-1-2.4",
                &HostProps {
                    hostbus: 1,
                    hostaddr: 7,
                    vendorid: 0x0781,
                    productid: 0x5567,
                    ..Default::default()
                },
                &[],
            ),
            build(
                "usb-1-6",
                &HostProps {
                    hostbus: 1,
                    hostaddr: 8,
                    vendorid: 0x046d,
                    productid: 0xc52b,
                    ..Default::default()
                },
                &[],
            ),
            build(
                "usb-2-1",
                &HostProps {
                    hostbus: 2,
                    hostaddr: 2,
                    vendorid: 0x046d,
                    productid: 0xc52b,
                    ..Default::default()
                },
                &[],
            ),
        ];
        assert_eq!(find_attached("vm", &list, "usb-1-6").unwrap().id, "usb-1-6");
        assert_eq!(find_attached("vm", &list, "1-2.4").unwrap().id, "usb-1-2.4");
        assert_eq!(find_attached("vm", &list, "2:2").unwrap().id, "usb-2-1");
        assert_eq!(find_attached("vm", &list, "0781:5567").unwrap().id, "usb-1-2.4");
        let err = find_attached("vm", &list, "046d:c52b").unwrap_err();
        assert!(
            err.to_string()
                .contains("choose one by its port instead, e.g. usb-1-6"),
            "{err}"
        );
        let err = find_attached("vm", &list, "1-9").unwrap_err();
        assert!(matches!(err, PassthroughError::NotAttached { .. }));
        assert!(
            err.to_string()
                .contains("VM \"vm\" has no device \"1-9\"; its USB devices are: usb-1-2.4 (bus 1 address 7, 0781:5567)"),
            "{err}"
        );
        let err = find_attached("vm", &[], "tablet7").unwrap_err();
        assert!(
            err.to_string().ends_with("it has no USB devices attached"),
            "{err}"
        );
    }
}
