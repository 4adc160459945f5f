//! Guest agent framing: newline-delimited JSON, plus the `0xFF` sentinel byte that
//! `guest-sync-delimited` uses to mark where a fresh reply starts in a stream that may still
//! hold stale bytes.

use std::io;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest line accepted from the agent (without its newline).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// The byte that resets the agent's parser (sent by us) and precedes a delimited reply (sent by
/// the agent). It never occurs in UTF-8 text.
pub(crate) const SENTINEL: u8 = 0xFF;

const READ_CHUNK: usize = 64 * 1024;

/// Why no further bytes can be had.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the stream.
    Eof,
    /// A line exceeded the size limit; the buffer was dropped.
    TooLong { limit: usize },
    /// The read itself failed.
    Io(io::Error),
}

/// Splits the agent's byte stream into lines and finds sentinels. Every method is cancel-safe:
/// bytes already read stay in the buffer.
pub(crate) struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no newline.
    scanned: usize,
    limit: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        Reader {
            inner,
            buf: Vec::new(),
            scanned: 0,
            limit,
        }
    }

    async fn fill(&mut self) -> Result<(), ReadError> {
        self.buf.reserve(READ_CHUNK);
        loop {
            match self.inner.read_buf(&mut self.buf).await {
                Ok(0) => return Err(ReadError::Eof),
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Forget everything buffered.
    pub(crate) fn clear(&mut self) {
        self.buf = Vec::new();
        self.scanned = 0;
    }

    /// Next non-blank line without its terminator. A line longer than the limit is an error
    /// (and its bytes so far are dropped, so memory stays bounded).
    pub(crate) async fn next_line(&mut self) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(off) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + off;
                if end > self.limit {
                    self.clear();
                    return Err(ReadError::TooLong { limit: self.limit });
                }
                let rest = self.buf.split_off(end + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                self.scanned = 0;
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(line);
            }
            self.scanned = self.buf.len();
            if self.buf.len() > self.limit {
                self.clear();
                return Err(ReadError::TooLong { limit: self.limit });
            }
            self.fill().await?;
        }
    }

    /// Drop every byte up to and including the next sentinel.
    pub(crate) async fn skip_past_sentinel(&mut self) -> Result<(), ReadError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == SENTINEL) {
                self.buf.drain(..=pos);
                self.scanned = 0;
                return Ok(());
            }
            self.buf.clear();
            self.scanned = 0;
            self.fill().await?;
        }
    }
}

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
    use tokio::io::AsyncWriteExt;

    async fn reader_for(data: &'static [u8], limit: usize) -> Reader<tokio::io::DuplexStream> {
        let (mut a, b) = tokio::io::duplex(1024 * 1024);
        a.write_all(data).await.unwrap();
        drop(a);
        Reader::new(b, limit)
    }

    #[tokio::test]
    async fn lines_and_blank_lines() {
        let mut r = reader_for(b"{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\"", 1024).await;
        assert_eq!(r.next_line().await.unwrap(), b"{\"a\":1}");
        assert_eq!(r.next_line().await.unwrap(), b"{\"b\":2}");
        assert!(matches!(r.next_line().await, Err(ReadError::Eof)));
    }

    #[tokio::test]
    async fn sentinel_skipping_drops_stale_bytes_only() {
        let mut r = reader_for(b"stale {\"ret\xff{\"return\": 5}\n\xff\n{\"return\": 6}\n", 1024).await;
        r.skip_past_sentinel().await.unwrap();
        assert_eq!(r.next_line().await.unwrap(), b"{\"return\": 5}");
        r.skip_past_sentinel().await.unwrap();
        assert_eq!(r.next_line().await.unwrap(), b"{\"return\": 6}");
        assert!(matches!(r.skip_past_sentinel().await, Err(ReadError::Eof)));
    }

    #[tokio::test]
    async fn oversized_line_is_refused_and_dropped() {
        let mut r = reader_for(b"0123456789abcdef\nok\n", 8).await;
        assert!(matches!(
            r.next_line().await,
            Err(ReadError::TooLong { limit: 8 })
        ));
        assert!(r.buf.is_empty());
    }

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
