//! File-system helpers: temporary siblings, no-clobber publishing, reflink copies.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};

use super::error::{Result, StorageError};

/// `path` made absolute against the current directory (symlinks are kept as given). Absolute
/// paths also keep qemu-img from reading a leading `-` as an option or `name:` as a protocol.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(StorageError::InvalidPath {
            path: path.to_path_buf(),
        });
    }
    std::path::absolute(path).map_err(|e| StorageError::io("resolve the path", path, e))
}

/// Refuse format names that are empty or could be taken for options.
pub(crate) fn check_format(format: &str) -> Result<()> {
    let ok = !format.is_empty()
        && format.len() <= 32
        && format
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !format.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidFormat {
            format: format.to_string(),
        })
    }
}

/// A fresh hidden sibling of `dest` (same folder, so a rename is atomic).
pub(crate) fn temp_sibling(dest: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = dest.file_name().ok_or_else(|| StorageError::InvalidPath {
        path: dest.to_path_buf(),
    })?;
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".hangar-tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(dest.with_file_name(tmp))
}

/// Fail with [`StorageError::DestinationExists`] when something is at `dest` already.
pub(crate) fn ensure_absent(dest: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(_) => Err(StorageError::DestinationExists {
            path: dest.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("inspect", dest, e)),
    }
}

/// Move `tmp` to `dest` unless `dest` exists (checked atomically with `RENAME_NOREPLACE` where
/// the file system supports it). Works for files and folders.
pub(crate) fn rename_no_clobber(tmp: &Path, dest: &Path) -> Result<()> {
    match renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) | Err(Errno::ENOTEMPTY) => Err(StorageError::DestinationExists {
            path: dest.to_path_buf(),
        }),
        Err(Errno::EINVAL) | Err(Errno::ENOSYS) | Err(Errno::EOPNOTSUPP) => {
            // File system without RENAME_NOREPLACE: check, then rename (tiny race accepted).
            ensure_absent(dest)?;
            std::fs::rename(tmp, dest).map_err(|e| StorageError::io("rename into place", dest, e))
        }
        Err(errno) => Err(StorageError::io(
            "rename into place",
            dest,
            io::Error::from(errno),
        )),
    }
}

/// Best-effort removal of a leftover temporary file or folder.
pub(crate) fn discard(path: &Path) {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not remove temporary storage file");
    }
}

/// Try to make `dest` (which must not exist) a copy-on-write clone of `src` with the FICLONE
/// ioctl. Returns `Ok(false)` (and leaves nothing behind) when the file system cannot reflink.
pub(crate) fn try_reflink(src: &Path, dest: &Path) -> io::Result<bool> {
    let source = File::open(src)?;
    let mode = source.metadata()?.permissions().mode() & 0o7777;
    let target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(dest)?;
    // SAFETY: FICLONE takes the source descriptor as its integer argument; both descriptors are
    // open for the duration of the call and nothing else is passed by pointer.
    let rc = unsafe { libc::ioctl(target.as_raw_fd(), libc::FICLONE, source.as_raw_fd()) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    drop(target);
    let _ = std::fs::remove_file(dest);
    match err.raw_os_error() {
        // Not supported here, different file systems, or not a regular file / not allowed.
        Some(libc::EOPNOTSUPP | libc::ENOTTY | libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EPERM) => {
            tracing::debug!(src = %src.display(), error = %err, "reflink not possible, will copy");
            Ok(false)
        }
        _ => Err(err),
    }
}

/// Flush a file's data (and a folder's entries) to disk.
pub(crate) fn sync_path(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StorageError::io("flush to disk", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_validated() {
        for ok in ["qcow2", "raw", "vmdk", "luks", "parallels", "vhdx"] {
            assert!(check_format(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-O", "qcow2 -b x", "QCOW2", "raw,x", "a/b"] {
            assert!(
                matches!(check_format(bad), Err(StorageError::InvalidFormat { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn absolute_paths() {
        let abs = absolute(Path::new("-weird:name.qcow2")).unwrap();
        assert!(abs.is_absolute() && abs.ends_with("-weird:name.qcow2"));
        assert!(matches!(
            absolute(Path::new("")),
            Err(StorageError::InvalidPath { .. })
        ));
    }

    #[test]
    fn no_clobber_rename() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "new").unwrap();
        std::fs::write(&b, "precious").unwrap();
        assert!(matches!(
            rename_no_clobber(&a, &b),
            Err(StorageError::DestinationExists { .. })
        ));
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "precious");
        std::fs::remove_file(&b).unwrap();
        rename_no_clobber(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "new");
        assert!(!a.exists());
        // Folders: an existing empty folder is not replaced either.
        let (d1, d2) = (dir.path().join("d1"), dir.path().join("d2"));
        std::fs::create_dir(&d1).unwrap();
        std::fs::create_dir(&d2).unwrap();
        assert!(matches!(
            rename_no_clobber(&d1, &d2),
            Err(StorageError::DestinationExists { .. })
        ));
    }

    #[test]
    fn temp_siblings_are_hidden_and_unique() {
        let dest = Path::new("/x/disk.qcow2");
        let (t1, t2) = (temp_sibling(dest).unwrap(), temp_sibling(dest).unwrap());
        assert_ne!(t1, t2);
        assert_eq!(t1.parent(), Some(Path::new("/x")));
        assert!(t1
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".disk.qcow2.hangar-tmp-"));
        assert!(temp_sibling(Path::new("/")).is_err());
    }

    #[test]
    fn reflink_copies_or_declines_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        std::fs::write(&src, vec![7u8; 65536]).unwrap();
        match try_reflink(&src, &dst).unwrap() {
            true => assert_eq!(std::fs::read(&dst).unwrap(), vec![7u8; 65536]),
            false => assert!(!dst.exists(), "a failed reflink must not leave a file"),
        }
        // An existing destination is never touched.
        std::fs::write(dir.path().join("taken"), "keep").unwrap();
        let err = try_reflink(&src, &dir.path().join("taken")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(dir.path().join("taken")).unwrap(), "keep");
    }
}
