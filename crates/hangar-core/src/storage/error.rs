//! Errors of the storage module, and the mapping from qemu-img's stderr to a failure kind.

use std::io;
use std::path::PathBuf;

use super::size::{format_size, SizeError};

/// What kind of failure qemu-img reported, recognised from its (English, unlocalised) stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A file (the image itself or a backing file) does not exist.
    NotFound,
    /// The file exists but is not an image of the expected format.
    NotAnImage,
    /// Another process (a running VM) holds a write lock on the image.
    Locked,
    /// The operating system refused access.
    PermissionDenied,
    /// The destination file system is full.
    NoSpace,
    /// qemu-img does not know the requested format.
    UnknownFormat,
    /// Anything else; the verbatim stderr says more.
    Other,
}

impl FailureKind {
    /// Recognise the failure from qemu-img's stderr.
    pub fn classify(stderr: &str) -> Self {
        let s = stderr.to_ascii_lowercase();
        if s.contains("lock") && (s.contains("failed to get") || s.contains("another process")) {
            FailureKind::Locked
        } else if s.contains("no such file or directory") {
            FailureKind::NotFound
        } else if s.contains("permission denied") || s.contains("operation not permitted") {
            FailureKind::PermissionDenied
        } else if s.contains("no space left on device") {
            FailureKind::NoSpace
        } else if s.contains("unknown file format") || s.contains("unknown driver") {
            FailureKind::UnknownFormat
        } else if s.contains("image is not in") && s.contains("format") {
            FailureKind::NotAnImage
        } else {
            FailureKind::Other
        }
    }

    /// What the user can do about it.
    pub fn hint(self) -> &'static str {
        match self {
            FailureKind::NotFound => {
                "check that the file (and any backing file it names) exists at that path"
            }
            FailureKind::NotAnImage => {
                "the file is not a disk image of that format: check the disk's format in vm.toml \
                 or choose the right file"
            }
            FailureKind::Locked => "the image is in use by a running VM: shut that VM down and try again",
            FailureKind::PermissionDenied => "check the permissions and owner of the file and its folder",
            FailureKind::NoSpace => "free some space on the destination file system and try again",
            FailureKind::UnknownFormat => "use a format qemu-img supports, such as qcow2 or raw",
            FailureKind::Other => "see qemu-img's message for details",
        }
    }
}

/// Everything that can go wrong in [`crate::storage`].
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The qemu-img binary could not be found.
    #[error("qemu-img was not found (looked for {bin:?}): install the qemu-utils package")]
    QemuImgMissing {
        /// The path or name that was tried.
        bin: PathBuf,
    },
    /// The qemu-img binary exists but could not be started.
    #[error("could not start {bin:?}: {source}; check that it is an executable qemu-img")]
    Spawn {
        /// The path or name that was tried.
        bin: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// qemu-img ran and failed.
    #[error("qemu-img {op} failed for {path:?}: {}; {hint}", stderr.trim())]
    QemuImg {
        /// The sub-command (`create`, `info`, `convert`, …).
        op: &'static str,
        /// The image the operation was about.
        path: PathBuf,
        /// Recognised failure kind.
        kind: FailureKind,
        /// qemu-img's stderr, verbatim.
        stderr: String,
        /// What to do about it.
        hint: String,
    },
    /// qemu-img succeeded but printed something this module cannot read.
    #[error(
        "could not read the output of qemu-img {op} for {path:?}: {detail}; is qemu-img a supported version?"
    )]
    BadOutput {
        /// The sub-command.
        op: &'static str,
        /// The image.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A resize would make the image smaller and shrinking was not allowed.
    #[error(
        "refusing to shrink {path:?} from {} to {}: shrinking loses all data beyond the new end; \
         shrink the file systems inside the guest first and allow shrinking explicitly",
        format_size(*current), format_size(*requested)
    )]
    ShrinkRefused {
        /// The image.
        path: PathBuf,
        /// Its current virtual size in bytes.
        current: u64,
        /// The requested virtual size in bytes.
        requested: u64,
    },
    /// A size was unusable.
    #[error(transparent)]
    Size(#[from] SizeError),
    /// A format name was unusable.
    #[error("{format:?} is not a valid image format name: use a qemu-img format such as qcow2 or raw")]
    InvalidFormat {
        /// The rejected name.
        format: String,
    },
    /// A path was unusable (empty, or has no file name where one is needed).
    #[error("{path:?} is not a usable path for a disk image: give a file path")]
    InvalidPath {
        /// The rejected path.
        path: PathBuf,
    },
    /// A snapshot name was unusable.
    #[error("{name:?} is not a usable snapshot name: give a name that is not blank")]
    InvalidSnapshotName {
        /// The rejected name.
        name: String,
    },
    /// The destination of a create/clone/convert already exists.
    #[error("{path:?} already exists: choose another name or remove it first")]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("could not {action} {path:?}: {source}")]
    Io {
        /// What was being done, as a verb phrase ("create folder", "copy", …).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    /// Shorthand for [`StorageError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The failure kind when qemu-img itself failed.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            StorageError::QemuImg { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Result alias of this module.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_qemu_img_messages() {
        let cases = [
            (
                "qemu-img: Could not open 'x': Could not open 'x': No such file or directory\n",
                FailureKind::NotFound,
            ),
            (
                "qemu-img: Could not open 'notimg': Image is not in qcow2 format\n",
                FailureKind::NotAnImage,
            ),
            (
                "qemu-img: Could not open 'a.qcow2': Failed to get shared \"write\" lock\n\
                 Is another process using the image [a.qcow2]?\n",
                FailureKind::Locked,
            ),
            (
                "qemu-img: y: Unknown file format 'bogus'\n",
                FailureKind::UnknownFormat,
            ),
            (
                "qemu-img: error while writing at byte 0: No space left on device\n",
                FailureKind::NoSpace,
            ),
            (
                "qemu-img: Could not open 'f': Permission denied\n",
                FailureKind::PermissionDenied,
            ),
            ("qemu-img: something new\n", FailureKind::Other),
        ];
        for (stderr, kind) in cases {
            assert_eq!(FailureKind::classify(stderr), kind, "{stderr}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = StorageError::QemuImgMissing {
            bin: "/nope/qemu-img".into(),
        };
        assert!(e.to_string().contains("install the qemu-utils package"));
        let e = StorageError::ShrinkRefused {
            path: "d.qcow2".into(),
            current: 2 << 30,
            requested: 1 << 30,
        };
        let msg = e.to_string();
        assert!(
            msg.contains("loses all data") && msg.contains("2 GiB") && msg.contains("1 GiB"),
            "{msg}"
        );
        let e = StorageError::QemuImg {
            op: "info",
            path: "x".into(),
            kind: FailureKind::Locked,
            stderr: "qemu-img: boom\n".into(),
            hint: FailureKind::Locked.hint().into(),
        };
        assert!(e.to_string().ends_with(
            "qemu-img: boom; the image is in use by a running VM: shut that VM down and try again"
        ));
        assert_eq!(e.failure_kind(), Some(FailureKind::Locked));
    }
}
