//! Errors of the clipboard agent.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while sharing the clipboard with a VM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The VM's settings forbid host → guest clipboard.
    #[error(
        "copying from this computer into the VM is turned off in the VM's clipboard settings; \
         turn on \"host to guest\" there to paste into the VM"
    )]
    HostToGuestOff,

    /// The VM's settings forbid guest → host clipboard.
    #[error(
        "copying from the VM to this computer is turned off in the VM's clipboard settings; \
         turn on \"guest to host\" there to paste out of the VM"
    )]
    GuestToHostOff,

    /// What the host copied is over the size limit.
    #[error(
        "the copied data ({}) is larger than the {} clipboard limit of this VM; copy less, \
         or raise the limit in the VM's clipboard settings",
        human_size(*size as u64),
        human_size(*limit as u64)
    )]
    HostTooLarge { size: usize, limit: usize },

    /// What the guest copied is over the size limit (`size` when the guest told it).
    #[error(
        "the guest's clipboard is larger than the {} limit{}; copy less in the VM, or raise the \
         limit in the VM's clipboard settings",
        human_size(*limit as u64),
        size.map(|s| format!(" ({})", human_size(s))).unwrap_or_default()
    )]
    GuestTooLarge { size: Option<u64>, limit: usize },

    /// The guest's spice-vdagent has not announced itself (yet).
    #[error(
        "the VM's clipboard agent is not running; install spice-vdagent in the guest and make \
         sure it is started (on Linux both spice-vdagentd and a spice-vdagent in the desktop session)"
    )]
    NoGuestAgent,

    /// The guest agent lacks a capability.
    #[error("the VM's spice-vdagent cannot {what}; update spice-vdagent in the guest")]
    Unsupported { what: &'static str },

    /// The guest clipboard holds nothing Hangar can take.
    #[error("the VM's clipboard holds no text; copy some text inside the VM first")]
    NoGuestText,

    /// The guest did not answer a clipboard request.
    #[error(
        "the VM did not hand over its clipboard within {:.0} s; the application that copied \
         in the guest may be busy or closed — copy again and retry",
        timeout.as_secs_f64()
    )]
    Timeout { timeout: Duration },

    /// The agent socket is not connected (QEMU not running or not started with the agent port).
    #[error(
        "not connected to the VM's agent socket {}; the VM is not running, or it was started \
         without the clipboard port (restart it from Hangar)",
        path.display()
    )]
    NotConnected { path: PathBuf },

    /// The connection dropped while a request was pending.
    #[error("the connection to the VM's clipboard agent closed (the VM stopped or restarted); retry")]
    Disconnected,

    /// The agent service was shut down.
    #[error("the clipboard service of this VM has stopped; reopen the VM's window")]
    Stopped,
}

/// `12 bytes`, `3.5 KiB`, `32 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    let (unit, name) = match bytes {
        b if b >= MIB => (MIB, "MiB"),
        b if b >= KIB => (KIB, "KiB"),
        b => return format!("{b} bytes"),
    };
    if bytes % unit == 0 {
        format!("{} {name}", bytes / unit)
    } else {
        format!("{:.1} {name}", bytes as f64 / unit as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(3 * 1024 + 512), "3.5 KiB");
        assert_eq!(human_size(32 * 1024 * 1024), "32 MiB");
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = AgentError::GuestTooLarge {
            size: None,
            limit: 32 << 20,
        };
        assert_eq!(
            e.to_string(),
            "the guest's clipboard is larger than the 32 MiB limit; copy less in the VM, or raise \
             the limit in the VM's clipboard settings"
        );
        let e = AgentError::GuestTooLarge {
            size: Some(40 << 20),
            limit: 32 << 20,
        };
        assert!(e.to_string().contains("32 MiB limit (40 MiB)"), "{e}");
    }
}
