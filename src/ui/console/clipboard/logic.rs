//! The clipboard bridge's decisions, free of GTK: what to do when the host clipboard changes
//! or the guest copies ([`EchoGuard`]), what the toolbar button shows ([`indicator`]) and what
//! the menu says about the guest agent ([`status`]).

use std::collections::VecDeque;

use hangar_core::config::ClipboardConfig;
use hangar_core::manager::agent_install_hint;

use crate::i18n::gettext;

/// How many texts put on the host clipboard may still come back as "changed".
const PENDING_ECHOES: usize = 4;

/// What to do with the guest after a host clipboard change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    /// Offer this text to the guest.
    Offer(String),
    /// The host clipboard holds no text now: take back what the guest was offered.
    Withdraw,
    /// Nothing crosses (sharing towards the guest is off, or it is our own change).
    Nothing,
}

/// Keeps the bridge from sending back what it just received.
///
/// Text the guest copied is put on the host clipboard; GTK then reports the host clipboard as
/// changed and reading it gives the same text: that change is the bridge's own and is not
/// offered back (the guest would lose its own selection). Likewise a guest agent that grabs
/// the text the host just offered is not copied to the host again.
#[derive(Debug, Default)]
pub struct EchoGuard {
    /// Texts put on the host clipboard whose "changed" has not been seen yet, oldest first.
    set_on_host: VecDeque<String>,
    /// What the guest was last offered, while the host clipboard still holds it.
    offered: Option<String>,
}

impl EchoGuard {
    /// The host clipboard changed and holds `text` (`None`: no text). `to_guest` says whether
    /// host → guest sharing is on.
    pub fn host_changed(&mut self, text: Option<&str>, to_guest: bool) -> HostAction {
        if let Some(text) = text {
            if let Some(i) = self.set_on_host.iter().position(|t| t == text) {
                // Our own change (and the ones before it will not come any more).
                self.set_on_host.drain(..=i);
                return HostAction::Nothing;
            }
        }
        self.set_on_host.clear();
        self.offered = None;
        match text {
            _ if !to_guest => HostAction::Nothing,
            Some(text) => {
                self.offered = Some(text.to_owned());
                HostAction::Offer(text.to_owned())
            }
            None => HostAction::Withdraw,
        }
    }

    /// The guest copied `text`: whether to put it on the host clipboard (only asked when
    /// guest → host sharing is on).
    pub fn guest_copied(&mut self, text: &str) -> bool {
        if self.offered.as_deref() == Some(text) {
            // The guest took the host's own text: the host clipboard holds it already.
            return false;
        }
        self.offered = None;
        if self.set_on_host.len() == PENDING_ECHOES {
            self.set_on_host.pop_front();
        }
        self.set_on_host.push_back(text.to_owned());
        true
    }

    /// Sharing stopped or restarted: nothing pending is known any more.
    pub fn reset(&mut self) {
        *self = EchoGuard::default();
    }
}

/// What the clipboard button shows: a badge when a direction is off, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    pub badge: bool,
    pub tooltip: String,
}

/// The button's look for the effective policy.
pub fn indicator(policy: ClipboardConfig) -> Indicator {
    let tooltip = match (policy.host_to_guest, policy.guest_to_host) {
        (true, true) => gettext("Clipboard"),
        (false, true) => gettext("Clipboard: host → guest is off"),
        (true, false) => gettext("Clipboard: guest → host is off"),
        (false, false) => gettext("Clipboard: sharing is off"),
    };
    Indicator {
        badge: !(policy.host_to_guest && policy.guest_to_host),
        tooltip,
    }
}

/// The guest clipboard agent as the console sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentView {
    /// The VM does not run (or the console has not looked yet).
    Idle,
    /// Hangar is opening the VM's clipboard channel.
    Connecting,
    /// spice-vdagent runs in the guest: the clipboard is shared.
    Active,
    /// No agent in the guest (yet).
    Missing,
    /// Hangar cannot share this VM's clipboard; the text says why and what to do.
    Unavailable(String),
}

/// The menu's status: a title and an optional explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub title: String,
    pub detail: Option<String>,
}

/// What the menu says, for the agent's state, whether the VM is untrusted, and its OS (an
/// osinfo short id, for the install command).
pub fn status(agent: &AgentView, untrusted: bool, os: Option<&str>) -> Status {
    let status = |title: String, detail: Option<String>| Status { title, detail };
    if untrusted {
        return status(
            gettext("Clipboard sharing is off"),
            Some(gettext(
                "This virtual machine is marked as untrusted: nothing is shared. Change that in its details.",
            )),
        );
    }
    match agent {
        AgentView::Idle => status(
            gettext("Clipboard not shared"),
            Some(gettext("The clipboard is shared while the virtual machine runs.")),
        ),
        AgentView::Connecting => status(gettext("Connecting to the guest agent…"), None),
        AgentView::Active => status(gettext("Clipboard shared"), None),
        AgentView::Missing => {
            let hint = agent_install_hint(os);
            status(
                gettext("Guest agent not running"),
                Some(format!(
                    "{}\n{hint}",
                    gettext("Install spice-vdagent in the guest to share the clipboard.")
                )),
            )
        }
        AgentView::Unavailable(reason) => status(gettext("Clipboard not available"), Some(reason.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: ClipboardConfig = ClipboardConfig {
        host_to_guest: true,
        guest_to_host: true,
    };

    #[test]
    fn host_changes_are_offered_and_withdrawn() {
        let mut g = EchoGuard::default();
        assert_eq!(g.host_changed(Some("a"), true), HostAction::Offer("a".into()));
        // Copying the same text again offers it again (the guest may have copied since).
        assert_eq!(g.host_changed(Some("a"), true), HostAction::Offer("a".into()));
        assert_eq!(g.host_changed(None, true), HostAction::Withdraw);
        assert_eq!(g.host_changed(Some("b"), false), HostAction::Nothing);
        assert_eq!(g.host_changed(None, false), HostAction::Nothing);
    }

    #[test]
    fn guest_text_put_on_the_host_is_not_sent_back() {
        let mut g = EchoGuard::default();
        assert!(g.guest_copied("from guest"));
        assert_eq!(g.host_changed(Some("from guest"), true), HostAction::Nothing);
        // Only once: a later copy of the same text on the host is the user's.
        assert_eq!(
            g.host_changed(Some("from guest"), true),
            HostAction::Offer("from guest".into())
        );
    }

    #[test]
    fn quick_guest_copies_do_not_bounce() {
        let mut g = EchoGuard::default();
        assert!(g.guest_copied("one"));
        assert!(g.guest_copied("two"));
        // GTK reports the first change late, after the second text was set.
        assert_eq!(g.host_changed(Some("one"), true), HostAction::Nothing);
        assert_eq!(g.host_changed(Some("two"), true), HostAction::Nothing);
        // A host copy in between clears what is pending.
        assert!(g.guest_copied("three"));
        assert_eq!(
            g.host_changed(Some("mine"), true),
            HostAction::Offer("mine".into())
        );
        assert_eq!(
            g.host_changed(Some("three"), true),
            HostAction::Offer("three".into())
        );
    }

    #[test]
    fn pending_echoes_are_bounded() {
        let mut g = EchoGuard::default();
        for i in 0..10 {
            assert!(g.guest_copied(&i.to_string()));
        }
        assert_eq!(g.set_on_host.len(), PENDING_ECHOES);
        assert_eq!(g.host_changed(Some("0"), true), HostAction::Offer("0".into()));
    }

    #[test]
    fn the_guest_taking_the_host_text_is_not_copied_back() {
        let mut g = EchoGuard::default();
        assert_eq!(g.host_changed(Some("h"), true), HostAction::Offer("h".into()));
        assert!(!g.guest_copied("h"));
        assert!(g.guest_copied("g"));
        // Once the guest copied something else, "h" from the guest is new again.
        assert!(g.guest_copied("h"));
        g.reset();
        assert_eq!(g.host_changed(Some("h"), true), HostAction::Offer("h".into()));
    }

    #[test]
    fn the_badge_shows_when_a_direction_is_off() {
        let on = indicator(BOTH);
        assert!(!on.badge);
        assert_eq!(on.tooltip, "Clipboard");
        let to_guest_off = indicator(ClipboardConfig {
            host_to_guest: false,
            ..BOTH
        });
        assert!(to_guest_off.badge);
        assert_eq!(to_guest_off.tooltip, "Clipboard: host → guest is off");
        let to_host_off = indicator(ClipboardConfig {
            guest_to_host: false,
            ..BOTH
        });
        assert!(to_host_off.badge);
        assert_eq!(to_host_off.tooltip, "Clipboard: guest → host is off");
        let off = indicator(ClipboardConfig {
            host_to_guest: false,
            guest_to_host: false,
        });
        assert!(off.badge && off.tooltip.contains("sharing is off"));
    }

    #[test]
    fn the_status_explains_a_missing_agent_for_the_guest_os() {
        let s = status(&AgentView::Missing, false, Some("debian12"));
        assert_eq!(s.title, "Guest agent not running");
        let detail = s.detail.unwrap();
        assert!(detail.contains("sudo apt install spice-vdagent"), "{detail}");
        assert!(detail.contains("log out and in again (or reboot)"), "{detail}");
        let win = status(&AgentView::Missing, false, Some("win11")).detail.unwrap();
        assert!(win.contains("spice-guest-tools"), "{win}");

        assert_eq!(status(&AgentView::Active, false, None).title, "Clipboard shared");
        assert!(status(&AgentView::Active, false, None).detail.is_none());
        let busy = status(&AgentView::Unavailable("taken".into()), false, None);
        assert_eq!(busy.detail.as_deref(), Some("taken"));
        // Untrusted wins over everything.
        let s = status(&AgentView::Active, true, None);
        assert_eq!(s.title, "Clipboard sharing is off");
    }
}
