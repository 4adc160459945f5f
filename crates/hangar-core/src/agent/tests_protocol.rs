//! Protocol and parser tests on byte streams written by hand from `vd_agent.h`.

use super::*;
use crate::agent::parser::{Deframer, Frame, SkipReason};

fn le(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Chunk header + message header + payload, all by hand.
fn wire(port: u32, chunk_size: u32, kind: u32, msg_size: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&le(port));
    v.extend_from_slice(&le(chunk_size));
    v.extend_from_slice(&le(1)); // protocol
    v.extend_from_slice(&le(kind));
    v.extend_from_slice(&[0; 8]); // opaque
    v.extend_from_slice(&le(msg_size));
    v.extend_from_slice(payload);
    v
}

/// A guest announce: request=1, caps BY_DEMAND(5) | SELECTION(6) | LINEEND_LF(8) | MAX_CLIPBOARD(10).
fn guest_announce() -> Vec<u8> {
    let mut payload = le(1).to_vec();
    payload.extend_from_slice(&le(0x560));
    wire(1, 28, 6, 8, &payload)
}

fn messages(frames: &[Frame]) -> Vec<(MessageType, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Message { header, payload, .. } => Some((header.kind, payload.clone())),
            Frame::Skipped { .. } => None,
        })
        .collect()
}

#[test]
fn announce_split_across_three_reads() {
    let bytes = guest_announce();
    assert_eq!(bytes.len(), 36);
    let mut d = Deframer::new(1024);
    let mut frames = Vec::new();
    d.feed(&bytes[..3], &mut frames);
    d.feed(&bytes[3..17], &mut frames);
    assert!(frames.is_empty());
    d.feed(&bytes[17..], &mut frames);
    let msgs = messages(&frames);
    assert_eq!(msgs.len(), 1);
    let (kind, payload) = &msgs[0];
    assert_eq!(*kind, MessageType::ANNOUNCE_CAPABILITIES);
    let Message::AnnounceCapabilities { request, caps } =
        Message::decode(*kind, payload, Negotiated::default()).unwrap()
    else {
        panic!("not an announce");
    };
    assert!(request);
    assert!(caps.has(Cap::CLIPBOARD_BY_DEMAND) && caps.has(Cap::CLIPBOARD_SELECTION));
    assert!(caps.has(Cap::GUEST_LINEEND_LF) && caps.has(Cap::MAX_CLIPBOARD));
    assert!(!caps.has(Cap::GUEST_LINEEND_CRLF) && !caps.has(Cap::MOUSE_STATE));
    assert!(!caps.has(Cap(200)));
}

#[test]
fn clipboard_message_spanning_two_chunks() {
    // CLIPBOARD with selection prefix: [sel=0,0,0,0][type=1]["hello world"] = 19 bytes payload.
    let mut payload = vec![0, 0, 0, 0];
    payload.extend_from_slice(&le(1));
    payload.extend_from_slice(b"hello world");
    let mut bytes = wire(1, 20 + 6, 4, 19, &payload[..6]);
    bytes.extend_from_slice(&le(1));
    bytes.extend_from_slice(&le(13));
    bytes.extend_from_slice(&payload[6..]);
    let mut d = Deframer::new(1024);
    let mut frames = Vec::new();
    d.feed(&bytes, &mut frames);
    let msgs = messages(&frames);
    assert_eq!(msgs.len(), 1);
    let neg = Negotiated {
        selection: true,
        grab_serial: false,
    };
    assert_eq!(
        Message::decode(msgs[0].0, &msgs[0].1, neg).unwrap(),
        Message::Clipboard {
            selection: Selection::CLIPBOARD,
            kind: ClipboardType::UTF8_TEXT,
            data: b"hello world".to_vec()
        }
    );
    // Without the selection capability the first word is the type.
    let Message::Clipboard { kind, data, .. } =
        Message::decode(msgs[0].0, &msgs[0].1[4..], Negotiated::default()).unwrap()
    else {
        panic!("not clipboard");
    };
    assert_eq!(
        (kind, data.as_slice()),
        (ClipboardType::UTF8_TEXT, &b"hello world"[..])
    );
}

#[test]
fn several_messages_per_read_and_a_chunk_holding_two_messages() {
    let mut bytes = guest_announce();
    bytes.extend_from_slice(&guest_announce());
    // One chunk of 40 bytes carrying two empty CLIPBOARD_RELEASE messages back to back.
    bytes.extend_from_slice(&le(1));
    bytes.extend_from_slice(&le(40));
    for _ in 0..2 {
        bytes.extend_from_slice(&wire(0, 0, 9, 0, &[])[8..]);
    }
    let mut d = Deframer::new(1024);
    let mut frames = Vec::new();
    d.feed(&bytes, &mut frames);
    let kinds: Vec<_> = messages(&frames).into_iter().map(|m| m.0).collect();
    assert_eq!(
        kinds,
        [
            MessageType::ANNOUNCE_CAPABILITIES,
            MessageType::ANNOUNCE_CAPABILITIES,
            MessageType::CLIPBOARD_RELEASE,
            MessageType::CLIPBOARD_RELEASE
        ]
    );
}

#[test]
fn truncated_headers_wait_for_more() {
    let bytes = guest_announce();
    let mut d = Deframer::new(1024);
    let mut frames = Vec::new();
    d.feed(&bytes[..5], &mut frames); // half a chunk header
    d.feed(&bytes[5..18], &mut frames); // chunk header + half a message header
    assert!(frames.is_empty());
    assert_eq!(d.buffered(), 0);
    d.reset(); // the guest went away mid-message
    d.feed(&bytes, &mut frames);
    assert_eq!(messages(&frames).len(), 1);
}

#[test]
fn huge_size_field_is_skipped_without_allocating() {
    let mut d = Deframer::new(1 << 20);
    let mut frames = Vec::new();
    // Chunk and message both claim ~4 GiB.
    d.feed(&wire(1, u32::MAX, 4, u32::MAX - 20, &[1, 2, 3]), &mut frames);
    assert!(matches!(
        &frames[..],
        [Frame::Skipped {
            port: 1,
            reason: SkipReason::TooLarge { limit: 1048576, .. }
        }]
    ));
    d.feed(&vec![7; 1 << 20], &mut frames);
    assert_eq!(d.buffered(), 0);
    assert_eq!(frames.len(), 1);
}

#[test]
fn oversized_message_is_skipped_and_the_stream_goes_on() {
    let mut d = Deframer::new(16);
    let mut frames = Vec::new();
    let mut bytes = wire(1, 20 + 100, 4, 100, &[9; 100]);
    bytes.extend_from_slice(&guest_announce());
    for b in bytes.chunks(7) {
        d.feed(b, &mut frames);
    }
    assert!(matches!(frames[0], Frame::Skipped { .. }));
    assert_eq!(messages(&frames)[0].0, MessageType::ANNOUNCE_CAPABILITIES);
}

#[test]
fn allowed_but_unfinished_message_holds_only_what_arrived() {
    let limit = 32 << 20;
    let mut d = Deframer::new(limit);
    let mut frames = Vec::new();
    d.feed(&wire(1, limit + 20, 4, limit, &[0; 100]), &mut frames);
    assert!(frames.is_empty());
    assert!(d.buffered() <= 64 * 1024, "{}", d.buffered());
}

#[test]
fn garbage_bad_protocol_and_unknown_ports_are_skipped() {
    let mut bytes = Vec::new();
    // Chunk to port 7 with 5 junk bytes.
    bytes.extend_from_slice(&le(7));
    bytes.extend_from_slice(&le(5));
    bytes.extend_from_slice(b"junk!");
    // Message with protocol 2.
    let mut bad = wire(1, 24, 4, 4, &[1, 2, 3, 4]);
    bad[8] = 2;
    bytes.extend_from_slice(&bad);
    bytes.extend_from_slice(&guest_announce());
    let mut d = Deframer::new(1024);
    let mut frames = Vec::new();
    d.feed(&bytes, &mut frames);
    assert!(matches!(
        frames[0],
        Frame::Skipped {
            port: 7,
            reason: SkipReason::UnknownPort { size: 5 }
        }
    ));
    assert!(matches!(
        frames[1],
        Frame::Skipped {
            reason: SkipReason::BadProtocol { .. },
            ..
        }
    ));
    assert_eq!(messages(&frames).len(), 1);
}

#[test]
fn unknown_and_unhandled_types_decode_as_other() {
    let neg = Negotiated::default();
    assert_eq!(
        Message::decode(MessageType(99), &[1, 2, 3], neg).unwrap(),
        Message::Other {
            kind: MessageType(99),
            size: 3
        }
    );
    assert!(matches!(
        Message::decode(MessageType::FILE_XFER_START, &[0; 8], neg).unwrap(),
        Message::Other { .. }
    ));
    assert_eq!(format!("{:?}", MessageType(99)), "MessageType(99)");
    assert_eq!(format!("{:?}", MessageType::CLIPBOARD_GRAB), "CLIPBOARD_GRAB");
}

#[test]
fn malformed_payloads_are_errors() {
    let sel = Negotiated {
        selection: true,
        grab_serial: false,
    };
    assert!(Message::decode(MessageType::ANNOUNCE_CAPABILITIES, &[], sel).is_err());
    assert!(Message::decode(MessageType::CLIPBOARD_GRAB, &[0, 0], sel).is_err());
    assert!(Message::decode(MessageType::CLIPBOARD_REQUEST, &[0, 0, 0, 0], sel).is_err());
    assert!(Message::decode(MessageType::MONITORS_CONFIG, &[5, 0, 0, 0, 0, 0, 0, 0], sel).is_err());
    let many = vec![1u8; 4 * 65];
    let e = Message::decode(MessageType::CLIPBOARD_GRAB, &many, Negotiated::default()).unwrap_err();
    assert!(e.to_string().contains("too many clipboard types"), "{e}");
}

#[test]
fn grab_with_selection_and_serial() {
    let neg = Negotiated {
        selection: true,
        grab_serial: true,
    };
    let mut payload = vec![1, 0, 0, 0];
    payload.extend_from_slice(&le(42));
    payload.extend_from_slice(&le(1));
    payload.extend_from_slice(&le(2));
    let msg = Message::decode(MessageType::CLIPBOARD_GRAB, &payload, neg).unwrap();
    assert_eq!(
        msg,
        Message::ClipboardGrab {
            selection: Selection::PRIMARY,
            serial: Some(42),
            types: vec![ClipboardType::UTF8_TEXT, ClipboardType::IMAGE_PNG]
        }
    );
    assert_eq!(msg.encode_payload(neg), payload);
}

#[test]
fn request_encodes_to_the_exact_wire_bytes() {
    let mut out = Vec::new();
    let neg = Negotiated {
        selection: true,
        grab_serial: false,
    };
    let msg = Message::ClipboardRequest {
        selection: Selection::CLIPBOARD,
        kind: ClipboardType::UTF8_TEXT,
    };
    encode_message(&mut out, VDP_CLIENT_PORT, msg.kind(), &msg.encode_payload(neg)).unwrap();
    assert_eq!(out, wire(1, 28, 8, 8, &[0, 0, 0, 0, 1, 0, 0, 0]));
}

#[test]
fn large_messages_are_cut_into_2048_byte_chunks() {
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    encode_message(&mut out, VDP_CLIENT_PORT, MessageType::CLIPBOARD, &payload).unwrap();
    // 5020 bytes of message → 2048 + 2048 + 924, each behind an 8-byte chunk header.
    assert_eq!(out.len(), 5020 + 3 * 8);
    let mut pos = 0;
    let mut sizes = Vec::new();
    while pos < out.len() {
        let mut h = [0; 8];
        h.copy_from_slice(&out[pos..pos + 8]);
        let h = ChunkHeader::from_bytes(&h);
        assert_eq!(h.port, 1);
        sizes.push(h.size);
        pos += 8 + h.size as usize;
    }
    assert_eq!(sizes, [2048, 2048, 924]);
    assert_eq!(&out[8..12], &le(1)); // the first chunk starts with the message header
    let mut d = Deframer::new(1 << 20);
    let mut frames = Vec::new();
    d.feed(&out, &mut frames);
    assert_eq!(messages(&frames), [(MessageType::CLIPBOARD, payload)]);
}

#[test]
fn monitors_config_encodes_height_first() {
    let config = MonitorsConfig {
        flags: MONITORS_FLAG_USE_POS,
        monitors: vec![MonitorConfig {
            width: 1280,
            height: 800,
            depth: 32,
            x: 0,
            y: -1,
        }],
    };
    let msg = Message::MonitorsConfig(config);
    let bytes = msg.encode_payload(Negotiated::default());
    let mut want = Vec::new();
    for w in [1, 1, 800, 1280, 32, 0, u32::MAX] {
        want.extend_from_slice(&le(w));
    }
    assert_eq!(bytes, want);
    assert_eq!(
        Message::decode(MessageType::MONITORS_CONFIG, &bytes, Negotiated::default()).unwrap(),
        msg
    );
}

#[test]
fn caps_span_words() {
    let mut caps = Caps::of(&[Cap::CLIPBOARD_GRAB_SERIAL, Cap(40)]);
    assert_eq!(caps.words(), &[1 << 17, 1 << 8]);
    assert!(caps.has(Cap(40)) && !caps.has(Cap(41)) && !caps.has(Cap(1000)));
    caps.set(Cap(32 * MAX_CAP_WORDS as u32)); // beyond the kept words: ignored
    assert_eq!(caps.words().len(), 2);
    assert_eq!(Caps::from_words(&[0; 40]).words().len(), MAX_CAP_WORDS);
}

#[test]
fn reply_and_max_clipboard_roundtrip() {
    let neg = Negotiated::default();
    for msg in [
        Message::Reply {
            kind: MessageType::MONITORS_CONFIG,
            error: 1,
        },
        Message::MaxClipboard { max: -1 },
        Message::ClipboardRelease {
            selection: Selection::CLIPBOARD,
        },
    ] {
        assert_eq!(
            Message::decode(msg.kind(), &msg.encode_payload(neg), neg).unwrap(),
            msg
        );
    }
}
