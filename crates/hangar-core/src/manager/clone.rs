//! Cloning and archiving whole VMs.
//!
//! A linked clone never lets two VMs write the same image: the source's writable disks become
//! a read-only shared base, and both VMs get a fresh qcow2 overlay on it (the source keeps its
//! disk path). A full clone copies every image (reflink where the filesystem allows).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{create::random_mac, Event, Manager, ManagerError, Result};
use crate::config::{validate_name, VmConfig};
use crate::storage;
use crate::store::{resolve, write_atomic};

impl Manager {
    /// Clone stopped VM `src` as `dst`. `progress` gets 0..=100 over all disks (full clones).
    pub async fn clone_vm(
        &self,
        src: &str,
        dst: &str,
        linked: bool,
        mut progress: impl FnMut(f64) + Send,
    ) -> Result<VmConfig> {
        validate_name(dst)?;
        let source = self.store().load(src)?;
        if self.pid(src).is_some() {
            return Err(ManagerError::Running(src.into()));
        }
        if self.store().exists(dst) {
            return Err(crate::store::StoreError::Exists(dst.into()).into());
        }
        if linked && !self.snapshot_list(src).await.unwrap_or_default().is_empty() {
            return Err(ManagerError::Unsupported(format!(
                "VM {src:?} has snapshots, which a linked clone would hide; delete them first or make a full clone"
            )));
        }
        let src_dir = self.store().dir(src);
        let mut config = source.clone();
        config.name = dst.into();
        for net in &mut config.networks {
            net.mac = Some(random_mac());
        }
        // Folder first (reserves the name), disks next; on failure the folder goes again.
        let dst_dir = self.store().create(&VmConfig {
            disks: vec![],
            ..config.clone()
        })?;
        let result = self
            .clone_disks(&source, &src_dir, &dst_dir, &mut config, linked, &mut progress)
            .await;
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&dst_dir);
            return Err(e);
        }
        if linked {
            // The source's writable disks are now qcow2 overlays on the shared base.
            let mut updated = source.clone();
            for d in updated.disks.iter_mut().filter(|d| !d.readonly) {
                d.format = "qcow2".into();
            }
            if updated != source {
                self.store().save(&updated)?;
            }
        }
        self.store().save(&config)?;
        progress(100.0);
        self.emit(Event::ListChanged);
        Ok(config)
    }

    async fn clone_disks(
        &self,
        source: &VmConfig,
        src_dir: &Path,
        dst_dir: &Path,
        config: &mut VmConfig,
        linked: bool,
        progress: &mut (dyn FnMut(f64) + Send),
    ) -> Result<()> {
        let qemu_img = self.qemu_img();
        let count = source.disks.len().max(1) as f64;
        for (i, (disk, new)) in source.disks.iter().zip(config.disks.iter_mut()).enumerate() {
            if disk.readonly {
                new.path = resolve(src_dir, &disk.path);
                continue;
            }
            let src_path = resolve(src_dir, &disk.path);
            let file_name = format!("{}.qcow2", disk.id);
            let dst_path = dst_dir.join(&file_name);
            if linked {
                let base = make_shared_base(&src_path)?;
                let fmt = &disk.format;
                // The source keeps its path, now an overlay on the frozen base.
                if let Err(e) = qemu_img.create_overlay(&src_path, &base, fmt).await {
                    let _ = fs::rename(&base, &src_path);
                    return Err(e.into());
                }
                qemu_img.create_overlay(&dst_path, &base, fmt).await?;
                new.format = "qcow2".into();
                new.path = PathBuf::from(&file_name);
            } else {
                let dst_path = dst_dir.join(file_name_like(&disk.path, &disk.id));
                let base = i as f64 * 100.0 / count;
                storage::full_clone(qemu_img, &src_path, &disk.format, &dst_path, |p| {
                    progress(base + p / count)
                })
                .await?;
                new.path = dst_path
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or(dst_path.clone());
            }
        }
        Ok(())
    }

    /// Archive VM `name`: a flattened, compressed copy of every disk and its `vm.toml` in
    /// `<HANGAR_HOME>/.archives/<name>/<timestamp>/`. Returns that folder.
    pub async fn archive(&self, name: &str, progress: impl FnMut(f64) + Send) -> Result<PathBuf> {
        let config = self.store().load(name)?;
        if self.pid(name).is_some() {
            return Err(ManagerError::Running(name.into()));
        }
        let dir = self.store().dir(name);
        let writable: Vec<(PathBuf, String)> = config
            .disks
            .iter()
            .filter(|d| !d.readonly)
            .map(|d| (resolve(&dir, &d.path), d.format.clone()))
            .collect();
        let dest_root = self.store().paths().vms.join(".archives").join(name);
        let report = storage::archive_disks(self.qemu_img(), &writable, &[], &dest_root, progress).await?;
        // The archived vm.toml points at the archived, flattened images.
        let mut archived = config.clone();
        for d in archived.disks.iter_mut().filter(|d| !d.readonly) {
            let source = resolve(&dir, &d.path);
            if let Some(a) = report.disks.iter().find(|a| a.source == source) {
                d.path = a
                    .archived
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| a.archived.clone());
                d.format = "qcow2".into();
            }
        }
        let folder = report.dir;
        let toml_path = folder.join(crate::config::CONFIG_FILE);
        write_atomic(&toml_path, archived.to_toml().as_bytes()).map_err(|e| ManagerError::Unreadable {
            what: "archive",
            path: toml_path,
            reason: e.to_string(),
        })?;
        Ok(folder)
    }
}

fn file_name_like(path: &Path, id: &str) -> PathBuf {
    path.file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("{id}.img")))
}

/// Move `disk` aside as a read-only `<stem>.base[-N].<ext>` and return the new path.
fn make_shared_base(disk: &Path) -> Result<PathBuf> {
    let stem = disk
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk".into());
    let parent = disk.parent().unwrap_or(Path::new("."));
    let ext = disk
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "img".into());
    let mut base = parent.join(format!("{stem}.base.{ext}"));
    let mut n = 1;
    while base.exists() {
        n += 1;
        base = parent.join(format!("{stem}.base-{n}.{ext}"));
    }
    let io = |e: std::io::Error| ManagerError::Unreadable {
        what: "disk image",
        path: disk.to_path_buf(),
        reason: e.to_string(),
    };
    fs::rename(disk, &base).map_err(io)?;
    fs::set_permissions(&base, fs::Permissions::from_mode(0o444)).map_err(io)?;
    Ok(base)
}
