use std::time::Instant;

use super::*;
use crate::usb::device::UsbKind;
use crate::usb::testutil::copy_fixture;

/// Writes a sysfs device folder (with one interface) the way the fixture trees have them.
fn plug_sysfs(root: &Path, name: &str, bus: u16, devnum: u16, id: (&str, &str), class: &str) {
    let dir = root.join("sys/bus/usb/devices").join(name);
    fs::create_dir_all(&dir).unwrap();
    for (attr, value) in [
        ("busnum", bus.to_string()),
        ("devnum", devnum.to_string()),
        ("idVendor", id.0.to_string()),
        ("idProduct", id.1.to_string()),
        (
            "bDeviceClass",
            if class == "09" { "09" } else { "00" }.to_string(),
        ),
        ("speed", "480".to_string()),
    ] {
        fs::write(dir.join(attr), format!("{value}\n")).unwrap();
    }
    let iface_name = match name.strip_prefix("usb") {
        Some(b) => format!("{b}-0:1.0"),
        None => format!("{name}:1.0"),
    };
    let iface = dir.join(iface_name);
    fs::create_dir_all(&iface).unwrap();
    fs::write(iface.join("bInterfaceClass"), format!("{class}\n")).unwrap();
    fs::write(iface.join("bInterfaceProtocol"), "50\n").unwrap();
}

fn node(root: &Path, bus: u16, devnum: u16) -> PathBuf {
    root.join(format!("dev/bus/usb/{bus:03}/{devnum:03}"))
}

async fn next(m: &mut UsbMonitor) -> UsbEvent {
    tokio::time::timeout(Duration::from_secs(5), m.next_event())
        .await
        .expect("no USB event within 5 s")
        .unwrap()
}

async fn assert_quiet(m: &mut UsbMonitor) {
    let r = tokio::time::timeout(Duration::from_millis(150), m.next_event()).await;
    assert!(r.is_err(), "unexpected event {r:?}");
}

fn added(ev: UsbEvent) -> UsbDevice {
    match ev {
        UsbEvent::Added(d) => *d,
        other => panic!("expected Added, got {other:?}"),
    }
}

#[tokio::test]
async fn plug_and_unplug_on_an_existing_bus() {
    let tmp = copy_fixture("desk");
    let root = tmp.path();
    let mut m = UsbMonitor::new(root).unwrap();
    assert_eq!(m.known.len(), 11, "{m:?}");

    plug_sysfs(root, "1-8", 1, 10, ("0781", "5567"), "08");
    fs::write(node(root, 1, 10), "").unwrap();
    let dev = added(next(&mut m).await);
    assert_eq!((dev.sysname.as_str(), dev.bus, dev.devnum), ("1-8", 1, 10));
    assert_eq!(dev.kind(), UsbKind::Storage);
    assert_eq!(
        dev.name(),
        "SanDisk Corp. Cruzer Blade",
        "names from the tree's usb.ids"
    );
    assert_eq!(dev.devnode(), node(root, 1, 10));
    assert_quiet(&mut m).await;

    fs::remove_file(node(root, 1, 10)).unwrap();
    assert_eq!(next(&mut m).await, UsbEvent::Removed { bus: 1, devnum: 10 });

    // A fixture device that was present from the start.
    fs::remove_file(node(root, 1, 7)).unwrap();
    assert_eq!(next(&mut m).await, UsbEvent::Removed { bus: 1, devnum: 7 });
    assert_quiet(&mut m).await;
}

#[tokio::test]
async fn new_bus_folders_are_watched_and_racing_nodes_reported_once() {
    let tmp = copy_fixture("desk");
    let root = tmp.path();
    let mut m = UsbMonitor::new(root).unwrap();

    // A controller appears: its root hub node is created right after the bus folder, before the
    // monitor can have watched the folder.
    plug_sysfs(root, "usb3", 3, 1, ("1d6b", "0002"), "09");
    fs::create_dir(root.join("dev/bus/usb/003")).unwrap();
    fs::write(node(root, 3, 1), "").unwrap();
    let hub = added(next(&mut m).await);
    assert_eq!((hub.sysname.as_str(), hub.is_root_hub()), ("usb3", true));
    assert_quiet(&mut m).await;

    plug_sysfs(root, "3-1", 3, 2, ("046d", "c077"), "03");
    fs::write(node(root, 3, 2), "").unwrap();
    assert_eq!(added(next(&mut m).await).sysname, "3-1");

    fs::remove_file(node(root, 3, 2)).unwrap();
    fs::remove_file(node(root, 3, 1)).unwrap();
    fs::remove_dir(root.join("dev/bus/usb/003")).unwrap();
    assert_eq!(next(&mut m).await, UsbEvent::Removed { bus: 3, devnum: 2 });
    assert_eq!(next(&mut m).await, UsbEvent::Removed { bus: 3, devnum: 1 });
    assert_quiet(&mut m).await;
    assert!(!m.bus_wds.values().any(|b| *b == 3), "{m:?}");
}

#[tokio::test]
async fn a_node_without_sysfs_entry_is_skipped_after_retries() {
    let tmp = copy_fixture("desk");
    let root = tmp.path();
    let mut m = UsbMonitor::new(root).unwrap();
    let start = Instant::now();
    fs::write(node(root, 1, 77), "").unwrap();
    plug_sysfs(root, "1-9", 1, 78, ("0bda", "8179"), "ff");
    fs::write(node(root, 1, 78), "").unwrap();
    let dev = added(next(&mut m).await);
    assert_eq!(dev.devnum, 78, "the orphan node gave no event");
    assert!(start.elapsed() >= SYSFS_RETRY_DELAY * (SYSFS_RETRIES - 1));
    // Its removal is not reported either: it was never announced.
    fs::remove_file(node(root, 1, 77)).unwrap();
    assert_quiet(&mut m).await;
}

#[tokio::test]
async fn cancelled_waits_lose_nothing() {
    let tmp = copy_fixture("desk");
    let root = tmp.path();
    let mut m = UsbMonitor::new(root).unwrap();
    assert_quiet(&mut m).await; // a cancelled wait
    for (name, devnum) in [("1-10", 20), ("1-11", 21)] {
        plug_sysfs(root, name, 1, devnum, ("1234", "5678"), "ff");
        fs::write(node(root, 1, devnum), "").unwrap();
    }
    assert_eq!(added(next(&mut m).await).devnum, 20);
    assert_eq!(added(next(&mut m).await).devnum, 21);
}

#[tokio::test]
async fn lost_events_are_recovered_by_a_resync() {
    let tmp = copy_fixture("desk");
    let root = tmp.path();
    let mut m = UsbMonitor::new(root).unwrap();
    // Overflow the kernel's queue with events the monitor ignores (non-numeric names)…
    let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(16384);
    let flood = root.join("dev/bus/usb/001/x");
    for _ in 0..limit / 2 + 16 {
        fs::write(&flood, "").unwrap();
        fs::remove_file(&flood).unwrap();
    }
    // …so that these two changes are lost from the queue and only found by the rescan.
    fs::remove_file(node(root, 1, 7)).unwrap();
    plug_sysfs(root, "2-3", 2, 5, ("0781", "5581"), "08");
    fs::write(node(root, 2, 5), "").unwrap();
    assert_eq!(next(&mut m).await, UsbEvent::Removed { bus: 1, devnum: 7 });
    assert_eq!(added(next(&mut m).await).sysname, "2-3");
    assert_eq!(
        next(&mut m).await,
        UsbEvent::Resync,
        "devices already known are not re-announced"
    );
    assert_quiet(&mut m).await;
}

#[tokio::test]
async fn no_usb_bus_is_unavailable() {
    let tmp = tempfile::tempdir().unwrap();
    let err = UsbMonitor::new(tmp.path()).unwrap_err();
    let MonitorError::Unavailable(msg) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        msg,
        &format!(
            "this system has no USB bus (no {}/dev/bus/usb)",
            tmp.path().display()
        )
    );
    match UsbMonitor::new("/") {
        Err(MonitorError::Unavailable(msg)) => {
            assert!(!Path::new("/dev/bus/usb").exists());
            assert_eq!(msg, "this system has no USB bus (no /dev/bus/usb)");
        }
        Ok(_) => assert!(Path::new("/dev/bus/usb").is_dir()),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn needs_a_runtime() {
    let tmp = copy_fixture("desk");
    assert!(matches!(
        UsbMonitor::new(tmp.path()),
        Err(MonitorError::NoRuntime)
    ));
}
