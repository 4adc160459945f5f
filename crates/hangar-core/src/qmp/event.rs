//! QMP events as Hangar sees them, mapped by hand from QEMU's JSON so that unknown or
//! unexpected events never break the stream.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tokio::sync::mpsc;

/// An asynchronous event from QEMU.
#[derive(Debug, Clone, PartialEq)]
pub enum QmpEvent {
    /// The guest's vCPUs stopped (`stop`, pause on error, ...).
    Stop,
    /// The guest's vCPUs run again.
    Resume,
    /// QEMU is shutting down the guest; `guest` is true when the guest asked for it.
    /// `reason` is QEMU's ShutdownCause (`guest-shutdown`, `host-qmp-quit`, `host-signal`, ...).
    Shutdown { guest: bool, reason: String },
    /// An ACPI power-button press was delivered (`system_powerdown`).
    Powerdown,
    /// The guest was reset; `guest` is true when the guest asked for it.
    Reset { guest: bool },
    /// A device finished unplugging. `device` is its id when it had one.
    DeviceDeleted { device: Option<String>, path: String },
    /// A removable-media tray opened or closed.
    DeviceTrayMoved {
        device: String,
        id: String,
        tray_open: bool,
    },
    /// A background job (snapshot-save, ...) changed status (`created`, `running`, `concluded`, ...).
    JobStatusChange { id: String, status: String },
    /// A virtio-serial port was opened or closed by the guest (guest agent, vdagent, ...).
    VserportChange { id: String, open: bool },
    /// The guest entered suspend-to-RAM.
    Suspend,
    /// The guest woke up from suspend.
    Wakeup,
    /// The guest kernel panicked; `action` is what QEMU does about it (`pause`, `poweroff`, `run`).
    GuestPanicked { action: String },
    /// Any event Hangar does not model (or a known event whose data had an unexpected shape).
    Other { name: String, data: Value },
}

impl QmpEvent {
    /// QEMU's name of the event (`STOP`, `JOB_STATUS_CHANGE`, ...).
    pub fn name(&self) -> &str {
        match self {
            QmpEvent::Stop => "STOP",
            QmpEvent::Resume => "RESUME",
            QmpEvent::Shutdown { .. } => "SHUTDOWN",
            QmpEvent::Powerdown => "POWERDOWN",
            QmpEvent::Reset { .. } => "RESET",
            QmpEvent::DeviceDeleted { .. } => "DEVICE_DELETED",
            QmpEvent::DeviceTrayMoved { .. } => "DEVICE_TRAY_MOVED",
            QmpEvent::JobStatusChange { .. } => "JOB_STATUS_CHANGE",
            QmpEvent::VserportChange { .. } => "VSERPORT_CHANGE",
            QmpEvent::Suspend => "SUSPEND",
            QmpEvent::Wakeup => "WAKEUP",
            QmpEvent::GuestPanicked { .. } => "GUEST_PANICKED",
            QmpEvent::Other { name, .. } => name,
        }
    }
}

/// An event with the time QEMU stamped on it (absent if QEMU could not read its clock).
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    pub event: QmpEvent,
    pub timestamp: Option<SystemTime>,
}

/// Maps a QMP event message (an object with an `event` member) to a [`TimedEvent`].
/// Returns `None` when the message has no event name.
pub(crate) fn parse_event(msg: &Map<String, Value>) -> Option<TimedEvent> {
    let name = msg.get("event")?.as_str()?;
    let data = msg.get("data").cloned().unwrap_or(Value::Object(Map::new()));
    let timestamp = msg.get("timestamp").and_then(parse_timestamp);
    let event = match map_known(name, &data) {
        Some(ev) => ev,
        None => {
            tracing::debug!(event = name, %data, "QMP event passed on as Other");
            QmpEvent::Other {
                name: name.to_owned(),
                data,
            }
        }
    };
    Some(TimedEvent { event, timestamp })
}

fn map_known(name: &str, data: &Value) -> Option<QmpEvent> {
    let s = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
    let b = |key: &str| data.get(key).and_then(Value::as_bool);
    Some(match name {
        "STOP" => QmpEvent::Stop,
        "RESUME" => QmpEvent::Resume,
        "SHUTDOWN" => QmpEvent::Shutdown {
            guest: b("guest")?,
            reason: s("reason")?,
        },
        "POWERDOWN" => QmpEvent::Powerdown,
        "RESET" => QmpEvent::Reset { guest: b("guest")? },
        "DEVICE_DELETED" => QmpEvent::DeviceDeleted {
            device: s("device"),
            path: s("path")?,
        },
        "DEVICE_TRAY_MOVED" => QmpEvent::DeviceTrayMoved {
            device: s("device").unwrap_or_default(),
            id: s("id").unwrap_or_default(),
            tray_open: b("tray-open")?,
        },
        "JOB_STATUS_CHANGE" => QmpEvent::JobStatusChange {
            id: s("id")?,
            status: s("status")?,
        },
        "VSERPORT_CHANGE" => QmpEvent::VserportChange {
            id: s("id")?,
            open: b("open")?,
        },
        "SUSPEND" => QmpEvent::Suspend,
        "WAKEUP" => QmpEvent::Wakeup,
        "GUEST_PANICKED" => QmpEvent::GuestPanicked { action: s("action")? },
        _ => return None,
    })
}

fn parse_timestamp(ts: &Value) -> Option<SystemTime> {
    let secs = ts.get("seconds")?.as_u64()?;
    let micros = ts.get("microseconds")?.as_u64()?;
    if micros >= 1_000_000 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// A subscription to QEMU's events. Every event arriving after the subscription was made is
/// delivered, in order, none dropped. The stream ends (`recv` returns `None`) when the
/// connection closes (QEMU exited, protocol error, or the last [`crate::qmp::Qmp`] handle
/// was dropped).
#[derive(Debug)]
pub struct QmpEvents {
    rx: mpsc::UnboundedReceiver<TimedEvent>,
}

impl QmpEvents {
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<TimedEvent>) -> Self {
        QmpEvents { rx }
    }

    /// Next event, or `None` once the connection is closed and all events were read.
    pub async fn recv(&mut self) -> Option<QmpEvent> {
        self.rx.recv().await.map(|t| t.event)
    }

    /// Next event with its QEMU timestamp.
    pub async fn recv_timed(&mut self) -> Option<TimedEvent> {
        self.rx.recv().await
    }

    /// An event already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<QmpEvent> {
        self.rx.try_recv().ok().map(|t| t.event)
    }

    /// Reads (and discards) events until one matches `pred`; `None` if the stream ends first.
    pub async fn wait_for(&mut self, mut pred: impl FnMut(&QmpEvent) -> bool) -> Option<QmpEvent> {
        while let Some(ev) = self.recv().await {
            if pred(&ev) {
                return Some(ev);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> TimedEvent {
        parse_event(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn maps_known_events() {
        let cases = [
            (json!({"event": "STOP"}), QmpEvent::Stop),
            (json!({"event": "RESUME", "data": {}}), QmpEvent::Resume),
            (
                json!({"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}),
                QmpEvent::Shutdown {
                    guest: true,
                    reason: "guest-shutdown".into(),
                },
            ),
            (json!({"event": "POWERDOWN"}), QmpEvent::Powerdown),
            (
                json!({"event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}),
                QmpEvent::Reset { guest: false },
            ),
            (
                json!({"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral-anon/device[0]"}}),
                QmpEvent::DeviceDeleted {
                    device: None,
                    path: "/machine/peripheral-anon/device[0]".into(),
                },
            ),
            (
                json!({"event": "DEVICE_DELETED", "data": {"device": "usb1", "path": "/p"}}),
                QmpEvent::DeviceDeleted {
                    device: Some("usb1".into()),
                    path: "/p".into(),
                },
            ),
            (
                json!({"event": "DEVICE_TRAY_MOVED", "data": {"device": "", "id": "cd0", "tray-open": true}}),
                QmpEvent::DeviceTrayMoved {
                    device: String::new(),
                    id: "cd0".into(),
                    tray_open: true,
                },
            ),
            (
                json!({"event": "JOB_STATUS_CHANGE", "data": {"id": "snap", "status": "concluded"}}),
                QmpEvent::JobStatusChange {
                    id: "snap".into(),
                    status: "concluded".into(),
                },
            ),
            (
                json!({"event": "VSERPORT_CHANGE", "data": {"id": "ga", "open": true}}),
                QmpEvent::VserportChange {
                    id: "ga".into(),
                    open: true,
                },
            ),
            (json!({"event": "SUSPEND"}), QmpEvent::Suspend),
            (json!({"event": "WAKEUP"}), QmpEvent::Wakeup),
            (
                json!({"event": "GUEST_PANICKED", "data": {"action": "pause"}}),
                QmpEvent::GuestPanicked {
                    action: "pause".into(),
                },
            ),
        ];
        for (raw, want) in cases {
            let got = parse(raw).event;
            assert_eq!(got, want);
            assert_eq!(got.name(), want.name());
        }
    }

    #[test]
    fn unknown_and_malformed_events_become_other() {
        let ev = parse(json!({"event": "RTC_CHANGE", "data": {"offset": 3}})).event;
        assert_eq!(
            ev,
            QmpEvent::Other {
                name: "RTC_CHANGE".into(),
                data: json!({"offset": 3})
            }
        );
        assert_eq!(ev.name(), "RTC_CHANGE");
        // SHUTDOWN without its fields is passed on raw rather than dropped.
        let ev = parse(json!({"event": "SHUTDOWN", "data": {"guest": "yes"}})).event;
        assert!(matches!(ev, QmpEvent::Other { ref name, .. } if name == "SHUTDOWN"));
        assert!(parse_event(json!({"return": {}}).as_object().unwrap()).is_none());
        assert!(parse_event(json!({"event": 5}).as_object().unwrap()).is_none());
    }

    #[test]
    fn timestamps() {
        let t = parse(json!({"event": "STOP", "timestamp": {"seconds": 10, "microseconds": 5}}));
        assert_eq!(t.timestamp, Some(UNIX_EPOCH + Duration::from_micros(10_000_005)));
        let t = parse(json!({"event": "STOP", "timestamp": {"seconds": -1, "microseconds": -1}}));
        assert_eq!(t.timestamp, None);
        let t = parse(json!({"event": "STOP"}));
        assert_eq!(t.timestamp, None);
    }

    #[tokio::test]
    async fn subscription_wait_for_and_end() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut events = QmpEvents::new(rx);
        for raw in [
            json!({"event": "STOP"}),
            json!({"event": "X"}),
            json!({"event": "RESUME"}),
        ] {
            tx.send(parse(raw)).unwrap();
        }
        assert_eq!(events.try_recv(), Some(QmpEvent::Stop));
        assert_eq!(
            events.wait_for(|e| *e == QmpEvent::Resume).await,
            Some(QmpEvent::Resume)
        );
        assert_eq!(events.try_recv(), None);
        drop(tx);
        assert_eq!(events.recv().await, None);
    }
}
