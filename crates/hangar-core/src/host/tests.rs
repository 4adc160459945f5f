use super::*;
use std::collections::HashMap;

fn write(root: &Path, rel: &str, text: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn probe(root: &Path, env: &[(&str, &str)]) -> HostCaps {
    let map: HashMap<String, OsString> = env.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    HostCaps::probe_with(root, |k| map.get(k).cloned())
}

fn debian_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "dev/kvm", "", 0o660);
    write(r, "usr/bin/qemu-system-x86_64", "#!/bin/sh\n", 0o755);
    write(r, "usr/bin/swtpm", "#!/bin/sh\n", 0o755);
    write(r, "usr/lib/qemu/qemu-bridge-helper", "", 0o4755);
    for f in [
        "OVMF_CODE_4M.fd",
        "OVMF_VARS_4M.fd",
        "OVMF_CODE_4M.secboot.fd",
        "OVMF_VARS_4M.ms.fd",
    ] {
        write(r, &format!("usr/share/OVMF/{f}"), "", 0o644);
    }
    write(
        r,
        "proc/meminfo",
        "MemTotal:       24683520 kB\nMemFree: 1 kB\n",
        0o444,
    );
    write(r, "sys/devices/system/cpu/online", "0-3,6\n", 0o444);
    dir
}

#[test]
fn debian_host_is_found_completely() {
    let root = debian_root();
    let r = root.path();
    let caps = probe(r, &[("PATH", "/usr/local/bin:/usr/bin")]);
    assert_eq!(caps.kvm, KvmStatus::Usable);
    assert_eq!(caps.qemu_binary, Some(r.join("usr/bin/qemu-system-x86_64")));
    assert_eq!(caps.qemu().unwrap(), r.join("usr/bin/qemu-system-x86_64"));
    assert_eq!(caps.swtpm, Some(r.join("usr/bin/swtpm")));
    assert_eq!(
        caps.bridge_helper,
        Some(r.join("usr/lib/qemu/qemu-bridge-helper"))
    );
    let ovmf = caps.ovmf.unwrap();
    assert_eq!(ovmf.code, r.join("usr/share/OVMF/OVMF_CODE_4M.fd"));
    assert_eq!(ovmf.vars, r.join("usr/share/OVMF/OVMF_VARS_4M.fd"));
    assert_eq!(
        ovmf.code_for(true),
        Some(r.join("usr/share/OVMF/OVMF_CODE_4M.secboot.fd").as_path())
    );
    assert_eq!(
        ovmf.vars_template_for(true),
        Some(r.join("usr/share/OVMF/OVMF_VARS_4M.ms.fd").as_path())
    );
    assert_eq!(caps.cpus, 5);
    assert_eq!(caps.memory_mib, 24105);
    assert_eq!(caps.accel_override, None);
}

#[test]
fn empty_host_has_nothing_but_never_fails() {
    let root = tempfile::tempdir().unwrap();
    let caps = probe(root.path(), &[("PATH", "/usr/bin")]);
    assert_eq!(caps.kvm, KvmStatus::Missing);
    assert_eq!(caps.qemu_binary, None);
    assert_eq!(caps.qemu(), Err(HostError::QemuNotFound));
    assert!(caps.qemu().unwrap_err().to_string().contains("qemu-system-x86"));
    assert_eq!((caps.ovmf, caps.swtpm, caps.bridge_helper), (None, None, None));
    assert_eq!((caps.cpus, caps.memory_mib), (1, 0));
}

#[test]
fn fedora_ovmf_is_the_fallback_and_non_executables_are_skipped() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(r, "usr/share/edk2/ovmf/OVMF_CODE.fd", "", 0o644);
    write(r, "usr/share/edk2/ovmf/OVMF_VARS.fd", "", 0o644);
    write(r, "usr/share/edk2/ovmf/OVMF_CODE.secboot.fd", "", 0o644);
    write(r, "a/qemu-system-x86_64", "", 0o644);
    write(r, "b/qemu-system-x86_64", "", 0o755);
    write(r, "sys/devices/system/cpu/cpu0/x", "", 0o644);
    write(r, "sys/devices/system/cpu/cpu1/x", "", 0o644);
    write(r, "sys/devices/system/cpu/cpufreq/x", "", 0o644);
    let caps = probe(r, &[("PATH", "/a:relative:/b")]);
    let ovmf = caps.ovmf.unwrap();
    assert_eq!(ovmf.code, r.join("usr/share/edk2/ovmf/OVMF_CODE.fd"));
    assert_eq!(
        ovmf.secure_code, None,
        "secure code without secure vars is no pair"
    );
    assert_eq!(ovmf.code_for(true), None);
    assert_eq!(caps.qemu_binary, Some(r.join("b/qemu-system-x86_64")));
    assert_eq!(caps.cpus, 2);
}

#[test]
fn qemu_override_by_path_and_by_name() {
    let root = debian_root();
    let r = root.path();
    write(r, "opt/q/qemu-custom", "", 0o755);
    let caps = probe(r, &[("PATH", "/usr/bin"), ("HANGAR_QEMU", "/opt/q/qemu-custom")]);
    assert_eq!(caps.qemu().unwrap(), r.join("opt/q/qemu-custom"));
    let caps = probe(r, &[("PATH", "/opt/q"), ("HANGAR_QEMU", "qemu-custom")]);
    assert_eq!(caps.qemu().unwrap(), r.join("opt/q/qemu-custom"));
    let caps = probe(r, &[("PATH", "/usr/bin"), ("HANGAR_QEMU", "/nope/qemu")]);
    let err = caps.qemu().unwrap_err();
    assert!(err.to_string().contains("HANGAR_QEMU=\"/nope/qemu\""), "{err}");
}

#[test]
fn auto_uses_kvm_when_usable_and_falls_back_with_a_warning() {
    let mut caps = probe(debian_root().path(), &[]);
    let kvm = caps.resolve_accel(Accel::Auto).unwrap();
    assert_eq!((kvm.accel, kvm.warning), (AccelKind::Kvm, None));
    caps.kvm = KvmStatus::NotAccessible {
        reason: "permission denied".into(),
    };
    let r = caps.resolve_accel(Accel::Auto).unwrap();
    assert_eq!(r.accel, AccelKind::Tcg);
    assert_eq!(
        r.warning.as_deref(),
        Some("/dev/kvm is not accessible: permission denied; running with software emulation (slow)")
    );
    caps.kvm = KvmStatus::Missing;
    let r = caps.resolve_accel(Accel::Auto).unwrap();
    assert!(r.warning.unwrap().contains("does not exist"));
    assert_eq!(caps.resolve_accel(Accel::Tcg).unwrap().warning, None);
}

#[test]
fn kvm_required_but_unusable_is_an_error_with_the_fix() {
    let mut caps = probe(debian_root().path(), &[]);
    caps.kvm = KvmStatus::NotAccessible {
        reason: "permission denied: add yourself to the kvm group".into(),
    };
    let err = caps.resolve_accel(Accel::Kvm).unwrap_err().to_string();
    assert!(err.contains("machine.accel"), "{err}");
    assert!(err.contains("add yourself to the kvm group"), "{err}");
    assert!(err.contains("\"tcg\""), "{err}");
}

#[test]
fn env_override_wins_over_the_vm_setting() {
    let root = debian_root();
    let caps = probe(root.path(), &[("HANGAR_ACCEL", "tcg")]);
    assert_eq!(caps.resolve_accel(Accel::Kvm).unwrap().accel, AccelKind::Tcg);
    let mut caps = probe(root.path(), &[("HANGAR_ACCEL", "KVM")]);
    assert_eq!(caps.resolve_accel(Accel::Tcg).unwrap().accel, AccelKind::Kvm);
    caps.kvm = KvmStatus::Missing;
    let err = caps.resolve_accel(Accel::Tcg).unwrap_err().to_string();
    assert!(
        err.contains("HANGAR_ACCEL=kvm") && err.contains("unset HANGAR_ACCEL"),
        "{err}"
    );
    let caps = probe(root.path(), &[("HANGAR_ACCEL", "auto")]);
    assert_eq!(caps.resolve_accel(Accel::Tcg).unwrap().accel, AccelKind::Kvm);
    let caps = probe(root.path(), &[("HANGAR_ACCEL", "fast")]);
    let err = caps.resolve_accel(Accel::Auto).unwrap_err();
    assert_eq!(err, HostError::InvalidAccelOverride { value: "fast".into() });
    assert!(err.to_string().contains("tcg, kvm or auto"));
}

#[test]
fn permission_denied_names_owner_group_mode_and_fix() {
    let eacces = io::Error::from_raw_os_error(libc::EACCES);
    let kvm_group = NodeOwner {
        user: "root".into(),
        group: "kvm".into(),
        mode: 0o660,
    };
    let KvmStatus::NotAccessible { reason } = kvm_error_status(&eacces, Some(&kvm_group)) else {
        panic!("expected NotAccessible");
    };
    assert!(reason.contains("root:kvm") && reason.contains("0660"), "{reason}");
    assert!(reason.contains("sudo usermod -aG kvm $USER") && reason.contains("log in again"));

    let root_only = NodeOwner {
        group: "root".into(),
        mode: 0o600,
        ..kvm_group
    };
    let KvmStatus::NotAccessible { reason } = kvm_error_status(&eacces, Some(&root_only)) else {
        panic!("expected NotAccessible");
    };
    assert!(
        reason.contains("root:root") && reason.contains("chmod 0660"),
        "{reason}"
    );
    assert!(!reason.contains("-aG root"), "{reason}");

    let enxio = io::Error::from_raw_os_error(libc::ENXIO);
    let KvmStatus::NotAccessible { reason } = kvm_error_status(&enxio, None) else {
        panic!("expected NotAccessible");
    };
    assert!(reason.contains("VT-x/AMD-V"), "{reason}");
    let enoent = io::Error::from_raw_os_error(libc::ENOENT);
    assert_eq!(kvm_error_status(&enoent, None), KvmStatus::Missing);
}

#[test]
fn owner_names_come_from_the_probed_root() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "etc/group", "root:x:0:\nkvm:x:104:alice\n", 0o644);
    assert_eq!(name_of(root.path(), "etc/group", 104), "kvm");
    assert_eq!(name_of(root.path(), "etc/group", 7), "7");
    assert_eq!(name_of(root.path(), "etc/passwd", 0), "0");
}

#[test]
fn cpu_lists() {
    assert_eq!(count_cpu_list("0"), Some(1));
    assert_eq!(count_cpu_list("0-1"), Some(2));
    assert_eq!(count_cpu_list("0-3,6,8-9"), Some(7));
    assert_eq!(count_cpu_list("3-1"), None);
    assert_eq!(count_cpu_list("x"), None);
}
