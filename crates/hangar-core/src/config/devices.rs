//! One serde struct per device area of `vm.toml`, each with `validate()`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// Which accelerator runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM when `/dev/kvm` is usable, else TCG with a visible warning.
    #[default]
    Auto,
    /// Hardware virtualisation; fails to start when KVM is not usable.
    Kvm,
    /// Software emulation (slow, works everywhere).
    Tcg,
}

/// CPU and memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MachineConfig {
    /// Number of vCPUs.
    pub cpus: u32,
    /// Guest RAM in MiB.
    pub memory_mib: u64,
    /// QEMU CPU model; empty means `host` under KVM and `max` under TCG.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Accelerator choice.
    pub accel: Accel,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            cpus: 2,
            memory_mib: 2048,
            cpu_model: None,
            accel: Accel::Auto,
        }
    }
}

/// Most vCPUs QEMU's q35 machine takes.
pub const MAX_CPUS: u64 = 288;
/// Least and most guest memory Hangar accepts, in MiB.
pub const MIN_MEMORY_MIB: u64 = 16;
pub const MAX_MEMORY_MIB: u64 = 4 * 1024 * 1024;

impl MachineConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        range("machine.cpus", u64::from(self.cpus), 1, MAX_CPUS, "")?;
        range(
            "machine.memory_mib",
            self.memory_mib,
            MIN_MEMORY_MIB,
            MAX_MEMORY_MIB,
            " MiB",
        )?;
        if let Some(model) = &self.cpu_model {
            if model.is_empty()
                || !model
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(ConfigError::invalid(
                    "machine.cpu_model",
                    format!("{model:?} is not a CPU model name; `qemu-system-x86_64 -cpu help` lists them"),
                ));
            }
        }
        Ok(())
    }
}

/// Firmware kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirmwareKind {
    /// SeaBIOS.
    #[default]
    Bios,
    /// OVMF (UEFI), with a per-VM copy of the variable store.
    Uefi,
}

/// Firmware, Secure Boot and TPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirmwareConfig {
    pub kind: FirmwareKind,
    /// Use the Secure Boot build of OVMF with Microsoft keys enrolled.
    pub secure_boot: bool,
    /// Emulated TPM 2.0 through swtpm (state kept in the VM folder).
    pub tpm: bool,
}

impl FirmwareConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.secure_boot && self.kind != FirmwareKind::Uefi {
            return Err(ConfigError::invalid(
                "firmware.secure_boot",
                "Secure Boot needs UEFI firmware: set firmware.kind = \"uefi\" or turn secure_boot off",
            ));
        }
        Ok(())
    }
}

/// A boot device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootDevice {
    Disk,
    Cdrom,
    Network,
}

/// Boot order and menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootConfig {
    pub order: Vec<BootDevice>,
    /// Show the firmware's boot menu.
    pub menu: bool,
}

impl Default for BootConfig {
    fn default() -> Self {
        BootConfig {
            order: vec![BootDevice::Disk, BootDevice::Cdrom],
            menu: false,
        }
    }
}

impl BootConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, d) in self.order.iter().enumerate() {
            if self.order[..i].contains(d) {
                return Err(ConfigError::invalid(
                    "boot.order",
                    format!("{d:?} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Disk bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskBus {
    #[default]
    Virtio,
    Sata,
}

/// Image formats QEMU opens as disks.
pub const DISK_FORMATS: &[&str] = &["qcow2", "raw", "vmdk", "vdi", "vhdx", "qed"];

/// One disk image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    /// Stable id; QEMU node names derive from it (`<id>` and `<id>-file`).
    pub id: String,
    /// Image path, relative to the VM folder or absolute.
    pub path: PathBuf,
    /// Image format (`qcow2`, `raw`, …).
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default)]
    pub bus: DiskBus,
    #[serde(default)]
    pub readonly: bool,
}

fn default_format() -> String {
    "qcow2".into()
}

impl DiskConfig {
    pub fn validate(&self, field: &str) -> Result<(), ConfigError> {
        validate_id(&format!("{field}.id"), &self.id)?;
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                format!("{field}.path"),
                "the image path is empty",
            ));
        }
        if self.readonly && self.bus == DiskBus::Sata {
            return Err(ConfigError::invalid(
                format!("{field}.readonly"),
                "QEMU cannot attach a read-only disk on SATA: set bus = \"virtio\" or readonly = false",
            ));
        }
        if !DISK_FORMATS.contains(&self.format.as_str()) {
            return Err(ConfigError::invalid(
                format!("{field}.format"),
                format!(
                    "{:?} is not a disk format QEMU opens; use one of {}",
                    self.format,
                    DISK_FORMATS.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The CD-ROM drive (SATA/AHCI). Present in the file means the VM has a drive.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CdromConfig {
    /// Inserted medium (an ISO); none means an empty drive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// NIC model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NicModel {
    #[default]
    Virtio,
    E1000e,
    Rtl8139,
}

/// Transport protocol of a port forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// A NAT port forward from the host's loopback to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortForward {
    #[serde(default)]
    pub protocol: Protocol,
    pub host_port: u16,
    pub guest_port: u16,
}

/// How the NIC reaches the outside.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// QEMU user-mode NAT.
    #[default]
    Nat,
    /// A host bridge through `qemu-bridge-helper`.
    Bridge,
}

/// One network card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    pub mode: NetMode,
    pub model: NicModel,
    /// MAC address; generated at creation so it stays stable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Bridge name (mode = "bridge").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Port forwards (mode = "nat"), bound to 127.0.0.1 on the host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<PortForward>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            mode: NetMode::Nat,
            model: NicModel::Virtio,
            mac: None,
            bridge: None,
            forwards: vec![],
        }
    }
}

impl NetworkConfig {
    pub fn validate(&self, field: &str) -> Result<(), ConfigError> {
        if let Some(mac) = &self.mac {
            if !is_mac(mac) {
                return Err(ConfigError::invalid(
                    format!("{field}.mac"),
                    format!("{mac:?} is not a MAC address like 52:54:00:12:34:56"),
                ));
            }
        }
        match self.mode {
            NetMode::Bridge => {
                let ok = self.bridge.as_deref().is_some_and(|b| {
                    !b.is_empty()
                        && b.len() <= 15
                        && b.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                });
                if !ok {
                    return Err(ConfigError::invalid(
                        format!("{field}.bridge"),
                        "bridge mode needs the name of a host bridge, such as \"br0\"",
                    ));
                }
                if !self.forwards.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{field}.forwards"),
                        "port forwards only work with NAT; remove them or set mode = \"nat\"",
                    ));
                }
            }
            NetMode::Nat => {
                for (i, f) in self.forwards.iter().enumerate() {
                    if f.host_port == 0 || f.guest_port == 0 {
                        return Err(ConfigError::invalid(
                            format!("{field}.forwards[{i}]"),
                            "ports must be between 1 and 65535",
                        ));
                    }
                    let dup = self.forwards[..i]
                        .iter()
                        .any(|o| o.protocol == f.protocol && o.host_port == f.host_port);
                    if dup {
                        return Err(ConfigError::invalid(
                            format!("{field}.forwards[{i}]"),
                            format!("host port {} is forwarded twice", f.host_port),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Remote display protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DisplayKind {
    #[default]
    Vnc,
    Spice,
    /// Headless: no display device, serial console only.
    None,
}

/// Emulated video card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoModel {
    #[default]
    Virtio,
    Std,
    Qxl,
    Bochs,
    Cirrus,
    Ramfb,
}

/// Display protocol and video card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisplayConfig {
    pub kind: DisplayKind,
    pub video: VideoModel,
}

/// Sound card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoundModel {
    #[default]
    None,
    /// Intel HDA on ICH9 (the default for modern guests).
    Hda,
    Ac97,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SoundConfig {
    pub model: SoundModel,
}

pub(crate) fn range(
    field: &str,
    value: u64,
    min: u64,
    max: u64,
    unit: &'static str,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field: field.into(),
            value,
            min,
            max,
            unit,
        })
    }
}

pub(crate) fn validate_id(field: &str, id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!(
                "{id:?} is not a device id: use 1-32 letters, digits, '-' or '_', starting with a letter"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_sata_refused() {
        let d = DiskConfig {
            id: "d".into(),
            path: "x".into(),
            format: "raw".into(),
            bus: DiskBus::Sata,
            readonly: true,
        };
        assert_eq!(
            d.validate("disk[0]").unwrap_err().field(),
            Some("disk[0].readonly")
        );
        assert!(DiskConfig {
            bus: DiskBus::Virtio,
            ..d
        }
        .validate("disk[0]")
        .is_ok());
    }

    #[test]
    fn secure_boot_needs_uefi() {
        let fw = FirmwareConfig {
            kind: FirmwareKind::Bios,
            secure_boot: true,
            tpm: false,
        };
        assert_eq!(fw.validate().unwrap_err().field(), Some("firmware.secure_boot"));
    }

    #[test]
    fn nat_forwards_checked() {
        let mut n = NetworkConfig::default();
        n.forwards.push(PortForward {
            protocol: Protocol::Tcp,
            host_port: 2222,
            guest_port: 22,
        });
        assert!(n.validate("network[0]").is_ok());
        n.forwards.push(PortForward {
            protocol: Protocol::Tcp,
            host_port: 2222,
            guest_port: 80,
        });
        assert!(n.validate("network[0]").is_err());
        n.forwards.pop();
        n.mode = NetMode::Bridge;
        n.bridge = Some("br0".into());
        assert!(n
            .validate("network[0]")
            .unwrap_err()
            .to_string()
            .contains("only work with NAT"));
    }

    #[test]
    fn bad_mac_rejected() {
        let n = NetworkConfig {
            mac: Some("52:54:00:zz:00:01".into()),
            ..Default::default()
        };
        assert!(n.validate("network[0]").is_err());
    }
}
