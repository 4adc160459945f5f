//! Cloning disk images: linked clones (qcow2 overlays) and full clones (reflink or sparse copy).
//!
//! Both refuse to overwrite an existing destination and refuse a source that a running VM has
//! open for writing (a linked clone's base must never change; a copy must be consistent).

use std::path::{Path, PathBuf};

use super::error::{Result, StorageError};
use super::fsutil::{absolute, discard, ensure_absent, rename_no_clobber, temp_sibling, try_reflink};
use super::qemu_img::QemuImg;

/// How a clone was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneMethod {
    /// A qcow2 overlay whose backing file is the source (instant; the source must stay unchanged).
    Linked,
    /// A copy-on-write copy of the file made by the file system (FICLONE; instant, shares blocks).
    Reflink,
    /// A sparse copy by `qemu-img convert` in the source's format (flattens any backing chain).
    Copy,
}

/// Result of a clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneOutcome {
    /// The new image (absolute).
    pub path: PathBuf,
    /// Its format (`qcow2` for linked clones, else the source's format).
    pub format: String,
    /// How it was made.
    pub method: CloneMethod,
}

/// Make `dst` a linked clone of `src`: a qcow2 overlay recording `src` by absolute path and its
/// format explicitly. Takes milliseconds whatever the size. `src` must not be in use, and must
/// not be written to afterwards (boot the clone, never the base).
pub async fn linked_clone(qemu: &QemuImg, src: &Path, src_format: &str, dst: &Path) -> Result<CloneOutcome> {
    let dst = absolute(dst)?;
    ensure_absent(&dst)?;
    let src = absolute(src)?;
    qemu.ensure_not_in_use(&src, src_format).await?;
    qemu.create_overlay(&dst, &src, src_format).await?;
    tracing::info!(src = %src.display(), dst = %dst.display(), "created linked clone");
    Ok(CloneOutcome {
        path: dst,
        format: "qcow2".to_string(),
        method: CloneMethod::Linked,
    })
}

/// Make `dst` an independent copy of `src` in the same format. A standalone image is first
/// reflinked (copy-on-write, instant on btrfs/XFS); otherwise, or when the source has a backing
/// file, it is copied with `qemu-img convert`, which keeps holes and flattens the chain so the
/// copy depends on nothing. `progress` gets increasing percentages ending with 100.
///
/// A reflink keeps everything in the file, internal snapshots included; a copy keeps only the
/// current state.
pub async fn full_clone(
    qemu: &QemuImg,
    src: &Path,
    src_format: &str,
    dst: &Path,
    mut progress: impl FnMut(f64),
) -> Result<CloneOutcome> {
    let dst = absolute(dst)?;
    ensure_absent(&dst)?;
    let src = absolute(src)?;
    let info = qemu.ensure_not_in_use(&src, src_format).await?;

    if info.backing_filename.is_none() && reflink(&src, &dst).await? {
        progress(100.0);
        tracing::info!(src = %src.display(), dst = %dst.display(), "full clone by reflink");
        return Ok(CloneOutcome {
            path: dst,
            format: info.format,
            method: CloneMethod::Reflink,
        });
    }
    qemu.convert(&src, Some(src_format), &dst, &info.format, false, progress)
        .await?;
    tracing::info!(src = %src.display(), dst = %dst.display(), "full clone by qemu-img convert");
    Ok(CloneOutcome {
        path: dst,
        format: info.format,
        method: CloneMethod::Copy,
    })
}

/// Reflink `src` to `dst` through a temporary sibling. `Ok(false)` when the file system cannot.
async fn reflink(src: &Path, dst: &Path) -> Result<bool> {
    let tmp = temp_sibling(dst)?;
    let (src_owned, tmp_owned) = (src.to_path_buf(), tmp.clone());
    let attempt = tokio::task::spawn_blocking(move || try_reflink(&src_owned, &tmp_owned))
        .await
        .map_err(|e| StorageError::io("reflink", dst, std::io::Error::other(e.to_string())))?;
    match attempt {
        Ok(true) => rename_no_clobber(&tmp, dst)
            .map(|()| true)
            .inspect_err(|_| discard(&tmp)),
        Ok(false) => Ok(false),
        Err(e) => {
            discard(&tmp);
            Err(StorageError::io("reflink", dst, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::storage::testutil::{assert_no_temp_files, raw_qemu_img, write_at, RunningVm};
    use crate::storage::FailureKind;

    const MIB: u64 = 1 << 20;
    const MARK: &[u8] = b"hangar full-clone marker";

    #[tokio::test]
    async fn linked_clone_is_overlay_with_absolute_backing_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        for (name, format) in [("base.qcow2", "qcow2"), ("base.raw", "raw")] {
            let base = dir.path().join(name);
            qemu.create(&base, format, 16 * MIB).await.unwrap();
            let dst = dir.path().join(format!("clone-of-{name}.qcow2"));
            let out = linked_clone(&qemu, &base, format, &dst).await.unwrap();
            assert_eq!(
                (out.method, out.format.as_str(), out.path.as_path()),
                (CloneMethod::Linked, "qcow2", dst.as_path())
            );
            let info = qemu.info_as(&dst, "qcow2").await.unwrap();
            assert_eq!(
                info.backing_filename.as_deref().map(Path::new),
                Some(base.as_path())
            );
            assert!(Path::new(info.backing_filename.as_deref().unwrap()).is_absolute());
            assert_eq!(info.backing_format.as_deref(), Some(format));
            assert_eq!(info.virtual_size, 16 * MIB);
            let err = linked_clone(&qemu, &base, format, &dst).await.unwrap_err();
            assert!(matches!(err, StorageError::DestinationExists { .. }), "{err:?}");
        }
        // Wrong format for the base is caught, and nothing is left behind.
        let err = linked_clone(
            &qemu,
            &dir.path().join("base.raw"),
            "qcow2",
            &dir.path().join("x.qcow2"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.failure_kind(), Some(FailureKind::NotAnImage));
        assert!(!dir.path().join("x.qcow2").exists());
        assert_no_temp_files(dir.path());
    }

    #[tokio::test]
    async fn linked_clone_of_20_gib_is_instant_and_tiny() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let base = dir.path().join("big.qcow2");
        qemu.create(&base, "qcow2", 20 << 30).await.unwrap();
        let started = Instant::now();
        linked_clone(&qemu, &base, "qcow2", &dir.path().join("big-clone.qcow2"))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        eprintln!("linked clone of a 20 GiB qcow2 took {elapsed:?}");
        let info = qemu.info(&dir.path().join("big-clone.qcow2")).await.unwrap();
        assert_eq!(info.virtual_size, 20 << 30);
        assert!(
            info.actual_size.unwrap() < MIB,
            "a linked clone must not copy data: {info:?}"
        );
        assert!(elapsed.as_secs() < 10, "linked clone took {elapsed:?}");
    }

    #[tokio::test]
    async fn clones_refuse_a_source_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let base = dir.path().join("busy.qcow2");
        qemu.create(&base, "qcow2", 8 * MIB).await.unwrap();
        let _vm = RunningVm::start(&base, "qcow2");
        let err = linked_clone(&qemu, &base, "qcow2", &dir.path().join("l.qcow2"))
            .await
            .unwrap_err();
        assert_eq!(err.failure_kind(), Some(FailureKind::Locked));
        let err = full_clone(&qemu, &base, "qcow2", &dir.path().join("f.qcow2"), |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.failure_kind(), Some(FailureKind::Locked));
        assert!(!dir.path().join("l.qcow2").exists() && !dir.path().join("f.qcow2").exists());
    }

    #[tokio::test]
    async fn full_clone_copies_content_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let src = dir.path().join("src.raw");
        qemu.create(&src, "raw", 16 * MIB).await.unwrap();
        write_at(&src, 5 * MIB + 123, MARK);
        let dst = dir.path().join("dst.raw");
        let mut seen = Vec::new();
        let out = full_clone(&qemu, &src, "raw", &dst, |p| seen.push(p))
            .await
            .unwrap();
        assert!(matches!(out.method, CloneMethod::Reflink | CloneMethod::Copy));
        assert_eq!(out.format, "raw");
        assert_eq!(seen.last(), Some(&100.0));
        assert!(std::fs::read(&src).unwrap() == std::fs::read(&dst).unwrap());
        let info = qemu.info_as(&dst, "raw").await.unwrap();
        assert_eq!(info.virtual_size, 16 * MIB);
        assert!(
            info.actual_size.unwrap() < 2 * MIB,
            "the copy must stay sparse: {info:?}"
        );

        let err = full_clone(&qemu, &src, "raw", &dst, |_| {}).await.unwrap_err();
        assert!(matches!(err, StorageError::DestinationExists { .. }));
        let err = full_clone(
            &qemu,
            &dir.path().join("nope.raw"),
            "raw",
            &dir.path().join("n2"),
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(err.failure_kind(), Some(FailureKind::NotFound));
        assert_no_temp_files(dir.path());
    }

    #[tokio::test]
    async fn full_clone_of_linked_clone_is_standalone() {
        let dir = tempfile::tempdir().unwrap();
        let qemu = QemuImg::default();
        let base = dir.path().join("base.raw");
        qemu.create(&base, "raw", 8 * MIB).await.unwrap();
        write_at(&base, 3 * MIB, MARK);
        let linked = dir.path().join("linked.qcow2");
        linked_clone(&qemu, &base, "raw", &linked).await.unwrap();
        let full = dir.path().join("full.qcow2");
        let out = full_clone(&qemu, &linked, "qcow2", &full, |_| {}).await.unwrap();
        assert_eq!((out.method, out.format.as_str()), (CloneMethod::Copy, "qcow2"));
        let info = qemu.info_as(&full, "qcow2").await.unwrap();
        assert_eq!(info.backing_filename, None);
        // Same guest-visible content as the base (qemu-img compare exits 0 only when equal).
        raw_qemu_img(&[
            "compare".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-F".as_ref(),
            "raw".as_ref(),
            full.as_os_str(),
            base.as_os_str(),
        ]);
        // And it survives the base going away.
        std::fs::remove_file(&base).unwrap();
        assert!(qemu.check(&full, Some("qcow2")).await.unwrap().is_clean());
    }

    /// Reflink path on a copy-on-write file system. Set HANGAR_TEST_REFLINK_DIR to a folder on
    /// btrfs or XFS (reflink=1) to run it; the default test file systems cannot reflink.
    #[tokio::test]
    #[ignore = "needs HANGAR_TEST_REFLINK_DIR on a reflink-capable file system"]
    async fn full_clone_uses_reflink_where_possible() {
        let root = PathBuf::from(std::env::var_os("HANGAR_TEST_REFLINK_DIR").unwrap());
        let dir = tempfile::tempdir_in(root).unwrap();
        let qemu = QemuImg::default();
        let src = dir.path().join("src.qcow2");
        qemu.create(&src, "qcow2", 64 * MIB).await.unwrap();
        let dst = dir.path().join("dst.qcow2");
        let out = full_clone(&qemu, &src, "qcow2", &dst, |_| {}).await.unwrap();
        assert_eq!(out.method, CloneMethod::Reflink);
        assert!(std::fs::read(&src).unwrap() == std::fs::read(&dst).unwrap());
        assert_no_temp_files(dir.path());
    }
}
