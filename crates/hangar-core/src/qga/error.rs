//! Errors of the guest agent client.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while talking to qemu-guest-agent.
#[derive(Debug, thiserror::Error)]
pub enum QgaError {
    /// Nothing listens on the agent socket (VM stopped, or started without the agent channel).
    #[error(
        "cannot connect to the guest agent socket {}: {source}; check that the VM is running \
         with the guest agent channel on (channels.guest_agent in vm.toml)",
        path.display()
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// No reply in time: no agent runs in the guest, the guest is paused or still booting, or
    /// another program holds the agent socket (QEMU serves one client at a time).
    #[error(
        "the guest agent does not answer (`{command}` got no reply within {:.1} s): install \
         qemu-guest-agent in the guest and make sure it runs; a paused or booting guest, or \
         another program connected to the agent socket, has the same effect",
        timeout.as_secs_f64()
    )]
    NoAnswer { command: String, timeout: Duration },

    /// The socket closed: the VM exited (or QEMU dropped the connection).
    #[error("the guest agent connection closed: the VM has exited or QEMU dropped the connection")]
    Disconnected,

    /// The agent answered with an error; `desc` is its own text.
    #[error("the guest agent refused `{command}`: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },

    /// The agent sent something that is not a reply (not JSON, oversized, wrong shape). The next
    /// command resynchronises the stream first.
    #[error("the guest agent sent an unexpected reply: {0}; retry (the stream is resynchronised)")]
    Protocol(String),

    /// The agent's reply did not have the shape the command's result type expects.
    #[error(
        "unexpected answer of the guest agent to `{command}`: {source}; this agent version may \
         not be supported"
    )]
    Decode {
        command: String,
        #[source]
        source: serde_json::Error,
    },

    /// The command's arguments could not be turned into JSON.
    #[error("cannot encode the arguments of guest agent command `{command}`: {source}")]
    Encode {
        command: String,
        #[source]
        source: serde_json::Error,
    },

    /// Reading or writing the socket failed for another reason than the peer going away.
    #[error("guest agent socket error during `{command}`: {source}")]
    Io {
        command: String,
        #[source]
        source: io::Error,
    },
}

impl QgaError {
    /// True when the error means "no usable agent": nothing listening, no answer, or gone.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            QgaError::Connect { .. } | QgaError::NoAnswer { .. } | QgaError::Disconnected
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = QgaError::NoAnswer {
            command: "guest-ping".into(),
            timeout: Duration::from_millis(1500),
        };
        let text = e.to_string();
        assert!(text.contains("install qemu-guest-agent in the guest"), "{text}");
        assert!(text.contains("1.5 s"), "{text}");
        assert!(e.is_unavailable());
        let e = QgaError::Command {
            command: "guest-shutdown".into(),
            class: "GenericError".into(),
            desc: "child process has failed to shutdown".into(),
        };
        assert!(!e.is_unavailable());
        assert!(e.to_string().ends_with("child process has failed to shutdown"));
    }
}
