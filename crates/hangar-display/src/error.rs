//! Errors of the display widget.

use std::path::PathBuf;

use crate::input::KeySpecError;

/// What can go wrong when the application drives a [`crate::DisplayView`].
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// The unix socket of the VM's display could not be opened.
    #[error(
        "cannot open the console socket {path}: {source}. Check that the VM is running and was \
         started with its display enabled"
    )]
    Socket { path: PathBuf, source: std::io::Error },

    /// The protocol library refused to start the session.
    #[error(
        "the {protocol} client could not start a session on {path}: {reason}. Disconnect, then try again"
    )]
    SessionStart {
        protocol: &'static str,
        path: PathBuf,
        reason: String,
    },

    /// An operation needs a live console.
    #[error("the console is not connected: connect to the VM's display first")]
    NotConnected,

    /// The guest screen size cannot be changed from the client.
    #[error("the guest screen cannot be resized from the viewer: {0}")]
    ResizeUnsupported(String),

    /// Clipboard text could not be handed to the guest.
    #[error("the clipboard text could not be sent to the guest: {0}")]
    Clipboard(String),

    /// SPICE USB redirection cannot be used with this session.
    #[error("USB redirection is not available: {0}")]
    UsbRedirection(String),

    /// A device could not be redirected or given back.
    #[error("{device}: {reason}")]
    UsbRedirect { device: String, reason: String },

    /// A key name in a hotkey or chord setting is wrong.
    #[error(transparent)]
    KeySpec(#[from] KeySpecError),

    /// A key given to `send_keys` has no scancode.
    #[error(
        "the key {0} has no PC scancode and cannot be sent; use keys of a standard PC keyboard \
         (e.g. Control_L, Alt_L, Delete, F1)"
    )]
    UnmappableKey(String),
}
