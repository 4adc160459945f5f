//! Wire types of the SPICE agent protocol as it runs on the `com.redhat.spice.0` virtio port
//! (from the public `spice/vd_agent.h`). Everything is little-endian and packed.
//!
//! ```text
//!  port stream:   [chunk header][chunk data][chunk header][chunk data] …
//!  chunk header:  port u32 (1 = client port) | size u32 (bytes of chunk data that follow)
//!  message:       protocol u32 (=1) | type u32 | opaque u64 | size u32 | payload[size]
//! ```
//!
//! A message is carried in the data of one or more consecutive chunks of the same port. The
//! Linux guest agent sends a whole message in one chunk (which may be larger than 2048 bytes)
//! but refuses chunks over [`MAX_CHUNK_DATA`] and chunks holding more than one message, so
//! [`encode_message`] starts every message in a new chunk and cuts it into ≤ 2048-byte chunks.

use std::fmt;

/// Chunk port of messages between the agent and the (SPICE) client; the host side uses it.
pub const VDP_CLIENT_PORT: u32 = 1;
/// Chunk port of messages between the agent and the SPICE server.
pub const VDP_SERVER_PORT: u32 = 2;
/// Value of the `protocol` field of every message.
pub const VD_AGENT_PROTOCOL: u32 = 1;
/// Largest chunk payload a guest agent accepts (`VD_AGENT_MAX_DATA_SIZE`).
pub const MAX_CHUNK_DATA: usize = 2048;
/// Size of a chunk header on the wire.
pub const CHUNK_HEADER_LEN: usize = 8;
/// Size of a message header on the wire.
pub const MESSAGE_HEADER_LEN: usize = 20;
/// Capability words Hangar reads from an announce; later words are ignored.
pub const MAX_CAP_WORDS: usize = 16;

/// `VD_AGENT_*` message types.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u32);

impl MessageType {
    pub const MOUSE_STATE: Self = Self(1);
    pub const MONITORS_CONFIG: Self = Self(2);
    pub const REPLY: Self = Self(3);
    pub const CLIPBOARD: Self = Self(4);
    pub const DISPLAY_CONFIG: Self = Self(5);
    pub const ANNOUNCE_CAPABILITIES: Self = Self(6);
    pub const CLIPBOARD_GRAB: Self = Self(7);
    pub const CLIPBOARD_REQUEST: Self = Self(8);
    pub const CLIPBOARD_RELEASE: Self = Self(9);
    pub const FILE_XFER_START: Self = Self(10);
    pub const FILE_XFER_STATUS: Self = Self(11);
    pub const FILE_XFER_DATA: Self = Self(12);
    pub const CLIENT_DISCONNECTED: Self = Self(13);
    pub const MAX_CLIPBOARD: Self = Self(14);
    pub const AUDIO_VOLUME_SYNC: Self = Self(15);
    pub const GRAPHICS_DEVICE_INFO: Self = Self(16);

    fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 16] = [
            "MOUSE_STATE",
            "MONITORS_CONFIG",
            "REPLY",
            "CLIPBOARD",
            "DISPLAY_CONFIG",
            "ANNOUNCE_CAPABILITIES",
            "CLIPBOARD_GRAB",
            "CLIPBOARD_REQUEST",
            "CLIPBOARD_RELEASE",
            "FILE_XFER_START",
            "FILE_XFER_STATUS",
            "FILE_XFER_DATA",
            "CLIENT_DISCONNECTED",
            "MAX_CLIPBOARD",
            "AUDIO_VOLUME_SYNC",
            "GRAPHICS_DEVICE_INFO",
        ];
        let index = usize::try_from(self.0).ok()?.checked_sub(1)?;
        NAMES.get(index).copied()
    }
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "MessageType({})", self.0),
        }
    }
}

/// `VD_AGENT_CAP_*` capability bit numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cap(pub u32);

impl Cap {
    pub const MOUSE_STATE: Self = Self(0);
    pub const MONITORS_CONFIG: Self = Self(1);
    pub const REPLY: Self = Self(2);
    pub const CLIPBOARD: Self = Self(3);
    pub const DISPLAY_CONFIG: Self = Self(4);
    pub const CLIPBOARD_BY_DEMAND: Self = Self(5);
    pub const CLIPBOARD_SELECTION: Self = Self(6);
    pub const SPARSE_MONITORS_CONFIG: Self = Self(7);
    pub const GUEST_LINEEND_LF: Self = Self(8);
    pub const GUEST_LINEEND_CRLF: Self = Self(9);
    pub const MAX_CLIPBOARD: Self = Self(10);
    pub const AUDIO_VOLUME_SYNC: Self = Self(11);
    pub const MONITORS_CONFIG_POSITION: Self = Self(12);
    pub const FILE_XFER_DISABLED: Self = Self(13);
    pub const FILE_XFER_DETAILED_ERRORS: Self = Self(14);
    pub const GRAPHICS_DEVICE_INFO: Self = Self(15);
    pub const CLIPBOARD_NO_RELEASE_ON_REGRAB: Self = Self(16);
    pub const CLIPBOARD_GRAB_SERIAL: Self = Self(17);
}

/// A capability bitmask as carried by `ANNOUNCE_CAPABILITIES` (bit `n` of word `n / 32`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    words: Vec<u32>,
}

impl Caps {
    /// The set holding exactly `caps`.
    pub fn of(caps: &[Cap]) -> Self {
        let mut set = Caps::default();
        for cap in caps {
            set.set(*cap);
        }
        set
    }

    /// From raw words (at most [`MAX_CAP_WORDS`] are kept).
    pub fn from_words(words: &[u32]) -> Self {
        Caps {
            words: words.iter().take(MAX_CAP_WORDS).copied().collect(),
        }
    }

    /// The raw words.
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// Whether `cap` is set.
    pub fn has(&self, cap: Cap) -> bool {
        let word = (cap.0 / 32) as usize;
        self.words.get(word).is_some_and(|w| w & (1 << (cap.0 % 32)) != 0)
    }

    /// Set `cap` (capabilities beyond [`MAX_CAP_WORDS`] words are ignored).
    pub fn set(&mut self, cap: Cap) {
        let word = (cap.0 / 32) as usize;
        if word >= MAX_CAP_WORDS {
            return;
        }
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (cap.0 % 32);
    }
}

/// `VD_AGENT_CLIPBOARD_*` data types.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClipboardType(pub u32);

impl ClipboardType {
    /// "No data": the answer to a request that cannot be served.
    pub const NONE: Self = Self(0);
    pub const UTF8_TEXT: Self = Self(1);
    pub const IMAGE_PNG: Self = Self(2);
    pub const IMAGE_BMP: Self = Self(3);
    pub const IMAGE_TIFF: Self = Self(4);
    pub const IMAGE_JPG: Self = Self(5);
    pub const FILE_LIST: Self = Self(6);
}

impl fmt::Debug for ClipboardType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "NONE",
            1 => "UTF8_TEXT",
            2 => "IMAGE_PNG",
            3 => "IMAGE_BMP",
            4 => "IMAGE_TIFF",
            5 => "IMAGE_JPG",
            6 => "FILE_LIST",
            other => return write!(f, "ClipboardType({other})"),
        };
        f.write_str(name)
    }
}

/// `VD_AGENT_CLIPBOARD_SELECTION_*`: which X11-style selection a clipboard message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selection(pub u8);

impl Selection {
    pub const CLIPBOARD: Self = Self(0);
    pub const PRIMARY: Self = Self(1);
    pub const SECONDARY: Self = Self(2);
}

/// Header in front of every chunk on the virtio port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub port: u32,
    pub size: u32,
}

impl ChunkHeader {
    pub fn to_bytes(self) -> [u8; CHUNK_HEADER_LEN] {
        let mut out = [0; CHUNK_HEADER_LEN];
        out[..4].copy_from_slice(&self.port.to_le_bytes());
        out[4..].copy_from_slice(&self.size.to_le_bytes());
        out
    }

    pub fn from_bytes(b: &[u8; CHUNK_HEADER_LEN]) -> Self {
        ChunkHeader {
            port: le32(&b[..4]),
            size: le32(&b[4..]),
        }
    }
}

/// Header in front of every message (`VDAgentMessage` without its data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    pub protocol: u32,
    pub kind: MessageType,
    pub opaque: u64,
    pub size: u32,
}

impl MessageHeader {
    pub fn to_bytes(self) -> [u8; MESSAGE_HEADER_LEN] {
        let mut out = [0; MESSAGE_HEADER_LEN];
        out[..4].copy_from_slice(&self.protocol.to_le_bytes());
        out[4..8].copy_from_slice(&self.kind.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.opaque.to_le_bytes());
        out[16..].copy_from_slice(&self.size.to_le_bytes());
        out
    }

    pub fn from_bytes(b: &[u8; MESSAGE_HEADER_LEN]) -> Self {
        let mut opaque = [0; 8];
        opaque.copy_from_slice(&b[8..16]);
        MessageHeader {
            protocol: le32(&b[..4]),
            kind: MessageType(le32(&b[4..8])),
            opaque: u64::from_le_bytes(opaque),
            size: le32(&b[16..]),
        }
    }
}

pub use super::message::{
    DecodeError, Message, MonitorConfig, MonitorsConfig, Negotiated, MONITORS_FLAG_USE_POS,
};

/// A payload too large for the 32-bit size field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a vdagent message of {0} bytes does not fit the protocol's 4 GiB size field")]
pub struct PayloadTooLarge(pub usize);

/// Append `payload` as one message of type `kind` on chunk `port` to `out`: a message header,
/// cut into chunks of at most [`MAX_CHUNK_DATA`] bytes, the first chunk starting the message.
pub fn encode_message(
    out: &mut Vec<u8>,
    port: u32,
    kind: MessageType,
    payload: &[u8],
) -> Result<(), PayloadTooLarge> {
    let size = u32::try_from(payload.len()).map_err(|_| PayloadTooLarge(payload.len()))?;
    let header = MessageHeader {
        protocol: VD_AGENT_PROTOCOL,
        kind,
        opaque: 0,
        size,
    }
    .to_bytes();
    let total = MESSAGE_HEADER_LEN + payload.len();
    out.reserve(total + total.div_ceil(MAX_CHUNK_DATA) * CHUNK_HEADER_LEN);
    let mut sent = 0;
    while sent < total {
        let len = (total - sent).min(MAX_CHUNK_DATA);
        // `len` is at most MAX_CHUNK_DATA, so it fits in u32.
        out.extend_from_slice(
            &ChunkHeader {
                port,
                size: len as u32,
            }
            .to_bytes(),
        );
        let end = sent + len;
        if sent < MESSAGE_HEADER_LEN {
            let header_end = end.min(MESSAGE_HEADER_LEN);
            out.extend_from_slice(&header[sent..header_end]);
            out.extend_from_slice(&payload[..end - header_end]);
        } else {
            out.extend_from_slice(&payload[sent - MESSAGE_HEADER_LEN..end - MESSAGE_HEADER_LEN]);
        }
        sent = end;
    }
    Ok(())
}

pub(crate) fn le32(b: &[u8]) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_le_bytes(w)
}

#[cfg(test)]
#[path = "tests_protocol.rs"]
mod tests;
