//! The pure argv builder: `(vm.toml, VM folder, host, runtime paths, launch options) -> argv`.
//!
//! [`build`] does no I/O: it neither checks that files exist nor creates anything. The launcher
//! prepares what the argv refers to (the per-VM OVMF variable copy at [`uefi_vars_path`], swtpm
//! listening on `rt.tpm` with its state in [`tpm_state_dir`], disposable overlays) and checks
//! the disks exist.
//!
//! The generated command line targets QEMU 7.2 (Debian 12). Everything QEMU listens on is a unix
//! socket below [`RuntimePaths::dir`]; the only TCP listeners are the NAT port forwards the user
//! configured, bound to 127.0.0.1.

mod devices;
mod opts;
mod storage;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, VmConfig};
use crate::host::{AccelKind, HostCaps, HostError, ResolvedAccel};
use crate::paths::RuntimePaths;

pub use opts::qemu_opt_escape;
use opts::{Args, Opt};

/// File name of the per-VM copy of the OVMF variable store.
pub const UEFI_VARS_FILE: &str = "OVMF_VARS.fd";
/// Folder (inside the VM folder) holding swtpm's state.
pub const TPM_STATE_DIR: &str = "tpm";
/// File (inside the VM folder) logging the serial console.
pub const SERIAL_LOG_FILE: &str = "serial.log";
/// SATA ports of q35's built-in AHCI controller (`ide.0` … `ide.5`).
pub const SATA_PORTS: usize = 6;

/// The per-VM UEFI variable store; the launcher copies the host's template there on first start.
pub fn uefi_vars_path(vm_dir: &Path) -> PathBuf {
    vm_dir.join(UEFI_VARS_FILE)
}

/// swtpm's state folder for this VM.
pub fn tpm_state_dir(vm_dir: &Path) -> PathBuf {
    vm_dir.join(TPM_STATE_DIR)
}

/// Where QEMU logs the serial console of this VM (appending).
pub fn serial_log_path(vm_dir: &Path) -> PathBuf {
    vm_dir.join(SERIAL_LOG_FILE)
}

/// Node name of the top (format) node of a disk: its id, so snapshots and QMP can name it.
pub fn disk_node_name(disk_id: &str) -> String {
    disk_id.to_string()
}

/// QEMU device id of a disk.
pub fn disk_device_id(disk_id: &str) -> String {
    format!("dev-{disk_id}")
}

/// QEMU device id of the CD-ROM drive (for `blockdev-change-medium`, `eject`).
pub const CDROM_DEVICE_ID: &str = "cdrom0";
/// Id of the `qemu-xhci` controller (its bus is `xhci.0`).
pub const USB_CONTROLLER_ID: &str = "xhci";

/// How this start differs from a plain one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchOptions {
    /// Disposable run: one qcow2 overlay per disk, same order as `config.disks`, each backed by
    /// its disk. The guest writes into the overlays; the disks stay untouched.
    pub disposable_overlays: Option<Vec<PathBuf>>,
    /// Start with the vCPUs stopped (`-S`); continue with QMP `cont`.
    pub paused: bool,
}

/// A ready command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub accel: ResolvedAccel,
    /// Things the user should see (accelerator fallback, ignored settings).
    pub warnings: Vec<String>,
}

/// Why no command line could be built. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgvError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("the VM folder {0:?} is not an absolute path: set HANGAR_HOME to an absolute path")]
    RelativeVmDir(PathBuf),
    #[error(
        "this VM uses UEFI firmware, but OVMF was not found (looked in /usr/share/OVMF and \
         /usr/share/edk2/ovmf): install the ovmf package, or set firmware.kind = \"bios\""
    )]
    NoOvmf,
    #[error(
        "this VM uses Secure Boot, but no Secure Boot build of OVMF with enrolled keys was found \
         (OVMF_CODE_4M.secboot.fd and OVMF_VARS_4M.ms.fd): install the ovmf package, or set \
         firmware.secure_boot = false"
    )]
    NoSecureBootOvmf,
    #[error("this VM has a TPM, but swtpm was not found on PATH: install the swtpm package, or set firmware.tpm = false")]
    NoSwtpm,
    #[error(
        "network[{index}] uses the bridge {bridge:?}, but qemu-bridge-helper was not found (looked in \
         /usr/lib/qemu and /usr/libexec): install the qemu-system-common package, or use mode = \"nat\""
    )]
    NoBridgeHelper { index: usize, bridge: String },
    #[error(
        "{count} SATA devices (disks on bus = \"sata\" plus the CD-ROM drive) do not fit the {SATA_PORTS} \
         SATA ports: move some disks to bus = \"virtio\""
    )]
    TooManySataDevices { count: usize },
    #[error(
        "disk {id:?} is read-only on the SATA bus, which QEMU does not support: use bus = \"virtio\" \
         for it, or set readonly = false"
    )]
    ReadonlySataDisk { id: String },
    #[error(
        "disk id {id:?} clashes with a name Hangar uses inside QEMU ({clash:?}): give the disk another id \
         in vm.toml"
    )]
    NameClash { id: String, clash: String },
    #[error(
        "machine.cpu_model = \"host\" needs KVM, but this VM runs with software emulation (TCG): \
         remove cpu_model or set it to \"max\""
    )]
    HostCpuNeedsKvm,
    #[error(
        "internal error: {overlays} disposable overlays were prepared for {disks} disks; start the VM again"
    )]
    OverlayCount { disks: usize, overlays: usize },
}

/// Build the QEMU command line of `config`, whose folder is `vm_dir` (absolute), for a start
/// with runtime paths `rt`. Pure: no file is read, checked or created.
pub fn build(
    config: &VmConfig,
    vm_dir: &Path,
    host: &HostCaps,
    rt: &RuntimePaths,
    opts: &LaunchOptions,
) -> Result<Argv, ArgvError> {
    config.validate()?;
    if !vm_dir.is_absolute() {
        return Err(ArgvError::RelativeVmDir(vm_dir.to_path_buf()));
    }
    let program = host.qemu()?.to_path_buf();
    let accel = host.resolve_accel(config.machine.accel)?;
    let mut warnings: Vec<String> = accel.warning.iter().cloned().collect();

    let firmware = storage::firmware(config, vm_dir, host, rt)?;
    let boot = storage::BootIndex::new(config);
    let blocks = storage::drives(config, vm_dir, opts, &boot)?;

    let mut args = Args::default();
    let name = &config.name;
    args.opt(
        "-name",
        Opt::kv_first("guest", name).kv("process", format!("hangar-{name}")),
    );
    let machine = Opt::new("q35")
        .kv("accel", accel.accel.as_str())
        .kv("vmport", "off")
        .on_if("smm", firmware.smm)
        .kv_opt("pflash0", firmware.pflash.as_ref().map(|p| p.0))
        .kv_opt("pflash1", firmware.pflash.as_ref().map(|p| p.1));
    args.opt("-machine", machine);
    let cpu = match (&config.machine.cpu_model, accel.accel) {
        (Some(model), AccelKind::Tcg) if model == "host" => return Err(ArgvError::HostCpuNeedsKvm),
        (Some(model), _) => model.as_str(),
        (None, AccelKind::Kvm) => "host",
        (None, AccelKind::Tcg) => "max",
    };
    args.raw("-cpu", cpu);
    args.raw("-smp", config.machine.cpus.to_string());
    args.raw("-m", format!("{}M", config.machine.memory_mib));
    args.flag("-nodefaults");
    args.flag("-no-user-config");
    args.raw("-pidfile", rt.pidfile.as_os_str());
    // Never a local GTK/SDL window: displays go to sockets only.
    args.raw("-display", "none");
    if opts.paused {
        args.flag("-S");
    }
    for (id, path) in [("qmp", &rt.qmp), ("qmp-ctl", &rt.qmp_ctl)] {
        args.opt("-chardev", socket_server(id, path));
        args.opt("-mon", Opt::kv_first("chardev", id).kv("mode", "control"));
    }
    if config
        .os
        .as_deref()
        .is_some_and(|os| os.to_ascii_lowercase().starts_with("win"))
    {
        // Windows keeps the hardware clock in local time.
        args.raw("-rtc", "base=localtime");
    }
    args.0.extend(firmware.args);
    args.0.extend(blocks);
    if config.boot.menu {
        args.raw("-boot", "menu=on");
    }
    devices::network(&mut args, config, host, &boot)?;
    devices::display(&mut args, config, rt);
    devices::usb(&mut args, config, &mut warnings);
    devices::channels(&mut args, config, vm_dir, rt);
    // Entropy for the guest, and panic notification (the GUEST_PANICKED event) without changing
    // what a panicking guest does.
    args.opt("-device", Opt::new("virtio-rng-pci").kv("id", "rng0"));
    args.opt("-device", Opt::new("pvpanic-pci").kv("id", "pvpanic0"));
    args.raw("-action", "panic=none");
    args.0
        .extend(config.advanced.extra_args.iter().map(OsString::from));

    Ok(Argv {
        program,
        args: args.0,
        accel,
        warnings,
    })
}

/// `socket,id=<id>,path=<path>,server=on,wait=off`: a unix socket QEMU listens on.
fn socket_server(id: &str, path: &Path) -> Opt {
    Opt::new("socket")
        .kv("id", id)
        .kv("path", path)
        .kv("server", "on")
        .kv("wait", "off")
}

/// `path` resolved against the VM folder when relative.
fn resolve(vm_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        vm_dir.join(path)
    }
}
