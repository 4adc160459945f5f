//! The guest end of the vdagent wire format (public `spice/vd_agent.h`), written apart from
//! hangar-core on purpose: end-to-end tests then check two implementations against each other.

pub const PORT_CLIENT: u32 = 1;
pub const MSG_MONITORS_CONFIG: u32 = 2;
pub const MSG_REPLY: u32 = 3;
pub const MSG_CLIPBOARD: u32 = 4;
pub const MSG_ANNOUNCE: u32 = 6;
pub const MSG_GRAB: u32 = 7;
pub const MSG_REQUEST: u32 = 8;
pub const MSG_RELEASE: u32 = 9;
pub const MSG_MAX_CLIPBOARD: u32 = 14;

pub const CAP_MONITORS_CONFIG: u32 = 1;
pub const CAP_REPLY: u32 = 2;
pub const CAP_BY_DEMAND: u32 = 5;
pub const CAP_SELECTION: u32 = 6;
pub const CAP_LINEEND_LF: u32 = 8;
pub const CAP_MAX_CLIPBOARD: u32 = 10;

pub const TYPE_NONE: u32 = 0;
pub const TYPE_UTF8: u32 = 1;

/// Largest chunk or message this agent accepts.
pub const MAX_SIZE: usize = 64 << 20;

pub fn has_cap(words: &[u32], cap: u32) -> bool {
    words
        .get((cap / 32) as usize)
        .is_some_and(|w| w & (1 << (cap % 32)) != 0)
}

pub fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// One message in one chunk, as spice-vdagentd writes it.
pub fn frame(kind: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(28 + payload.len());
    out.extend_from_slice(&PORT_CLIENT.to_le_bytes());
    out.extend_from_slice(&(20 + payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Clipboard payload: `[selection, 0, 0, 0]` when selections are negotiated, then the words,
/// then the data.
pub fn clipboard_payload(selection: bool, words: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if selection {
        out.extend_from_slice(&[0, 0, 0, 0]);
    }
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Reassembles messages from chunks (a message may span chunks; all ports are merged, the
/// host only uses port 1).
#[derive(Default)]
pub struct Assembler {
    input: Vec<u8>,
    message: Vec<u8>,
}

impl Assembler {
    /// Add bytes; returns complete `(type, payload)` messages or an error when sizes are absurd.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, String> {
        self.input.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(size) = le32(&self.input, 4) {
            let size = size as usize;
            if size > MAX_SIZE {
                return Err(format!("chunk of {size} bytes is too large"));
            }
            if self.input.len() < 8 + size {
                break;
            }
            self.message.extend_from_slice(&self.input[8..8 + size]);
            self.input.drain(..8 + size);
            while let Some(len) = le32(&self.message, 16) {
                let len = len as usize;
                if len > MAX_SIZE {
                    return Err(format!("message of {len} bytes is too large"));
                }
                if self.message.len() < 20 + len {
                    break;
                }
                let kind = le32(&self.message, 4).unwrap_or(0);
                out.push((kind, self.message[20..20 + len].to_vec()));
                self.message.drain(..20 + len);
            }
        }
        Ok(out)
    }
}

/// One line of text: `\`, CR, LF, TAB and other control characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Inverse of [`escape`] for command arguments (`\n`, `\t`, `\r`, `\\`).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_reassemble_across_chunks_and_reads() {
        // A 3000-byte message cut into two chunks (2048 + 972), fed one byte at a time.
        let payload: Vec<u8> = (0..2980u32).map(|i| i as u8).collect();
        let whole = frame(MSG_CLIPBOARD, &payload);
        let body = &whole[8..];
        let mut stream = Vec::new();
        for part in [&body[..2048], &body[2048..]] {
            stream.extend_from_slice(&1u32.to_le_bytes());
            stream.extend_from_slice(&(part.len() as u32).to_le_bytes());
            stream.extend_from_slice(part);
        }
        stream.extend_from_slice(&frame(MSG_RELEASE, &[]));
        let mut a = Assembler::default();
        let mut got = Vec::new();
        for b in &stream {
            got.extend(a.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, [(MSG_CLIPBOARD, payload), (MSG_RELEASE, vec![])]);
    }

    #[test]
    fn absurd_sizes_are_errors() {
        let mut a = Assembler::default();
        assert!(a.push(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn escaping_round_trips() {
        let text = "a\\b\nc\td\re\u{1}é";
        assert_eq!(escape(text), "a\\\\b\\nc\\td\\re\\x01é");
        assert_eq!(unescape("a\\\\b\\nc\\td\\re"), "a\\b\nc\td\re");
        assert!(has_cap(&[1 << CAP_SELECTION], CAP_SELECTION));
        assert!(!has_cap(&[], CAP_SELECTION));
    }
}
