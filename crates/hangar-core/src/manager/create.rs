//! Creating VMs: from an ISO, from an existing disk, or empty.

use std::path::PathBuf;

use super::{Event, Manager, ManagerError, Result};
use crate::config::{BootDevice, CdromConfig, DiskBus, DiskConfig, VmConfig};

/// Where the first disk comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// A new qcow2 image of this many bytes in the VM folder.
    New { size_bytes: u64 },
    /// An existing image, used where it is (its format is detected).
    Import { path: PathBuf },
    /// No disk at all.
    None,
}

/// Everything needed to create a VM. `config` carries name, resources, firmware, display…;
/// its disks and CD-ROM are filled in from `iso` and `disk`. The first disk gets the bus of
/// `config.disks[0]` when the caller put one there (e.g. SATA for systems without virtio
/// drivers; its other fields are ignored), else virtio.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub config: VmConfig,
    pub iso: Option<PathBuf>,
    pub disk: DiskSource,
}

impl Manager {
    /// Create a VM folder, its disk and its `vm.toml`. Nothing is left behind on failure.
    pub async fn create(&self, req: CreateRequest) -> Result<VmConfig> {
        let qemu_img = self.qemu_img();
        let mut config = req.config;
        // Of the caller's disks only the first one's bus counts; the disks come from `req.disk`.
        let bus = config.disks.first().map_or(DiskBus::Virtio, |d| d.bus);
        config.disks.clear();
        config.validate()?;
        if self.store().exists(&config.name) {
            return Err(crate::store::StoreError::Exists(config.name.clone()).into());
        }
        if let Some(iso) = &req.iso {
            let iso = std::path::absolute(iso).unwrap_or_else(|_| iso.clone());
            match std::fs::File::open(&iso) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ManagerError::MissingFile {
                        what: "ISO image",
                        path: iso,
                    })
                }
                Err(e) => {
                    return Err(ManagerError::Unreadable {
                        what: "ISO image",
                        path: iso,
                        reason: e.to_string(),
                    })
                }
            }
            config.cdrom = Some(CdromConfig { path: Some(iso) });
        }
        let import = match &req.disk {
            DiskSource::Import { path } => {
                let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                if !path.exists() {
                    return Err(ManagerError::MissingFile {
                        what: "disk image",
                        path,
                    });
                }
                let info = qemu_img.info(&path).await?;
                Some((path, info.format))
            }
            _ => None,
        };
        for net in &mut config.networks {
            if net.mac.is_none() {
                net.mac = Some(random_mac());
            }
        }
        config.boot.order = vec![BootDevice::Disk, BootDevice::Cdrom];
        if let Some((path, format)) = import {
            config.disks.push(DiskConfig {
                id: "disk0".into(),
                path,
                format,
                bus,
                readonly: false,
            });
        } else if let DiskSource::New { .. } = req.disk {
            config.disks.push(DiskConfig {
                id: "disk0".into(),
                path: "disk0.qcow2".into(),
                format: "qcow2".into(),
                bus,
                readonly: false,
            });
        }
        config.validate()?;
        let dir = self.store().create(&config)?;
        if let DiskSource::New { size_bytes } = req.disk {
            if let Err(e) = qemu_img
                .create(&dir.join("disk0.qcow2"), "qcow2", size_bytes)
                .await
            {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        }
        self.emit(Event::ListChanged);
        Ok(config)
    }
}

/// A locally administered MAC in QEMU's 52:54:00 range.
pub fn random_mac() -> String {
    let mut b = [0u8; 3];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    if b == [0, 0, 0] {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(1);
        b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    }
    format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostCaps;
    use crate::paths::Paths;
    use crate::store::Store;

    fn manager(t: &tempfile::TempDir) -> Manager {
        let store = Store::new(Paths::new(t.path().join("vms"), t.path().join("run")));
        Manager::new(store, HostCaps::probe_with(t.path(), |_| None))
    }

    fn disk_template(bus: DiskBus) -> DiskConfig {
        DiskConfig {
            id: "ignored".into(),
            path: "ignored.raw".into(),
            format: "raw".into(),
            bus,
            readonly: true,
        }
    }

    #[tokio::test]
    async fn the_first_disk_keeps_the_bus_the_caller_chose() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        let mut config = VmConfig::new("sata");
        config.disks.push(disk_template(DiskBus::Sata));
        let created = m
            .create(CreateRequest {
                config,
                iso: None,
                disk: DiskSource::New { size_bytes: 1 << 20 },
            })
            .await
            .unwrap();
        let disk = &created.disks[0];
        assert_eq!((disk.id.as_str(), disk.bus), ("disk0", DiskBus::Sata));
        assert_eq!((disk.format.as_str(), disk.readonly), ("qcow2", false));
        assert_eq!(disk.path, std::path::Path::new("disk0.qcow2"));
        let saved = std::fs::read_to_string(t.path().join("vms/sata/vm.toml")).unwrap();
        assert!(saved.contains("bus = \"sata\""), "{saved}");

        let plain = m
            .create(CreateRequest {
                config: VmConfig::new("plain"),
                iso: None,
                disk: DiskSource::New { size_bytes: 1 << 20 },
            })
            .await
            .unwrap();
        assert_eq!(plain.disks[0].bus, DiskBus::Virtio);
    }

    #[test]
    fn macs_are_in_qemu_range_and_vary() {
        let a = super::random_mac();
        assert!(a.starts_with("52:54:00:") && a.len() == 17, "{a}");
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| super::random_mac()).collect();
        assert!(distinct.len() > 1);
    }
}
