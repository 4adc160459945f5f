//! Removable media: inserting an ISO into the CD-ROM drive or ejecting it, at once on a running
//! VM (QMP `blockdev-change-medium` / `eject` on the drive `cdrom0`) and in `vm.toml`.

use std::path::PathBuf;

use super::{Manager, ManagerError, Result};
use crate::config::{Update, VmConfig};
use crate::qemu::argv::CDROM_DEVICE_ID;
use crate::qmp::cmd;
use crate::qmp::qapi_qmp::BlockdevChangeReadOnlyMode;
use crate::qmp::QmpError;

/// An ISO the user chose: made absolute, and checked to be a readable file.
fn checked_iso(iso: PathBuf) -> Result<PathBuf> {
    let iso = std::path::absolute(&iso).unwrap_or(iso);
    match std::fs::File::open(&iso) {
        Ok(file) if file.metadata().is_ok_and(|m| m.is_dir()) => Err(ManagerError::Unreadable {
            what: "ISO image",
            path: iso,
            reason: "it is a folder".into(),
        }),
        Ok(_) => Ok(iso),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ManagerError::MissingFile {
            what: "ISO image",
            path: iso,
        }),
        Err(e) => Err(ManagerError::Unreadable {
            what: "ISO image",
            path: iso,
            reason: e.to_string(),
        }),
    }
}

impl Manager {
    /// Insert `iso` into VM `name`'s CD-ROM drive (`Some`) or eject its medium (`None`), and save
    /// that in `vm.toml`. A running VM sees the change at once; the edit is validated first, so a
    /// refused edit (no drive, unreadable file) changes neither QEMU nor the file.
    pub async fn change_cdrom(&self, name: &str, iso: Option<PathBuf>) -> Result<VmConfig> {
        let iso = iso.map(checked_iso).transpose()?;
        let update = Update::SetCdromMedium(iso.clone());
        self.store().load(name)?.update(&update)?;
        if self.pid(name).is_some() {
            let qmp = self.control(name).await?;
            let result = match &iso {
                Some(path) => qmp
                    .execute(cmd::change_medium(
                        CDROM_DEVICE_ID,
                        &path.to_string_lossy(),
                        Some("raw"),
                        Some(BlockdevChangeReadOnlyMode::read_only),
                    ))
                    .await
                    .map(drop),
                None => qmp.execute(cmd::eject(CDROM_DEVICE_ID, true)).await.map(drop),
            };
            match result {
                Ok(()) => {}
                Err(QmpError::Command { desc, .. }) if desc.contains("not found") => {
                    return Err(ManagerError::Unsupported(format!(
                        "VM {name:?} was started without a CD-ROM drive, so the disc cannot be changed \
                         while it runs; shut it down and start it again to get the drive"
                    )))
                }
                Err(e) => return Err(ManagerError::qmp(name)(e)),
            }
        }
        self.update(name, &update)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::CdromConfig;
    use crate::host::{HostCaps, ACCEL_ENV};
    use crate::manager::{StartOptions, StopMode};
    use crate::paths::Paths;
    use crate::qmp::qapi_qmp;
    use crate::store::Store;

    fn manager(t: &tempfile::TempDir) -> Manager {
        let paths = Paths::new(t.path().join("vms"), t.path().join("run"));
        let host = HostCaps::probe_with(Path::new("/"), |k| {
            if k == ACCEL_ENV {
                Some("tcg".into())
            } else {
                std::env::var_os(k)
            }
        });
        Manager::new(Store::new(paths), host)
    }

    /// Kills the VM's QEMU if a test fails half-way.
    struct Kill(i32);

    impl Drop for Kill {
        fn drop(&mut self) {
            crate::qemu::process::signal(self.0, libc::SIGKILL);
        }
    }

    fn medium(m: &Manager, name: &str) -> Option<PathBuf> {
        m.store().load(name).unwrap().cdrom.and_then(|c| c.path)
    }

    #[tokio::test]
    async fn stopped_vm_only_changes_the_file_and_refuses_bad_paths() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        let mut c = VmConfig::new("cd");
        c.cdrom = Some(CdromConfig::default());
        m.store().create(&c).unwrap();
        let iso = t.path().join("disc.iso");
        std::fs::write(&iso, b"not really an iso").unwrap();

        m.change_cdrom("cd", Some(iso.clone())).await.unwrap();
        assert_eq!(medium(&m, "cd"), Some(iso.clone()));
        let missing = m.change_cdrom("cd", Some(t.path().join("nope.iso"))).await;
        assert!(
            matches!(missing, Err(ManagerError::MissingFile { .. })),
            "{missing:?}"
        );
        let folder = m.change_cdrom("cd", Some(t.path().to_path_buf())).await;
        assert!(
            matches!(folder, Err(ManagerError::Unreadable { .. })),
            "{folder:?}"
        );
        assert_eq!(medium(&m, "cd"), Some(iso), "refused changes leave vm.toml alone");
        m.change_cdrom("cd", None).await.unwrap();
        assert_eq!(medium(&m, "cd"), None);

        let mut no_drive = VmConfig::new("nodrive");
        no_drive.cdrom = None;
        m.store().create(&no_drive).unwrap();
        let err = m.change_cdrom("nodrive", Some(t.path().join("disc.iso"))).await;
        assert!(matches!(err, Err(ManagerError::Config(_))), "{err:?}");
    }

    async fn inserted(m: &Manager, name: &str) -> Option<String> {
        let qmp = m.control(name).await.unwrap();
        let blocks = qmp.execute(qapi_qmp::query_block {}).await.unwrap();
        blocks
            .into_iter()
            .find(|b| b.qdev.as_deref().is_some_and(|q| q.contains(CDROM_DEVICE_ID)))
            .and_then(|b| b.inserted)
            .map(|i| i.file)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn running_vm_gets_the_disc_at_once() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        let mut c = VmConfig::new("live");
        c.machine.memory_mib = 128;
        c.networks.clear();
        c.cdrom = Some(CdromConfig::default());
        m.store().create(&c).unwrap();
        let iso = t.path().join("disc.iso");
        std::fs::write(&iso, vec![0u8; 64 * 1024]).unwrap();
        let opts = StartOptions {
            paused: true,
            disposable: false,
        };
        let report = m.start("live", &opts).await.unwrap();
        let _guard = Kill(report.pid);

        assert_eq!(inserted(&m, "live").await, None);
        m.change_cdrom("live", Some(iso.clone())).await.unwrap();
        assert_eq!(
            inserted(&m, "live").await.as_deref(),
            Some(&*iso.to_string_lossy())
        );
        assert_eq!(medium(&m, "live"), Some(iso));
        m.change_cdrom("live", None).await.unwrap();
        assert_eq!(inserted(&m, "live").await, None);
        assert_eq!(medium(&m, "live"), None);
        m.stop("live", StopMode::Force).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_drive_added_after_start_is_explained() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        let mut c = VmConfig::new("late");
        c.machine.memory_mib = 128;
        c.networks.clear();
        m.store().create(&c).unwrap();
        let opts = StartOptions {
            paused: true,
            disposable: false,
        };
        let report = m.start("late", &opts).await.unwrap();
        let _guard = Kill(report.pid);
        m.update("late", &Update::SetCdromDrive(true)).unwrap();
        let iso = t.path().join("disc.iso");
        std::fs::write(&iso, vec![0u8; 4096]).unwrap();
        let err = m.change_cdrom("late", Some(iso)).await.unwrap_err();
        assert!(err.to_string().contains("without a CD-ROM drive"), "{err}");
        assert_eq!(medium(&m, "late"), None, "vm.toml unchanged");
        m.stop("late", StopMode::Force).await.unwrap();
    }
}
