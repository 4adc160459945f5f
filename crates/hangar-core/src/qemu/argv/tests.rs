use std::path::{Path, PathBuf};

use super::*;
use crate::config::*;
use crate::host::{AccelKind, AccelOverride, KvmStatus, Ovmf};
use crate::paths::Paths;

fn host() -> HostCaps {
    let ovmf = |f: &str| PathBuf::from("/usr/share/OVMF").join(f);
    HostCaps {
        kvm: KvmStatus::Usable,
        accel_override: None,
        qemu_binary: Some("/usr/bin/qemu-system-x86_64".into()),
        qemu_override: None,
        ovmf: Some(Ovmf {
            code: ovmf("OVMF_CODE_4M.fd"),
            vars: ovmf("OVMF_VARS_4M.fd"),
            secure_code: Some(ovmf("OVMF_CODE_4M.secboot.fd")),
            secure_vars: Some(ovmf("OVMF_VARS_4M.ms.fd")),
        }),
        swtpm: Some("/usr/bin/swtpm".into()),
        bridge_helper: Some("/usr/lib/qemu/qemu-bridge-helper".into()),
        cpus: 4,
        memory_mib: 8192,
    }
}

fn vm_dir(c: &VmConfig) -> PathBuf {
    PathBuf::from("/vms").join(&c.name)
}

fn run_with(c: &VmConfig, host: &HostCaps, opts: &LaunchOptions) -> Result<Argv, ArgvError> {
    let rt = Paths::new("/vms", "/run/hangar").runtime_for(&c.name);
    build(c, &vm_dir(c), host, &rt, opts)
}

fn run(c: &VmConfig) -> Vec<String> {
    strings(&run_with(c, &host(), &LaunchOptions::default()).unwrap())
}

fn strings(argv: &Argv) -> Vec<String> {
    argv.args
        .iter()
        .map(|a| a.to_str().expect("utf-8 in tests").to_string())
        .collect()
}

/// Every value following `flag`.
fn values<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

fn disk(id: &str, bus: DiskBus) -> DiskConfig {
    DiskConfig {
        id: id.into(),
        path: format!("{id}.qcow2").into(),
        format: "qcow2".into(),
        bus,
        readonly: false,
    }
}

#[test]
fn minimal_vm_has_the_fixed_frame() {
    let c = VmConfig::new("demo");
    let argv = run_with(&c, &host(), &LaunchOptions::default()).unwrap();
    assert_eq!(argv.program, PathBuf::from("/usr/bin/qemu-system-x86_64"));
    assert_eq!(argv.accel.accel, AccelKind::Kvm);
    let a = strings(&argv);
    assert_eq!(values(&a, "-name"), ["guest=demo,process=hangar-demo"]);
    assert_eq!(values(&a, "-machine"), ["q35,accel=kvm,vmport=off"]);
    assert_eq!(values(&a, "-cpu"), ["host"]);
    assert_eq!(values(&a, "-smp"), ["2"]);
    assert_eq!(values(&a, "-m"), ["2048M"]);
    assert_eq!(values(&a, "-pidfile"), ["/run/hangar/demo/qemu.pid"]);
    assert_eq!(values(&a, "-display"), ["none"]);
    assert_eq!(values(&a, "-vnc"), ["unix:/run/hangar/demo/vnc.sock"]);
    assert_eq!(
        values(&a, "-mon"),
        ["chardev=qmp,mode=control", "chardev=qmp-ctl,mode=control"]
    );
    for flag in ["-nodefaults", "-no-user-config"] {
        assert!(a.iter().any(|x| x == flag), "{flag} missing");
    }
    assert!(!a.iter().any(|x| x == "-S" || x == "-daemonize"));
    assert!(values(&a, "-device").contains(&"virtio-vga,id=video0"));
    assert!(values(&a, "-device").contains(&"usb-tablet,id=tablet0,bus=xhci.0"));
    assert!(values(&a, "-chardev")
        .contains(&"socket,id=vdagent,path=/run/hangar/demo/vdagent.sock,server=on,wait=off"));
    assert_eq!(values(&a, "-serial"), ["chardev:serial0"]);
    assert!(
        !a.iter().any(|x| x.contains("usb-redir")),
        "no redirection without SPICE"
    );
    assert!(argv.warnings.is_empty());
}

#[test]
fn paused_adds_dash_s() {
    let opts = LaunchOptions {
        paused: true,
        ..Default::default()
    };
    let a = strings(&run_with(&VmConfig::new("p"), &host(), &opts).unwrap());
    assert!(a.iter().any(|x| x == "-S"));
}

#[test]
fn commas_are_escaped_in_names_and_paths_but_not_in_plain_arguments() {
    let mut c = VmConfig::new("a,b c");
    c.disks.push(DiskConfig {
        path: "x,y.qcow2".into(),
        ..disk("d0", DiskBus::Virtio)
    });
    c.cdrom = Some(CdromConfig {
        path: Some("/isos/one,two.iso".into()),
    });
    let a = run(&c);
    assert_eq!(values(&a, "-name"), ["guest=a,,b c,process=hangar-a,,b c"]);
    assert!(values(&a, "-blockdev")
        .contains(&"driver=file,node-name=d0-file,filename=/vms/a,,b c/x,,y.qcow2,discard=unmap"));
    assert!(values(&a, "-blockdev")
        .contains(&"driver=file,node-name=cdrom0-file,filename=/isos/one,,two.iso,read-only=on"));
    assert_eq!(values(&a, "-vnc"), ["unix:/run/hangar/a,,b c/vnc.sock"]);
    assert!(values(&a, "-chardev")
        .iter()
        .any(|v| v.contains("logfile=/vms/a,,b c/serial.log,")));
    assert_eq!(
        values(&a, "-pidfile"),
        ["/run/hangar/a,b c/qemu.pid"],
        "-pidfile is a plain path"
    );
    // Every comma inside an option string is a separator of ours or doubled.
    for v in a.iter().filter(|v| v.contains("a,,b c")) {
        assert!(!v.replace("a,,b c", "").contains("a,b"), "{v}");
    }
}

#[test]
fn no_tcp_listener_in_any_display_or_network_variant() {
    for kind in [DisplayKind::Vnc, DisplayKind::Spice, DisplayKind::None] {
        let mut c = VmConfig::new("net");
        c.display.kind = kind;
        c.sound.model = SoundModel::Hda;
        c.networks.push(NetworkConfig {
            mode: NetMode::Bridge,
            bridge: Some("br0".into()),
            ..Default::default()
        });
        let a = run(&c);
        for arg in &a {
            for bad in [
                "tcp:",
                "0.0.0.0",
                ":59",
                "::",
                "websocket",
                "ipv4",
                "ipv6",
                "host=",
            ] {
                assert!(!arg.contains(bad), "{kind:?}: {arg:?} contains {bad:?}");
            }
            for key in arg.split(',') {
                assert!(
                    !key.starts_with("port=") && !key.starts_with("tls-port="),
                    "{kind:?}: {arg:?} opens a port"
                );
            }
        }
    }
    let mut c = VmConfig::new("fwd");
    c.networks[0].forwards = vec![
        PortForward {
            protocol: Protocol::Tcp,
            host_port: 2222,
            guest_port: 22,
        },
        PortForward {
            protocol: Protocol::Udp,
            host_port: 5353,
            guest_port: 53,
        },
    ];
    let a = run(&c);
    assert_eq!(
        values(&a, "-netdev"),
        ["user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:127.0.0.1:5353-:53"]
    );
    let tcp: Vec<&String> = a.iter().filter(|x| x.contains("tcp:")).collect();
    assert!(tcp
        .iter()
        .all(|x| x.split("hostfwd=").skip(1).all(|f| f.contains(":127.0.0.1:"))));
}

#[test]
fn boot_order_sets_bootindex_on_first_disk_cdrom_and_first_nic() {
    let mut c = VmConfig::new("boot");
    c.disks = vec![disk("a", DiskBus::Virtio), disk("b", DiskBus::Sata)];
    c.cdrom = Some(CdromConfig::default());
    c.networks.push(NetworkConfig::default());
    c.boot.order = vec![BootDevice::Network, BootDevice::Cdrom, BootDevice::Disk];
    c.boot.menu = true;
    let a = run(&c);
    let devices = values(&a, "-device");
    assert!(devices.contains(&"virtio-net-pci,netdev=net0,id=nic0,bootindex=1"));
    assert!(devices.contains(&"virtio-net-pci,netdev=net1,id=nic1"));
    assert!(
        devices.contains(&"ide-cd,bus=ide.1,id=cdrom0,bootindex=2"),
        "empty drive, next SATA port"
    );
    assert!(devices.contains(&"virtio-blk-pci,drive=a,id=dev-a,bootindex=3"));
    assert!(devices.contains(&"ide-hd,bus=ide.0,drive=b,id=dev-b"));
    assert_eq!(values(&a, "-boot"), ["menu=on"]);

    c.boot.order = vec![BootDevice::Cdrom];
    c.cdrom = None;
    let a = run(&c);
    assert!(
        !a.iter().any(|x| x.contains("bootindex")),
        "absent devices get no index"
    );
}

#[test]
fn disposable_overlays_sit_on_top_with_the_disk_node_name() {
    let mut c = VmConfig::new("tmp");
    c.disks = vec![DiskConfig {
        format: "raw".into(),
        path: "/data/base.img".into(),
        ..disk("root", DiskBus::Virtio)
    }];
    let opts = LaunchOptions {
        disposable_overlays: Some(vec!["/run/hangar/tmp/overlays/root.qcow2".into()]),
        paused: false,
    };
    let a = strings(&run_with(&c, &host(), &opts).unwrap());
    assert_eq!(
        values(&a, "-blockdev"),
        [
            "driver=file,node-name=root-base-file,filename=/data/base.img,read-only=on",
            "driver=raw,node-name=root-base,file=root-base-file,read-only=on",
            "driver=file,node-name=root-file,filename=/run/hangar/tmp/overlays/root.qcow2,discard=unmap",
            "driver=qcow2,node-name=root,file=root-file,backing=root-base,discard=unmap",
        ]
    );
    assert!(values(&a, "-device").contains(&"virtio-blk-pci,drive=root,id=dev-root,bootindex=1"));

    let wrong = LaunchOptions {
        disposable_overlays: Some(vec![]),
        paused: false,
    };
    assert_eq!(
        run_with(&c, &host(), &wrong).unwrap_err(),
        ArgvError::OverlayCount {
            disks: 1,
            overlays: 0
        }
    );
}

#[test]
fn uefi_secure_boot_and_tpm() {
    let mut c = VmConfig::new("win");
    c.os = Some("win11".into());
    c.firmware = FirmwareConfig {
        kind: FirmwareKind::Uefi,
        secure_boot: true,
        tpm: true,
    };
    let a = run(&c);
    assert_eq!(
        values(&a, "-machine"),
        ["q35,accel=kvm,vmport=off,smm=on,pflash0=ovmf-code,pflash1=ovmf-vars"]
    );
    let blockdevs = values(&a, "-blockdev");
    assert!(blockdevs.contains(
        &"driver=file,node-name=ovmf-code-file,filename=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd,read-only=on"
    ));
    assert!(blockdevs.contains(&"driver=file,node-name=ovmf-vars-file,filename=/vms/win/OVMF_VARS.fd"));
    assert_eq!(
        values(&a, "-global"),
        ["driver=cfi.pflash01,property=secure,value=on"]
    );
    assert_eq!(values(&a, "-tpmdev"), ["emulator,id=tpm0,chardev=chrtpm"]);
    assert!(values(&a, "-device").contains(&"tpm-crb,tpmdev=tpm0"));
    assert_eq!(values(&a, "-rtc"), ["base=localtime"]);
    assert_eq!(uefi_vars_path(Path::new("/v")), PathBuf::from("/v/OVMF_VARS.fd"));
    assert_eq!(tpm_state_dir(Path::new("/v")), PathBuf::from("/v/tpm"));

    c.firmware.secure_boot = false;
    let a = run(&c);
    assert_eq!(
        values(&a, "-machine"),
        ["q35,accel=kvm,vmport=off,pflash0=ovmf-code,pflash1=ovmf-vars"]
    );
    assert!(values(&a, "-global").is_empty());
}

#[test]
fn missing_host_pieces_are_errors_with_the_fix() {
    let mut c = VmConfig::new("needs");
    c.firmware = FirmwareConfig {
        kind: FirmwareKind::Uefi,
        secure_boot: true,
        tpm: true,
    };
    let opts = LaunchOptions::default();
    let mut h = host();
    h.ovmf.as_mut().unwrap().secure_vars = None;
    assert_eq!(run_with(&c, &h, &opts).unwrap_err(), ArgvError::NoSecureBootOvmf);
    h.ovmf = None;
    let err = run_with(&c, &h, &opts).unwrap_err();
    assert_eq!(err, ArgvError::NoOvmf);
    assert!(err.to_string().contains("install the ovmf package"));
    c.firmware.kind = FirmwareKind::Bios;
    c.firmware.secure_boot = false;
    h.swtpm = None;
    assert!(run_with(&c, &h, &opts)
        .unwrap_err()
        .to_string()
        .contains("install the swtpm package"));
    c.firmware.tpm = false;
    c.networks[0] = NetworkConfig {
        mode: NetMode::Bridge,
        bridge: Some("br0".into()),
        ..Default::default()
    };
    h.bridge_helper = None;
    assert_eq!(
        run_with(&c, &h, &opts).unwrap_err(),
        ArgvError::NoBridgeHelper {
            index: 0,
            bridge: "br0".into()
        }
    );
    h.qemu_binary = None;
    assert!(run_with(&c, &h, &opts)
        .unwrap_err()
        .to_string()
        .contains("qemu-system-x86 package"));
}

#[test]
fn accelerator_resolution_reaches_the_argv() {
    let mut c = VmConfig::new("acc");
    let mut h = host();
    h.kvm = KvmStatus::NotAccessible {
        reason: "permission denied".into(),
    };
    let argv = run_with(&c, &h, &LaunchOptions::default()).unwrap();
    assert_eq!(argv.accel.accel, AccelKind::Tcg);
    assert_eq!(argv.warnings.len(), 1);
    assert!(argv.warnings[0].contains("software emulation"));
    let a = strings(&argv);
    assert_eq!(values(&a, "-machine"), ["q35,accel=tcg,vmport=off"]);
    assert_eq!(values(&a, "-cpu"), ["max"]);

    c.machine.accel = Accel::Kvm;
    assert!(matches!(
        run_with(&c, &h, &LaunchOptions::default()),
        Err(ArgvError::Host(HostError::KvmUnavailable { .. }))
    ));
    h.accel_override = Some(AccelOverride::Force(Accel::Tcg));
    assert!(run_with(&c, &h, &LaunchOptions::default())
        .unwrap()
        .warnings
        .is_empty());

    c.machine.cpu_model = Some("host".into());
    assert_eq!(
        run_with(&c, &h, &LaunchOptions::default()).unwrap_err(),
        ArgvError::HostCpuNeedsKvm
    );
    c.machine.cpu_model = Some("Skylake-Client".into());
    let a = strings(&run_with(&c, &h, &LaunchOptions::default()).unwrap());
    assert_eq!(values(&a, "-cpu"), ["Skylake-Client"]);
}

#[test]
fn sata_limits_and_read_only_sata_disks_are_refused() {
    let mut c = VmConfig::new("sata");
    c.disks = (0..6).map(|i| disk(&format!("d{i}"), DiskBus::Sata)).collect();
    assert!(run_with(&c, &host(), &LaunchOptions::default()).is_ok());
    c.cdrom = Some(CdromConfig::default());
    let err = run_with(&c, &host(), &LaunchOptions::default()).unwrap_err();
    assert_eq!(err, ArgvError::TooManySataDevices { count: 7 });
    assert!(err.to_string().contains("bus = \"virtio\""));
    c.cdrom = None;
    c.disks[3].readonly = true;
    assert_eq!(
        run_with(&c, &host(), &LaunchOptions::default()).unwrap_err(),
        ArgvError::ReadonlySataDisk { id: "d3".into() }
    );
    c.disks[3].bus = DiskBus::Virtio;
    let a = run(&c);
    assert!(values(&a, "-blockdev").contains(&"driver=qcow2,node-name=d3,file=d3-file,read-only=on"));
}

#[test]
fn disk_ids_that_clash_with_internal_names_are_refused() {
    for (ids, clash) in [
        (vec!["cdrom0"], "cdrom0"),
        (vec!["ovmf-vars"], "ovmf-vars"),
        (vec!["a", "a-file"], "a-file"),
        (vec!["b-base", "b"], "b-base"),
    ] {
        let mut c = VmConfig::new("clash");
        c.disks = ids.iter().map(|id| disk(id, DiskBus::Virtio)).collect();
        match run_with(&c, &host(), &LaunchOptions::default()) {
            Err(ArgvError::NameClash { clash: got, .. }) => assert_eq!(got, clash),
            other => panic!("{ids:?}: {other:?}"),
        }
    }
}

#[test]
fn invalid_configs_and_relative_folders_are_refused() {
    let mut c = VmConfig::new("bad");
    c.machine.cpus = 0;
    assert!(matches!(
        run_with(&c, &host(), &LaunchOptions::default()),
        Err(ArgvError::Config(_))
    ));
    let c = VmConfig::new("rel");
    let rt = Paths::new("/vms", "/run/hangar").runtime_for("rel");
    assert_eq!(
        build(&c, Path::new("vms/rel"), &host(), &rt, &LaunchOptions::default()).unwrap_err(),
        ArgvError::RelativeVmDir("vms/rel".into())
    );
}

#[test]
fn spice_gets_agent_redirection_audio_and_clipboard_policy() {
    let mut c = VmConfig::new("sp");
    c.display = DisplayConfig {
        kind: DisplayKind::Spice,
        video: VideoModel::Qxl,
    };
    c.sound.model = SoundModel::Ac97;
    c.usb.redirect_channels = 1;
    let a = run(&c);
    assert_eq!(
        values(&a, "-spice"),
        ["unix=on,addr=/run/hangar/sp/spice.sock,disable-ticketing=on,image-compression=off"]
    );
    assert_eq!(values(&a, "-audiodev"), ["spice,id=snd0"]);
    assert!(values(&a, "-device").contains(&"AC97,id=sound0,audiodev=snd0"));
    assert!(values(&a, "-chardev").contains(&"spicevmc,id=vdagent,name=vdagent"));
    assert!(values(&a, "-chardev").contains(&"spicevmc,id=usbredirchardev0,name=usbredir"));
    assert!(values(&a, "-device").contains(&"usb-redir,chardev=usbredirchardev0,id=usbredirdev0,bus=xhci.0"));
    assert!(values(&a, "-vnc").is_empty());

    c.untrusted = true;
    let a = run(&c);
    assert!(values(&a, "-spice")[0].ends_with(",disable-copy-paste=on,disable-agent-file-xfer=on"));

    c.usb = UsbConfig {
        controller: false,
        tablet: false,
        redirect_channels: 2,
        rules: vec![],
    };
    let argv = run_with(&c, &host(), &LaunchOptions::default()).unwrap();
    assert!(argv.warnings[0].contains("usb.redirect_channels is ignored"));
    assert!(!strings(&argv).iter().any(|x| x.contains("xhci")));
}

#[test]
fn vnc_sound_and_headless_variants() {
    let mut c = VmConfig::new("v");
    c.sound.model = SoundModel::Hda;
    let a = run(&c);
    assert_eq!(values(&a, "-vnc"), ["unix:/run/hangar/v/vnc.sock,audiodev=snd0"]);
    assert_eq!(values(&a, "-audiodev"), ["none,id=snd0"]);
    assert!(values(&a, "-device").contains(&"hda-duplex,bus=sound0.0,audiodev=snd0"));

    c.display.kind = DisplayKind::None;
    c.channels.guest_agent = false;
    c.channels.serial = false;
    c.networks.clear();
    let a = run(&c);
    assert!(values(&a, "-vnc").is_empty() && values(&a, "-spice").is_empty());
    assert!(
        !a.iter().any(|x| x.contains("video0")),
        "headless has no video card"
    );
    assert!(!a
        .iter()
        .any(|x| x.contains("qga") || x == "-serial" || x == "-netdev"));
    assert!(values(&a, "-chardev")
        .contains(&"socket,id=vdagent,path=/run/hangar/v/vdagent.sock,server=on,wait=off"));
}

#[test]
fn video_models_map_to_devices() {
    for (video, device) in [
        (VideoModel::Virtio, "virtio-vga"),
        (VideoModel::Std, "VGA"),
        (VideoModel::Qxl, "qxl-vga"),
        (VideoModel::Bochs, "bochs-display"),
        (VideoModel::Cirrus, "cirrus-vga"),
        (VideoModel::Ramfb, "ramfb"),
    ] {
        let mut c = VmConfig::new("vid");
        c.display.video = video;
        assert!(values(&run(&c), "-device").contains(&format!("{device},id=video0").as_str()));
    }
}

#[test]
fn extra_args_come_last_and_verbatim() {
    let mut c = VmConfig::new("x");
    c.advanced.extra_args = vec!["-device".into(), "virtio-balloon-pci,id=b,x=a,b".into()];
    let a = run(&c);
    assert_eq!(&a[a.len() - 2..], ["-device", "virtio-balloon-pci,id=b,x=a,b"]);
}
