//! Errors of reading the host's USB devices.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum UsbError {
    /// No `/sys/bus/usb`: the kernel has no USB support (or sysfs is not mounted).
    #[error(
        "this system has no USB bus ({} does not exist): the kernel was built without USB support \
         or sysfs is not mounted, so there are no host USB devices to pass through",
        path.display()
    )]
    NoBus { path: PathBuf },

    /// A directory or file that exists could not be read.
    #[error("cannot read {}: {source}; check that sysfs is mounted and readable", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
