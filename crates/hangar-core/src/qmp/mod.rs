//! QMP client: own transport over a unix socket (tolerant events, fd passing), qapi-qmp types.
//!
//! ```text
//!  Qmp (Clone) ──execute──> writer task ──JSON line (+SCM_RIGHTS fd)──> QEMU
//!       ▲                                                                 │
//!       └── oneshot by id <── reader task <──── replies / events ─────────┘
//!                                  └──> QmpEvents subscribers (unbounded, in order)
//! ```
//!
//! Commands are the typed structs of [`qapi_qmp`] (re-exported here), e.g.
//! `qmp.execute(qapi_qmp::query_status {}).await?`. Events are mapped by hand into
//! [`QmpEvent`]; events Hangar does not model arrive as [`QmpEvent::Other`]. When QEMU exits,
//! pending and later commands fail with [`QmpError::Disconnected`] and event streams end.

mod client;
pub mod cmd;
mod conn;
mod error;
mod event;
mod job;
mod transport;

#[cfg(test)]
mod tests_fake;
#[cfg(test)]
mod tests_qemu;

pub use client::{Qmp, QmpGreeting, QmpOptions, DEFAULT_COMMAND_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT};
/// Shared with the guest-agent client, which meets the same socket errors.
pub(crate) use error::is_peer_gone;
pub use error::QmpError;
pub use event::{QmpEvent, QmpEvents, TimedEvent};
/// Largest message accepted from QEMU; a longer one closes the connection.
pub use transport::MAX_LINE as MAX_MESSAGE_SIZE;

/// The typed QMP commands and result types (the `qapi-qmp` crate).
pub use qapi_qmp;
/// The `Command` trait implemented by every [`qapi_qmp`] command.
pub use qapi_spec::Command as QmpCommand;
