//! Guest agent framing: newline-delimited JSON, plus the `0xFF` sentinel byte that
//! `guest-sync-delimited` uses to mark where a fresh reply starts in a stream that may still
//! hold stale bytes.

use serde_json::Value;

pub(crate) use crate::lines::{LineReader as Reader, ReadError};

/// Largest line accepted from the agent (without its newline).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// The byte that resets the agent's parser (sent by us) and precedes a delimited reply (sent by
/// the agent). It never occurs in UTF-8 text.
pub(crate) const SENTINEL: u8 = 0xFF;

/// One command line: `{"execute": name, "arguments": …}` and a newline. Arguments that encode
/// to an empty object are left out.
pub(crate) fn encode_command(name: &str, arguments: Value) -> Vec<u8> {
    let mut msg = serde_json::Map::new();
    msg.insert("execute".into(), Value::String(name.to_owned()));
    match arguments {
        Value::Null => {}
        Value::Object(map) if map.is_empty() => {}
        args => {
            msg.insert("arguments".into(), args);
        }
    }
    let mut bytes = Value::Object(msg).to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The part of a line after its last sentinel (a line can carry the tail of stale output, then
/// a sentinel, then a fresh reply).
pub(crate) fn after_last_sentinel(line: &[u8]) -> &[u8] {
    match line.iter().rposition(|&b| b == SENTINEL) {
        Some(pos) => &line[pos + 1..],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn command_encoding() {
        let v: Value = serde_json::from_slice(&encode_command("guest-ping", serde_json::json!({}))).unwrap();
        assert_eq!(v, serde_json::json!({"execute": "guest-ping"}));
        let bytes = encode_command("guest-set-time", serde_json::json!({"time": 7}));
        assert_eq!(bytes.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"execute": "guest-set-time", "arguments": {"time": 7}})
        );
    }

    #[test]
    fn sentinel_split() {
        assert_eq!(after_last_sentinel(b"ab\xffcd\xff{}"), b"{}");
        assert_eq!(after_last_sentinel(b"{}"), b"{}");
    }
}
