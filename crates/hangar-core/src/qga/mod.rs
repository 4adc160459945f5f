//! Guest agent client: qemu-guest-agent in the guest, reached through QEMU's
//! `org.qemu.guest_agent.0` virtio-serial port, backed by `<runtime>/qga.sock`.
//!
//! ```text
//!  Qga ──0xFF + guest-sync-delimited──> qga.sock ──> QEMU chardev ──> virtio-serial ──> agent
//!      <── stale bytes … 0xFF {"return": id} ──────────────────────────────────────────┘
//! ```
//!
//! The protocol is QMP-like JSON lines without greeting, capabilities, ids or events. Replies
//! of earlier clients may still sit in the stream, so every connection (and every command after
//! one that was cut short) first resynchronises with `guest-sync-delimited`. When no agent runs
//! in the guest, QEMU still accepts the connection and nothing ever answers: every call has a
//! timeout ([`DEFAULT_TIMEOUT`]) and fails with [`QgaError::NoAnswer`] instead of hanging.
//! QEMU serves one client at a time on the socket: connect per operation, drop promptly.

mod client;
pub mod cmd;
mod error;
mod wire;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests_fake;

pub use client::{Qga, QgaOptions, DEFAULT_TIMEOUT};
pub use cmd::{
    GuestAgentInfo, GuestIpAddressType, GuestNetworkInterface, GuestOsInfo, QgaCommand, ShutdownMode,
};
pub use error::QgaError;
/// Largest line accepted from the agent; a longer reply is a [`QgaError::Protocol`].
pub use wire::MAX_LINE as MAX_MESSAGE_SIZE;
