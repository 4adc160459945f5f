//! Disk images and VM-level storage operations (qemu-img, clones, archive).
//!
//! - [`QemuImg`]: async wrapper of the `qemu-img` tool (create, overlays, info, resize, convert
//!   with progress, offline snapshots, check) with typed errors carrying qemu-img's stderr.
//! - [`linked_clone`] / [`full_clone`]: qcow2 overlay, or reflink / sparse copy.
//! - [`archive_disks`]: standalone compressed qcow2 copies in `<root>/<YYYYMMDD-HHMMSS>/`.
//! - [`create_disposable_overlays`] / [`remove_disposable_overlays`]: throw-away runs.
//! - [`size`]: parse "20G"/"1.5T" and print byte counts.
//!
//! Rules kept throughout: image paths are passed to qemu-img as absolute paths; formats are
//! given explicitly wherever a guest controls the content (no raw-format probing); nothing that
//! creates a file overwrites an existing one; copies refuse images a running VM has open.

mod archive;
mod clone;
mod error;
mod fsutil;
mod info;
mod overlay;
mod progress;
mod qemu_img;
pub mod size;
#[cfg(test)]
mod testutil;
mod timestamp;

pub use archive::{archive_disks, ArchiveReport, ArchivedDisk};
pub use clone::{full_clone, linked_clone, CloneMethod, CloneOutcome};
pub use error::{FailureKind, Result, StorageError};
pub use info::{CheckReport, ImageInfo, SnapshotInfo};
pub use overlay::{create_disposable_overlays, remove_disposable_overlays};
pub use qemu_img::QemuImg;
pub use size::{format_size, parse_size, SizeError, MAX_DISK_SIZE};
