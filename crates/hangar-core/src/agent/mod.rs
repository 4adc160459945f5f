//! Host side of the SPICE guest agent protocol (spice-vdagent), in pure Rust, for VMs shown
//! over VNC: Hangar serves the `com.redhat.spice.0` virtio-serial port itself (QEMU exposes it
//! as a unix socket chardev, `RuntimePaths::vdagent`) to share the clipboard both ways and to
//! ask the guest to resize its display.
//!
//! ```text
//!  AgentHandle ──commands──> server (tokio: connect/reconnect, writer task)
//!       ▲                        │ bytes ⇅
//!       └──── AgentEvent ─── session::VdagentHost  (state machine, policy enforced here)
//!                                │
//!                      parser::Deframer + protocol (wire types, encoder)
//! ```
//!
//! The protocol follows the public `spice/vd_agent.h`. [`testguest::TestGuest`] speaks the
//! guest side for tests and tools; `crates/hangar-test-agent` is a separately written, static,
//! std-only guest agent binary for end-to-end tests in the tiny test guest.

mod error;
mod message;
pub mod parser;
pub mod protocol;
pub mod server;
pub mod session;
pub mod testguest;

#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_qemu;
#[cfg(test)]
mod tests_realguest;
#[cfg(test)]
mod tests_testagent;

pub use error::AgentError;
pub use protocol::{Caps, ClipboardType, MonitorConfig, MonitorsConfig, Selection};
pub use server::{AgentEvent, AgentHandle, AgentOptions, AgentStatus, DEFAULT_REQUEST_TIMEOUT};
pub use session::{Policy, SessionEvent, VdagentHost, DEFAULT_MAX_CLIPBOARD};

/// Logs a failed read or write on the agent socket: at debug level when QEMU simply went away
/// (the VM stopped or was killed), as a warning otherwise.
pub(crate) fn log_socket_error(what: &str, socket: &std::path::Path, e: &std::io::Error) {
    if crate::qmp::is_peer_gone(e) {
        tracing::debug!("vdagent: {what} {}: {e} (QEMU went away)", socket.display());
    } else {
        tracing::warn!("vdagent: {what} {}: {e}", socket.display());
    }
}
