use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::usb::sysfs::UsbReader;
use crate::usb::testutil::{by_name, copy_fixture};

/// A copy of the `desk` fixture with modes applied and passwd/group files naming the files' owner.
fn setup() -> (tempfile::TempDir, Vec<UsbDevice>, u32, u32) {
    let tmp = copy_fixture("desk");
    let meta = fs::metadata(tmp.path().join("dev/bus/usb/001/001")).unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());
    fs::create_dir_all(tmp.path().join("etc")).unwrap();
    fs::write(
        tmp.path().join("etc/passwd"),
        format!("# comment\nbroken line\nhangarowner:x:{uid}:{gid}::/home/o:/bin/sh\n"),
    )
    .unwrap();
    fs::write(tmp.path().join("etc/group"), format!("hangargroup:x:{gid}:\n")).unwrap();
    let devices = UsbReader::new(tmp.path()).list().unwrap();
    (tmp, devices, uid, gid)
}

fn stranger(groups: Vec<u32>) -> Identity {
    Identity::User {
        uid: 4242,
        gid: 4242,
        groups,
    }
}

fn denied(r: Result<(), AccessError>) -> AccessProblem {
    match r {
        Err(AccessError::Denied(p)) => *p,
        other => panic!("expected Denied, got {other:?}"),
    }
}

#[test]
fn mode_strings() {
    assert_eq!(mode_string(0o020664), "crw-rw-r--");
    assert_eq!(mode_string(0o100600), "-rw-------");
    assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
    assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
    assert_eq!(mode_string(0o041777), "drwxrwxrwt");
}

#[test]
fn udev_rule_text() {
    assert_eq!(
        udev_rule(0x046d, 0xc52b),
        r#"SUBSYSTEM=="usb", ATTRS{idVendor}=="046d", ATTRS{idProduct}=="c52b", TAG+="uaccess""#
    );
}

#[test]
fn other_users_lack_write_on_0664_and_get_the_exact_fix() {
    let (tmp, devices, _, _) = setup();
    let checker = AccessChecker::for_identity(tmp.path(), stranger(vec![]));
    let keyboard = by_name(&devices, "1-3");
    let p = denied(checker.check(keyboard));
    let node = tmp.path().join("dev/bus/usb/001/003");
    assert_eq!(p.node, node);
    assert_eq!(
        (p.owner.as_str(), p.group.as_str()),
        ("hangarowner", "hangargroup")
    );
    assert_eq!(p.mode, "-rw-rw-r--");
    assert_eq!(p.missing, Missing::Write);
    assert_eq!(
        p.fix.udev_rule,
        r#"SUBSYSTEM=="usb", ATTRS{idVendor}=="413c", ATTRS{idProduct}=="2113", TAG+="uaccess""#
    );
    assert_eq!(
        p.fix.rules_file,
        Path::new("/etc/udev/rules.d/70-hangar-usb.rules")
    );
    assert_eq!(
        p.fix.reload,
        "sudo udevadm control --reload && sudo udevadm trigger"
    );
    assert_eq!(
        p.fix.one_time,
        format!("sudo setfacl -m u:$USER:rw {}", node.display())
    );
    let text = p.to_string();
    assert!(text.starts_with(&format!(
        "cannot open {} for reading and writing: it belongs to hangarowner:hangargroup with mode -rw-rw-r--, \
         which does not give you write permission.",
        node.display()
    )));
    assert!(
        text.contains(&format!("\n    {}\nthen run: sudo udevadm", p.fix.udev_rule)),
        "{text}"
    );
}

#[test]
fn group_owner_and_other_bits_are_chosen_like_the_kernel() {
    let (tmp, devices, uid, gid) = setup();
    let member = AccessChecker::for_identity(tmp.path(), stranger(vec![7, gid]));
    assert!(
        member.check(by_name(&devices, "1-3")).is_ok(),
        "0664 through the group"
    );
    assert!(
        member.check(by_name(&devices, "1-2.1")).is_ok(),
        "0660 through the group"
    );
    assert_eq!(
        denied(member.check(by_name(&devices, "1-2.4"))).missing,
        Missing::ReadWrite
    );

    let other = AccessChecker::for_identity(tmp.path(), stranger(vec![]));
    assert_eq!(
        denied(other.check(by_name(&devices, "1-2.1"))).missing,
        Missing::ReadWrite
    );
    assert!(other.check(by_name(&devices, "1-6")).is_ok(), "0666");

    // Owner bits win over group bits even when the group would allow more.
    let node = tmp.path().join("dev/bus/usb/001/006");
    fs::set_permissions(&node, fs::Permissions::from_mode(0o460)).unwrap();
    let owner = AccessChecker::for_identity(
        tmp.path(),
        Identity::User {
            uid,
            gid,
            groups: vec![],
        },
    );
    let r = owner.check(by_name(&devices, "1-5"));
    if uid == 0 {
        assert!(r.is_ok(), "root reads and writes anything");
    } else {
        assert_eq!(denied(r).missing, Missing::Write);
    }
    assert!(member.check(by_name(&devices, "1-5")).is_ok());
    fs::set_permissions(&node, fs::Permissions::from_mode(0o420)).unwrap();
    let p = denied(member.check(by_name(&devices, "1-5")));
    assert_eq!((p.missing, p.mode.as_str()), (Missing::Read, "-r---w----"));
}

#[test]
fn unknown_accounts_are_numeric() {
    let tmp = copy_fixture("desk");
    let devices = UsbReader::new(tmp.path()).list().unwrap();
    let meta = fs::metadata(tmp.path().join("dev/bus/usb/001/007")).unwrap();
    let p =
        denied(AccessChecker::for_identity(tmp.path(), stranger(vec![])).check(by_name(&devices, "1-2.4")));
    assert_eq!(p.owner, format!("uid {}", meta.uid()));
    assert_eq!(p.group, format!("gid {}", meta.gid()));
    assert_eq!(AccessChecker::new("/").user_name(0), "root");
}

#[test]
fn unplugged_device_is_gone() {
    let (tmp, devices, _, _) = setup();
    let stick = by_name(&devices, "1-2.4");
    fs::remove_file(stick.devnode()).unwrap();
    for checker in [
        AccessChecker::new(tmp.path()),
        AccessChecker::for_identity(tmp.path(), stranger(vec![])),
    ] {
        let err = checker.open_for_passthrough(stick).unwrap_err();
        assert!(
            matches!(
                err,
                AccessError::Gone {
                    bus: 1,
                    devnum: 7,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("the device on bus 1 address 7 was unplugged"),
            "{err}"
        );
        assert!(matches!(checker.check(stick), Err(AccessError::Gone { .. })));
    }
}

#[test]
fn open_for_passthrough_gives_a_read_write_cloexec_fd() {
    let (tmp, devices, _, _) = setup();
    let dev = by_name(&devices, "2-1");
    let fd = AccessChecker::new(tmp.path()).open_for_passthrough(dev).unwrap();
    let fl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
    let fdfl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
    assert_ne!(fdfl & libc::FD_CLOEXEC, 0);
    assert!(fd.as_raw_fd() > 2);

    // A user identity is checked before opening and refused without touching the node.
    let err = AccessChecker::for_identity(tmp.path(), stranger(vec![]))
        .open_for_passthrough(by_name(&devices, "1-2.4"))
        .unwrap_err();
    assert!(matches!(err, AccessError::Denied(_)), "{err:?}");
}

#[test]
fn current_user_on_a_mode_000_node() {
    let (tmp, devices, _, _) = setup();
    let dev = by_name(&devices, "1-2.4");
    fs::set_permissions(dev.devnode(), fs::Permissions::from_mode(0o000)).unwrap();
    let checker = AccessChecker::new(tmp.path());
    if nix::unistd::geteuid().is_root() {
        assert!(checker.open_for_passthrough(dev).is_ok());
        assert!(checker.check(dev).is_ok());
    } else {
        let p = match checker.open_for_passthrough(dev) {
            Err(AccessError::Denied(p)) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!((p.missing, p.mode.as_str()), (Missing::ReadWrite, "----------"));
        assert_eq!(p.owner, "hangarowner");
    }
}
