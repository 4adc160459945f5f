//! Overlays for disposable runs: the VM boots from throw-away qcow2 overlays in its runtime
//! folder, so nothing it writes reaches the real disks; the overlays are deleted afterwards.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::error::{Result, StorageError};
use super::fsutil::{absolute, check_format};
use super::qemu_img::QemuImg;

/// File-name suffix of disposable overlays; [`remove_disposable_overlays`] deletes only these.
const SUFFIX: &str = ".overlay.qcow2";

/// Create one qcow2 overlay per disk (path, format) in `dir` (created with mode 0700 if
/// missing), named `<index>-<disk file stem>.overlay.qcow2`, and return their paths in disk
/// order. If any overlay cannot be created, those already made are removed. Existing overlays
/// are never overwritten ([`StorageError::DestinationExists`]: remove the leftovers of an
/// earlier run with [`remove_disposable_overlays`] first).
pub async fn create_disposable_overlays(
    qemu: &QemuImg,
    disks: &[(PathBuf, String)],
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    for (_, format) in disks {
        check_format(format)?;
    }
    let dir = absolute(dir)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| StorageError::io("create folder", &dir, e))?;
    let mut created = Vec::with_capacity(disks.len());
    for (index, (disk, format)) in disks.iter().enumerate() {
        let stem = disk
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let overlay = dir.join(format!("{index}-{stem}{SUFFIX}"));
        if let Err(e) = qemu.create_overlay(&overlay, disk, format).await {
            remove_files(&created);
            return Err(e);
        }
        created.push(overlay);
    }
    tracing::info!(dir = %dir.display(), count = created.len(), "created disposable overlays");
    Ok(created)
}

/// Delete the disposable overlays in `dir` (files ending in `.overlay.qcow2` and leftover
/// temporary files of them), then `dir` itself if that left it empty. A missing `dir` is fine.
pub async fn remove_disposable_overlays(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::io("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours =
            name.ends_with(SUFFIX) || (name.starts_with('.') && name.contains(".overlay.qcow2.hangar-tmp-"));
        if ours {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("delete", &path, e)),
            }
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
            tracing::warn!(dir = %dir.display(), "overlay folder holds other files; leaving it in place");
            Ok(())
        }
        Err(e) => Err(StorageError::io("delete folder", dir, e)),
    }
}

fn remove_files(paths: &[PathBuf]) {
    for path in paths {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove disposable overlay");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::storage::testutil::write_at;
    use crate::storage::FailureKind;

    const MIB: u64 = 1 << 20;

    #[tokio::test]
    async fn overlays_protect_the_disks_and_are_cleaned_up() {
        let tmp = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let (a, b) = (tmp.path().join("system.qcow2"), tmp.path().join("data.raw"));
        qemu.create(&a, "qcow2", 8 * MIB).await.unwrap();
        qemu.create(&b, "raw", 4 * MIB).await.unwrap();
        let dir = tmp.path().join("run/overlays");
        let disks = [(a.clone(), "qcow2".to_string()), (b.clone(), "raw".to_string())];
        let overlays = create_disposable_overlays(&qemu, &disks, &dir).await.unwrap();
        assert_eq!(
            overlays,
            vec![
                dir.join("0-system.overlay.qcow2"),
                dir.join("1-data.overlay.qcow2")
            ]
        );
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for (overlay, (disk, format)) in overlays.iter().zip(&disks) {
            let info = qemu.info_as(overlay, "qcow2").await.unwrap();
            assert_eq!(
                info.backing_filename.as_deref().map(Path::new),
                Some(disk.as_path())
            );
            assert_eq!(info.backing_format.as_deref(), Some(format.as_str()));
        }
        // Again without cleanup: refused, and the existing overlays are untouched.
        let err = create_disposable_overlays(&qemu, &disks, &dir).await.unwrap_err();
        assert!(matches!(err, StorageError::DestinationExists { .. }), "{err:?}");
        assert!(overlays.iter().all(|o| o.exists()));

        std::fs::write(dir.join("unrelated.txt"), "keep").unwrap();
        remove_disposable_overlays(&dir).await.unwrap();
        assert!(overlays.iter().all(|o| !o.exists()));
        assert!(dir.join("unrelated.txt").exists(), "only overlays are deleted");
        std::fs::remove_file(dir.join("unrelated.txt")).unwrap();
        remove_disposable_overlays(&dir).await.unwrap();
        assert!(!dir.exists());
        remove_disposable_overlays(&dir).await.unwrap();
        // The real disks are intact.
        assert_eq!(qemu.info_as(&a, "qcow2").await.unwrap().virtual_size, 8 * MIB);
    }

    #[tokio::test]
    async fn writes_go_to_the_overlay_only() {
        let tmp = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let disk = tmp.path().join("disk.raw");
        qemu.create(&disk, "raw", 4 * MIB).await.unwrap();
        write_at(&disk, 0, b"original");
        let dir = tmp.path().join("overlays");
        let overlays = create_disposable_overlays(&qemu, &[(disk.clone(), "raw".into())], &dir)
            .await
            .unwrap();
        // Write through the overlay as the VM would (qemu-io), then read the guest's view.
        let opts = format!("driver=qcow2,file.filename={}", overlays[0].display());
        let out = std::process::Command::new("qemu-io")
            .args(["--image-opts", "-c", "write -P 0x55 0 4k", &opts])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let guest_view = tmp.path().join("guest.raw");
        qemu.convert(&overlays[0], Some("qcow2"), &guest_view, "raw", false, |_| {})
            .await
            .unwrap();
        assert_eq!(&std::fs::read(&guest_view).unwrap()[..8], &[0x55; 8]);
        assert_eq!(
            &std::fs::read(&disk).unwrap()[..8],
            b"original",
            "the real disk must be untouched"
        );
        remove_disposable_overlays(&dir).await.unwrap();
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn failure_removes_overlays_already_made() {
        let tmp = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let good = tmp.path().join("good.qcow2");
        qemu.create(&good, "qcow2", MIB).await.unwrap();
        let dir = tmp.path().join("overlays");
        let disks = [
            (good, "qcow2".to_string()),
            (tmp.path().join("missing.qcow2"), "qcow2".to_string()),
        ];
        let err = create_disposable_overlays(&qemu, &disks, &dir).await.unwrap_err();
        assert_eq!(err.failure_kind(), Some(FailureKind::NotFound));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let err = create_disposable_overlays(&qemu, &[(tmp.path().join("x"), "q c".into())], &dir).await;
        assert!(matches!(err, Err(StorageError::InvalidFormat { .. })));
    }
}
