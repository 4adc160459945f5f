//! USB passthrough against a real QEMU 7.2 under TCG.
//!
//! These machines have no USB bus, so host devices come from the fixture tree
//! `tests/fixtures/usb/desk` (copied; its "device nodes" are regular files). That covers every
//! step up to QEMU: the fd really is opened and passed with `add-fd`, and QEMU's refusal of a
//! file that is not a usbfs node is explained. Emulated `usb-tablet`/`usb-storage` hotplugged on
//! `xhci.0` stand in for devices a guest sees; the guest (`tests/guest`) lists them on serial.
//!
//! The guest comes from `$HANGAR_TEST_GUEST`, else `target/test-guest` (built by
//! `tests/guest/build.sh` when missing). `HANGAR_SKIP_QEMU_TESTS=1` skips the QEMU tests.

#[path = "usb_passthrough/support.rs"]
mod support;

use std::fs;
use std::path::Path;
use std::time::Instant;

use hangar_core::config::{Update, UsbRule};
use hangar_core::manager::{AttachBy, Event, PassthroughError};
use hangar_core::usb::{AccessError, AttachError, Identity, SelectError};
use serde_json::{json, Value};
use support::{ctl, device, fixture_copy, next_event, props, skip_qemu, Env, Serial};

// ---------------------------------------------------------------- guest-visible hotplug

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_usb_devices_hotplug_into_the_guest_and_detach_on_device_deleted() {
    if skip_qemu() {
        return;
    }
    let env = Env::new();
    env.create("g", true, &[]);
    env.start("g", false).await;
    let mut serial = Serial::open(&env, "g").await;
    let before = serial.usb().await;
    assert!(!before.iter().any(|l| l.ends_with("0627:0001")), "{before:?}");
    let mut events = env.m.subscribe();

    let tablet = props(json!({"driver": "usb-tablet", "id": "usb-test-tablet", "bus": "xhci.0"}));
    env.m.device_add_raw("g", tablet).await.unwrap();
    let secs = serial.wait_usb("0627:0001", true).await;
    eprintln!("usb-tablet visible in the guest after {secs:.2} s");

    let disk = env.home.path().join("stick.img");
    fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    let node = json!({"node-name": "stick", "driver": "raw",
        "file": {"driver": "file", "filename": disk.display().to_string()}});
    env.qmp("g", "blockdev-add", node).await;
    let stick =
        props(json!({"driver": "usb-storage", "id": "usb-test-stick", "bus": "xhci.0", "drive": "stick"}));
    env.m.device_add_raw("g", stick).await.unwrap();
    serial.wait_usb("46f4:0001", true).await;

    // usb-storage sends a DEVICE_DELETED for its inner disk first (no `device`); the detach
    // waits for the device itself.
    let t0 = Instant::now();
    env.m.usb_detach("g", "usb-test-stick").await.unwrap();
    eprintln!("usb-storage detached in {:.3} s", t0.elapsed().as_secs_f64());
    let ev = next_event(&mut events, 5, |e| matches!(e, Event::UsbDetached { .. })).await;
    assert!(matches!(&ev, Event::UsbDetached { name, id } if name == "g" && id == "usb-test-stick"));
    serial.wait_usb("46f4:0001", false).await;

    env.m.usb_detach("g", "usb-test-tablet").await.unwrap();
    serial.wait_usb("0627:0001", false).await;

    let err = env.m.usb_detach("g", "usb-test-tablet").await.unwrap_err();
    assert!(matches!(err, PassthroughError::NotAttached { .. }), "{err:?}");
    assert!(
        err.to_string().contains("has no device \"usb-test-tablet\""),
        "{err}"
    );
    assert!(env.m.usb_attached("g").await.unwrap().is_empty());
}

// ---------------------------------------------------------------- host devices (fixture)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_devices_take_the_fd_path_and_every_refusal_is_explained() {
    if skip_qemu() {
        return;
    }
    let env = Env::new();
    let root = fixture_copy(env.home.path());
    let m = env.m.clone().with_usb_root(&root);
    env.create("a", false, &[]);
    env.create("b", false, &[]);
    env.start("a", true).await;
    env.start("b", true).await;
    let devices = m.usb_devices().unwrap();
    let stick = device(&devices, "1-2.4");

    // By fd: Hangar opens the node, add-fd passes it, QEMU's libusb refuses a regular file.
    let err = m.usb_attach("a", stick).await.unwrap_err();
    let PassthroughError::Qemu {
        source: AttachError::FdSet { detail },
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(detail.contains("/dev/fdset/"), "{detail}");
    let text = err.to_string();
    assert!(
        text.contains("QEMU could not use the file descriptor Hangar passed"),
        "{text}"
    );
    // The fd reached QEMU with Hangar's label. QEMU closes removed fds only while the VM runs
    // (this one is paused), so the fd is still listed until the VM resumes.
    let sets = env.qmp("a", "query-fdsets", json!({})).await;
    let label = "hangar-usb id=usb-1-2.4 bus=1 addr=7 device=0781:5567 port=1-2.4";
    assert_eq!(sets[0]["fds"][0]["opaque"], label, "{sets}");
    env.m.resume("a").await.unwrap();
    env.wait_fds_closed("a").await;
    assert!(env.usb_hosts("a").await.is_empty());
    assert!(m.usb_attached("a").await.unwrap().is_empty());

    // By bus and address: QEMU finds no such device on this host.
    let err = m.usb_attach_by("a", stick, AttachBy::BusAddr).await.unwrap_err();
    assert!(
        matches!(
            &err,
            PassthroughError::Qemu {
                source: AttachError::Gone { bus: 1, addr: 7 },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("is no longer plugged in"), "{err}");
    assert!(env.usb_hosts("a").await.is_empty());

    // Hubs never reach QEMU.
    let err = m.usb_attach("a", device(&devices, "1-2")).await.unwrap_err();
    assert!(
        matches!(err, PassthroughError::Select(SelectError::IsHub { .. })),
        "{err:?}"
    );

    // A user without permission gets the node's owner and mode and the exact udev rule.
    let before = env.fdsets("a").await;
    m.clone().with_usb_identity(Identity::User {
        uid: 4242,
        gid: 4242,
        groups: vec![],
    });
    let err = m.usb_attach("a", stick).await.unwrap_err();
    m.clone().with_usb_identity(Identity::Current);
    let PassthroughError::Access(AccessError::Denied(problem)) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(problem.mode, "-rw-------");
    let text = err.to_string();
    for words in [
        "cannot open",
        "dev/bus/usb/001/007 for reading and writing",
        r#"SUBSYSTEM=="usb", ATTRS{idVendor}=="0781", ATTRS{idProduct}=="5567", TAG+="uaccess""#,
        "/etc/udev/rules.d/70-hangar-usb.rules",
        "sudo udevadm control --reload && sudo udevadm trigger",
        "sudo setfacl -m u:$USER:rw",
    ] {
        assert!(text.contains(words), "{words:?} missing from: {text}");
    }
    assert_eq!(
        env.fdsets("a").await,
        before,
        "a refused open must not reach QEMU"
    );

    // A node that cannot be opened read-write even by root (a directory), and one that vanished.
    let keyboard = device(&devices, "1-3");
    fs::remove_file(keyboard.devnode()).unwrap();
    fs::create_dir(keyboard.devnode()).unwrap();
    let err = m.usb_attach("a", keyboard).await.unwrap_err();
    assert!(
        matches!(err, PassthroughError::Access(AccessError::Io { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("dev/bus/usb/001/003"), "{err}");
    let receiver = device(&devices, "1-6");
    fs::remove_file(receiver.devnode()).unwrap();
    let err = m.usb_attach("a", receiver).await.unwrap_err();
    assert!(
        matches!(err, PassthroughError::Access(AccessError::Gone { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("was unplugged"), "{err}");

    // One device, one VM: a stand-in usb-host on VM b with Hangar's id for port 1-2.4 (added by
    // vendor:product, which QEMU accepts for an absent device — Hangar itself never does that).
    let standin = props(json!({"driver": "usb-host", "id": "usb-1-2.4", "bus": "xhci.0",
        "vendorid": 0x0781, "productid": 0x5567}));
    m.device_add_raw("b", standin).await.unwrap();
    let on_b = m.usb_attached("b").await.unwrap();
    assert_eq!(on_b.len(), 1, "{on_b:?}");
    assert_eq!(on_b[0].device_id().as_deref(), Some("0781:5567"));
    assert!(on_b[0].is_device(stick));
    let err = m.usb_attach("a", stick).await.unwrap_err();
    assert!(
        matches!(&err, PassthroughError::InUse { other, .. } if other == "b"),
        "{err:?}"
    );
    assert!(err.to_string().contains("already attached to VM \"b\""), "{err}");
    let err = m.usb_attach("b", stick).await.unwrap_err();
    assert!(matches!(err, PassthroughError::AlreadyAttached { .. }), "{err:?}");
    m.usb_detach("b", "usb-1-2.4").await.unwrap();
    assert!(m.usb_attached("b").await.unwrap().is_empty());
    assert!(m.usb_attached_all().await.is_empty());

    // Stopped and unknown VMs.
    env.create("c", false, &[]);
    let err = m.usb_attach("c", stick).await.unwrap_err();
    assert!(err.to_string().contains("is not running"), "{err}");
    let err = m.usb_attached("nosuch").await.unwrap_err();
    assert!(err.to_string().contains("no VM named"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usb_rules_apply_at_start_and_follow_plug_events() {
    if skip_qemu() {
        return;
    }
    let env = Env::new();
    let root = fixture_copy(env.home.path());
    let m = env.m.clone().with_usb_root(&root);
    let rule = |device: &str, port: &str| UsbRule {
        device: device.into(),
        port: port.into(),
    };
    env.create(
        "r",
        false,
        &[rule("0781:5567", ""), rule("", "1-4"), rule("dead:beef", "")],
    );
    // Start: each matching device is tried; the failures are warnings, not a failed start.
    let warnings = env.start("r", true).await;
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("1-2.4 0781:5567") && warnings[0].contains("device = \"0781:5567\""));
    assert!(warnings[1].contains("1-4 046d:c077") && warnings[1].contains("port = \"1-4\""));
    assert!(
        warnings.iter().all(|w| w.contains("file descriptor")),
        "{warnings:?}"
    );

    let attempts = m.apply_usb_rules("r").await.unwrap();
    let tried: Vec<(String, usize)> = attempts.iter().map(|a| (a.device.location(), a.rule)).collect();
    assert_eq!(tried, vec![("1-2.4".to_string(), 0), ("1-4".to_string(), 1)]);
    assert!(attempts.iter().all(|a| matches!(
        a.result,
        Err(PassthroughError::Qemu {
            source: AttachError::FdSet { .. },
            ..
        })
    )));
    assert!(env.usb_hosts("r").await.is_empty());
    env.m.resume("r").await.unwrap();
    env.wait_fds_closed("r").await;

    // Plug events: a device without a rule changes the list only; one with a rule is attached.
    m.update("r", &Update::AddUsbRule(rule("", "1-8"))).unwrap();
    let mut events = m.subscribe();
    let _watch = m.spawn_usb_watch().unwrap();
    let plug = |name: &str, devnum: u16, vid: &str, pid: &str| {
        let dir = root.join("sys/bus/usb/devices").join(name);
        fs::create_dir_all(&dir).unwrap();
        for (attr, value) in [
            ("busnum", "1".to_string()),
            ("devnum", devnum.to_string()),
            ("idVendor", vid.to_string()),
            ("idProduct", pid.to_string()),
            ("bDeviceClass", "00".to_string()),
            ("product", "Plugged".to_string()),
        ] {
            fs::write(dir.join(attr), format!("{value}\n")).unwrap();
        }
        let node = root.join(format!("dev/bus/usb/001/{devnum:03}"));
        fs::write(&node, b"").unwrap();
        node
    };
    plug("1-9", 11, "1209", "0001");
    next_event(&mut events, 10, |e| matches!(e, Event::UsbHostChanged)).await;
    plug("1-8", 10, "1d50", "6089");
    let ev = next_event(&mut events, 20, |e| {
        matches!(e, Event::Warning { .. } | Event::UsbAttached { .. })
    })
    .await;
    let Event::Warning { name, message } = ev else {
        panic!("{ev:?}");
    };
    assert_eq!(name, "r");
    assert!(message.contains("could not attach 1-8 1d50:6089"), "{message}");
    assert!(message.contains("automatically"), "{message}");
    assert!(env.usb_hosts("r").await.is_empty());

    // Unplug: the VM's device for that port is removed. A stand-in usb-host with Hangar's id
    // for port 1-8 plays the attached device.
    let standin = props(json!({"driver": "usb-host", "id": "usb-1-8", "bus": "xhci.0",
        "vendorid": 0x1d50, "productid": 0x6089}));
    m.device_add_raw("r", standin).await.unwrap();
    fs::remove_file(root.join("dev/bus/usb/001/010")).unwrap();
    let ev = next_event(&mut events, 20, |e| {
        matches!(e, Event::UsbGone { .. } | Event::Warning { .. })
    })
    .await;
    assert!(
        matches!(&ev, Event::UsbGone { name, id } if name == "r" && id == "usb-1-8"),
        "{ev:?}"
    );
    assert!(env.usb_hosts("r").await.is_empty());
}

#[tokio::test]
async fn the_plug_watch_needs_a_usb_bus() {
    let env = Env::new();
    let m = env.m.clone().with_usb_root(env.home.path());
    let err = m.spawn_usb_watch().unwrap_err();
    assert!(err.is_no_bus(), "{err:?}");
    assert!(err.to_string().contains("no USB bus"), "{err}");
    let err = m.usb_devices().unwrap_err();
    assert!(
        err.is_no_bus() && err.to_string().starts_with("this computer has no USB bus"),
        "{err}"
    );
}

// ---------------------------------------------------------------- hangarctl usb

#[test]
fn hangarctl_usb_commands() {
    let env = Env::new();
    let root = fixture_copy(env.home.path());
    let (code, out, err) = ctl(&env, Some(&root), &["usb", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("BUS:ADDR  PORT"), "{out}");
    assert!(
        out.contains("1:7       1-2.4  0781:5567  SanDisk Cruzer Blade"),
        "{out}"
    );
    assert!(!out.contains("1d6b:0002"), "root hubs only with --all: {out}");
    let (_, out, _) = ctl(&env, Some(&root), &["--json", "usb", "list", "--all"]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 11);
    let keyboard = rows.iter().find(|r| r["port"] == "1-3").unwrap();
    assert_eq!(
        (keyboard["id"].as_str(), keyboard["kind"].as_str()),
        (Some("413c:2113"), Some("keyboard"))
    );
    assert_eq!(keyboard["attached_to"], Value::Null);

    let (code, out, _) = ctl(&env, None, &["usb", "udev-rule", "046d:c52b"]);
    assert_eq!(code, 0);
    assert!(out
        .contains(r#"SUBSYSTEM=="usb", ATTRS{idVendor}=="046d", ATTRS{idProduct}=="c52b", TAG+="uaccess""#));
    assert!(out.contains("/etc/udev/rules.d/70-hangar-usb.rules"), "{out}");
    assert!(
        out.contains("sudo udevadm control --reload && sudo udevadm trigger"),
        "{out}"
    );
    let (code, out, _) = ctl(&env, Some(&root), &["usb", "udev-rule", "1-2.4"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(r#"ATTRS{idVendor}=="0781", ATTRS{idProduct}=="5567""#),
        "{out}"
    );

    // Rules are stored in vm.toml.
    env.create("v", false, &[]);
    let (code, _, err) = ctl(&env, None, &["usb", "rules", "v", "add", "046D:C52B"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = ctl(
        &env,
        Some(&root),
        &["usb", "rules", "v", "add", "1:7", "--by", "port"],
    );
    assert_eq!(code, 0, "{err}");
    let rules = env.m.store().load("v").unwrap().usb.rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(
        (rules[0].device.as_str(), rules[1].port.as_str()),
        ("046d:c52b", "1-2.4")
    );
    let (_, out, _) = ctl(&env, Some(&root), &["usb", "rules", "v"]);
    assert!(
        out.contains("device 046d:c52b  1-2.1 046d:c52b Logitech USB Receiver"),
        "{out}"
    );
    let (code, _, err) = ctl(&env, None, &["usb", "rules", "v", "remove", "1-2.4"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = ctl(&env, None, &["usb", "rules", "v", "remove", "1-2.4"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("v has no rule for port 1-2.4; its rules are: device 046d:c52b"),
        "{err}"
    );
    assert_eq!(env.m.store().load("v").unwrap().usb.rules.len(), 1);

    let (code, _, err) = ctl(&env, Some(&root), &["usb", "attach", "v", "1-2.4"]);
    assert_eq!(code, 1);
    assert!(err.contains("VM \"v\" is not running"), "{err}");
    let (code, _, err) = ctl(&env, Some(&root), &["usb", "attach", "v", "1-2"]);
    assert_eq!(code, 1);
    assert!(err.contains("is a USB hub"), "{err}");

    // This computer's own USB: these machines have none.
    let (code, _, err) = ctl(&env, None, &["usb", "list"]);
    if Path::new("/sys/bus/usb").exists() {
        assert_eq!(code, 0, "{err}");
    } else {
        assert_eq!(code, 1);
        assert!(err.contains("this computer has no USB bus"), "{err}");
    }
}
