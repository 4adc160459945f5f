//! Fuzz-style property tests without extra dependencies: random and mutated streams, random
//! splits. Nothing may panic, memory stays bounded, and splitting never changes the result.

use super::parser::Deframer;
use super::protocol::{Cap, Caps, ClipboardType, Message, MonitorConfig, MonitorsConfig, Selection};
use super::session::{Policy, VdagentHost};
use super::testguest::TestGuest;

/// xorshift64*: deterministic, seedable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A random, mostly well-formed message from a guest.
fn random_message(rng: &mut Rng) -> Message {
    let selection = Selection(rng.below(4) as u8);
    let kind = ClipboardType(rng.below(8) as u32);
    match rng.below(9) {
        0 => Message::AnnounceCapabilities {
            request: rng.below(2) == 0,
            caps: Caps::from_words(&[rng.next() as u32, rng.next() as u32]),
        },
        1 => Message::ClipboardGrab {
            selection,
            serial: None,
            types: (0..rng.below(5))
                .map(|_| ClipboardType(rng.below(8) as u32))
                .collect(),
        },
        2 => Message::ClipboardRequest { selection, kind },
        3 => {
            let len = if rng.below(10) == 0 {
                rng.below(20_000)
            } else {
                rng.below(64)
            };
            Message::Clipboard {
                selection,
                kind,
                data: rng.bytes(len),
            }
        }
        4 => Message::ClipboardRelease { selection },
        5 => Message::MaxClipboard {
            max: rng.next() as i32,
        },
        6 => Message::MonitorsConfig(MonitorsConfig {
            flags: 0,
            monitors: vec![
                MonitorConfig {
                    width: 1,
                    height: 2,
                    depth: 3,
                    x: 4,
                    y: 5
                };
                rng.below(3)
            ],
        }),
        7 => Message::Reply {
            kind: super::protocol::MessageType(rng.below(20) as u32),
            error: rng.below(3) as u32,
        },
        _ => Message::Other {
            kind: super::protocol::MessageType(rng.below(40) as u32),
            size: 0,
        },
    }
}

fn random_policy(rng: &mut Rng) -> Policy {
    Policy {
        host_to_guest: rng.below(2) == 0,
        guest_to_host: rng.below(2) == 0,
        max_bytes: [0, 10, 1000, 1 << 20][rng.below(4)],
    }
}

/// Feed `bytes` in random pieces; check the memory bound after each.
fn feed_split(host: &mut VdagentHost, bytes: &[u8], rng: &mut Rng, bound: usize) -> Vec<super::SessionEvent> {
    let mut events = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(5000));
        events.extend(host.feed(&rest[..n]));
        assert!(host.buffered() <= bound, "{} > {bound}", host.buffered());
        rest = &rest[n..];
        if rng.below(50) == 0 {
            host.take_output();
        }
    }
    events
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let len = rng.below(600);
        let mut bytes = rng.bytes(len);
        // Give the chunk layer a chance: often a valid port and a small size up front.
        if rng.below(2) == 0 && bytes.len() >= 8 {
            bytes[..4].copy_from_slice(&(1 + rng.below(2) as u32).to_le_bytes());
            bytes[4..8].copy_from_slice(&(rng.below(700) as u32).to_le_bytes());
        }
        let policy = random_policy(&mut rng);
        let mut host = VdagentHost::new(policy);
        feed_split(&mut host, &bytes, &mut rng, (1 << 20) + 64);
        let mut d = Deframer::new(rng.below(1000) as u32);
        let mut frames = Vec::new();
        d.feed(&bytes, &mut frames);
        let mut guest = TestGuest::new(TestGuest::linux_caps(), 4096);
        guest.feed(&bytes);
    }
}

#[test]
fn mutated_streams_never_panic_and_stay_bounded() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for round in 0..1500 {
        let caps = match round % 3 {
            0 => TestGuest::linux_caps(),
            1 => Caps::of(&[Cap::CLIPBOARD_BY_DEMAND, Cap::GUEST_LINEEND_CRLF]),
            _ => Caps::from_words(&[rng.next() as u32]),
        };
        let guest = TestGuest::new(caps, 1 << 20);
        let mut stream = guest.announce(true);
        for _ in 0..rng.below(12) {
            stream.extend(guest.encode(&random_message(&mut rng)));
        }
        for _ in 0..rng.below(6) {
            let at = rng.below(stream.len());
            stream[at] = rng.next() as u8;
        }
        if rng.below(4) == 0 {
            let cut = rng.below(stream.len());
            stream.truncate(cut);
        }
        let policy = random_policy(&mut rng);
        let mut host = VdagentHost::new(policy);
        let bound = policy.max_bytes.max(64 * 1024) + 16;
        feed_split(&mut host, &stream, &mut rng, bound);
        // The host's answers never upset a guest either.
        let mut guest = TestGuest::new(TestGuest::linux_caps(), 1 << 20);
        host.announce(true);
        let _ = host.grab(Selection::CLIPBOARD, &[ClipboardType::UTF8_TEXT]);
        guest.feed(&host.take_output());
    }
}

#[test]
fn splitting_never_changes_the_result() {
    let mut rng = Rng(42);
    for _ in 0..500 {
        let guest = TestGuest::new(TestGuest::linux_caps(), 1 << 20);
        let mut stream = guest.announce(true);
        for _ in 0..1 + rng.below(10) {
            stream.extend(guest.encode(&random_message(&mut rng)));
        }
        let policy = random_policy(&mut rng);
        let mut whole = VdagentHost::new(policy);
        let expected = whole.feed(&stream);
        let mut split = VdagentHost::new(policy);
        let got = feed_split(&mut split, &stream, &mut rng, usize::MAX);
        assert_eq!(got, expected);
        assert_eq!(split.buffered(), 0);
    }
}
