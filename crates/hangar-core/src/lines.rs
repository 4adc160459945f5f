//! Line framing shared by the QMP client and the guest agent client: newline-delimited JSON
//! read from an async stream with a size limit.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

const READ_CHUNK: usize = 64 * 1024;

/// Why no further bytes can be had.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the stream (a partial last line counts as closed too).
    Eof,
    /// A line exceeded the size limit; the buffer was dropped.
    TooLong { limit: usize },
    /// The read itself failed.
    Io(io::Error),
}

/// Splits a byte stream into lines, refusing lines longer than a limit (and dropping their
/// bytes, so memory stays bounded). Every method is cancel-safe: bytes already read stay in
/// the buffer.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already known to hold no newline.
    scanned: usize,
    limit: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        LineReader {
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

    /// Drop every byte up to and including the next `marker` byte (the guest agent's
    /// delimiter, see `guest-sync-delimited`).
    pub(crate) async fn skip_past(&mut self, marker: u8) -> Result<(), ReadError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == marker) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn reader_for(data: &'static [u8], limit: usize) -> LineReader<tokio::io::DuplexStream> {
        let (mut a, b) = tokio::io::duplex(1024 * 1024);
        a.write_all(data).await.unwrap();
        drop(a);
        LineReader::new(b, limit)
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
        r.skip_past(0xff).await.unwrap();
        assert_eq!(r.next_line().await.unwrap(), b"{\"return\": 5}");
        r.skip_past(0xff).await.unwrap();
        assert_eq!(r.next_line().await.unwrap(), b"{\"return\": 6}");
        assert!(matches!(r.skip_past(0xff).await, Err(ReadError::Eof)));
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

    #[tokio::test]
    async fn refuses_oversized_line_with_and_without_newline() {
        let mut r = reader_for(b"0123456789abcdef\n", 8).await;
        assert!(matches!(
            r.next_line().await,
            Err(ReadError::TooLong { limit: 8 })
        ));
        let (mut a, b) = tokio::io::duplex(64);
        let mut r = LineReader::new(b, 100);
        // Writer keeps the stream open: the reader must stop on size, not wait for a newline.
        let writer = tokio::spawn(async move {
            let chunk = [b'x'; 32];
            for _ in 0..10 {
                if a.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            a
        });
        assert!(matches!(
            r.next_line().await,
            Err(ReadError::TooLong { limit: 100 })
        ));
        drop(r);
        writer.await.unwrap();
    }
}
