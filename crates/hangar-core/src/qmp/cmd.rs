//! Builders for [`qapi_qmp`] commands that are awkward to write by hand: the removable-media
//! commands carry a deprecated `device` field (naming it trips `-D warnings`), `device_add`
//! takes free-form properties, and `send-key` wants wrapped key codes.

use qapi_qmp::{BlockdevChangeReadOnlyMode, KeyValue, QKeyCode, QKeyCodeWrapper};
use serde_json::Value;

/// `blockdev-change-medium` for the device with qdev id `id` (e.g. a CD drive): inserts
/// `filename`, opening and closing the tray as needed.
#[allow(deprecated)]
pub fn change_medium(
    id: &str,
    filename: &str,
    format: Option<&str>,
    read_only_mode: Option<BlockdevChangeReadOnlyMode>,
) -> qapi_qmp::blockdev_change_medium {
    qapi_qmp::blockdev_change_medium {
        id: Some(id.to_owned()),
        device: None,
        filename: filename.to_owned(),
        format: format.map(str::to_owned),
        force: None,
        read_only_mode,
    }
}

/// `blockdev-open-tray` for the device with qdev id `id`; `force` overrides a guest lock.
#[allow(deprecated)]
pub fn open_tray(id: &str, force: bool) -> qapi_qmp::blockdev_open_tray {
    qapi_qmp::blockdev_open_tray {
        id: Some(id.to_owned()),
        device: None,
        force: force.then_some(true),
    }
}

/// `blockdev-close-tray` for the device with qdev id `id`.
#[allow(deprecated)]
pub fn close_tray(id: &str) -> qapi_qmp::blockdev_close_tray {
    qapi_qmp::blockdev_close_tray {
        id: Some(id.to_owned()),
        device: None,
    }
}

/// `eject` of the medium in the device with qdev id `id`; `force` overrides a guest lock.
#[allow(deprecated)]
pub fn eject(id: &str, force: bool) -> qapi_qmp::eject {
    qapi_qmp::eject {
        id: Some(id.to_owned()),
        device: None,
        force: force.then_some(true),
    }
}

/// `device_add` with a driver, an optional id and bus, and free-form properties
/// (e.g. `[("vendorid", json!(0x1234))]`).
pub fn device_add<'a>(
    driver: &str,
    id: Option<&str>,
    bus: Option<&str>,
    props: impl IntoIterator<Item = (&'a str, Value)>,
) -> qapi_qmp::device_add {
    qapi_qmp::device_add::new(
        driver,
        id.map(str::to_owned),
        bus.map(str::to_owned),
        props.into_iter().map(|(k, v)| (k.to_owned(), v)),
    )
}

/// `send-key` pressing `keys` together (e.g. ctrl+alt+delete), held `hold_ms` (QEMU's
/// default, 100 ms, when `None`).
pub fn send_keys(keys: &[QKeyCode], hold_ms: Option<u32>) -> qapi_qmp::send_key {
    qapi_qmp::send_key {
        keys: keys
            .iter()
            .map(|&code| KeyValue::qcode(QKeyCodeWrapper { data: code }))
            .collect(),
        hold_time: hold_ms.map(i64::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args<C: qapi_spec::Command>(cmd: C) -> (&'static str, Value) {
        (C::NAME, serde_json::to_value(&cmd).unwrap())
    }

    #[test]
    fn builders_produce_qemu_wire_form() {
        assert_eq!(
            args(change_medium(
                "cd0",
                "/i.iso",
                Some("raw"),
                Some(BlockdevChangeReadOnlyMode::read_only)
            )),
            (
                "blockdev-change-medium",
                json!({"id": "cd0", "filename": "/i.iso", "format": "raw", "read-only-mode": "read-only"})
            )
        );
        assert_eq!(
            args(open_tray("cd0", true)),
            ("blockdev-open-tray", json!({"id": "cd0", "force": true}))
        );
        assert_eq!(
            args(open_tray("cd0", false)),
            ("blockdev-open-tray", json!({"id": "cd0"}))
        );
        assert_eq!(
            args(close_tray("cd0")),
            ("blockdev-close-tray", json!({"id": "cd0"}))
        );
        assert_eq!(args(eject("cd0", false)), ("eject", json!({"id": "cd0"})));
        assert_eq!(
            args(device_add(
                "usb-host",
                Some("u1"),
                None,
                [("vendorid", json!(0x1234)), ("productid", json!(5))]
            )),
            (
                "device_add",
                json!({"driver": "usb-host", "id": "u1", "vendorid": 0x1234, "productid": 5})
            )
        );
        assert_eq!(
            args(device_add("usb-tablet", None, Some("xhci.0"), [])),
            ("device_add", json!({"driver": "usb-tablet", "bus": "xhci.0"}))
        );
        assert_eq!(
            args(send_keys(
                &[QKeyCode::ctrl, QKeyCode::alt, QKeyCode::delete],
                Some(50)
            )),
            (
                "send-key",
                json!({"keys": [
                    {"type": "qcode", "data": "ctrl"},
                    {"type": "qcode", "data": "alt"},
                    {"type": "qcode", "data": "delete"}
                ], "hold-time": 50})
            )
        );
    }
}
