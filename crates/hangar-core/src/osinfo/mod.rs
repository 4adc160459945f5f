//! Operating-system knowledge for the New VM wizard, from the osinfo database (osinfo-db, the
//! data behind virt-manager and GNOME Boxes), without libosinfo.
//!
//! ```text
//!  iso       read an image's volume descriptors (a few sectors)      -> IsoInfo
//!  db        load osinfo-db XML (lazily, off the UI thread), resolve inheritance -> OsDb
//!  detect    IsoInfo x OsDb media rules                              -> OsMatch
//!  defaults  OsEntry x HostLimits                                    -> Recommendation
//!  search    the wizard's searchable list                            -> Vec<&OsEntry>
//! ```
//!
//! Typical use from the wizard: on a worker thread, `let db = system_db()?;` then
//! `detect_iso(db, path)?`; with the chosen entry, `recommended_config(Some(os), limits)` and
//! [`Recommendation::apply`] onto the new `VmConfig`.

mod db;
mod defaults;
mod detect;
mod entry;
mod iso;
mod parse;
mod search;

pub use db::{system_db, DbError, OsDb, SkippedFile};
pub use defaults::{
    recommended_config, HostLimits, Recommendation, GENERIC_CPUS, GENERIC_DISK_BYTES, GENERIC_MEMORY_MIB,
};
pub use detect::{detect_info, detect_iso, Confidence, OsMatch};
pub use entry::{
    today, Devices, FirmwareSupport, IdPattern, Media, OsEntry, ReleaseStatus, ResourceSet, Resources,
};
pub use iso::{read_iso_info, IsoError, IsoInfo, MIN_ISO_BYTES, SECTOR};
pub use search::search;

#[cfg(test)]
mod real_db_tests;
