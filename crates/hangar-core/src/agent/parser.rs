//! Incremental reader of the virtio-port byte stream: chunks → per-port messages.
//!
//! Bytes may arrive split anywhere; one read may hold many messages; a message may span
//! chunks, and a chunk may end one message and start the next. A message larger than the
//! limit is skipped as its bytes go by: it is never allocated, and memory stays bounded by
//! the limit whatever the input. The parser never fails: anything it cannot use is reported
//! as a [`Frame::Skipped`] and the stream goes on.

use super::protocol::{
    ChunkHeader, MessageHeader, CHUNK_HEADER_LEN, MESSAGE_HEADER_LEN, VDP_CLIENT_PORT, VDP_SERVER_PORT,
    VD_AGENT_PROTOCOL,
};

/// What the parser produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message with its payload.
    Message {
        port: u32,
        header: MessageHeader,
        payload: Vec<u8>,
    },
    /// Bytes that were dropped, and why.
    Skipped { port: u32, reason: SkipReason },
}

/// Why bytes were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The message announced more payload than the limit; its bytes are skipped unread.
    TooLarge { header: MessageHeader, limit: u32 },
    /// The message header does not carry protocol version 1 (the stream may be out of sync).
    BadProtocol { header: MessageHeader },
    /// A chunk addressed to a port other than 1 or 2; its data is skipped.
    UnknownPort { size: u32 },
}

/// Allocation step while a message's payload arrives (the payload grows with received data,
/// never with the announced size).
const GROW_STEP: usize = 64 * 1024;

#[derive(Debug)]
enum Body {
    /// Reading the 20-byte message header.
    Header {
        buf: [u8; MESSAGE_HEADER_LEN],
        have: usize,
    },
    /// Collecting the payload of an accepted message.
    Collect { header: MessageHeader, data: Vec<u8> },
    /// Dropping the rest of a refused message.
    Skip { remaining: u32 },
}

impl Default for Body {
    fn default() -> Self {
        Body::Header {
            buf: [0; MESSAGE_HEADER_LEN],
            have: 0,
        }
    }
}

#[derive(Debug)]
enum ChunkState {
    Header {
        buf: [u8; CHUNK_HEADER_LEN],
        have: usize,
    },
    /// Inside a chunk of a known port (index into `ports`) with `remaining` bytes left.
    Data { port: usize, remaining: u32 },
    /// Inside a chunk of an unknown port.
    Discard { remaining: u32 },
}

/// The parser. One per connection; [`Deframer::reset`] when the other end restarts.
#[derive(Debug)]
pub struct Deframer {
    max_payload: u32,
    chunk: ChunkState,
    /// Message reassembly for ports 1 and 2.
    ports: [Body; 2],
}

impl Deframer {
    /// A parser accepting message payloads of at most `max_payload` bytes.
    pub fn new(max_payload: u32) -> Self {
        Deframer {
            max_payload,
            chunk: ChunkState::Header {
                buf: [0; CHUNK_HEADER_LEN],
                have: 0,
            },
            ports: [Body::default(), Body::default()],
        }
    }

    /// Change the payload limit; a message already being collected is kept.
    pub fn set_max_payload(&mut self, max_payload: u32) {
        self.max_payload = max_payload;
    }

    /// The payload limit.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Forget any partial chunk or message.
    pub fn reset(&mut self) {
        *self = Deframer::new(self.max_payload);
    }

    /// Payload bytes held for incomplete messages (bounded by twice the limit).
    pub fn buffered(&self) -> usize {
        self.ports
            .iter()
            .map(|b| match b {
                Body::Collect { data, .. } => data.capacity(),
                _ => 0,
            })
            .sum()
    }

    /// Consume `input`; complete messages and skips are appended to `frames`.
    pub fn feed(&mut self, mut input: &[u8], frames: &mut Vec<Frame>) {
        while !input.is_empty() {
            match &mut self.chunk {
                ChunkState::Header { buf, have } => {
                    let n = (CHUNK_HEADER_LEN - *have).min(input.len());
                    buf[*have..*have + n].copy_from_slice(&input[..n]);
                    *have += n;
                    input = &input[n..];
                    if *have == CHUNK_HEADER_LEN {
                        let h = ChunkHeader::from_bytes(buf);
                        self.chunk = match h.port {
                            VDP_CLIENT_PORT | VDP_SERVER_PORT => ChunkState::Data {
                                port: (h.port - 1) as usize,
                                remaining: h.size,
                            },
                            port => {
                                frames.push(Frame::Skipped {
                                    port,
                                    reason: SkipReason::UnknownPort { size: h.size },
                                });
                                ChunkState::Discard { remaining: h.size }
                            }
                        };
                        self.finish_chunk_if_empty();
                    }
                }
                ChunkState::Data { port, remaining } => {
                    let n = clamp(*remaining, input.len());
                    let (port, left) = (*port, *remaining - n as u32);
                    self.feed_port(port, &input[..n], frames);
                    input = &input[n..];
                    self.chunk = ChunkState::Data {
                        port,
                        remaining: left,
                    };
                    self.finish_chunk_if_empty();
                }
                ChunkState::Discard { remaining } => {
                    let n = clamp(*remaining, input.len());
                    *remaining -= n as u32;
                    input = &input[n..];
                    self.finish_chunk_if_empty();
                }
            }
        }
    }

    fn finish_chunk_if_empty(&mut self) {
        let done = matches!(
            self.chunk,
            ChunkState::Data { remaining: 0, .. } | ChunkState::Discard { remaining: 0 }
        );
        if done {
            self.chunk = ChunkState::Header {
                buf: [0; CHUNK_HEADER_LEN],
                have: 0,
            };
        }
    }

    /// Chunk data of `port` (index), continuing whatever message that port is in.
    fn feed_port(&mut self, port: usize, mut input: &[u8], frames: &mut Vec<Frame>) {
        let wire_port = port as u32 + 1;
        let max_payload = self.max_payload;
        while !input.is_empty() {
            let body = &mut self.ports[port];
            match body {
                Body::Header { buf, have } => {
                    let n = (MESSAGE_HEADER_LEN - *have).min(input.len());
                    buf[*have..*have + n].copy_from_slice(&input[..n]);
                    *have += n;
                    input = &input[n..];
                    if *have == MESSAGE_HEADER_LEN {
                        let header = MessageHeader::from_bytes(buf);
                        *body = start_message(max_payload, wire_port, header, frames);
                    }
                }
                Body::Collect { header, data } => {
                    let want = header.size as usize - data.len();
                    let n = want.min(input.len());
                    if data.capacity() - data.len() < n {
                        data.reserve_exact(n.max(GROW_STEP).min(want));
                    }
                    data.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if data.len() == header.size as usize {
                        let header = *header;
                        let payload = std::mem::take(data);
                        frames.push(Frame::Message {
                            port: wire_port,
                            header,
                            payload,
                        });
                        *body = Body::default();
                    }
                }
                Body::Skip { remaining } => {
                    let n = clamp(*remaining, input.len());
                    *remaining -= n as u32;
                    input = &input[n..];
                    if *remaining == 0 {
                        *body = Body::default();
                    }
                }
            }
        }
        // A message whose payload is empty completes with its header.
        if let Body::Collect { header, data } = &mut self.ports[port] {
            if header.size == 0 {
                frames.push(Frame::Message {
                    port: wire_port,
                    header: *header,
                    payload: std::mem::take(data),
                });
                self.ports[port] = Body::default();
            }
        }
    }
}

/// The state for a message whose header just arrived: collect it, or skip it.
fn start_message(max_payload: u32, port: u32, header: MessageHeader, frames: &mut Vec<Frame>) -> Body {
    let reason = if header.protocol != VD_AGENT_PROTOCOL {
        SkipReason::BadProtocol { header }
    } else if header.size > max_payload {
        SkipReason::TooLarge {
            header,
            limit: max_payload,
        }
    } else {
        return Body::Collect {
            header,
            data: Vec::new(),
        };
    };
    frames.push(Frame::Skipped { port, reason });
    match header.size {
        0 => Body::default(),
        remaining => Body::Skip { remaining },
    }
}

/// `min(remaining, available)` as usize.
fn clamp(remaining: u32, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}
