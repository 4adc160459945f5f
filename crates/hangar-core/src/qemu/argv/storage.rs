//! Firmware (OVMF pflash, TPM), disks, the CD-ROM drive and boot order.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::opts::{Args, Opt};
use super::{
    disk_device_id, disk_node_name, resolve, uefi_vars_path, ArgvError, LaunchOptions, CDROM_DEVICE_ID,
    SATA_PORTS,
};
use crate::config::{BootDevice, DiskBus, DiskConfig, FirmwareKind, VmConfig};
use crate::host::HostCaps;
use crate::paths::RuntimePaths;

const OVMF_CODE_NODE: &str = "ovmf-code";
const OVMF_VARS_NODE: &str = "ovmf-vars";
/// Node of the inserted CD-ROM medium.
const CDROM_NODE: &str = "cdrom0";

/// Node names Hangar uses for things other than disks.
const RESERVED_NODES: &[&str] = &[
    OVMF_CODE_NODE,
    "ovmf-code-file",
    OVMF_VARS_NODE,
    "ovmf-vars-file",
    CDROM_NODE,
    "cdrom0-file",
];

/// Firmware part of the command line.
pub(super) struct Firmware {
    /// `-machine smm=on` (Secure Boot).
    pub smm: bool,
    /// `-machine pflash0=…,pflash1=…` node names.
    pub pflash: Option<(&'static str, &'static str)>,
    pub args: Vec<OsString>,
}

pub(super) fn firmware(
    config: &VmConfig,
    vm_dir: &Path,
    host: &HostCaps,
    rt: &RuntimePaths,
) -> Result<Firmware, ArgvError> {
    let fw = &config.firmware;
    let mut args = Args::default();
    let mut pflash = None;
    if fw.kind == FirmwareKind::Uefi {
        let ovmf = host.ovmf.as_ref().ok_or(ArgvError::NoOvmf)?;
        let code = ovmf.code_for(fw.secure_boot).ok_or(ArgvError::NoSecureBootOvmf)?;
        if fw.secure_boot && ovmf.vars_template_for(true).is_none() {
            return Err(ArgvError::NoSecureBootOvmf);
        }
        raw_image(&mut args, OVMF_CODE_NODE, code, true);
        raw_image(&mut args, OVMF_VARS_NODE, &uefi_vars_path(vm_dir), false);
        if fw.secure_boot {
            args.opt(
                "-global",
                Opt::kv_first("driver", "cfi.pflash01")
                    .kv("property", "secure")
                    .kv("value", "on"),
            );
        }
        pflash = Some((OVMF_CODE_NODE, OVMF_VARS_NODE));
    }
    if fw.tpm {
        if host.swtpm.is_none() {
            return Err(ArgvError::NoSwtpm);
        }
        // The launcher runs swtpm (state in `tpm_state_dir(vm_dir)`) listening on rt.tpm.
        args.opt(
            "-chardev",
            Opt::new("socket").kv("id", "chrtpm").kv("path", &rt.tpm),
        );
        args.opt(
            "-tpmdev",
            Opt::new("emulator").kv("id", "tpm0").kv("chardev", "chrtpm"),
        );
        args.opt("-device", Opt::new("tpm-crb").kv("tpmdev", "tpm0"));
    }
    Ok(Firmware {
        smm: fw.kind == FirmwareKind::Uefi && fw.secure_boot,
        pflash,
        args: args.0,
    })
}

/// A file protocol node `<node>-file` and a raw format node `<node>` on top.
fn raw_image(args: &mut Args, node: &str, path: &Path, readonly: bool) {
    let file = format!("{node}-file");
    args.opt(
        "-blockdev",
        Opt::kv_first("driver", "file")
            .kv("node-name", &file)
            .kv("filename", path)
            .on_if("read-only", readonly),
    );
    args.opt(
        "-blockdev",
        Opt::kv_first("driver", "raw")
            .kv("node-name", node)
            .kv("file", &file)
            .on_if("read-only", readonly),
    );
}

/// `bootindex` of the first disk, the CD-ROM drive and the first NIC, following `boot.order`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct BootIndex {
    pub disk: Option<u32>,
    pub cdrom: Option<u32>,
    pub nic: Option<u32>,
}

impl BootIndex {
    pub(super) fn new(config: &VmConfig) -> Self {
        let mut index = BootIndex::default();
        let mut next = 1;
        for device in &config.boot.order {
            let (present, slot) = match device {
                BootDevice::Disk => (!config.disks.is_empty(), &mut index.disk),
                BootDevice::Cdrom => (config.cdrom.is_some(), &mut index.cdrom),
                BootDevice::Network => (!config.networks.is_empty(), &mut index.nic),
            };
            if present {
                *slot = Some(next);
                next += 1;
            }
        }
        index
    }
}

/// Every node name a disk may use (with and without a disposable overlay).
fn disk_nodes(id: &str) -> [String; 4] {
    [
        disk_node_name(id),
        format!("{id}-file"),
        format!("{id}-base"),
        format!("{id}-base-file"),
    ]
}

fn check_node_names(disks: &[DiskConfig]) -> Result<(), ArgvError> {
    for (i, disk) in disks.iter().enumerate() {
        for name in disk_nodes(&disk.id) {
            let clash = RESERVED_NODES.iter().any(|r| *r == name)
                || disks
                    .iter()
                    .enumerate()
                    .any(|(j, other)| j != i && disk_nodes(&other.id).contains(&name));
            if clash {
                return Err(ArgvError::NameClash {
                    id: disk.id.clone(),
                    clash: name,
                });
            }
        }
    }
    Ok(())
}

/// Disks and the CD-ROM drive: `-blockdev` nodes and `-device` lines.
pub(super) fn drives(
    config: &VmConfig,
    vm_dir: &Path,
    opts: &LaunchOptions,
    boot: &BootIndex,
) -> Result<Vec<OsString>, ArgvError> {
    check_node_names(&config.disks)?;
    let overlays: Vec<Option<&PathBuf>> = match &opts.disposable_overlays {
        Some(list) if list.len() != config.disks.len() => {
            return Err(ArgvError::OverlayCount {
                disks: config.disks.len(),
                overlays: list.len(),
            })
        }
        Some(list) => list.iter().map(Some).collect(),
        None => vec![None; config.disks.len()],
    };
    let sata_count =
        config.disks.iter().filter(|d| d.bus == DiskBus::Sata).count() + usize::from(config.cdrom.is_some());
    if sata_count > SATA_PORTS {
        return Err(ArgvError::TooManySataDevices { count: sata_count });
    }

    let mut args = Args::default();
    let mut sata_port = 0;
    for (i, (disk, overlay)) in config.disks.iter().zip(overlays).enumerate() {
        let image = resolve(vm_dir, &disk.path);
        let overlay = overlay.map(|o| resolve(vm_dir, o));
        disk_nodes_args(&mut args, disk, &image, overlay.as_deref());
        let bootindex = if i == 0 { boot.disk } else { None };
        let device = match disk.bus {
            DiskBus::Virtio => Opt::new("virtio-blk-pci"),
            DiskBus::Sata => {
                if disk.readonly {
                    return Err(ArgvError::ReadonlySataDisk { id: disk.id.clone() });
                }
                let bus = format!("ide.{sata_port}");
                sata_port += 1;
                Opt::new("ide-hd").kv("bus", bus)
            }
        };
        args.opt(
            "-device",
            device
                .kv("drive", disk_node_name(&disk.id))
                .kv("id", disk_device_id(&disk.id))
                .kv_opt("bootindex", bootindex.map(|n| n.to_string())),
        );
    }

    if let Some(cdrom) = &config.cdrom {
        if let Some(iso) = &cdrom.path {
            raw_image(&mut args, CDROM_NODE, &resolve(vm_dir, iso), true);
        }
        args.opt(
            "-device",
            Opt::new("ide-cd")
                .kv("bus", format!("ide.{sata_port}"))
                .kv("id", CDROM_DEVICE_ID)
                .kv_opt("drive", cdrom.path.as_ref().map(|_| CDROM_NODE))
                .kv_opt("bootindex", boot.cdrom.map(|n| n.to_string())),
        );
    }
    Ok(args.0)
}

/// The block nodes of one disk. Without an overlay: `<id>-file` (file) under `<id>` (format).
/// With one: the disk becomes the read-only `<id>-base-file`/`<id>-base` pair and `<id>` is a
/// qcow2 node on the overlay file (`<id>-file`) whose backing is `<id>-base`.
fn disk_nodes_args(args: &mut Args, disk: &DiskConfig, image: &Path, overlay: Option<&Path>) {
    let id = disk.id.as_str();
    let top = disk_node_name(id);
    let top_file = format!("{id}-file");
    let writable_opts = |opt: Opt, readonly: bool| {
        if readonly {
            opt.kv("read-only", "on")
        } else {
            opt.kv("discard", "unmap")
        }
    };
    let (image_node, image_file, image_readonly) = match overlay {
        Some(_) => (format!("{id}-base"), format!("{id}-base-file"), true),
        None => (top.clone(), top_file.clone(), disk.readonly),
    };
    args.opt(
        "-blockdev",
        writable_opts(
            Opt::kv_first("driver", "file")
                .kv("node-name", &image_file)
                .kv("filename", image),
            image_readonly,
        ),
    );
    args.opt(
        "-blockdev",
        writable_opts(
            Opt::kv_first("driver", &disk.format)
                .kv("node-name", &image_node)
                .kv("file", &image_file),
            image_readonly,
        ),
    );
    if let Some(overlay) = overlay {
        args.opt(
            "-blockdev",
            writable_opts(
                Opt::kv_first("driver", "file")
                    .kv("node-name", &top_file)
                    .kv("filename", overlay),
                disk.readonly,
            ),
        );
        args.opt(
            "-blockdev",
            writable_opts(
                Opt::kv_first("driver", "qcow2")
                    .kv("node-name", &top)
                    .kv("file", &top_file)
                    .kv("backing", &image_node),
                disk.readonly,
            ),
        );
    }
}
