//! The `vm.toml` data model: one serde struct per device area, each with `validate()`; edits go
//! through [`VmConfig::update`], which returns a new validated config or a [`ConfigError`].
//!
//! A minimal file is just `name = "demo"`; everything else has a default.

mod devices;
mod error;
mod extras;
mod update;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use devices::*;
pub use error::ConfigError;
pub use extras::*;
pub use update::{Effect, Update};

/// File name of a VM's configuration inside its folder.
pub const CONFIG_FILE: &str = "vm.toml";

/// A whole VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    /// Unique name; also the name of the VM's folder.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// osinfo short id (`debian12`, `win11`, …), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Untrusted VMs get no clipboard sharing in either direction.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untrusted: bool,
    #[serde(default)]
    pub machine: MachineConfig,
    #[serde(default)]
    pub firmware: FirmwareConfig,
    #[serde(default)]
    pub boot: BootConfig,
    #[serde(default, rename = "disk", skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdrom: Option<CdromConfig>,
    #[serde(default = "default_networks", rename = "network")]
    pub networks: Vec<NetworkConfig>,
    #[serde(default)]
    pub display: DisplayConfig,
    #[serde(default)]
    pub sound: SoundConfig,
    #[serde(default)]
    pub usb: UsbConfig,
    #[serde(default)]
    pub clipboard: ClipboardConfig,
    #[serde(default)]
    pub channels: ChannelsConfig,
    #[serde(default, skip_serializing_if = "InputConfig::is_default")]
    pub input: InputConfig,
    #[serde(default)]
    pub advanced: AdvancedConfig,
}

fn default_networks() -> Vec<NetworkConfig> {
    vec![NetworkConfig::default()]
}

/// Longest VM name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Check a VM name: 1–64 characters, no `/`, no leading `.`, no control characters.
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    let reason = if name.is_empty() || name.trim().is_empty() {
        Some("a name cannot be empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("a name has at most 64 characters")
    } else if name.contains('/') {
        Some("a name cannot contain '/'")
    } else if name.starts_with('.') {
        Some("a name cannot start with '.'")
    } else if name.chars().any(char::is_control) {
        Some("a name cannot contain control characters")
    } else if name != name.trim() {
        Some("a name cannot start or end with spaces")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConfigError::InvalidName {
            name: name.into(),
            reason,
        }),
        None => Ok(()),
    }
}

impl VmConfig {
    /// A config with every default and the given name.
    pub fn new(name: impl Into<String>) -> Self {
        VmConfig {
            name: name.into(),
            description: String::new(),
            os: None,
            untrusted: false,
            machine: MachineConfig::default(),
            firmware: FirmwareConfig::default(),
            boot: BootConfig::default(),
            disks: vec![],
            cdrom: None,
            networks: default_networks(),
            display: DisplayConfig::default(),
            sound: SoundConfig::default(),
            usb: UsbConfig::default(),
            clipboard: ClipboardConfig::default(),
            channels: ChannelsConfig::default(),
            input: InputConfig::default(),
            advanced: AdvancedConfig::default(),
        }
    }

    /// Parse a `vm.toml`; `file` is only used in messages. Does not validate.
    pub fn from_toml(text: &str, file: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ConfigError::Parse {
                file: file.to_path_buf(),
                line,
                column,
                reason: e.message().trim().to_string(),
            }
        })
    }

    /// Parse and validate.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let config = Self::from_toml(text, file)?;
        config.validate()?;
        Ok(config)
    }

    /// Serialise to the human-editable TOML form.
    pub fn to_toml(&self) -> String {
        // Serialising these plain structs cannot fail: every map key is a string and there are
        // no values TOML cannot hold (u64 fields stay far below i64::MAX after validation).
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise: {e}\n"))
    }

    /// Check the whole VM.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name(&self.name)?;
        if self.description.len() > 4096 {
            return Err(ConfigError::invalid(
                "description",
                "keep the description under 4096 bytes",
            ));
        }
        if let Some(os) = &self.os {
            if os.is_empty() || os.len() > 64 || os.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError::invalid(
                    "os",
                    format!("{os:?} is not an osinfo short id like \"debian12\""),
                ));
            }
        }
        self.machine.validate()?;
        self.firmware.validate()?;
        self.boot.validate()?;
        for (i, disk) in self.disks.iter().enumerate() {
            disk.validate(&format!("disk[{i}]"))?;
            if self.disks[..i].iter().any(|d| d.id == disk.id) {
                return Err(ConfigError::DuplicateId {
                    field: format!("disk[{i}].id"),
                    id: disk.id.clone(),
                });
            }
        }
        if self.disks.len() > 16 {
            return Err(ConfigError::invalid("disk", "at most 16 disks are supported"));
        }
        if let Some(CdromConfig { path: Some(p) }) = &self.cdrom {
            if p.as_os_str().is_empty() {
                return Err(ConfigError::invalid(
                    "cdrom.path",
                    "the ISO path is empty; remove the line to leave the drive empty",
                ));
            }
        }
        if self.networks.len() > 8 {
            return Err(ConfigError::invalid(
                "network",
                "at most 8 network cards are supported",
            ));
        }
        for (i, n) in self.networks.iter().enumerate() {
            n.validate(&format!("network[{i}]"))?;
        }
        if self.display.kind == DisplayKind::Spice && self.display.video == VideoModel::Ramfb {
            return Err(ConfigError::invalid(
                "display.video",
                "ramfb has no SPICE support; use virtio or qxl",
            ));
        }
        self.usb.validate()?;
        self.input.validate()?;
        Ok(())
    }

    /// Clipboard policy in force: an untrusted VM shares nothing.
    pub fn effective_clipboard(&self) -> ClipboardConfig {
        if self.untrusted {
            ClipboardConfig {
                host_to_guest: false,
                guest_to_host: false,
            }
        } else {
            self.clipboard
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let c = VmConfig::parse("name = \"demo\"\n", Path::new("vm.toml")).unwrap();
        assert_eq!(c, VmConfig::new("demo"));
        assert_eq!(c.networks.len(), 1);
        assert_eq!(c.machine.accel, Accel::Auto);
    }

    #[test]
    fn round_trip_keeps_everything() {
        let mut c = VmConfig::new("round trip");
        c.disks.push(DiskConfig {
            id: "disk0".into(),
            path: "disk0.qcow2".into(),
            format: "qcow2".into(),
            bus: DiskBus::Sata,
            readonly: false,
        });
        c.cdrom = Some(CdromConfig {
            path: Some("/isos/debian.iso".into()),
        });
        c.usb.rules.push(UsbRule {
            device: "046d:c52b".into(),
            port: String::new(),
        });
        c.firmware = FirmwareConfig {
            kind: FirmwareKind::Uefi,
            secure_boot: true,
            tpm: true,
        };
        c.advanced.extra_args = vec!["-device".into(), "virtio-rng-pci".into()];
        let text = c.to_toml();
        assert_eq!(VmConfig::parse(&text, Path::new("x")).unwrap(), c, "{text}");
    }

    #[test]
    fn parse_error_names_file_line_and_reason() {
        let text = "name = \"a\"\n[machine]\nmemroy_mib = 5\n";
        let err = VmConfig::parse(text, Path::new("/vms/a/vm.toml")).unwrap_err();
        match &err {
            ConfigError::Parse { line, reason, .. } => {
                assert_eq!(*line, 3);
                assert!(reason.contains("memroy_mib"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("/vms/a/vm.toml:3:"));
    }

    #[test]
    fn names() {
        for ok in ["a", "Debian 12", "win11-test_2", &"x".repeat(64), "été"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", " ", "a/b", ".hidden", &"x".repeat(65), "tab\there", " lead"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn absurd_memory_is_out_of_range() {
        let mut c = VmConfig::new("m");
        c.machine.memory_mib = 1 << 40;
        let e = c.validate().unwrap_err();
        assert_eq!(e.field(), Some("machine.memory_mib"));
        assert!(e.to_string().contains("use a value from 16 to"));
    }

    #[test]
    fn duplicate_disk_ids() {
        let mut c = VmConfig::new("d");
        let d = DiskConfig {
            id: "disk0".into(),
            path: "a.qcow2".into(),
            format: "qcow2".into(),
            bus: DiskBus::Virtio,
            readonly: false,
        };
        c.disks = vec![
            d.clone(),
            DiskConfig {
                path: "b.qcow2".into(),
                ..d
            },
        ];
        assert!(matches!(c.validate(), Err(ConfigError::DuplicateId { .. })));
    }

    #[test]
    fn untrusted_shares_no_clipboard() {
        let mut c = VmConfig::new("u");
        assert!(c.effective_clipboard().host_to_guest);
        c.untrusted = true;
        let cb = c.effective_clipboard();
        assert!(!cb.host_to_guest && !cb.guest_to_host);
    }
}
