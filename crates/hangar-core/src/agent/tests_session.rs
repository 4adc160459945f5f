//! Session tests: a [`TestGuest`] on the other end, every policy direction.

use super::*;
use crate::agent::protocol::MonitorConfig;
use crate::agent::testguest::TestGuest;

const TEXT: ClipboardType = ClipboardType::UTF8_TEXT;
const CB: Selection = Selection::CLIPBOARD;

/// Host and guest after the handshake (the guest starts and asks for the host's caps).
fn pair_with(policy: Policy, caps: Caps) -> (VdagentHost, TestGuest) {
    let mut host = VdagentHost::new(policy);
    let mut guest = TestGuest::new(caps.clone(), 64 << 20);
    host.announce(true);
    let hello = guest.feed(&host.take_output());
    assert!(matches!(
        hello[..],
        [Message::AnnounceCapabilities { request: true, .. }]
    ));
    let events = host.feed(&guest.announce(true));
    assert_eq!(events, [SessionEvent::GuestAnnounced { caps }]);
    let answer = guest.feed(&host.take_output());
    assert_eq!(
        answer[0],
        Message::AnnounceCapabilities {
            request: false,
            caps: host_caps()
        }
    );
    (host, guest)
}

fn pair(policy: Policy) -> (VdagentHost, TestGuest) {
    pair_with(policy, TestGuest::linux_caps())
}

fn policy(host_to_guest: bool, guest_to_host: bool) -> Policy {
    Policy {
        host_to_guest,
        guest_to_host,
        ..Policy::default()
    }
}

#[test]
fn handshake_answers_the_request_and_sends_the_limit() {
    let mut host = VdagentHost::new(Policy::default());
    let mut guest = TestGuest::new(TestGuest::linux_caps(), 1 << 20);
    host.feed(&guest.announce(true));
    let msgs = guest.feed(&host.take_output());
    assert_eq!(
        msgs,
        [
            Message::AnnounceCapabilities {
                request: false,
                caps: host_caps()
            },
            Message::MaxClipboard {
                max: DEFAULT_MAX_CLIPBOARD as i32
            }
        ]
    );
    assert!(host.guest_active());
    // The same announce without request (an answer to ours) changes nothing.
    host.grab(CB, &[TEXT]).unwrap();
    host.take_output();
    assert_eq!(host.feed(&guest.announce(false)), []);
    assert!(!host.has_output());
    assert!(host.host_owns(CB));
    // A restarted agent (request set) is a new agent: the host's grab is gone.
    assert_eq!(host.feed(&guest.announce(true)).len(), 1);
    assert!(!host.host_owns(CB));
    assert_eq!(guest.feed(&host.take_output()).len(), 2);
}

#[test]
fn host_to_guest_round_trip() {
    let (mut host, mut guest) = pair(Policy::default());
    host.grab(CB, &[TEXT]).unwrap();
    assert!(host.host_owns(CB));
    let msgs = guest.feed(&host.take_output());
    assert_eq!(
        msgs,
        [Message::ClipboardGrab {
            selection: CB,
            serial: None,
            types: vec![TEXT]
        }]
    );
    let events = host.feed(&guest.request(CB, TEXT));
    assert_eq!(
        events,
        [SessionEvent::GuestRequest {
            selection: CB,
            kind: TEXT
        }]
    );
    host.clipboard(CB, TEXT, "héllo\nworld".as_bytes()).unwrap();
    let msgs = guest.feed(&host.take_output());
    assert_eq!(
        msgs,
        [Message::Clipboard {
            selection: CB,
            kind: TEXT,
            data: "héllo\nworld".as_bytes().to_vec()
        }]
    );
    host.release(CB);
    assert_eq!(
        guest.feed(&host.take_output()),
        [Message::ClipboardRelease { selection: CB }]
    );
    host.release(CB); // not owned any more: nothing
    assert!(!host.has_output());
}

#[test]
fn guest_to_host_round_trip() {
    let (mut host, mut guest) = pair(Policy::default());
    let events = host.feed(&guest.grab(CB, &[TEXT, ClipboardType::IMAGE_PNG]));
    assert_eq!(
        events,
        [SessionEvent::GuestGrab {
            selection: CB,
            types: vec![TEXT, ClipboardType::IMAGE_PNG]
        }]
    );
    host.request(CB, TEXT).unwrap();
    assert_eq!(
        guest.feed(&host.take_output()),
        [Message::ClipboardRequest {
            selection: CB,
            kind: TEXT
        }]
    );
    // A large answer in one big chunk, as the Linux agent sends it, fed in odd pieces.
    let data: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let bytes = guest.clipboard(CB, TEXT, &data);
    let mut events = Vec::new();
    for piece in bytes.chunks(4093) {
        events.extend(host.feed(piece));
    }
    assert_eq!(
        events,
        [SessionEvent::GuestClipboard {
            selection: CB,
            kind: TEXT,
            data
        }]
    );
    assert_eq!(
        host.feed(&guest.release(CB)),
        [SessionEvent::GuestRelease { selection: CB }]
    );
}

#[test]
fn host_to_guest_off_lets_nothing_cross() {
    let (mut host, mut guest) = pair(policy(false, true));
    assert_eq!(host.grab(CB, &[TEXT]), Err(AgentError::HostToGuestOff));
    assert_eq!(
        host.clipboard(CB, TEXT, b"secret"),
        Err(AgentError::HostToGuestOff)
    );
    assert!(!host.has_output());
    // A request anyway (e.g. a stale one) is not surfaced and gets "no data".
    assert_eq!(host.feed(&guest.request(CB, TEXT)), []);
    assert_eq!(
        guest.feed(&host.take_output()),
        [Message::Clipboard {
            selection: CB,
            kind: ClipboardType::NONE,
            data: vec![]
        }]
    );
    // The other direction still works.
    assert_eq!(host.feed(&guest.grab(CB, &[TEXT])).len(), 1);
}

#[test]
fn guest_to_host_off_lets_nothing_cross() {
    let (mut host, mut guest) = pair(policy(true, false));
    let mut bytes = guest.grab(CB, &[TEXT]);
    bytes.extend(guest.clipboard(CB, TEXT, b"secret"));
    bytes.extend(guest.release(CB));
    assert_eq!(host.feed(&bytes), []);
    assert!(!host.has_output());
    assert_eq!(host.request(CB, TEXT), Err(AgentError::GuestToHostOff));
    assert!(!host.has_output());
    // The other direction still works.
    host.grab(CB, &[TEXT]).unwrap();
    assert_eq!(guest.feed(&host.take_output()).len(), 1);
}

#[test]
fn turning_host_to_guest_off_releases_the_grab() {
    let (mut host, mut guest) = pair(Policy::default());
    host.grab(CB, &[TEXT]).unwrap();
    guest.feed(&host.take_output());
    host.set_policy(policy(false, true));
    assert_eq!(
        guest.feed(&host.take_output()),
        [Message::ClipboardRelease { selection: CB }]
    );
    assert!(!host.host_owns(CB));
    // A new limit is told to the guest.
    host.set_policy(Policy {
        max_bytes: 1000,
        ..policy(false, true)
    });
    assert_eq!(
        guest.feed(&host.take_output()),
        [Message::MaxClipboard { max: 1000 }]
    );
}

#[test]
fn size_limit_both_ways() {
    let limit = 1 << 20;
    let (mut host, guest) = pair(Policy {
        max_bytes: limit,
        ..Policy::default()
    });
    host.take_output();
    let big = vec![b'x'; limit + 1];
    assert_eq!(
        host.clipboard(CB, TEXT, &big),
        Err(AgentError::HostTooLarge {
            size: limit + 1,
            limit
        })
    );
    assert!(!host.has_output());
    host.clipboard(CB, TEXT, &big[..limit]).unwrap();
    // Guest data over the limit but under the parser's: decoded, then refused.
    let events = host.feed(&guest.clipboard(CB, TEXT, &big));
    assert_eq!(
        events,
        [SessionEvent::GuestClipboardTooLarge {
            size: Some(limit as u64 + 1),
            limit
        }]
    );
    let message = events[0].as_error().unwrap().to_string();
    assert!(
        message.starts_with("the guest's clipboard is larger than the 1 MiB limit"),
        "{message}"
    );
    // Far over: skipped by the parser, never held.
    let huge = vec![b'y'; 3 * limit];
    let mut events = Vec::new();
    for piece in guest.clipboard(CB, TEXT, &huge).chunks(65536) {
        events.extend(host.feed(piece));
    }
    assert_eq!(
        events,
        [SessionEvent::GuestClipboardTooLarge {
            size: Some(3 * limit as u64),
            limit
        }]
    );
    // A guest that honours MAX_CLIPBOARD sends an empty clipboard instead.
    let events = host.feed(&guest.clipboard(CB, TEXT, b""));
    assert_eq!(
        events,
        [SessionEvent::GuestClipboardTooLarge { size: None, limit }]
    );
}

#[test]
fn crlf_guests_get_converted_text() {
    let mut caps = TestGuest::linux_caps();
    caps = Caps::from_words(&[
        caps.words()[0] & !(1 << Cap::GUEST_LINEEND_LF.0) | 1 << Cap::GUEST_LINEEND_CRLF.0
    ]);
    let (mut host, mut guest) = pair_with(Policy::default(), caps);
    host.take_output();
    host.clipboard(CB, TEXT, b"a\nb\r\nc").unwrap();
    let msgs = guest.feed(&host.take_output());
    assert!(matches!(&msgs[..], [Message::Clipboard { data, .. }] if data == b"a\r\nb\r\nc"));
    // Images are not touched.
    host.clipboard(CB, ClipboardType::IMAGE_PNG, b"\n").unwrap();
    assert!(
        matches!(&guest.feed(&host.take_output())[..], [Message::Clipboard { data, .. }] if data == b"\n")
    );
    let events = host.feed(&guest.clipboard(CB, TEXT, b"x\r\ny\rz"));
    assert!(matches!(&events[..], [SessionEvent::GuestClipboard { data, .. }] if data == b"x\ny\rz"));
}

#[test]
fn guests_without_selections_get_no_prefix() {
    let caps = Caps::of(&[Cap::CLIPBOARD_BY_DEMAND]);
    let (mut host, mut guest) = pair_with(Policy::default(), caps);
    host.take_output();
    host.grab(CB, &[TEXT]).unwrap();
    let out = host.take_output();
    assert_eq!(out.len(), 8 + 20 + 4, "no selection prefix");
    assert_eq!(guest.feed(&out).len(), 1);
    assert!(matches!(
        host.grab(Selection::PRIMARY, &[TEXT]),
        Err(AgentError::Unsupported { .. })
    ));
    assert!(!host.has_output());
}

#[test]
fn agents_without_clipboard_or_absent() {
    let mut host = VdagentHost::new(Policy::default());
    assert_eq!(host.grab(CB, &[TEXT]), Err(AgentError::NoGuestAgent));
    assert_eq!(host.request(CB, TEXT), Err(AgentError::NoGuestAgent));
    assert!(!host.has_output());
    let (mut host, _) = pair_with(Policy::default(), Caps::of(&[Cap::MOUSE_STATE]));
    host.take_output();
    assert!(matches!(
        host.grab(CB, &[TEXT]),
        Err(AgentError::Unsupported { .. })
    ));
    assert!(matches!(
        host.monitors_config(&MonitorsConfig {
            flags: 0,
            monitors: vec![]
        }),
        Err(AgentError::Unsupported { .. })
    ));
    assert!(!host.has_output());
}

#[test]
fn requests_for_selections_not_grabbed_get_no_data() {
    let (mut host, mut guest) = pair(Policy::default());
    host.take_output();
    assert_eq!(host.feed(&guest.request(Selection::PRIMARY, TEXT)), []);
    assert!(matches!(
        &guest.feed(&host.take_output())[..],
        [Message::Clipboard { selection: Selection::PRIMARY, kind: ClipboardType::NONE, data }] if data.is_empty()
    ));
    // After the guest grabs, the host no longer owns the selection it had grabbed.
    host.grab(CB, &[TEXT]).unwrap();
    host.feed(&guest.grab(CB, &[TEXT]));
    assert!(!host.host_owns(CB));
}

#[test]
fn monitors_config_and_reply() {
    let (mut host, mut guest) = pair(Policy::default());
    host.take_output();
    let config = MonitorsConfig {
        flags: 0,
        monitors: vec![MonitorConfig {
            width: 1024,
            height: 768,
            depth: 32,
            x: 0,
            y: 0,
        }],
    };
    host.monitors_config(&config).unwrap();
    assert_eq!(guest.feed(&host.take_output()), [Message::MonitorsConfig(config)]);
    let reply = guest.encode(&Message::Reply {
        kind: MessageType::MONITORS_CONFIG,
        error: 1,
    });
    assert_eq!(
        host.feed(&reply),
        [SessionEvent::GuestReply {
            kind: MessageType::MONITORS_CONFIG,
            ok: true
        }]
    );
}

#[test]
fn reset_forgets_the_guest() {
    let (mut host, guest) = pair(Policy::default());
    host.take_output();
    let bytes = guest.grab(CB, &[TEXT]);
    host.feed(&bytes[..10]); // half a message from the dying agent
    host.reset();
    assert!(!host.guest_active());
    assert_eq!(host.grab(CB, &[TEXT]), Err(AgentError::NoGuestAgent));
    assert_eq!(host.feed(&guest.announce(false)).len(), 1);
}

#[test]
fn policy_from_vm_settings() {
    let config = crate::config::ClipboardConfig {
        host_to_guest: false,
        guest_to_host: true,
    };
    assert_eq!(
        Policy::from(config),
        Policy {
            host_to_guest: false,
            guest_to_host: true,
            max_bytes: DEFAULT_MAX_CLIPBOARD
        }
    );
}
