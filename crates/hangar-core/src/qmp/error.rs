//! Errors of the QMP client.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while talking to QEMU over QMP.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The monitor socket could not be opened at all.
    #[error(
        "cannot connect to the QEMU monitor socket {}: {source}; \
         check that the VM is running (its QEMU process may have exited)",
        path.display()
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The socket accepted the connection but did not speak QMP as expected.
    #[error(
        "QMP handshake on {} failed: {reason}; make sure the path is a QEMU QMP monitor \
         (`-qmp` / `mode=control`) and that no other program holds the monitor",
        path.display()
    )]
    Handshake { path: PathBuf, reason: String },

    /// The socket was closed by QEMU (end of file or connection reset): the VM has exited.
    #[error("the QEMU monitor connection closed: the VM has exited")]
    Disconnected,

    /// QEMU answered the command with an error; `desc` is QEMU's own text.
    #[error("{desc}")]
    Command { class: String, desc: String },

    /// A command got no answer in time.
    #[error(
        "QEMU did not answer `{command}` within {:.1} s; the VM may be hung \
         (retry, or force it off)",
        timeout.as_secs_f64()
    )]
    Timeout { command: String, timeout: Duration },

    /// QEMU sent something that is not QMP (non-JSON line, oversized message, bad reply shape).
    /// The connection is closed after such an error.
    #[error("QMP protocol error: {0}; the monitor connection was closed, reconnect to the VM")]
    Protocol(String),

    /// The command handed to [`crate::qmp::Qmp::execute_raw`] is not a valid QMP command.
    #[error("invalid QMP command: {0}")]
    InvalidCommand(String),

    /// The command's arguments could not be turned into JSON.
    #[error("cannot encode the arguments of QMP command `{command}`: {source}")]
    Encode {
        command: String,
        #[source]
        source: serde_json::Error,
    },

    /// QEMU's answer did not have the shape the command's result type expects.
    #[error(
        "unexpected answer to QMP command `{command}`: {source}; \
         this QEMU version may not be supported"
    )]
    Decode {
        command: String,
        #[source]
        source: serde_json::Error,
    },

    /// Writing to the monitor socket failed for a reason other than QEMU going away.
    #[error("cannot send `{command}` to the QEMU monitor: {source}")]
    Io {
        command: String,
        #[source]
        source: io::Error,
    },

    /// A QEMU background job (snapshot save/load/delete, ...) concluded with an error.
    #[error("QEMU job `{id}` failed: {error}")]
    Job { id: String, error: String },
}

impl QmpError {
    /// True when the error means the QEMU process is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, QmpError::Disconnected)
    }
}

/// Why a connection was closed; cloneable so every waiting command can get its own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// End of file / reset from QEMU, or the client handle was dropped.
    Disconnected,
    /// QEMU sent something that is not QMP.
    Protocol(String),
}

impl CloseReason {
    pub(crate) fn to_error(&self) -> QmpError {
        match self {
            CloseReason::Disconnected => QmpError::Disconnected,
            CloseReason::Protocol(msg) => QmpError::Protocol(msg.clone()),
        }
    }
}

/// True for the I/O errors that mean "the peer went away".
pub(crate) fn is_peer_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_shows_qemu_text_verbatim() {
        let e = QmpError::Command {
            class: "GenericError".into(),
            desc: "Device 'x' not found".into(),
        };
        assert_eq!(e.to_string(), "Device 'x' not found");
    }

    #[test]
    fn close_reason_maps_to_distinct_errors() {
        assert!(CloseReason::Disconnected.to_error().is_disconnected());
        let e = CloseReason::Protocol("line is not JSON".into()).to_error();
        assert!(!e.is_disconnected());
        assert!(e.to_string().contains("line is not JSON"));
    }

    #[test]
    fn peer_gone_kinds() {
        assert!(is_peer_gone(&io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(is_peer_gone(&io::Error::from(io::ErrorKind::ConnectionReset)));
        assert!(!is_peer_gone(&io::Error::from(io::ErrorKind::PermissionDenied)));
    }
}
