//! Settings for a new VM from what osinfo-db knows about its system, within the host's means.
//!
//! Sizes: each of vCPUs, memory and disk is osinfo's recommended value, else the larger of its
//! minimum and Hangar's generic default (2 vCPUs, 2 GiB, 20 GiB), never below the minimum nor
//! above the maximum. Then the host caps them: no more vCPUs than host CPUs, memory leaves the
//! host half its RAM or 2 GiB (whichever is less), and the disk fits the free space. Every cap
//! adds a note, and a second one when it falls below the system's minimum.
//!
//! Devices: Windows installers carry no virtio drivers, so Windows gets SATA, e1000e (rtl8139
//! before Vista), standard VGA and HD audio (AC'97 before Vista). Others get virtio when the
//! database lists it (or, when it says nothing, for Linux released since 2010), else SATA,
//! e1000e and standard VGA.
//!
//! Firmware: UEFI when the system cannot boot with BIOS; Windows 11, Windows Server 2025 and
//! what derives from them get UEFI, Secure Boot and a TPM 2.0, at least 4 GiB and 64 GiB.

use crate::config::{DiskBus, FirmwareConfig, FirmwareKind, NicModel, SoundModel, VideoModel, VmConfig};
use crate::host::HostCaps;

use super::entry::OsEntry;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
pub const GENERIC_CPUS: u32 = 2;
pub const GENERIC_MEMORY_MIB: u64 = 2048;
pub const GENERIC_DISK_BYTES: u64 = 20 * GIB;
/// OVMF needs this much guest memory to boot a loader.
const UEFI_MIN_MEMORY_MIB: u64 = 512;
/// Windows 11's own floor, kept even when the database lacks its resources.
const WIN11_MEMORY_MIB: u64 = 4096;
const WIN11_DISK_BYTES: u64 = 64 * GIB;

/// What the host can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLimits {
    /// Online CPUs (0: unknown, no cap).
    pub cpus: u32,
    /// Total memory in MiB (0: unknown, no cap).
    pub memory_mib: u64,
    /// Free space where the disk image will be created (`None`: unknown, no cap).
    pub free_disk_bytes: Option<u64>,
    /// OVMF is installed.
    pub uefi: bool,
    /// OVMF's Secure Boot build with enrolled keys is installed.
    pub secure_boot: bool,
    /// swtpm is installed.
    pub tpm: bool,
}

impl HostLimits {
    pub fn from_caps(caps: &HostCaps, free_disk_bytes: Option<u64>) -> Self {
        let ovmf = caps.ovmf.as_ref();
        HostLimits {
            cpus: caps.cpus,
            memory_mib: caps.memory_mib,
            free_disk_bytes,
            uefi: ovmf.is_some(),
            secure_boot: ovmf
                .is_some_and(|o| o.code_for(true).is_some() && o.vars_template_for(true).is_some()),
            tpm: caps.swtpm.is_some(),
        }
    }
}

/// Suggested settings for the New VM wizard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendation {
    /// osinfo short id for `vm.toml`'s `os`.
    pub os: Option<String>,
    pub cpus: u32,
    pub memory_mib: u64,
    pub disk_bytes: u64,
    pub firmware: FirmwareConfig,
    pub disk_bus: DiskBus,
    pub nic_model: NicModel,
    pub video: VideoModel,
    pub sound: SoundModel,
    /// Sentences for the user: caps applied, drivers to install later, packages missing.
    pub notes: Vec<String>,
}

impl Recommendation {
    /// Write these settings into `config`: os, CPUs, memory, firmware, video, sound, the model
    /// of every network card and the bus of every disk. The disk size is the caller's to use
    /// when creating the image.
    pub fn apply(&self, config: &mut VmConfig) {
        config.os = self.os.clone();
        config.machine.cpus = self.cpus;
        config.machine.memory_mib = self.memory_mib;
        config.firmware = self.firmware;
        config.display.video = self.video;
        config.sound.model = self.sound;
        for n in &mut config.networks {
            n.model = self.nic_model;
        }
        for d in &mut config.disks {
            d.bus = self.disk_bus;
        }
    }
}

/// Settings for `os` (or a generic recent Linux when `None`) on this host.
pub fn recommended_config(os: Option<&OsEntry>, host: HostLimits) -> Recommendation {
    let mut notes = vec![];
    let res = os.and_then(|o| o.resources).unwrap_or_default();
    let (min, rec, max) = (res.minimum, res.recommended, res.maximum);
    let strict = os.is_some_and(|o| o.needs_tpm_and_secure_boot);

    let mut cpus = size(rec.n_cpus, min.n_cpus, max.n_cpus, GENERIC_CPUS);
    let mut memory_mib = size(
        rec.ram_bytes.map(mib_up),
        min.ram_bytes.map(mib_up),
        max.ram_bytes.map(|b| b / MIB),
        GENERIC_MEMORY_MIB,
    );
    let mut disk_bytes = size(
        rec.storage_bytes,
        min.storage_bytes,
        max.storage_bytes,
        GENERIC_DISK_BYTES,
    );

    let firmware = firmware(os, host, &mut notes);
    if strict {
        memory_mib = memory_mib.max(WIN11_MEMORY_MIB);
        disk_bytes = disk_bytes.max(WIN11_DISK_BYTES);
    }
    if firmware.kind == FirmwareKind::Uefi {
        memory_mib = memory_mib.max(UEFI_MIN_MEMORY_MIB);
    }
    let name = os.map_or("This system", |o| o.name.as_str());
    let min_memory_mib =
        min.ram_bytes
            .map(mib_up)
            .unwrap_or(0)
            .max(if strict { WIN11_MEMORY_MIB } else { 0 });
    let min_disk = min
        .storage_bytes
        .unwrap_or(0)
        .max(if strict { WIN11_DISK_BYTES } else { 0 });

    if host.cpus > 0 && cpus > host.cpus {
        cpus = host.cpus;
        notes.push(format!("{cpus} vCPU(s): this computer has {} CPU(s).", host.cpus));
        below_minimum(
            &mut notes,
            name,
            min.n_cpus.map(u64::from),
            u64::from(cpus),
            "CPU(s)",
        );
    }
    if host.memory_mib > 0 {
        let cap = host.memory_mib - (host.memory_mib / 2).min(2048);
        if memory_mib > cap {
            memory_mib = cap.max(crate::config::MIN_MEMORY_MIB);
            notes.push(format!(
                "Memory lowered to {} so the host keeps enough (it has {} in all).",
                mib_text(memory_mib),
                mib_text(host.memory_mib)
            ));
            below_minimum(
                &mut notes,
                name,
                Some(min_memory_mib),
                memory_mib,
                "MiB of memory",
            );
        }
    }
    if let Some(free) = host.free_disk_bytes {
        if disk_bytes > free {
            disk_bytes = (free / GIB).max(1) * GIB;
            notes.push(format!(
                "Disk limited to {} GiB, the free space where it is stored (the image starts small \
                 and grows as the guest writes).",
                disk_bytes / GIB
            ));
            below_minimum(
                &mut notes,
                name,
                Some(min_disk / GIB),
                disk_bytes / GIB,
                "GiB of disk",
            );
        }
    }

    let (disk_bus, nic_model, video, sound) = devices(os, &mut notes);
    if os.is_none() {
        notes.push("No operating system chosen: these settings suit a recent Linux.".into());
    }
    Recommendation {
        os: os.and_then(|o| o.short_id()).map(str::to_string),
        cpus,
        memory_mib,
        disk_bytes,
        firmware,
        disk_bus,
        nic_model,
        video,
        sound,
        notes,
    }
}

/// Recommended, else the larger of the minimum and the generic default; within min..=max.
fn size<T: Ord + Copy>(rec: Option<T>, min: Option<T>, max: Option<T>, generic: T) -> T {
    let mut v = rec.unwrap_or_else(|| min.map_or(generic, |m| m.max(generic)));
    if let Some(max) = max {
        v = v.min(max);
    }
    if let Some(min) = min {
        v = v.max(min);
    }
    v
}

fn mib_up(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

fn mib_text(mib: u64) -> String {
    if mib >= 1024 && mib % 1024 == 0 {
        format!("{} GiB", mib / 1024)
    } else {
        format!("{mib} MiB")
    }
}

fn below_minimum(notes: &mut Vec<String>, name: &str, min: Option<u64>, got: u64, unit: &str) {
    if let Some(min) = min.filter(|&m| got < m) {
        notes.push(format!(
            "{name} needs at least {min} {unit}; it may refuse to install or run slowly."
        ));
    }
}

fn firmware(os: Option<&OsEntry>, host: HostLimits, notes: &mut Vec<String>) -> FirmwareConfig {
    let Some(os) = os else {
        return FirmwareConfig::default();
    };
    if os.needs_tpm_and_secure_boot {
        if !host.uefi || !host.secure_boot {
            notes.push(format!(
                "{} needs UEFI with Secure Boot: install the ovmf package (`sudo apt install ovmf`).",
                os.name
            ));
        }
        if !host.tpm {
            notes.push(format!(
                "{} needs a TPM 2.0: install swtpm (`sudo apt install swtpm swtpm-tools`).",
                os.name
            ));
        }
        return FirmwareConfig {
            kind: FirmwareKind::Uefi,
            secure_boot: true,
            tpm: true,
        };
    }
    if os.firmware.efi_required() {
        if !host.uefi {
            notes.push(format!(
                "{} only boots with UEFI: install the ovmf package (`sudo apt install ovmf`).",
                os.name
            ));
        }
        return FirmwareConfig {
            kind: FirmwareKind::Uefi,
            ..FirmwareConfig::default()
        };
    }
    FirmwareConfig::default()
}

/// Before Windows Vista (2007), Windows has neither e1000e nor HD audio drivers.
fn old_windows(os: &OsEntry) -> bool {
    os.family != "winnt" || os.release_date.as_deref().is_some_and(|d| d < "2007")
}

fn devices(os: Option<&OsEntry>, notes: &mut Vec<String>) -> (DiskBus, NicModel, VideoModel, SoundModel) {
    let Some(os) = os else {
        return (
            DiskBus::Virtio,
            NicModel::Virtio,
            VideoModel::Virtio,
            SoundModel::Hda,
        );
    };
    let d = os.devices;
    let sound = match (d.hda, d.ac97) {
        (Some(true), _) => SoundModel::Hda,
        (_, Some(true)) => SoundModel::Ac97,
        _ if os.is_windows() && old_windows(os) => SoundModel::Ac97,
        _ => SoundModel::Hda,
    };
    if os.is_windows() {
        let nic = match (d.e1000e, d.rtl8139) {
            (Some(true), _) => NicModel::E1000e,
            (_, Some(true)) => NicModel::Rtl8139,
            _ if old_windows(os) => NicModel::Rtl8139,
            _ => NicModel::E1000e,
        };
        if os.family == "winnt" && !old_windows(os) {
            notes.push(
                "Windows has no virtio drivers during installation, so the disk is SATA and the \
                 network card emulated. Install the virtio-win drivers later for speed."
                    .into(),
            );
        }
        return (DiskBus::Sata, nic, VideoModel::Std, sound);
    }
    // Linux without device data: virtio has been in every distribution kernel since ~2008.
    let modern_linux = os.is_linux() && os.release_date.as_deref().is_none_or(|r| r >= "2010");
    let virtio = |listed: Option<bool>| listed.unwrap_or(modern_linux);
    let bus = if virtio(d.virtio_block) {
        DiskBus::Virtio
    } else {
        DiskBus::Sata
    };
    let nic = if virtio(d.virtio_net) {
        NicModel::Virtio
    } else {
        NicModel::E1000e
    };
    let video = if virtio(d.virtio_gpu) {
        VideoModel::Virtio
    } else if d.qxl == Some(true) {
        VideoModel::Qxl
    } else {
        VideoModel::Std
    };
    (bus, nic, video, sound)
}

#[cfg(test)]
#[path = "defaults_tests.rs"]
mod tests;
