//! Host key codes to guest scancodes.
//!
//! The widget sends keys by *position*, not by symbol: the guest's own keyboard layout decides
//! which character a key produces, so an AZERTY host typing on a US guest gets what a US keyboard
//! would give for the same physical keys.
//!
//! The chain is:
//!
//! 1. GDK gives the hardware keycode of the event. On X11 (and on Wayland through xkb) that is
//!    the Linux evdev code plus 8.
//! 2. The evdev code (values from `linux/input-event-codes.h`) is mapped to a QEMU "qnum": the
//!    PC/XT scancode set 1 make code, where keys sent with an `0xe0` prefix are written as
//!    `0x80 | code`. That is the number the QEMU extended key event of RFB carries.
//! 3. SPICE wants the same set 1 code but writes the `0xe0` prefix as `0x100 | code`
//!    ([`qnum_to_spice`]).

use gtk::gdk;

/// Offset between an X11/xkb keycode and the Linux evdev code of the same key.
pub const XKB_KEYCODE_OFFSET: u32 = 8;

/// Maps an X11/xkb hardware keycode (as given by `gdk::KeyEvent::keycode`) to a qnum.
pub fn keycode_to_qnum(keycode: u32) -> Option<u16> {
    keycode.checked_sub(XKB_KEYCODE_OFFSET).and_then(evdev_to_qnum)
}

/// Maps a Linux evdev key code to a QEMU qnum (XT set 1; `0xe0`-prefixed keys as `0x80 | code`).
///
/// Returns `None` for codes that have no set 1 scancode (they cannot be sent to a PC guest).
pub fn evdev_to_qnum(evdev: u32) -> Option<u16> {
    let qnum = match evdev {
        // KEY_ESC (1) up to KEY_KPDOT (83): the evdev code *is* the set 1 make code. This range
        // covers the main block, F1-F10, the lock keys and the numeric keypad.
        1..=83 => evdev as u16,
        85 => 0x76,  // KEY_ZENKAKUHANKAKU
        86 => 0x56,  // KEY_102ND (the extra key left of Z on ISO keyboards)
        87 => 0x57,  // KEY_F11
        88 => 0x58,  // KEY_F12
        89 => 0x73,  // KEY_RO
        90 => 0x78,  // KEY_KATAKANA
        91 => 0x77,  // KEY_HIRAGANA
        92 => 0x79,  // KEY_HENKAN
        93 => 0x70,  // KEY_KATAKANAHIRAGANA
        94 => 0x7b,  // KEY_MUHENKAN
        95 => 0x5c,  // KEY_KPJPCOMMA
        96 => 0x9c,  // KEY_KPENTER          e0 1c
        97 => 0x9d,  // KEY_RIGHTCTRL        e0 1d
        98 => 0xb5,  // KEY_KPSLASH          e0 35
        99 => 0xb7,  // KEY_SYSRQ (PrtSc)    e0 37
        100 => 0xb8, // KEY_RIGHTALT (AltGr) e0 38
        102 => 0xc7, // KEY_HOME             e0 47
        103 => 0xc8, // KEY_UP               e0 48
        104 => 0xc9, // KEY_PAGEUP           e0 49
        105 => 0xcb, // KEY_LEFT             e0 4b
        106 => 0xcd, // KEY_RIGHT            e0 4d
        107 => 0xcf, // KEY_END              e0 4f
        108 => 0xd0, // KEY_DOWN             e0 50
        109 => 0xd1, // KEY_PAGEDOWN         e0 51
        110 => 0xd2, // KEY_INSERT           e0 52
        111 => 0xd3, // KEY_DELETE           e0 53
        113 => 0xa0, // KEY_MUTE             e0 20
        114 => 0xae, // KEY_VOLUMEDOWN       e0 2e
        115 => 0xb0, // KEY_VOLUMEUP         e0 30
        116 => 0xde, // KEY_POWER            e0 5e
        117 => 0x59, // KEY_KPEQUAL
        119 => 0xc6, // KEY_PAUSE            e0 46 (the Ctrl+Break code QEMU uses for Pause)
        121 => 0x7e, // KEY_KPCOMMA
        124 => 0x7d, // KEY_YEN
        125 => 0xdb, // KEY_LEFTMETA         e0 5b
        126 => 0xdc, // KEY_RIGHTMETA        e0 5c
        127 => 0xdd, // KEY_COMPOSE (Menu)   e0 5d
        128 => 0xe8, // KEY_STOP             e0 68
        140 => 0xa1, // KEY_CALC             e0 21
        142 => 0xdf, // KEY_SLEEP            e0 5f
        143 => 0xe3, // KEY_WAKEUP           e0 63
        155 => 0xec, // KEY_MAIL             e0 6c
        156 => 0xe6, // KEY_BOOKMARKS        e0 66
        157 => 0xeb, // KEY_COMPUTER         e0 6b
        158 => 0xea, // KEY_BACK             e0 6a
        159 => 0xe9, // KEY_FORWARD          e0 69
        163 => 0x99, // KEY_NEXTSONG         e0 19
        164 => 0xa2, // KEY_PLAYPAUSE        e0 22
        165 => 0x90, // KEY_PREVIOUSSONG     e0 10
        166 => 0xa4, // KEY_STOPCD           e0 24
        172 => 0xb2, // KEY_HOMEPAGE         e0 32
        173 => 0xe7, // KEY_REFRESH          e0 67
        183 => 0x5d, // KEY_F13
        184 => 0x5e, // KEY_F14
        185 => 0x5f, // KEY_F15
        217 => 0xe5, // KEY_SEARCH           e0 65
        _ => return None,
    };
    Some(qnum)
}

/// Converts a qnum to the scancode convention of `spice_inputs_channel_key_press`:
/// `0xe0`-prefixed keys are `0x100 | code` there instead of `0x80 | code`.
pub fn qnum_to_spice(qnum: u16) -> u32 {
    let qnum = u32::from(qnum);
    if qnum & 0x80 != 0 {
        0x100 | (qnum & 0x7f)
    } else {
        qnum
    }
}

/// The evdev code of the key that produces `keyval` on a US keyboard, for synthetic key
/// sequences ([`crate::DisplayView::send_keys`]). Upper- and lower-case letters give the same key;
/// the caller adds Shift itself if it wants it.
///
/// Returns `None` for keyvals that have no fixed position; the widget then asks the host keymap.
pub fn keyval_to_evdev(keyval: gdk::Key) -> Option<u32> {
    use gdk::Key;
    let lower = keyval.to_lower();
    if let Some(c) = lower.to_unicode() {
        if let Some(code) = char_to_evdev(c) {
            return Some(code);
        }
    }
    let code = match keyval {
        Key::Escape => 1,
        Key::BackSpace => 14,
        Key::Tab | Key::ISO_Left_Tab => 15,
        Key::Return => 28,
        Key::Control_L => 29,
        Key::Shift_L => 42,
        Key::Shift_R => 54,
        Key::KP_Multiply => 55,
        Key::Alt_L | Key::Meta_L => 56,
        Key::Caps_Lock => 58,
        Key::F1 => 59,
        Key::F2 => 60,
        Key::F3 => 61,
        Key::F4 => 62,
        Key::F5 => 63,
        Key::F6 => 64,
        Key::F7 => 65,
        Key::F8 => 66,
        Key::F9 => 67,
        Key::F10 => 68,
        Key::Num_Lock => 69,
        Key::Scroll_Lock => 70,
        Key::KP_7 | Key::KP_Home => 71,
        Key::KP_8 | Key::KP_Up => 72,
        Key::KP_9 | Key::KP_Page_Up => 73,
        Key::KP_Subtract => 74,
        Key::KP_4 | Key::KP_Left => 75,
        Key::KP_5 | Key::KP_Begin => 76,
        Key::KP_6 | Key::KP_Right => 77,
        Key::KP_Add => 78,
        Key::KP_1 | Key::KP_End => 79,
        Key::KP_2 | Key::KP_Down => 80,
        Key::KP_3 | Key::KP_Page_Down => 81,
        Key::KP_0 | Key::KP_Insert => 82,
        Key::KP_Decimal | Key::KP_Delete => 83,
        Key::F11 => 87,
        Key::F12 => 88,
        Key::KP_Enter => 96,
        Key::Control_R => 97,
        Key::KP_Divide => 98,
        Key::Print | Key::Sys_Req => 99,
        Key::Alt_R | Key::ISO_Level3_Shift | Key::Meta_R => 100,
        Key::Home => 102,
        Key::Up => 103,
        Key::Page_Up => 104,
        Key::Left => 105,
        Key::Right => 106,
        Key::End => 107,
        Key::Down => 108,
        Key::Page_Down => 109,
        Key::Insert => 110,
        Key::Delete => 111,
        Key::Pause | Key::Break => 119,
        Key::Super_L => 125,
        Key::Super_R => 126,
        Key::Menu => 127,
        _ => return None,
    };
    Some(code)
}

/// Evdev code of the US-layout key that types `c` (unshifted or shifted).
fn char_to_evdev(c: char) -> Option<u32> {
    const ROW_QWERTY: &str = "qwertyuiop";
    const ROW_ASDF: &str = "asdfghjkl";
    const ROW_ZXCV: &str = "zxcvbnm";
    if let Some(i) = ROW_QWERTY.find(c) {
        return Some(16 + i as u32);
    }
    if let Some(i) = ROW_ASDF.find(c) {
        return Some(30 + i as u32);
    }
    if let Some(i) = ROW_ZXCV.find(c) {
        return Some(44 + i as u32);
    }
    let code = match c {
        '1' | '!' => 2,
        '2' | '@' => 3,
        '3' | '#' => 4,
        '4' | '$' => 5,
        '5' | '%' => 6,
        '6' | '^' => 7,
        '7' | '&' => 8,
        '8' | '*' => 9,
        '9' | '(' => 10,
        '0' | ')' => 11,
        '-' | '_' => 12,
        '=' | '+' => 13,
        '[' | '{' => 26,
        ']' | '}' => 27,
        ';' | ':' => 39,
        '\'' | '"' => 40,
        '`' | '~' => 41,
        '\\' | '|' => 43,
        ',' | '<' => 51,
        '.' | '>' => 52,
        '/' | '?' => 53,
        ' ' => 57,
        _ => return None,
    };
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gtk::gdk::Key;

    #[test]
    fn main_block_is_identity() {
        // KEY_Q = 16 -> 0x10, KEY_A = 30 -> 0x1e, KEY_ENTER = 28 -> 0x1c, KEY_KPDOT = 83.
        assert_eq!(evdev_to_qnum(16), Some(0x10));
        assert_eq!(evdev_to_qnum(30), Some(0x1e));
        assert_eq!(evdev_to_qnum(28), Some(0x1c));
        assert_eq!(evdev_to_qnum(83), Some(0x53));
    }

    #[test]
    fn extended_keys_carry_high_bit() {
        assert_eq!(evdev_to_qnum(97), Some(0x9d)); // right ctrl
        assert_eq!(evdev_to_qnum(100), Some(0xb8)); // AltGr
        assert_eq!(evdev_to_qnum(103), Some(0xc8)); // up
        assert_eq!(evdev_to_qnum(111), Some(0xd3)); // delete
        assert_eq!(evdev_to_qnum(125), Some(0xdb)); // left super
    }

    #[test]
    fn unknown_codes_are_none() {
        assert_eq!(evdev_to_qnum(0), None);
        assert_eq!(evdev_to_qnum(84), None);
        assert_eq!(evdev_to_qnum(0x2ff), None);
        assert_eq!(keycode_to_qnum(3), None);
    }

    #[test]
    fn table_has_no_duplicate_qnums() {
        let mut seen = std::collections::HashMap::new();
        for evdev in 0..512 {
            if let Some(q) = evdev_to_qnum(evdev) {
                assert_ne!(q & 0x7f, 0, "evdev {evdev} maps to an empty code");
                if let Some(prev) = seen.insert(q, evdev) {
                    panic!("qnum {q:#x} used by evdev {prev} and {evdev}");
                }
            }
        }
        assert!(seen.len() > 130, "table unexpectedly small: {}", seen.len());
    }

    #[test]
    fn x11_keycodes_are_offset_by_eight() {
        // xkb keycode 24 is <AD01>: 'q' on US, 'a' on AZERTY. Its scancode is 0x10 either way.
        assert_eq!(keycode_to_qnum(24), Some(0x10));
        assert_eq!(keycode_to_qnum(9), Some(0x01)); // Escape
        assert_eq!(keycode_to_qnum(37), Some(0x1d)); // Control_L
        assert_eq!(keycode_to_qnum(64), Some(0x38)); // Alt_L
    }

    #[test]
    fn spice_prefix_convention() {
        assert_eq!(qnum_to_spice(0x1e), 0x1e);
        assert_eq!(qnum_to_spice(0x9d), 0x11d);
        assert_eq!(qnum_to_spice(0xc8), 0x148);
    }

    #[test]
    fn keyvals_for_synthetic_sequences() {
        assert_eq!(keyval_to_evdev(Key::Control_L), Some(29));
        assert_eq!(keyval_to_evdev(Key::Alt_L), Some(56));
        assert_eq!(keyval_to_evdev(Key::Delete), Some(111));
        assert_eq!(keyval_to_evdev(Key::BackSpace), Some(14));
        assert_eq!(keyval_to_evdev(Key::F2), Some(60));
        assert_eq!(keyval_to_evdev(Key::a), Some(30));
        assert_eq!(keyval_to_evdev(Key::A), Some(30));
        assert_eq!(keyval_to_evdev(Key::q), Some(16));
        assert_eq!(keyval_to_evdev(Key::m), Some(50));
        assert_eq!(keyval_to_evdev(Key::_0), Some(11));
        assert_eq!(keyval_to_evdev(Key::slash), Some(53));
        assert_eq!(keyval_to_evdev(Key::space), Some(57));
        assert_eq!(keyval_to_evdev(Key::eacute), None);
        // Every fixed keyval has a scancode.
        for key in [
            Key::Control_L,
            Key::Delete,
            Key::Super_L,
            Key::Print,
            Key::Pause,
            Key::Menu,
        ] {
            let evdev = keyval_to_evdev(key).unwrap_or_default();
            assert!(evdev_to_qnum(evdev).is_some(), "{key:?}");
        }
    }
}
