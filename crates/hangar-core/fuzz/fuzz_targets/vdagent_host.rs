//! Feed arbitrary bytes, cut at fuzzer-chosen points, into the host side of the vdagent
//! protocol under a fuzzer-chosen policy: it must never panic and must stay within its limit.
//! Run with `cargo +nightly fuzz run vdagent_host` from `crates/hangar-core`.

#![no_main]

use hangar_core::agent::{ClipboardType, Policy, Selection, VdagentHost};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let policy = Policy {
        host_to_guest: control & 1 != 0,
        guest_to_host: control & 2 != 0,
        max_bytes: [16, 4096, 1 << 20, 32 << 20][usize::from(control >> 2 & 3)],
    };
    let step = 1 + usize::from(control >> 4) * 97;
    let mut host = VdagentHost::new(policy);
    host.announce(true);
    for piece in rest.chunks(step) {
        host.feed(piece);
        assert!(host.buffered() <= policy.max_bytes.max(64 * 1024) + 16);
        let _ = host.grab(Selection::CLIPBOARD, &[ClipboardType::UTF8_TEXT]);
        let _ = host.clipboard(Selection::CLIPBOARD, ClipboardType::UTF8_TEXT, b"x\ny");
        host.take_output();
    }
});
