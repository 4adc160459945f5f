//! The guest end of the protocol, as the Linux spice-vdagentd speaks it: for tests and tools
//! that stand in for a guest. No I/O; encode → bytes, feed bytes → messages.

use super::parser::{Deframer, Frame};
use super::protocol::{
    Cap, Caps, ChunkHeader, ClipboardType, Message, MessageHeader, Negotiated, Selection, MESSAGE_HEADER_LEN,
    VDP_CLIENT_PORT, VD_AGENT_PROTOCOL,
};

/// A fake guest agent.
#[derive(Debug)]
pub struct TestGuest {
    caps: Caps,
    host: Option<Caps>,
    neg: Negotiated,
    deframer: Deframer,
}

impl TestGuest {
    /// A guest announcing `caps`, accepting host messages up to `max_payload` bytes.
    pub fn new(caps: Caps, max_payload: u32) -> Self {
        TestGuest {
            caps,
            host: None,
            neg: Negotiated::default(),
            deframer: Deframer::new(max_payload),
        }
    }

    /// What a current Linux spice-vdagentd announces (minus mouse/audio/file features).
    pub fn linux_caps() -> Caps {
        Caps::of(&[
            Cap::MONITORS_CONFIG,
            Cap::REPLY,
            Cap::CLIPBOARD_BY_DEMAND,
            Cap::CLIPBOARD_SELECTION,
            Cap::SPARSE_MONITORS_CONFIG,
            Cap::GUEST_LINEEND_LF,
            Cap::MAX_CLIPBOARD,
            Cap::CLIPBOARD_NO_RELEASE_ON_REGRAB,
        ])
    }

    /// The host's capabilities once it announced.
    pub fn host_caps(&self) -> Option<&Caps> {
        self.host.as_ref()
    }

    /// Encode `message` the way spice-vdagentd does: the whole message in one chunk.
    pub fn encode(&self, message: &Message) -> Vec<u8> {
        let payload = message.encode_payload(self.neg);
        let size = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let header = MessageHeader {
            protocol: VD_AGENT_PROTOCOL,
            kind: message.kind(),
            opaque: 0,
            size,
        };
        let chunk = ChunkHeader {
            port: VDP_CLIENT_PORT,
            size: size.saturating_add(MESSAGE_HEADER_LEN as u32),
        };
        let mut out = Vec::with_capacity(28 + payload.len());
        out.extend_from_slice(&chunk.to_bytes());
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(&payload);
        out
    }

    pub fn announce(&self, request: bool) -> Vec<u8> {
        self.encode(&Message::AnnounceCapabilities {
            request,
            caps: self.caps.clone(),
        })
    }

    pub fn grab(&self, selection: Selection, types: &[ClipboardType]) -> Vec<u8> {
        self.encode(&Message::ClipboardGrab {
            selection,
            serial: None,
            types: types.to_vec(),
        })
    }

    pub fn request(&self, selection: Selection, kind: ClipboardType) -> Vec<u8> {
        self.encode(&Message::ClipboardRequest { selection, kind })
    }

    pub fn clipboard(&self, selection: Selection, kind: ClipboardType, data: &[u8]) -> Vec<u8> {
        self.encode(&Message::Clipboard {
            selection,
            kind,
            data: data.to_vec(),
        })
    }

    pub fn release(&self, selection: Selection) -> Vec<u8> {
        self.encode(&Message::ClipboardRelease { selection })
    }

    /// Consume bytes from the host; returns the decoded messages (malformed ones are dropped).
    /// A host announce sets the negotiated payload format.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut frames = Vec::new();
        self.deframer.feed(bytes, &mut frames);
        let mut messages = Vec::new();
        for frame in frames {
            let Frame::Message { header, payload, .. } = frame else {
                continue;
            };
            let Ok(message) = Message::decode(header.kind, &payload, self.neg) else {
                continue;
            };
            if let Message::AnnounceCapabilities { caps, .. } = &message {
                self.neg = Negotiated::between(&self.caps, caps);
                self.host = Some(caps.clone());
            }
            messages.push(message);
        }
        messages
    }
}
