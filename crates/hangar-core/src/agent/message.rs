//! Message payloads: decoded forms of the messages Hangar handles, and their encoders.

use super::protocol::{le32, Cap, Caps, ClipboardType, MessageType, Selection, MAX_CAP_WORDS};

/// One monitor of a [`MonitorsConfig`] (`VDAgentMonConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorConfig {
    pub width: u32,
    pub height: u32,
    /// Colour depth in bits per pixel (32 in practice).
    pub depth: u32,
    pub x: i32,
    pub y: i32,
}

/// `VD_AGENT_CONFIG_MONITORS_FLAG_USE_POS`: the guest should honour `x`/`y`.
pub const MONITORS_FLAG_USE_POS: u32 = 1;

/// Ask the guest agent to set its display layout (`VDAgentMonitorsConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorsConfig {
    pub flags: u32,
    pub monitors: Vec<MonitorConfig>,
}

/// What the two ends negotiated; clipboard payloads depend on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// Both sides have `CLIPBOARD_SELECTION`: clipboard payloads start with selection + 3 bytes.
    pub selection: bool,
    /// Both sides have `CLIPBOARD_GRAB_SERIAL`: a grab carries a u32 serial after the selection.
    pub grab_serial: bool,
}

impl Negotiated {
    pub fn between(ours: &Caps, theirs: &Caps) -> Self {
        let both = |cap| ours.has(cap) && theirs.has(cap);
        Negotiated {
            selection: both(Cap::CLIPBOARD_SELECTION),
            grab_serial: both(Cap::CLIPBOARD_GRAB_SERIAL),
        }
    }
}

/// The messages Hangar understands, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    AnnounceCapabilities {
        request: bool,
        caps: Caps,
    },
    ClipboardGrab {
        selection: Selection,
        serial: Option<u32>,
        types: Vec<ClipboardType>,
    },
    ClipboardRequest {
        selection: Selection,
        kind: ClipboardType,
    },
    Clipboard {
        selection: Selection,
        kind: ClipboardType,
        data: Vec<u8>,
    },
    ClipboardRelease {
        selection: Selection,
    },
    /// Largest clipboard the sender accepts (`-1`: no limit).
    MaxClipboard {
        max: i32,
    },
    MonitorsConfig(MonitorsConfig),
    /// Answer to a message that asks for one (`VD_AGENT_SUCCESS` = 1, `VD_AGENT_ERROR` = 2).
    Reply {
        kind: MessageType,
        error: u32,
    },
    /// Known to the protocol but not handled by Hangar, or unknown: skipped.
    Other {
        kind: MessageType,
        size: usize,
    },
}

/// A message payload that does not match its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {kind:?} message from the vdagent ({size} bytes): {what}")]
pub struct DecodeError {
    pub kind: MessageType,
    pub size: usize,
    pub what: &'static str,
}

/// Cap on the types listed in one grab; more is not a real clipboard.
const MAX_GRAB_TYPES: usize = 64;

impl Message {
    /// The wire type of this message.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::AnnounceCapabilities { .. } => MessageType::ANNOUNCE_CAPABILITIES,
            Message::ClipboardGrab { .. } => MessageType::CLIPBOARD_GRAB,
            Message::ClipboardRequest { .. } => MessageType::CLIPBOARD_REQUEST,
            Message::Clipboard { .. } => MessageType::CLIPBOARD,
            Message::ClipboardRelease { .. } => MessageType::CLIPBOARD_RELEASE,
            Message::MaxClipboard { .. } => MessageType::MAX_CLIPBOARD,
            Message::MonitorsConfig(_) => MessageType::MONITORS_CONFIG,
            Message::Reply { .. } => MessageType::REPLY,
            Message::Other { kind, .. } => *kind,
        }
    }

    /// Decode the payload of a message of type `kind`.
    pub fn decode(kind: MessageType, payload: &[u8], neg: Negotiated) -> Result<Message, DecodeError> {
        let err = |what| DecodeError {
            kind,
            size: payload.len(),
            what,
        };
        let mut r = Reader(payload);
        let clipboard_selection = |r: &mut Reader| -> Result<Selection, DecodeError> {
            if !neg.selection {
                return Ok(Selection::CLIPBOARD);
            }
            let prefix = r.take(4).ok_or_else(|| err("missing selection"))?;
            Ok(Selection(prefix[0]))
        };
        let msg = match kind {
            MessageType::ANNOUNCE_CAPABILITIES => {
                let request = r.u32().ok_or_else(|| err("missing request flag"))? != 0;
                let mut words = Vec::new();
                while let Some(word) = r.u32() {
                    if words.len() < MAX_CAP_WORDS {
                        words.push(word);
                    }
                }
                Message::AnnounceCapabilities {
                    request,
                    caps: Caps::from_words(&words),
                }
            }
            MessageType::CLIPBOARD_GRAB => {
                let selection = clipboard_selection(&mut r)?;
                let serial = match neg.grab_serial {
                    true => Some(r.u32().ok_or_else(|| err("missing grab serial"))?),
                    false => None,
                };
                let mut types = Vec::new();
                while let Some(t) = r.u32() {
                    if types.len() >= MAX_GRAB_TYPES {
                        return Err(err("too many clipboard types"));
                    }
                    types.push(ClipboardType(t));
                }
                Message::ClipboardGrab {
                    selection,
                    serial,
                    types,
                }
            }
            MessageType::CLIPBOARD_REQUEST => Message::ClipboardRequest {
                selection: clipboard_selection(&mut r)?,
                kind: ClipboardType(r.u32().ok_or_else(|| err("missing clipboard type"))?),
            },
            MessageType::CLIPBOARD => Message::Clipboard {
                selection: clipboard_selection(&mut r)?,
                kind: ClipboardType(r.u32().ok_or_else(|| err("missing clipboard type"))?),
                data: std::mem::take(&mut r.0).to_vec(),
            },
            MessageType::CLIPBOARD_RELEASE => Message::ClipboardRelease {
                selection: clipboard_selection(&mut r)?,
            },
            MessageType::MAX_CLIPBOARD => Message::MaxClipboard {
                max: r.u32().ok_or_else(|| err("missing limit"))? as i32,
            },
            MessageType::REPLY => Message::Reply {
                kind: MessageType(r.u32().ok_or_else(|| err("missing type"))?),
                error: r.u32().ok_or_else(|| err("missing error"))?,
            },
            MessageType::MONITORS_CONFIG => {
                let count = r.u32().ok_or_else(|| err("missing monitor count"))?;
                let flags = r.u32().ok_or_else(|| err("missing flags"))?;
                let mut monitors = Vec::new();
                for _ in 0..count {
                    let f = r.take(20).ok_or_else(|| err("fewer monitors than announced"))?;
                    monitors.push(MonitorConfig {
                        height: le32(&f[..4]),
                        width: le32(&f[4..8]),
                        depth: le32(&f[8..12]),
                        x: le32(&f[12..16]) as i32,
                        y: le32(&f[16..20]) as i32,
                    });
                }
                Message::MonitorsConfig(MonitorsConfig { flags, monitors })
            }
            other => {
                return Ok(Message::Other {
                    kind: other,
                    size: payload.len(),
                })
            }
        };
        Ok(msg)
    }

    /// Encode the payload (without message header).
    pub fn encode_payload(&self, neg: Negotiated) -> Vec<u8> {
        let mut out = Vec::new();
        let selection = |out: &mut Vec<u8>, s: Selection| {
            if neg.selection {
                out.extend_from_slice(&[s.0, 0, 0, 0]);
            }
        };
        match self {
            Message::AnnounceCapabilities { request, caps } => {
                out.extend_from_slice(&u32::from(*request).to_le_bytes());
                for w in caps.words() {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
            Message::ClipboardGrab {
                selection: s,
                serial,
                types,
            } => {
                selection(&mut out, *s);
                if neg.grab_serial {
                    out.extend_from_slice(&serial.unwrap_or(0).to_le_bytes());
                }
                for t in types {
                    out.extend_from_slice(&t.0.to_le_bytes());
                }
            }
            Message::ClipboardRequest { selection: s, kind } => {
                selection(&mut out, *s);
                out.extend_from_slice(&kind.0.to_le_bytes());
            }
            Message::Clipboard {
                selection: s,
                kind,
                data,
            } => {
                out.reserve(8 + data.len());
                selection(&mut out, *s);
                out.extend_from_slice(&kind.0.to_le_bytes());
                out.extend_from_slice(data);
            }
            Message::ClipboardRelease { selection: s } => selection(&mut out, *s),
            Message::MaxClipboard { max } => out.extend_from_slice(&max.to_le_bytes()),
            Message::Reply { kind, error } => {
                out.extend_from_slice(&kind.0.to_le_bytes());
                out.extend_from_slice(&error.to_le_bytes());
            }
            Message::MonitorsConfig(config) => {
                out.extend_from_slice(&(config.monitors.len() as u32).to_le_bytes());
                out.extend_from_slice(&config.flags.to_le_bytes());
                for m in &config.monitors {
                    for v in [m.height, m.width, m.depth, m.x as u32, m.y as u32] {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            Message::Other { .. } => {}
        }
        out
    }
}

/// Cursor over a payload; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(le32)
    }
}
