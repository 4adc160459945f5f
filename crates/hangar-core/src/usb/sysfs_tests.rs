use std::fs;
use std::os::unix::fs::symlink;

use super::*;
use crate::usb::device::UsbKind;
use crate::usb::testutil::{by_name, copy_fixture, copy_tree, fixture, fixture_devices};

#[test]
fn names_of_entries() {
    assert_eq!(classify("usb3"), Some(EntryName::RootHub { bus: 3 }));
    assert_eq!(
        classify("1-2.4"),
        Some(EntryName::Device(PortPath::parse("1-2.4").unwrap()))
    );
    assert_eq!(classify("1-2.4:1.0"), None);
    assert_eq!(classify("1-0:1.0"), None);
    assert_eq!(classify("usbmon"), None);
    assert_eq!(classify("driver"), None);
}

#[test]
fn lists_fixture_devices_in_port_order() {
    let devices = fixture_devices("desk");
    let names: Vec<&str> = devices.iter().map(|d| d.sysname.as_str()).collect();
    assert_eq!(
        names,
        ["usb1", "1-2", "1-2.1", "1-2.4", "1-3", "1-4", "1-5", "1-6", "1-7", "usb2", "2-1"]
    );
}

#[test]
fn reads_attributes_and_devnode() {
    let root = fixture("desk");
    let devices = UsbReader::new(&root).list().unwrap();
    let stick = by_name(&devices, "1-2.4");
    assert_eq!((stick.bus, stick.devnum), (1, 7));
    assert_eq!(stick.id(), "0781:5567");
    assert_eq!(stick.manufacturer.as_deref(), Some("SanDisk"));
    assert_eq!(stick.product.as_deref(), Some("Cruzer Blade"));
    assert_eq!(stick.serial.as_deref(), Some("4C530001231219115093"));
    assert_eq!(stick.port, PortPath::parse("1-2.4"));
    assert_eq!(stick.speed, Some(UsbSpeed::High));
    assert_eq!(stick.kind(), UsbKind::Storage);
    assert_eq!(stick.devnode(), root.join("dev/bus/usb/001/007"));
    assert!(stick.devnode().is_file());
    assert_eq!(stick.name(), "SanDisk Cruzer Blade");

    let usb2 = by_name(&devices, "usb2");
    assert!(usb2.is_root_hub() && usb2.is_hub());
    assert_eq!(
        (usb2.bus, usb2.devnum, usb2.id()),
        (2, 1, "1d6b:0003".to_string())
    );
    assert_eq!(usb2.speed, Some(UsbSpeed::Super));
    assert_eq!(usb2.interfaces.len(), 1, "root hub interface 2-0:1.0 found");
    assert_eq!(usb2.location(), "usb2");

    let keyboard = by_name(&devices, "1-3");
    assert_eq!(keyboard.speed, Some(UsbSpeed::Low));
    assert_eq!(keyboard.kinds(), vec![UsbKind::Keyboard]);
    assert!(keyboard.is_composite(), "boot keyboard + media keys interface");
}

#[test]
fn kinds_including_composite_receiver_and_flat_interfaces() {
    let devices = fixture_devices("desk");
    let hub = by_name(&devices, "1-2");
    assert!(hub.is_hub() && !hub.is_root_hub());
    assert_eq!(hub.kind(), UsbKind::Hub);

    let receiver = by_name(&devices, "1-2.1");
    assert_eq!(receiver.interfaces.len(), 3);
    assert_eq!(
        receiver.interfaces.iter().map(|i| i.number).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(receiver.kinds(), vec![UsbKind::Keyboard, UsbKind::Mouse]);
    assert!(receiver.is_composite());

    // 1-4's interface folder sits beside it in devices/, not inside it.
    let mouse = by_name(&devices, "1-4");
    assert_eq!(mouse.interfaces.len(), 1);
    assert_eq!(mouse.kinds(), vec![UsbKind::Mouse]);

    assert_eq!(by_name(&devices, "1-5").kinds(), vec![UsbKind::Other]);
}

#[test]
fn names_fall_back_to_usb_ids_then_to_the_ids() {
    let devices = fixture_devices("desk");
    let name = |n: &str| by_name(&devices, n).name();
    assert_eq!(
        name("1-2"),
        "Genesys Logic, Inc. USB2.0 Hub",
        "vendor from usb.ids only"
    );
    assert_eq!(
        name("1-5"),
        "Realtek Semiconductor Corp. RTL8188EUS 802.11n Wireless Network Adapter"
    );
    assert_eq!(name("1-7"), "Unknown device 1234:5678", "not in usb.ids");
    assert_eq!(
        name("1-2.1"),
        "Logitech USB Receiver",
        "own strings win over usb.ids"
    );
    assert_eq!(by_name(&devices, "1-2.1").vendor_name, None);

    // The hwdata location works too.
    let tmp = copy_fixture("desk");
    fs::create_dir_all(tmp.path().join("usr/share/hwdata")).unwrap();
    fs::rename(
        tmp.path().join("usr/share/misc/usb.ids"),
        tmp.path().join("usr/share/hwdata/usb.ids"),
    )
    .unwrap();
    let devices = UsbReader::new(tmp.path()).list().unwrap();
    assert_eq!(
        by_name(&devices, "1-5").product_name.as_deref(),
        Some("RTL8188EUS 802.11n Wireless Network Adapter")
    );

    // No usb.ids at all.
    fs::remove_file(tmp.path().join("usr/share/hwdata/usb.ids")).unwrap();
    let devices = UsbReader::new(tmp.path()).list().unwrap();
    assert_eq!(by_name(&devices, "1-5").name(), "Unknown device 0bda:8179");
    assert_eq!(by_name(&devices, "1-2").name(), "USB2.0 Hub");
}

#[test]
fn no_usb_bus_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = UsbReader::new(tmp.path()).list().unwrap_err();
    assert!(
        matches!(&err, UsbError::NoBus { path } if path.ends_with("sys/bus/usb")),
        "{err:?}"
    );
    assert!(err.to_string().contains("this system has no USB bus"), "{err}");
    assert!(UsbReader::new(tmp.path()).find(1, 1).is_err());
}

#[test]
fn half_gone_devices_and_stray_entries_are_skipped() {
    let tmp = copy_fixture("desk");
    let devs = tmp.path().join("sys/bus/usb/devices");
    fs::remove_file(devs.join("1-5/devnum")).unwrap();
    fs::write(devs.join("1-6/idVendor"), "nothex\n").unwrap();
    fs::create_dir(devs.join("usbmon")).unwrap();
    fs::write(devs.join("uevent"), "").unwrap();
    let devices = UsbReader::new(tmp.path()).list().unwrap();
    assert_eq!(devices.len(), 9);
    assert!(devices.iter().all(|d| d.sysname != "1-5" && d.sysname != "1-6"));
}

#[test]
fn find_by_bus_and_address() {
    let reader = UsbReader::new(fixture("desk"));
    assert_eq!(reader.find(1, 7).unwrap().unwrap().sysname, "1-2.4");
    assert_eq!(reader.find(2, 2).unwrap().unwrap().sysname, "2-1");
    assert_eq!(reader.find(2, 9).unwrap(), None);
}

/// Where a device folder lives in a real sysfs tree (`…/usb1/1-2/1-2.4`), relative to `sys/devices`.
fn nested(name: &str) -> String {
    let controller = "pci0000:00/0000:00:14.0";
    if let Some((dev, _iface)) = name.split_once(':') {
        let dev = match dev.strip_suffix("-0") {
            Some(bus) => format!("usb{bus}"),
            None => dev.to_string(),
        };
        return format!("{}/{name}", nested(&dev));
    }
    if name.starts_with("usb") {
        return format!("{controller}/{name}");
    }
    let parent = match name.rsplit_once('.') {
        Some((p, _)) => p.to_string(),
        None => format!("usb{}", name.split_once('-').unwrap().0),
    };
    format!("{}/{name}", nested(&parent))
}

#[test]
fn real_sysfs_layout_with_symlinks() {
    // Rebuild the fixture the way the kernel lays it out: device folders nested under their
    // parents in sys/devices, and sys/bus/usb/devices holding only relative symlinks.
    let src = fixture("desk");
    let tmp = tempfile::tempdir().unwrap();
    let links = tmp.path().join("sys/bus/usb/devices");
    fs::create_dir_all(&links).unwrap();
    let mut names: Vec<String> = fs::read_dir(src.join("sys/bus/usb/devices"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    // Interfaces live inside their device folders here: give them links too, as the kernel does.
    for dev in names.clone() {
        for e in fs::read_dir(src.join("sys/bus/usb/devices").join(&dev)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                names.push(e.file_name().into_string().unwrap());
            }
        }
    }
    names.sort();
    names.dedup();
    for name in &names {
        let rel = nested(name);
        let real = tmp.path().join("sys/devices").join(&rel);
        fs::create_dir_all(&real).unwrap();
        let from = [src.join("sys/bus/usb/devices").join(name)]
            .into_iter()
            .chain(
                fs::read_dir(src.join("sys/bus/usb/devices"))
                    .unwrap()
                    .map(|e| e.unwrap().path().join(name)),
            )
            .find(|p| p.is_dir())
            .unwrap();
        for e in fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                fs::copy(e.path(), real.join(e.file_name())).unwrap();
            }
        }
        symlink(format!("../../../devices/{rel}"), links.join(name)).unwrap();
    }
    copy_tree(&src.join("dev"), &tmp.path().join("dev"));
    assert!(fs::symlink_metadata(links.join("1-2.4"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(tmp
        .path()
        .join("sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.4/1-2.4:1.0")
        .is_dir());

    let real = UsbReader::new(tmp.path()).list().unwrap();
    let plain = fixture_devices("desk");
    assert_eq!(real.len(), plain.len());
    for (r, p) in real.iter().zip(&plain) {
        assert_eq!(r.sysname, p.sysname);
        assert_eq!((r.bus, r.devnum, r.id()), (p.bus, p.devnum, p.id()));
        assert_eq!(r.interfaces, p.interfaces, "{}", r.sysname);
        assert_eq!(r.kinds(), p.kinds());
        assert_eq!(r.port, p.port);
    }
    // No usb.ids in this tree: the unnamed device shows its ids.
    assert_eq!(by_name(&real, "1-5").name(), "Unknown device 0bda:8179");
}
