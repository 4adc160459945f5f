//! Tests of [`super::QemuImg`] against the real qemu-img in temporary folders.

use std::path::PathBuf;

use super::*;
use crate::storage::testutil::{assert_no_temp_files, raw_qemu_img, RunningVm};

const MIB: u64 = 1 << 20;

fn qemu() -> QemuImg {
    QemuImg::default()
}

fn kind_of(err: &StorageError) -> FailureKind {
    err.failure_kind()
        .unwrap_or_else(|| panic!("expected a qemu-img failure, got {err:?}"))
}

#[tokio::test]
async fn create_and_info_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in [("d.qcow2", "qcow2"), ("d.raw", "raw")] {
        let path = dir.path().join(name);
        qemu().create(&path, format, 64 * MIB).await.unwrap();
        let info = qemu().info_as(&path, format).await.unwrap();
        assert_eq!((info.format.as_str(), info.virtual_size), (format, 64 * MIB));
        assert_eq!(info.backing_filename, None);
        assert!(info.snapshots.is_empty() && !info.dirty && !info.encrypted && !info.corrupt);
        // Sparse: far less than 64 MiB allocated.
        assert!(info.actual_size.unwrap() < MIB, "{info:?}");
        // Probing finds the same format.
        assert_eq!(qemu().info(&path).await.unwrap().format, format);
    }
    assert_no_temp_files(dir.path());
    assert!(qemu().version().await.unwrap().starts_with("qemu-img version"));
}

#[tokio::test]
async fn create_refuses_to_overwrite_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken.qcow2");
    std::fs::write(&path, "precious").unwrap();
    let err = qemu().create(&path, "qcow2", MIB).await.unwrap_err();
    assert!(matches!(err, StorageError::DestinationExists { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");

    let fresh = dir.path().join("fresh.qcow2");
    assert!(matches!(
        qemu().create(&fresh, "qcow2", 0).await,
        Err(StorageError::Size(_))
    ));
    assert!(matches!(
        qemu().create(&fresh, "qcow2", 65 << 40).await,
        Err(StorageError::Size(_))
    ));
    assert!(matches!(
        qemu().create(&fresh, "-b", MIB).await,
        Err(StorageError::InvalidFormat { .. })
    ));
    let err = qemu().create(&fresh, "bogus", MIB).await.unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::UnknownFormat);
    assert!(err.to_string().contains("Unknown file format 'bogus'"), "{err}");
    let err = qemu()
        .create(&dir.path().join("no/such/dir/d.qcow2"), "qcow2", MIB)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::NotFound);
    assert!(!fresh.exists());
    assert_no_temp_files(dir.path());
}

#[tokio::test]
async fn overlay_records_absolute_backing_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.qcow2");
    qemu().create(&base, "qcow2", 32 * MIB).await.unwrap();
    // Name the backing file relative to the current directory: it must be stored absolute.
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.push(base.strip_prefix("/").unwrap());
    assert!(relative.is_relative());
    let overlay = dir.path().join("overlay.qcow2");
    qemu().create_overlay(&overlay, &relative, "qcow2").await.unwrap();
    let info = qemu().info_as(&overlay, "qcow2").await.unwrap();
    let backing = PathBuf::from(info.backing_filename.unwrap());
    assert!(backing.is_absolute(), "{backing:?}");
    assert_eq!(backing.canonicalize().unwrap(), base.canonicalize().unwrap());
    assert_eq!(info.backing_format.as_deref(), Some("qcow2"));
    assert_eq!(info.virtual_size, 32 * MIB);

    let err = qemu().create_overlay(&overlay, &base, "qcow2").await.unwrap_err();
    assert!(matches!(err, StorageError::DestinationExists { .. }));
    // A backing file that is not of the stated format.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello, not an image").unwrap();
    let err = qemu()
        .create_overlay(&dir.path().join("o2.qcow2"), &text, "qcow2")
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::NotAnImage);
    assert!(!dir.path().join("o2.qcow2").exists());
    assert_no_temp_files(dir.path());
}

#[tokio::test]
async fn resize_grows_and_refuses_shrinking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.qcow2");
    qemu().create(&path, "qcow2", 16 * MIB).await.unwrap();
    qemu()
        .resize(&path, Some("qcow2"), 48 * MIB, false)
        .await
        .unwrap();
    assert_eq!(qemu().info(&path).await.unwrap().virtual_size, 48 * MIB);

    let err = qemu().resize(&path, None, 8 * MIB, false).await.unwrap_err();
    match &err {
        StorageError::ShrinkRefused {
            current, requested, ..
        } => {
            assert_eq!((*current, *requested), (48 * MIB, 8 * MIB))
        }
        other => panic!("expected ShrinkRefused, got {other:?}"),
    }
    assert!(err.to_string().contains("loses all data"), "{err}");
    assert_eq!(qemu().info(&path).await.unwrap().virtual_size, 48 * MIB);

    qemu().resize(&path, Some("qcow2"), 8 * MIB, true).await.unwrap();
    assert_eq!(qemu().info(&path).await.unwrap().virtual_size, 8 * MIB);
    assert!(matches!(
        qemu().resize(&path, None, 0, true).await,
        Err(StorageError::Size(_))
    ));
}

#[tokio::test]
async fn convert_reports_increasing_progress_ending_at_100() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    // 32 MiB of non-zero data so qemu-img has real work to report on.
    let data: Vec<u8> = (0..32 * MIB).map(|i| (i % 251) as u8 | 1).collect();
    std::fs::write(&src, &data).unwrap();
    let dst = dir.path().join("dst.qcow2");
    let mut seen = Vec::new();
    qemu()
        .convert(&src, Some("raw"), &dst, "qcow2", false, |p| seen.push(p))
        .await
        .unwrap();
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&100.0));
    assert_eq!(qemu().info(&dst).await.unwrap().format, "qcow2");

    // Round trip back to raw gives the same bytes.
    let back = dir.path().join("back.raw");
    qemu()
        .convert(&dst, Some("qcow2"), &back, "raw", false, |_| {})
        .await
        .unwrap();
    assert!(std::fs::read(&back).unwrap() == data);
    // Never overwrites.
    let err = qemu()
        .convert(&src, Some("raw"), &back, "raw", false, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::DestinationExists { .. }));
    assert_no_temp_files(dir.path());
}

#[tokio::test]
async fn snapshots_offline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d,with,commas.qcow2");
    qemu().create(&path, "qcow2", 8 * MIB).await.unwrap();
    assert!(qemu().snapshot_list(&path).await.unwrap().is_empty());
    raw_qemu_img(&[
        "snapshot".as_ref(),
        "-c".as_ref(),
        "before-update".as_ref(),
        path.as_os_str(),
    ]);
    let list = qemu().snapshot_list(&path).await.unwrap();
    assert_eq!(list.len(), 1);
    let snap = &list[0];
    assert_eq!((snap.id.as_str(), snap.name.as_str()), ("1", "before-update"));
    assert!(!snap.has_ram);
    assert_eq!(snap.vm_state_size, 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - snap.date_sec).abs() < 600, "{snap:?}");

    qemu().snapshot_create(&path, "second").await.unwrap();
    qemu().snapshot_apply(&path, "before-update").await.unwrap();
    qemu().snapshot_delete(&path, "before-update").await.unwrap();
    let names: Vec<_> = qemu()
        .snapshot_list(&path)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["second".to_string()]);
    let err = qemu().snapshot_delete(&path, "nope").await.unwrap_err();
    assert!(err.failure_kind().is_some(), "{err:?}");
    // A raw file is not taken for qcow2 (no probing).
    let raw = dir.path().join("d.raw");
    qemu().create(&raw, "raw", MIB).await.unwrap();
    assert_eq!(
        kind_of(&qemu().snapshot_create(&raw, "x").await.unwrap_err()),
        FailureKind::NotAnImage
    );
    assert!(matches!(
        qemu().snapshot_create(&path, " ").await,
        Err(StorageError::InvalidSnapshotName { .. })
    ));
}

#[tokio::test]
async fn check_reports_clean_and_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let (q, r) = (dir.path().join("d.qcow2"), dir.path().join("d.raw"));
    qemu().create(&q, "qcow2", 8 * MIB).await.unwrap();
    qemu().create(&r, "raw", 8 * MIB).await.unwrap();
    let report = qemu().check(&q, Some("qcow2")).await.unwrap();
    assert!(
        report.supported && report.is_clean() && report.format == "qcow2",
        "{report:?}"
    );
    let report = qemu().check(&r, Some("raw")).await.unwrap();
    assert!(!report.supported && report.format == "raw", "{report:?}");
}

#[tokio::test]
async fn errors_for_missing_file_non_image_and_missing_binary() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.qcow2");
    let err = qemu().info(&missing).await.unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::NotFound);
    let StorageError::QemuImg { stderr, hint, .. } = &err else {
        unreachable!()
    };
    assert!(stderr.contains("No such file or directory"), "{stderr}");
    assert!(hint.contains("exists"), "{hint}");
    assert_eq!(
        kind_of(&qemu().check(&missing, None).await.unwrap_err()),
        FailureKind::NotFound
    );

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "definitely not qcow2").unwrap();
    let err = qemu().info_as(&text, "qcow2").await.unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::NotAnImage);
    assert!(err.to_string().contains("Image is not in qcow2 format"), "{err}");
    let err = qemu()
        .snapshot_list(&dir.path().join("missing"))
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::NotFound);

    let bogus = QemuImg::new(dir.path().join("no-such-qemu-img"));
    let err = bogus.info(&text).await.unwrap_err();
    assert!(matches!(err, StorageError::QemuImgMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("qemu-img was not found"), "{err}");
    assert!(
        err.to_string().contains("install the qemu-utils package"),
        "{err}"
    );
    let err = bogus
        .convert(&text, None, &dir.path().join("x"), "qcow2", false, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::QemuImgMissing { .. }), "{err:?}");
    let not_executable = QemuImg::new(&text);
    assert!(matches!(
        not_executable.info(&text).await,
        Err(StorageError::Spawn { .. })
    ));
    assert_no_temp_files(dir.path());
}

#[tokio::test]
async fn in_use_images_are_reported_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.qcow2");
    qemu().create(&path, "qcow2", 8 * MIB).await.unwrap();
    let _vm = RunningVm::start(&path, "qcow2");
    // Force-share info still works on a running VM's disk…
    assert_eq!(qemu().info(&path).await.unwrap().virtual_size, 8 * MIB);
    // …but anything that needs a consistent image says it is in use.
    let err = qemu().ensure_not_in_use(&path, "qcow2").await.unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::Locked);
    assert!(err.to_string().contains("shut that VM down"), "{err}");
    let err = qemu()
        .resize(&path, Some("qcow2"), 16 * MIB, false)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&err), FailureKind::Locked);
}
