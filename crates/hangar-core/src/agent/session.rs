//! The host end of the vdagent protocol as a state machine without I/O: bytes in → events
//! out; calls → bytes queued for the guest ([`VdagentHost::take_output`]).
//!
//! The clipboard policy is enforced here, so no caller can get around it:
//! - `host_to_guest` off: [`VdagentHost::grab`] and [`VdagentHost::clipboard`] fail and queue
//!   nothing; a guest request is answered with "no data" (type NONE, empty) and not surfaced;
//!   turning it off while the host owns a guest selection releases that selection.
//! - `guest_to_host` off: guest grabs, releases and clipboard data are dropped (no events) and
//!   [`VdagentHost::request`] fails.
//! - `max_bytes`: host data over it is refused; guest data over it is never allocated (the
//!   parser skips it) and surfaces as [`SessionEvent::GuestClipboardTooLarge`]. The limit is
//!   also sent to guests that support `MAX_CLIPBOARD`; such a guest then sends an empty
//!   clipboard instead of an oversized one, which is reported the same way.

use super::error::AgentError;
use super::parser::{Deframer, Frame, SkipReason};
use super::protocol::{
    encode_message, Cap, Caps, ClipboardType, Message, MessageType, MonitorsConfig, Negotiated, Selection,
    VDP_CLIENT_PORT,
};

/// Default clipboard size limit (each direction): 32 MiB.
pub const DEFAULT_MAX_CLIPBOARD: usize = 32 * 1024 * 1024;

/// Messages other than clipboard data may be this large whatever the clipboard limit.
const MIN_MESSAGE_LIMIT: usize = 64 * 1024;
/// Selection prefix, grab serial and type word in front of clipboard data.
const CLIPBOARD_OVERHEAD: usize = 16;

/// What may cross between host and guest clipboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The guest may read what the host copied.
    pub host_to_guest: bool,
    /// The host may read what the guest copied.
    pub guest_to_host: bool,
    /// Largest clipboard content accepted in either direction, in bytes.
    pub max_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            host_to_guest: true,
            guest_to_host: true,
            max_bytes: DEFAULT_MAX_CLIPBOARD,
        }
    }
}

impl From<crate::config::ClipboardConfig> for Policy {
    /// The directions of a VM's `[clipboard]` settings (pass `VmConfig::effective_clipboard()`
    /// so untrusted VMs share nothing) with the default size limit.
    fn from(config: crate::config::ClipboardConfig) -> Self {
        Policy {
            host_to_guest: config.host_to_guest,
            guest_to_host: config.guest_to_host,
            max_bytes: DEFAULT_MAX_CLIPBOARD,
        }
    }
}

/// What the guest did, as allowed by the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The guest agent announced its capabilities (it started, or answered our announce).
    GuestAnnounced { caps: Caps },
    /// The guest owns `selection` now and offers these types.
    GuestGrab {
        selection: Selection,
        types: Vec<ClipboardType>,
    },
    /// The guest wants the host's data for a selection the host grabbed.
    GuestRequest {
        selection: Selection,
        kind: ClipboardType,
    },
    /// Clipboard data from the guest (type NONE with no data: the guest has nothing to give).
    /// UTF-8 text from a CRLF guest is already converted to LF line ends.
    GuestClipboard {
        selection: Selection,
        kind: ClipboardType,
        data: Vec<u8>,
    },
    /// The guest no longer owns `selection`.
    GuestRelease { selection: Selection },
    /// The guest's clipboard data was over the limit and was dropped.
    GuestClipboardTooLarge { size: Option<u64>, limit: usize },
    /// The guest answered a message that wants a reply (e.g. monitors config).
    GuestReply { kind: MessageType, ok: bool },
}

impl SessionEvent {
    /// The error to show for an event that is one.
    pub fn as_error(&self) -> Option<AgentError> {
        match self {
            SessionEvent::GuestClipboardTooLarge { size, limit } => Some(AgentError::GuestTooLarge {
                size: *size,
                limit: *limit,
            }),
            _ => None,
        }
    }
}

/// The host side of one vdagent connection.
#[derive(Debug)]
pub struct VdagentHost {
    policy: Policy,
    ours: Caps,
    guest: Option<Caps>,
    neg: Negotiated,
    deframer: Deframer,
    out: Vec<u8>,
    /// Selections (0..=2) the host currently owns in the guest.
    host_grabbed: [bool; 3],
}

/// The capabilities Hangar announces.
pub fn host_caps() -> Caps {
    Caps::of(&[
        Cap::CLIPBOARD_BY_DEMAND,
        Cap::CLIPBOARD_SELECTION,
        Cap::MAX_CLIPBOARD,
        Cap::MONITORS_CONFIG,
        Cap::REPLY,
    ])
}

fn parser_limit(max_bytes: usize) -> u32 {
    let limit = max_bytes
        .max(MIN_MESSAGE_LIMIT)
        .saturating_add(CLIPBOARD_OVERHEAD);
    u32::try_from(limit).unwrap_or(u32::MAX)
}

impl VdagentHost {
    pub fn new(policy: Policy) -> Self {
        VdagentHost {
            policy,
            ours: host_caps(),
            guest: None,
            neg: Negotiated::default(),
            deframer: Deframer::new(parser_limit(policy.max_bytes)),
            out: Vec::new(),
            host_grabbed: [false; 3],
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Change the policy. Turning host → guest off releases what the host owns in the guest;
    /// a new limit is sent to a guest that supports `MAX_CLIPBOARD`.
    pub fn set_policy(&mut self, policy: Policy) {
        let old = std::mem::replace(&mut self.policy, policy);
        if old.host_to_guest && !policy.host_to_guest {
            for index in 0..self.host_grabbed.len() {
                if self.host_grabbed[index] {
                    self.push(&Message::ClipboardRelease {
                        selection: Selection(index as u8),
                    });
                    self.host_grabbed[index] = false;
                }
            }
        }
        self.deframer.set_max_payload(parser_limit(policy.max_bytes));
        if old.max_bytes != policy.max_bytes {
            self.send_max_clipboard();
        }
    }

    /// The guest's capabilities once it announced itself.
    pub fn guest_caps(&self) -> Option<&Caps> {
        self.guest.as_ref()
    }

    /// Whether the guest agent has announced itself.
    pub fn guest_active(&self) -> bool {
        self.guest.is_some()
    }

    /// Whether the host currently owns `selection` in the guest.
    pub fn host_owns(&self, selection: Selection) -> bool {
        self.host_grabbed
            .get(usize::from(selection.0))
            .copied()
            .unwrap_or(false)
    }

    /// Forget the guest and any partial input (the port was reopened).
    pub fn reset(&mut self) {
        self.guest = None;
        self.neg = Negotiated::default();
        self.deframer.reset();
        self.host_grabbed = [false; 3];
    }

    /// Bytes held for messages from the guest that are not complete yet (bounded by the limit).
    pub fn buffered(&self) -> usize {
        self.deframer.buffered()
    }

    /// Bytes queued for the guest, taken.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether bytes are queued for the guest.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Announce the host's capabilities; `request` asks the guest to announce its own.
    pub fn announce(&mut self, request: bool) {
        let caps = self.ours.clone();
        self.push(&Message::AnnounceCapabilities { request, caps });
    }

    /// Take ownership of `selection` in the guest, offering `types`.
    pub fn grab(&mut self, selection: Selection, types: &[ClipboardType]) -> Result<(), AgentError> {
        self.check_host_to_guest(selection)?;
        self.push(&Message::ClipboardGrab {
            selection,
            serial: None,
            types: types.to_vec(),
        });
        if let Some(owned) = self.host_grabbed.get_mut(usize::from(selection.0)) {
            *owned = true;
        }
        Ok(())
    }

    /// Send clipboard data (the answer to a [`SessionEvent::GuestRequest`]). UTF-8 text gets
    /// CRLF line ends for guests that want them.
    pub fn clipboard(
        &mut self,
        selection: Selection,
        kind: ClipboardType,
        data: &[u8],
    ) -> Result<(), AgentError> {
        self.check_host_to_guest(selection)?;
        let converted;
        let data = if kind == ClipboardType::UTF8_TEXT && self.guest_wants_crlf() {
            converted = lf_to_crlf(data);
            &converted[..]
        } else {
            data
        };
        if data.len() > self.policy.max_bytes {
            return Err(AgentError::HostTooLarge {
                size: data.len(),
                limit: self.policy.max_bytes,
            });
        }
        self.push(&Message::Clipboard {
            selection,
            kind,
            data: data.to_vec(),
        });
        Ok(())
    }

    /// Answer a guest request with "no data". Allowed whatever the policy (nothing crosses).
    pub fn refuse_request(&mut self, selection: Selection) {
        if self.guest.is_some() && self.selection_usable(selection) {
            self.push(&Message::Clipboard {
                selection,
                kind: ClipboardType::NONE,
                data: Vec::new(),
            });
        }
    }

    /// Ask the guest for the data of a selection it grabbed.
    pub fn request(&mut self, selection: Selection, kind: ClipboardType) -> Result<(), AgentError> {
        if !self.policy.guest_to_host {
            return Err(AgentError::GuestToHostOff);
        }
        self.check_clipboard_agent(selection)?;
        self.push(&Message::ClipboardRequest { selection, kind });
        Ok(())
    }

    /// Give up a selection the host owns in the guest (no-op when it does not own it).
    pub fn release(&mut self, selection: Selection) {
        if self.host_owns(selection) {
            self.push(&Message::ClipboardRelease { selection });
            self.host_grabbed[usize::from(selection.0)] = false;
        }
    }

    /// Ask the guest to lay out its displays (e.g. resize to the window).
    pub fn monitors_config(&mut self, config: &MonitorsConfig) -> Result<(), AgentError> {
        let caps = self.guest.as_ref().ok_or(AgentError::NoGuestAgent)?;
        if !caps.has(Cap::MONITORS_CONFIG) {
            return Err(AgentError::Unsupported {
                what: "change its display size",
            });
        }
        self.push(&Message::MonitorsConfig(config.clone()));
        Ok(())
    }

    /// Consume bytes from the guest; returns what happened, as allowed by the policy.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SessionEvent> {
        let mut frames = Vec::new();
        self.deframer.feed(bytes, &mut frames);
        let mut events = Vec::new();
        for frame in frames {
            match frame {
                Frame::Message { header, payload, .. } => {
                    match Message::decode(header.kind, &payload, self.neg) {
                        Ok(message) => self.on_message(message, &mut events),
                        Err(e) => tracing::warn!("vdagent: {e}; ignored"),
                    }
                }
                Frame::Skipped {
                    reason: SkipReason::TooLarge { header, .. },
                    ..
                } if header.kind == MessageType::CLIPBOARD => {
                    if self.policy.guest_to_host {
                        let overhead = if self.neg.selection { 8 } else { 4 };
                        events.push(SessionEvent::GuestClipboardTooLarge {
                            size: Some(u64::from(header.size).saturating_sub(overhead)),
                            limit: self.policy.max_bytes,
                        });
                    }
                }
                Frame::Skipped { port, reason } => {
                    tracing::warn!("vdagent: skipped data on port {port}: {reason:?}")
                }
            }
        }
        events
    }

    fn on_message(&mut self, message: Message, events: &mut Vec<SessionEvent>) {
        let g2h = self.policy.guest_to_host;
        match message {
            Message::AnnounceCapabilities { request, caps } => {
                tracing::debug!(
                    "vdagent: guest announced {:08x?} (request: {request})",
                    caps.words()
                );
                // The same caps again without a request only answer an announce of ours (e.g.
                // one that waited in QEMU's buffer until the guest opened the port): the agent
                // did not restart, so nothing is reset or reported.
                if !request && self.guest.as_ref() == Some(&caps) {
                    return;
                }
                self.neg = Negotiated::between(&self.ours, &caps);
                self.guest = Some(caps.clone());
                self.host_grabbed = [false; 3];
                if request {
                    self.announce(false);
                }
                self.send_max_clipboard();
                events.push(SessionEvent::GuestAnnounced { caps });
            }
            Message::ClipboardGrab { selection, types, .. } => {
                if let Some(owned) = self.host_grabbed.get_mut(usize::from(selection.0)) {
                    *owned = false;
                }
                if g2h {
                    events.push(SessionEvent::GuestGrab { selection, types });
                }
            }
            Message::ClipboardRequest { selection, kind } => {
                if self.policy.host_to_guest && self.host_owns(selection) {
                    events.push(SessionEvent::GuestRequest { selection, kind });
                } else {
                    self.refuse_request(selection);
                }
            }
            Message::Clipboard {
                selection,
                kind,
                data,
            } if g2h => {
                let limit = self.policy.max_bytes;
                let guest_limited = self.guest.as_ref().is_some_and(|c| c.has(Cap::MAX_CLIPBOARD));
                if data.is_empty() && kind != ClipboardType::NONE && guest_limited {
                    events.push(SessionEvent::GuestClipboardTooLarge { size: None, limit });
                } else if data.len() > limit {
                    let size = Some(data.len() as u64);
                    events.push(SessionEvent::GuestClipboardTooLarge { size, limit });
                } else {
                    let data = match kind == ClipboardType::UTF8_TEXT && self.guest_wants_crlf() {
                        true => crlf_to_lf(&data),
                        false => data,
                    };
                    events.push(SessionEvent::GuestClipboard {
                        selection,
                        kind,
                        data,
                    });
                }
            }
            Message::ClipboardRelease { selection } if g2h => {
                events.push(SessionEvent::GuestRelease { selection });
            }
            Message::Reply { kind, error } => events.push(SessionEvent::GuestReply { kind, ok: error == 1 }),
            Message::Clipboard { .. } | Message::ClipboardRelease { .. } => {
                tracing::debug!("vdagent: guest clipboard dropped (guest to host is off)");
            }
            other => tracing::debug!("vdagent: ignored {:?} from the guest", other.kind()),
        }
    }

    fn check_host_to_guest(&self, selection: Selection) -> Result<(), AgentError> {
        if !self.policy.host_to_guest {
            return Err(AgentError::HostToGuestOff);
        }
        self.check_clipboard_agent(selection)
    }

    fn check_clipboard_agent(&self, selection: Selection) -> Result<(), AgentError> {
        let caps = self.guest.as_ref().ok_or(AgentError::NoGuestAgent)?;
        if !caps.has(Cap::CLIPBOARD_BY_DEMAND) {
            return Err(AgentError::Unsupported {
                what: "share its clipboard",
            });
        }
        if !self.selection_usable(selection) {
            return Err(AgentError::Unsupported {
                what: "share selections other than the clipboard",
            });
        }
        Ok(())
    }

    fn selection_usable(&self, selection: Selection) -> bool {
        selection == Selection::CLIPBOARD || (self.neg.selection && selection.0 <= Selection::SECONDARY.0)
    }

    fn guest_wants_crlf(&self) -> bool {
        self.guest
            .as_ref()
            .is_some_and(|c| c.has(Cap::GUEST_LINEEND_CRLF))
    }

    fn send_max_clipboard(&mut self) {
        if self.guest.as_ref().is_some_and(|c| c.has(Cap::MAX_CLIPBOARD)) {
            let max = i32::try_from(self.policy.max_bytes).unwrap_or(i32::MAX);
            self.push(&Message::MaxClipboard { max });
        }
    }

    fn push(&mut self, message: &Message) {
        let payload = message.encode_payload(self.neg);
        // Payloads are bounded by `max_bytes` checks or are small; a 4 GiB one is a caller bug
        // that is logged rather than sent truncated.
        if let Err(e) = encode_message(&mut self.out, VDP_CLIENT_PORT, message.kind(), &payload) {
            tracing::error!("vdagent: {e}; not sent");
        }
    }
}

/// LF → CRLF, leaving existing CRLF alone.
pub fn lf_to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// CRLF → LF; a lone CR stays.
pub fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut iter = data.iter().peekable();
    while let Some(&b) = iter.next() {
        if b == b'\r' && iter.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
#[path = "tests_session.rs"]
mod tests;
