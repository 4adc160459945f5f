//! `hangarctl` end to end on the real test guest under TCG: create → start → boot → status →
//! pause/resume (with QMP events seen by an in-process watcher) → console → snapshots → ACPI
//! stop; linked clones and disposable runs of a qcow2 guest; delete, archive and edit.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use hangar_core::manager::{Event, VmState};
use hangar_core::qmp::QmpEvent;

fn is_state(name: &str, want: VmState) -> impl FnMut(&Event) -> bool + '_ {
    move |e| matches!(e, Event::State { name: n, state } if n == name && *state == want)
}

fn is_qmp(name: &str, pred: fn(&QmpEvent) -> bool) -> impl FnMut(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Qmp { name: n, event } if n == name && pred(event))
}

#[test]
fn iso_vm_full_lifecycle() {
    let env = TestEnv::new();
    let name = "demo";
    env.create_iso_vm(name);
    let rt = env.runtime(name);

    // argv: the exact command line, with our accelerator and the VM's pidfile.
    let argv = env.ctl_json(&["argv", name]);
    let args: Vec<&str> = argv["argv"]
        .as_array()
        .expect("argv array")
        .iter()
        .map(|a| a.as_str().expect("string"))
        .collect();
    assert!(args[0].ends_with("qemu-system-x86_64"), "{args:?}");
    let pidfile = rt.pidfile.to_str().expect("utf-8");
    assert!(args.windows(2).any(|w| w == ["-pidfile", pidfile]), "{args:?}");
    assert!(
        args.iter().any(|a| a.contains(&format!("accel={}", accel()))),
        "{args:?}"
    );
    let human = env.ctl_ok(&["argv", name]);
    assert!(human.starts_with(args[0]) && human.contains(pidfile), "{human}");
    let list = env.ctl_json(&["list"]);
    assert_eq!(list[0]["name"], name);
    assert_eq!(list[0]["state"], "stopped");

    let _slot = guest_slot();
    let mark = env.serial_mark(name);
    let out = env.ctl_ok(&["start", name]);
    let pid = env.pid(name).expect("QEMU runs after start");
    assert!(
        out.contains(&format!("{name} started (pid {pid}, {})", accel())),
        "{out}"
    );
    let boot = env.wait_serial(name, BOOT_MARKER, mark, BOOT_TIMEOUT);
    eprintln!("booted in {boot:?}");

    let status = env.ctl_json(&["status", name]);
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["pid"], pid);
    assert_eq!(status["memory_mib"], 256);
    assert_eq!(status["vnc_socket"], rt.vnc.to_str().expect("utf-8"));
    assert!(env
        .ctl_ok(&["status", name])
        .starts_with(&format!("{name}: running (pid {pid})")));

    // Monitor, raw QMP, screenshot.
    let hmp = env.ctl_ok(&["monitor", name, "info status"]);
    assert!(hmp.contains("VM status: running"), "{hmp}");
    let qmp: serde_json::Value =
        serde_json::from_str(&env.ctl_ok(&["qmp", name, r#"{"execute":"query-status"}"#])).expect("JSON");
    assert_eq!(qmp["status"], "running", "{qmp}");
    assert_eq!(qmp["running"], true, "{qmp}");
    let shot = env.home().join("screen.png");
    let out = env.ctl_ok(&["screenshot", name, shot.to_str().expect("utf-8")]);
    assert!(out.contains("saved"), "{out}");
    let png = fs::read(&shot).expect("screenshot written");
    assert!(png.len() > 100, "{} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // An in-process watcher sees what a `hangarctl pause`/`resume` in another process does.
    let tokio_rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let m = env.manager();
    let mut rx = m.subscribe();
    let state = tokio_rt.block_on(m.watch(name)).expect("watch");
    assert_eq!(state, VmState::Running);
    assert!(env.ctl_ok(&["pause", name]).contains("paused"));
    // The watcher reports the new state, then the QMP event itself.
    let seen = tokio_rt.block_on(wait_event(
        &mut rx,
        Duration::from_secs(10),
        "STOP event",
        is_qmp(name, |e| *e == QmpEvent::Stop),
    ));
    assert!(seen.iter().any(is_state(name, VmState::Paused)), "{seen:?}");
    assert_eq!(env.ctl_json(&["status", name])["state"], "paused");
    assert!(env.ctl_ok(&["monitor", name, "info status"]).contains("paused"));
    env.ctl_ok(&["resume", name]);
    let seen = tokio_rt.block_on(wait_event(
        &mut rx,
        Duration::from_secs(10),
        "RESUME event",
        is_qmp(name, |e| *e == QmpEvent::Resume),
    ));
    assert!(seen.iter().any(is_state(name, VmState::Running)), "{seen:?}");
    assert_eq!(env.ctl_json(&["status", name])["state"], "running");

    // The serial console with piped input.
    let mut console = env.command(&["console", name]);
    console
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = console.spawn().expect("console");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"set 5\nget\n").expect("write console input");
    }
    let out = child.wait_with_output().expect("console output");
    assert!(out.status.success(), "console: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().filter(|l| l.trim_end() == "COUNTER=5").count() >= 2,
        "{text}"
    );

    // Snapshots with RAM: the counter lives in guest RAM only.
    let mut serial = env.serial(name);
    assert_eq!(serial.get(), 5);
    assert_eq!(serial.set(7), 7);
    // A disk added to vm.toml while the VM runs only exists at next boot: snapshots go on with
    // the disks QEMU really has.
    let pending = env.vm_dir(name).join("pending.qcow2");
    tokio_rt
        .block_on(m.qemu_img().create(&pending, "qcow2", 16 << 20))
        .expect("create pending disk");
    m.update(
        name,
        &hangar_core::config::Update::AddDisk(hangar_core::config::DiskConfig {
            id: "pending".into(),
            path: "pending.qcow2".into(),
            format: "qcow2".into(),
            bus: Default::default(),
            readonly: false,
        }),
    )
    .expect("add a disk while running");
    env.ctl_ok(&["snapshot", "save", name, "s1"]);
    let snaps = env.ctl_json(&["snapshot", "list", name]);
    assert_eq!(snaps[0]["name"], "s1", "{snaps}");
    assert_eq!(snaps[0]["has_ram"], true, "{snaps}");
    assert_eq!(serial.set(42), 42);
    assert!(env
        .ctl_ok(&["snapshot", "load", name, "s1"])
        .contains("back at snapshot s1"));
    serial.drain();
    assert_eq!(serial.get(), 7, "snapshot load must bring back the counter");
    assert_eq!(env.ctl_json(&["status", name])["state"], "running");
    drop(serial);

    // ACPI stop: the guest's acpid powers it off (HANGAR-POWEROFF), long before the timeout.
    let mark = env.serial_mark(name);
    let t = Instant::now();
    assert!(env.ctl_ok(&["stop", name, "--timeout", "90"]).contains("stopped"));
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "ACPI stop took {took:?}: was it forced?"
    );
    assert!(
        env.serial_has(name, "HANGAR-POWEROFF", mark),
        "guest did not see the power button"
    );
    assert!(!is_alive(pid), "QEMU {pid} still alive after stop");
    env.assert_stopped_clean(name);
    tokio_rt.block_on(async {
        let seen = wait_event(
            &mut rx,
            Duration::from_secs(20),
            "stopped state",
            is_state(name, VmState::Stopped),
        )
        .await;
        assert!(
            seen.iter().any(|e| matches!(
                e,
                Event::Qmp {
                    event: QmpEvent::Shutdown { guest: true, .. },
                    ..
                }
            )),
            "no guest-initiated SHUTDOWN: {seen:?}"
        );
    });
    assert_eq!(env.ctl_json(&["status", name])["state"], "stopped");
}

/// Bytes of a file (to compare images before and after runs).
fn bytes(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn disposable_run_and_linked_clone_of_a_qcow2_guest() {
    let env = TestEnv::new();
    let images = env.home().join("images");
    fs::create_dir(&images).expect("images folder");
    let disk = images.join("guest.qcow2");
    fs::copy(guest().qcow2(), &disk).expect("copy guest.qcow2");
    let original = bytes(&disk);
    let name = "base";
    env.ctl_ok(&[
        "create",
        name,
        "--import",
        disk.to_str().expect("utf-8"),
        "--memory",
        "256M",
        "--cpus",
        "1",
    ]);
    let rt = env.runtime(name);

    // Disposable: writes go to an overlay in the runtime folder, deleted at power-off.
    let _slot = guest_slot();
    let mark = env.serial_mark(name);
    env.ctl_ok(&["start", name, "--disposable"]);
    env.wait_serial(name, BOOT_MARKER, mark, BOOT_TIMEOUT);
    let overlays: Vec<_> = fs::read_dir(&rt.overlays)
        .expect("overlay folder while running")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(overlays.len(), 1, "{overlays:?}");
    assert_eq!(
        qemu_img_info(&overlays[0])["full-backing-filename"],
        disk.to_str().expect("utf-8")
    );
    // The guest never writes its disk; a snapshot with RAM state writes plenty to it.
    env.ctl_ok(&["snapshot", "save", name, "scratch"]);
    let info = qemu_img_info(&overlays[0]);
    assert_eq!(
        info["snapshots"][0]["name"], "scratch",
        "the overlay got the writes: {info}"
    );
    let mut serial = env.serial(name);
    assert_eq!(serial.inc(), 1);
    drop(serial);
    env.ctl_ok(&["stop", name]);
    env.assert_stopped_clean(name);
    assert!(!rt.overlays.exists());
    assert!(bytes(&disk) == original, "a disposable run changed the disk");
    assert!(qemu_img_info(&disk).get("snapshots").is_none());
    let check = std::process::Command::new("qemu-img")
        .arg("check")
        .arg(&disk)
        .output()
        .expect("qemu-img check");
    assert!(check.status.success(), "{check:?}");

    // Linked clone: both VMs become overlays on a read-only shared base.
    let out = env.ctl_ok(&["clone", name, "twin", "--linked"]);
    assert!(out.contains("base cloned as twin (linked)"), "{out}");
    let base = images.join("guest.base.qcow2");
    assert!(bytes(&base) == original, "the shared base must be the old disk");
    assert_eq!(
        fs::metadata(&base).expect("base").permissions().mode() & 0o222,
        0,
        "base is read-only"
    );
    let twin_disk = env.vm_dir("twin").join("disk0.qcow2");
    for overlay in [&disk, &twin_disk] {
        let info = qemu_img_info(overlay);
        assert_eq!(
            info["full-backing-filename"],
            base.to_str().expect("utf-8"),
            "{info}"
        );
        assert_eq!(info["format"], "qcow2");
    }
    assert!(fs::metadata(&twin_disk).expect("twin disk").len() < 2 * 1024 * 1024);

    // The clone boots from its overlay; a forced stop does not go through the guest.
    let mark = env.serial_mark("twin");
    env.ctl_ok(&["start", "twin"]);
    env.wait_serial("twin", BOOT_MARKER, mark, BOOT_TIMEOUT);
    let mut serial = env.serial("twin");
    assert_eq!(serial.set(3), 3);
    drop(serial);
    let out = env.ctl_ok(&["monitor", "twin", "info block"]);
    assert!(out.contains(twin_disk.to_str().expect("utf-8")), "{out}");
    env.ctl_ok(&["stop", "twin", "--force"]);
    assert!(!env.serial_has("twin", "HANGAR-POWEROFF", mark));
    env.assert_stopped_clean("twin");
    drop(_slot);

    // An archive is standalone: its disk has no backing file.
    let archived = env.ctl_json(&["archive", "twin"]);
    let folder = Path::new(archived["folder"].as_str().expect("folder"));
    assert!(
        folder.starts_with(env.home().join(".archives/twin")),
        "{folder:?}"
    );
    let toml = fs::read_to_string(folder.join("vm.toml")).expect("archived vm.toml");
    assert!(toml.contains("name = \"twin\""), "{toml}");
    let images: Vec<_> = fs::read_dir(folder)
        .expect("archive folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "qcow2"))
        .collect();
    assert_eq!(images.len(), 1, "{images:?}");
    let info = qemu_img_info(&images[0]);
    assert!(
        info.get("backing-filename").is_none(),
        "archive still has a backing file: {info}"
    );
    assert_eq!(info["virtual-size"], qemu_img_info(&base)["virtual-size"]);
    assert!(env.ctl_json(&["list"]).as_array().expect("list").len() == 2);
}

#[test]
fn delete_and_archive() {
    let env = TestEnv::new();
    for n in ["keep", "gone", "arch"] {
        env.ctl_ok(&["create", n, "--memory", "64M", "--cpus", "1", "--disk", "64M"]);
    }
    let external = env.home().join("external.qcow2");
    fs::copy(guest().qcow2(), &external).expect("copy");
    env.ctl_ok(&["create", "ext", "--import", external.to_str().expect("utf-8")]);

    let out = env.ctl_ok(&["delete", "keep", "--keep-disks"]);
    let kept = env.vm_dir("keep").join("disk0.qcow2");
    assert!(
        out.contains("keep deleted") && out.contains(&format!("kept {}", kept.display())),
        "{out}"
    );
    assert!(kept.is_file(), "--keep-disks removed the disk");
    assert!(!env.vm_dir("keep").join("vm.toml").exists());

    env.ctl_ok(&["delete", "gone"]);
    assert!(!env.vm_dir("gone").exists());

    // A disk outside the VM folder is never deleted.
    let out = env.ctl_json(&["delete", "ext"]);
    assert_eq!(out["kept"][0], external.to_str().expect("utf-8"), "{out}");
    assert!(external.is_file() && !env.vm_dir("ext").exists());

    let names: Vec<String> = env
        .ctl_json(&["list"])
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["arch"]);
    let err = env.ctl_err(1, &["delete", "gone"]);
    assert!(err.contains("no VM named \"gone\""), "{err}");

    let out = env.ctl_ok(&["archive", "arch"]);
    let folder = out
        .lines()
        .find_map(|l| l.strip_prefix("archived to "))
        .unwrap_or_else(|| panic!("no folder in {out:?}"));
    let folder = Path::new(folder.trim());
    assert!(folder.join("vm.toml").is_file());
    let disk = folder.join("disk0.qcow2");
    assert_eq!(qemu_img_info(&disk)["virtual-size"], 64 * 1024 * 1024);
    // A second archive goes to its own folder.
    let again = env.ctl_json(&["archive", "arch"]);
    assert_ne!(Path::new(again["folder"].as_str().expect("folder")), folder);
}

fn editor_script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).expect("write editor");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod editor");
    path.to_str().expect("utf-8").to_string()
}

#[test]
fn edit_validates_before_saving() {
    let mut env = TestEnv::new();
    env.create_empty_vm("ed");
    let scripts = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("TMPDIR");
    env.env.push(("TMPDIR".into(), tmp.path().into()));
    let file = env.vm_dir("ed").join("vm.toml");

    let grow = editor_script(
        scripts.path(),
        "grow",
        r#"sed -i 's/^memory_mib = .*/memory_mib = 512/' "$1""#,
    );
    let out = env.ctl_with(&["edit", "ed"], &[("EDITOR", &grow)]);
    expect_code(&["edit"], &out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("saved {}", file.display())));
    assert_eq!(env.ctl_json(&["status", "ed"])["memory_mib"], 512);

    let before = fs::read(&file).expect("vm.toml");
    let garbage = editor_script(
        scripts.path(),
        "garbage",
        r#"printf 'name = "ed"\n[machine\ncpus = lots\n' > "$1""#,
    );
    let out = env.ctl_with(&["edit", "ed"], &[("EDITOR", &garbage)]);
    expect_code(&["edit"], &out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vm.toml:2:") && err.contains("vm.toml is unchanged"),
        "{err}"
    );
    assert_eq!(fs::read(&file).expect("vm.toml"), before, "garbage was saved");

    let tiny = editor_script(
        scripts.path(),
        "tiny",
        r#"sed -i 's/^memory_mib = .*/memory_mib = 1/' "$1""#,
    );
    let out = env.ctl_with(&["edit", "ed"], &[("VISUAL", &tiny)]);
    expect_code(&["edit"], &out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("machine.memory_mib = 1 is out of range"), "{err}");
    assert_eq!(fs::read(&file).expect("vm.toml"), before);

    let failing = editor_script(scripts.path(), "failing", "exit 3");
    let out = env.ctl_with(&["edit", "ed"], &[("EDITOR", &failing)]);
    expect_code(&["edit"], &out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("vm.toml is unchanged"));
    assert_eq!(fs::read(&file).expect("vm.toml"), before);

    let leftovers: Vec<_> = fs::read_dir(tmp.path()).expect("TMPDIR").flatten().collect();
    assert!(leftovers.is_empty(), "edit left {leftovers:?}");
}
