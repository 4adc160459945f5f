//! Edits of a [`VmConfig`]: `update(&self, &Update) -> Result<VmConfig>`.

use std::path::PathBuf;

use super::{
    validate_name, Accel, AdvancedConfig, BootConfig, ChannelsConfig, ClipboardConfig, ConfigError,
    DiskConfig, DisplayConfig, FirmwareConfig, NetworkConfig, SoundConfig, UsbConfig, UsbRule, VmConfig,
};

/// One edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Rename(String),
    SetDescription(String),
    SetOs(Option<String>),
    SetUntrusted(bool),
    SetCpus(u32),
    SetMemoryMib(u64),
    SetCpuModel(Option<String>),
    SetAccel(Accel),
    SetFirmware(FirmwareConfig),
    SetBoot(BootConfig),
    AddDisk(DiskConfig),
    RemoveDisk(String),
    /// Replace the disk with the same id.
    ReplaceDisk(DiskConfig),
    /// Add (Some) or remove (None) the CD-ROM drive.
    SetCdromDrive(bool),
    /// Insert (Some) or eject (None) the medium.
    SetCdromMedium(Option<PathBuf>),
    SetNetworks(Vec<NetworkConfig>),
    SetDisplay(DisplayConfig),
    SetSound(SoundConfig),
    SetUsb(UsbConfig),
    AddUsbRule(UsbRule),
    RemoveUsbRule(UsbRule),
    SetClipboard(ClipboardConfig),
    SetChannels(ChannelsConfig),
    /// `[input] keyboard_layout` (`us`, `gb`, `de`, `fr`).
    SetKeyboardLayout(String),
    SetAdvanced(AdvancedConfig),
}

/// When an edit reaches a running VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Applied to the running VM at once (through QMP or Hangar itself).
    Now,
    /// Saved; the running VM gets it at its next boot.
    NextBoot,
}

impl Update {
    /// Whether a running VM sees this edit now or at next boot.
    pub fn effect(&self) -> Effect {
        match self {
            Update::Rename(_) | Update::SetDescription(_) | Update::SetOs(_) => Effect::Now,
            Update::SetCdromMedium(_) | Update::SetClipboard(_) | Update::SetUntrusted(_) => Effect::Now,
            Update::AddUsbRule(_) | Update::RemoveUsbRule(_) => Effect::Now,
            Update::SetKeyboardLayout(_) => Effect::Now,
            _ => Effect::NextBoot,
        }
    }
}

impl VmConfig {
    /// Apply `update` to a copy, validate the result, and return it. `self` is never changed.
    pub fn update(&self, update: &Update) -> Result<VmConfig, ConfigError> {
        let mut c = self.clone();
        match update {
            Update::Rename(name) => {
                validate_name(name)?;
                c.name = name.clone();
            }
            Update::SetDescription(d) => c.description = d.clone(),
            Update::SetOs(os) => c.os = os.clone(),
            Update::SetUntrusted(u) => c.untrusted = *u,
            Update::SetCpus(n) => c.machine.cpus = *n,
            Update::SetMemoryMib(m) => c.machine.memory_mib = *m,
            Update::SetCpuModel(m) => c.machine.cpu_model = m.clone().filter(|m| !m.is_empty()),
            Update::SetAccel(a) => c.machine.accel = *a,
            Update::SetFirmware(f) => c.firmware = *f,
            Update::SetBoot(b) => c.boot = b.clone(),
            Update::AddDisk(d) => c.disks.push(d.clone()),
            Update::RemoveDisk(id) => {
                let before = c.disks.len();
                c.disks.retain(|d| &d.id != id);
                if c.disks.len() == before {
                    return Err(ConfigError::NoSuchDevice {
                        kind: "disk",
                        id: id.clone(),
                    });
                }
            }
            Update::ReplaceDisk(d) => match c.disks.iter_mut().find(|x| x.id == d.id) {
                Some(slot) => *slot = d.clone(),
                None => {
                    return Err(ConfigError::NoSuchDevice {
                        kind: "disk",
                        id: d.id.clone(),
                    })
                }
            },
            Update::SetCdromDrive(present) => {
                c.cdrom = if *present {
                    Some(c.cdrom.take().unwrap_or_default())
                } else {
                    None
                };
            }
            Update::SetCdromMedium(path) => match &mut c.cdrom {
                Some(cd) => cd.path = path.clone(),
                None => {
                    return Err(ConfigError::invalid(
                        "cdrom",
                        "this VM has no CD-ROM drive; add one first (it takes effect at next boot)",
                    ))
                }
            },
            Update::SetNetworks(n) => c.networks = n.clone(),
            Update::SetDisplay(d) => c.display = *d,
            Update::SetSound(s) => c.sound = *s,
            Update::SetUsb(u) => c.usb = u.clone(),
            Update::AddUsbRule(r) => {
                if !c.usb.rules.contains(r) {
                    c.usb.rules.push(r.clone());
                }
            }
            Update::RemoveUsbRule(r) => c.usb.rules.retain(|x| x != r),
            Update::SetClipboard(cb) => c.clipboard = *cb,
            Update::SetChannels(ch) => c.channels = *ch,
            Update::SetKeyboardLayout(l) => c.input.keyboard_layout = l.clone(),
            Update::SetAdvanced(a) => c.advanced = a.clone(),
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DiskBus;

    #[test]
    fn update_returns_new_and_keeps_old() {
        let c = VmConfig::new("a");
        let n = c.update(&Update::SetMemoryMib(4096)).unwrap();
        assert_eq!(n.machine.memory_mib, 4096);
        assert_eq!(c.machine.memory_mib, 2048);
    }

    #[test]
    fn bad_update_is_refused_with_field() {
        let c = VmConfig::new("a");
        let e = c.update(&Update::SetCpus(0)).unwrap_err();
        assert_eq!(e.field(), Some("machine.cpus"));
        assert!(c.update(&Update::Rename("a/b".into())).is_err());
        assert!(matches!(
            c.update(&Update::RemoveDisk("nope".into())),
            Err(ConfigError::NoSuchDevice { .. })
        ));
        assert!(c.update(&Update::SetCdromMedium(Some("/x.iso".into()))).is_err());
    }

    #[test]
    fn disks_and_cdrom() {
        let d = DiskConfig {
            id: "disk1".into(),
            path: "d1.qcow2".into(),
            format: "qcow2".into(),
            bus: DiskBus::Virtio,
            readonly: false,
        };
        let c = VmConfig::new("a").update(&Update::AddDisk(d.clone())).unwrap();
        assert_eq!(c.disks, vec![d.clone()]);
        assert!(c.update(&Update::AddDisk(d)).is_err(), "duplicate id");
        let c = c.update(&Update::SetCdromDrive(true)).unwrap();
        let c = c.update(&Update::SetCdromMedium(Some("/i.iso".into()))).unwrap();
        assert_eq!(
            c.cdrom.as_ref().and_then(|x| x.path.clone()),
            Some(PathBuf::from("/i.iso"))
        );
        assert_eq!(Update::SetCdromMedium(None).effect(), Effect::Now);
        assert_eq!(Update::SetMemoryMib(1).effect(), Effect::NextBoot);
    }

    #[test]
    fn keyboard_layout_edit() {
        let c = VmConfig::new("k")
            .update(&Update::SetKeyboardLayout("de".into()))
            .unwrap();
        assert_eq!(c.input.keyboard_layout, "de");
        assert!(
            c.to_toml().contains("[input]\nkeyboard_layout = \"de\""),
            "{}",
            c.to_toml()
        );
        assert!(
            !VmConfig::new("k").to_toml().contains("[input]"),
            "the default is not written"
        );
        let e = c.update(&Update::SetKeyboardLayout("dvorak".into())).unwrap_err();
        assert_eq!(e.field(), Some("input.keyboard_layout"));
        assert_eq!(Update::SetKeyboardLayout("fr".into()).effect(), Effect::Now);
    }
}
