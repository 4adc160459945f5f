//! Network, display, sound, USB and the virtio-serial channels.

use std::path::Path;

use super::opts::{Args, Opt};
use super::storage::BootIndex;
use super::{serial_log_path, socket_server, ArgvError, USB_CONTROLLER_ID};
use crate::config::{DisplayKind, NetMode, NicModel, Protocol, SoundModel, VideoModel, VmConfig};
use crate::host::HostCaps;
use crate::paths::RuntimePaths;

/// Id of the one audio backend.
const AUDIODEV: &str = "snd0";
/// Ports per speed on the xHCI controller (QEMU's default of 4 fills up quickly with the tablet,
/// SPICE redirection and passed-through devices).
const XHCI_PORTS: &str = "8";

/// `-netdev` + NIC per `[[network]]`; none at all for zero networks.
pub(super) fn network(
    args: &mut Args,
    config: &VmConfig,
    host: &HostCaps,
    boot: &BootIndex,
) -> Result<(), ArgvError> {
    for (i, net) in config.networks.iter().enumerate() {
        let netdev = format!("net{i}");
        let backend = match net.mode {
            NetMode::Nat => net
                .forwards
                .iter()
                .fold(Opt::new("user").kv("id", &netdev), |opt, f| {
                    let proto = match f.protocol {
                        Protocol::Tcp => "tcp",
                        Protocol::Udp => "udp",
                    };
                    // Loopback only: forwards are never reachable from other machines.
                    opt.kv(
                        "hostfwd",
                        format!("{proto}:127.0.0.1:{}-:{}", f.host_port, f.guest_port),
                    )
                }),
            NetMode::Bridge => {
                let bridge = net.bridge.clone().unwrap_or_default();
                let helper = host
                    .bridge_helper
                    .as_ref()
                    .ok_or_else(|| ArgvError::NoBridgeHelper {
                        index: i,
                        bridge: bridge.clone(),
                    })?;
                Opt::new("bridge")
                    .kv("id", &netdev)
                    .kv("br", &bridge)
                    .kv("helper", helper)
            }
        };
        args.opt("-netdev", backend);
        let model = match net.model {
            NicModel::Virtio => "virtio-net-pci",
            NicModel::E1000e => "e1000e",
            NicModel::Rtl8139 => "rtl8139",
        };
        args.opt(
            "-device",
            Opt::new(model)
                .kv("netdev", &netdev)
                .kv("id", format!("nic{i}"))
                .kv_opt("mac", net.mac.as_deref())
                .kv_opt("bootindex", boot.nic.filter(|_| i == 0).map(|n| n.to_string())),
        );
    }
    Ok(())
}

/// Remote display server, video card and sound card.
pub(super) fn display(args: &mut Args, config: &VmConfig, rt: &RuntimePaths) {
    let kind = config.display.kind;
    let sound = config.sound.model != SoundModel::None;
    match kind {
        DisplayKind::Vnc => {
            // VNC clients with the audio extension get the sound of this audiodev.
            args.opt(
                "-vnc",
                Opt::prefixed("unix:", &rt.vnc).kv_opt("audiodev", sound.then_some(AUDIODEV)),
            );
        }
        DisplayKind::Spice => {
            // SPICE can only switch the clipboard off as a whole; one-way policies are enforced
            // by Hangar's SPICE client.
            let clipboard = config.effective_clipboard();
            args.opt(
                "-spice",
                Opt::kv_first("unix", "on")
                    .kv("addr", &rt.spice)
                    .kv("disable-ticketing", "on")
                    .kv("image-compression", "off")
                    .on_if(
                        "disable-copy-paste",
                        !clipboard.host_to_guest && !clipboard.guest_to_host,
                    )
                    .on_if("disable-agent-file-xfer", config.untrusted),
            );
        }
        DisplayKind::None => {}
    }
    if kind != DisplayKind::None {
        let video = match config.display.video {
            VideoModel::Virtio => "virtio-vga",
            VideoModel::Std => "VGA",
            VideoModel::Qxl => "qxl-vga",
            VideoModel::Bochs => "bochs-display",
            VideoModel::Cirrus => "cirrus-vga",
            VideoModel::Ramfb => "ramfb",
        };
        args.opt("-device", Opt::new(video).kv("id", "video0"));
    }
    if sound {
        let backend = if kind == DisplayKind::Spice {
            "spice"
        } else {
            "none"
        };
        args.opt("-audiodev", Opt::new(backend).kv("id", AUDIODEV));
        match config.sound.model {
            SoundModel::Hda => {
                args.opt("-device", Opt::new("ich9-intel-hda").kv("id", "sound0"));
                args.opt(
                    "-device",
                    Opt::new("hda-duplex")
                        .kv("bus", "sound0.0")
                        .kv("audiodev", AUDIODEV),
                );
            }
            SoundModel::Ac97 => {
                args.opt(
                    "-device",
                    Opt::new("AC97").kv("id", "sound0").kv("audiodev", AUDIODEV),
                );
            }
            SoundModel::None => {}
        }
    }
}

/// xHCI controller, tablet and SPICE USB redirection channels.
pub(super) fn usb(args: &mut Args, config: &VmConfig, warnings: &mut Vec<String>) {
    let usb = &config.usb;
    let bus = format!("{USB_CONTROLLER_ID}.0");
    if usb.controller {
        args.opt(
            "-device",
            Opt::new("qemu-xhci")
                .kv("id", USB_CONTROLLER_ID)
                .kv("p2", XHCI_PORTS)
                .kv("p3", XHCI_PORTS),
        );
    }
    if usb.tablet && usb.controller {
        args.opt(
            "-device",
            Opt::new("usb-tablet").kv("id", "tablet0").kv("bus", &bus),
        );
    }
    if config.display.kind == DisplayKind::Spice && usb.redirect_channels > 0 {
        if !usb.controller {
            warnings.push(
                "usb.redirect_channels is ignored because the VM has no USB controller \
                 (set usb.controller = true to redirect USB devices over SPICE)"
                    .into(),
            );
            return;
        }
        for i in 0..usb.redirect_channels {
            let chardev = format!("usbredirchardev{i}");
            args.opt(
                "-chardev",
                Opt::new("spicevmc").kv("id", &chardev).kv("name", "usbredir"),
            );
            args.opt(
                "-device",
                Opt::new("usb-redir")
                    .kv("chardev", &chardev)
                    .kv("id", format!("usbredirdev{i}"))
                    .kv("bus", &bus),
            );
        }
    }
}

/// virtio-serial ports (SPICE agent, guest agent) and the serial console.
pub(super) fn channels(args: &mut Args, config: &VmConfig, vm_dir: &Path, rt: &RuntimePaths) {
    args.opt("-device", Opt::new("virtio-serial-pci").kv("id", "vser0"));
    // The spice-vdagent port exists for every display: SPICE serves it itself; for VNC and
    // headless VMs Hangar speaks the agent protocol on rt.vdagent.
    let vdagent = if config.display.kind == DisplayKind::Spice {
        Opt::new("spicevmc").kv("id", "vdagent").kv("name", "vdagent")
    } else {
        socket_server("vdagent", &rt.vdagent)
    };
    args.opt("-chardev", vdagent);
    args.opt(
        "-device",
        Opt::new("virtserialport")
            .kv("bus", "vser0.0")
            .kv("chardev", "vdagent")
            .kv("name", "com.redhat.spice.0")
            .kv("id", "vdagent-port"),
    );
    if config.channels.guest_agent {
        args.opt("-chardev", socket_server("qga0", &rt.guest_agent));
        args.opt(
            "-device",
            Opt::new("virtserialport")
                .kv("bus", "vser0.0")
                .kv("chardev", "qga0")
                .kv("name", "org.qemu.guest_agent.0")
                .kv("id", "qga-port"),
        );
    }
    if config.channels.serial {
        args.opt(
            "-chardev",
            socket_server("serial0", &rt.serial)
                .kv("logfile", serial_log_path(vm_dir))
                .kv("logappend", "on"),
        );
        args.raw("-serial", "chardev:serial0");
    }
}
