//! Where the console connects, and how often it tries again. Pure logic, no widgets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hangar_core::config::DisplayKind;
use hangar_core::paths::RuntimePaths;

/// Display protocol of a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Vnc,
    Spice,
}

/// What the console can show for a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The VM runs and has a display on this socket.
    Display(Protocol, PathBuf),
    /// The VM does not run (and has a display once it does).
    Off,
    /// The VM has no display: serial console only.
    Headless,
}

/// Chooses the target. A running VM is asked by its sockets first, because `vm.toml` may have
/// been edited since it started; the configured kind decides when no socket is there (yet).
pub fn choose(running: bool, kind: DisplayKind, rt: &RuntimePaths, exists: impl Fn(&Path) -> bool) -> Target {
    if running {
        if exists(&rt.vnc) {
            return Target::Display(Protocol::Vnc, rt.vnc.clone());
        }
        if exists(&rt.spice) {
            return Target::Display(Protocol::Spice, rt.spice.clone());
        }
    }
    match (kind, running) {
        (DisplayKind::None, _) => Target::Headless,
        (_, false) => Target::Off,
        (DisplayKind::Vnc, true) => Target::Display(Protocol::Vnc, rt.vnc.clone()),
        (DisplayKind::Spice, true) => Target::Display(Protocol::Spice, rt.spice.clone()),
    }
}

/// Delays between reconnection attempts: 250 ms doubling up to 4 s, at most
/// [`Backoff::MAX_ATTEMPTS`] tries (about 40 s in all) before the console gives up and offers
/// a Reconnect button.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    attempts: u32,
}

impl Backoff {
    pub const MAX_ATTEMPTS: u32 = 14;
    const FIRST: Duration = Duration::from_millis(250);
    const CAP: Duration = Duration::from_secs(4);

    /// The delay before the next attempt, or `None` when it is time to give up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.attempts >= Self::MAX_ATTEMPTS {
            return None;
        }
        let factor = 1u32 << self.attempts.min(8);
        self.attempts += 1;
        Some((Self::FIRST * factor).min(Self::CAP))
    }

    /// A connection worked, or the user asked: start from the shortest delay again.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> RuntimePaths {
        RuntimePaths::in_dir(PathBuf::from("/run/h/vm"))
    }

    #[test]
    fn running_vm_uses_the_socket_that_exists() {
        let rt = rt();
        let spice_only = |p: &Path| p == rt.spice;
        assert_eq!(
            choose(true, DisplayKind::Vnc, &rt, spice_only),
            Target::Display(Protocol::Spice, rt.spice.clone())
        );
        let vnc_only = |p: &Path| p == rt.vnc;
        assert_eq!(
            choose(true, DisplayKind::None, &rt, vnc_only),
            Target::Display(Protocol::Vnc, rt.vnc.clone())
        );
    }

    #[test]
    fn without_sockets_the_config_decides() {
        let rt = rt();
        let none = |_: &Path| false;
        assert_eq!(
            choose(true, DisplayKind::Spice, &rt, none),
            Target::Display(Protocol::Spice, rt.spice.clone())
        );
        assert_eq!(
            choose(true, DisplayKind::Vnc, &rt, none),
            Target::Display(Protocol::Vnc, rt.vnc.clone())
        );
        assert_eq!(choose(true, DisplayKind::None, &rt, none), Target::Headless);
        assert_eq!(choose(false, DisplayKind::None, &rt, none), Target::Headless);
        assert_eq!(choose(false, DisplayKind::Vnc, &rt, none), Target::Off);
        // Stale sockets of a VM that is not running are ignored.
        assert_eq!(choose(false, DisplayKind::Vnc, &rt, |_| true), Target::Off);
    }

    #[test]
    fn backoff_doubles_caps_and_gives_up() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = std::iter::from_fn(|| b.next_delay()).collect();
        assert_eq!(delays.len() as u32, Backoff::MAX_ATTEMPTS);
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert_eq!(delays[4], Duration::from_secs(4));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(4)));
        let total: Duration = delays.iter().sum();
        assert!(
            total > Duration::from_secs(30) && total < Duration::from_secs(60),
            "{total:?}"
        );
        assert_eq!(b.next_delay(), None);
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.next_delay(), Some(Duration::from_millis(250)));
    }
}
