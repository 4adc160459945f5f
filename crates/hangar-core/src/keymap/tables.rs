//! The layouts as rows of characters over the physical keys, the way keyboard layout charts
//! print them. Levels: plain, with Shift, with AltGr (right Alt). A space means "nothing on this
//! level"; a combining mark (U+0300 grave, U+0301 acute, U+0302 circumflex, U+0308 diaeresis)
//! marks a dead key.
//!
//! Facts follow the X11/Wayland (xkb) "basic" variants, keeping only what the Windows layout of
//! the same name agrees with. Known difference: on Windows `fr`, AltGr+2 (`~`) and AltGr+7
//! (`` ` ``) are dead keys, so those two characters come out only after the next key.

use qapi_qmp::QKeyCode as K;

/// The physical keys of the four alphanumeric rows, as on an ISO (105-key) keyboard: the key
/// left of 1; 1 … = ; Q … ]; A … the key left of Return; the key right of left Shift, Z … /.
pub(super) const KEYS: [K; 48] = [
    K::grave_accent,
    K::_1,
    K::_2,
    K::_3,
    K::_4,
    K::_5,
    K::_6,
    K::_7,
    K::_8,
    K::_9,
    K::_0,
    K::minus,
    K::equal,
    K::q,
    K::w,
    K::e,
    K::r,
    K::t,
    K::y,
    K::u,
    K::i,
    K::o,
    K::p,
    K::bracket_left,
    K::bracket_right,
    K::a,
    K::s,
    K::d,
    K::f,
    K::g,
    K::h,
    K::j,
    K::k,
    K::l,
    K::semicolon,
    K::apostrophe,
    K::backslash,
    K::less,
    K::z,
    K::x,
    K::c,
    K::v,
    K::b,
    K::n,
    K::m,
    K::comma,
    K::dot,
    K::slash,
];

/// Characters per row in [`KEYS`] order: 13, 12, 12, 11.
#[cfg(test)]
pub(super) const ROW_LENGTHS: [usize; 4] = [13, 12, 12, 11];

/// One layout: rows per level.
pub(super) struct Rows {
    pub plain: [&'static str; 4],
    pub shift: [&'static str; 4],
    pub altgr: [&'static str; 4],
}

const NO_ALTGR: [&str; 4] = ["             ", "            ", "            ", "           "];

/// US (ANSI keyboards have no key right of left Shift; it is left empty).
pub(super) const US: Rows = Rows {
    plain: ["`1234567890-=", "qwertyuiop[]", "asdfghjkl;'\\", " zxcvbnm,./"],
    shift: ["~!@#$%^&*()_+", "QWERTYUIOP{}", "ASDFGHJKL:\"|", " ZXCVBNM<>?"],
    altgr: NO_ALTGR,
};

/// United Kingdom.
pub(super) const GB: Rows = Rows {
    plain: ["`1234567890-=", "qwertyuiop[]", "asdfghjkl;'#", "\\zxcvbnm,./"],
    shift: ["¬!\"£$%^&*()_+", "QWERTYUIOP{}", "ASDFGHJKL:@~", "|ZXCVBNM<>?"],
    altgr: ["    €        ", "            ", "            ", "           "],
};

/// German (QWERTZ): dead circumflex left of 1, dead acute / grave left of Backspace.
pub(super) const DE: Rows = Rows {
    plain: [
        "\u{302}1234567890ß\u{301}",
        "qwertzuiopü+",
        "asdfghjklöä#",
        "<yxcvbnm,.-",
    ],
    shift: [
        "°!\"§$%&/()=?\u{300}",
        "QWERTZUIOPÜ*",
        "ASDFGHJKLÖÄ'",
        ">YXCVBNM;:_",
    ],
    altgr: ["  ²³   {[]}\\ ", "@ €        ~", "            ", "|      µ   "],
};

/// French (AZERTY): dead circumflex / diaeresis right of P.
pub(super) const FR: Rows = Rows {
    plain: [
        "²&é\"'(-è_çà)=",
        "azertyuiop\u{302}$",
        "qsdfghjklmù*",
        "<wxcvbn,;:!",
    ],
    shift: [
        " 1234567890°+",
        "AZERTYUIOP\u{308}£",
        "QSDFGHJKLM%µ",
        ">WXCVBN?./§",
    ],
    altgr: ["  ~#{[|`\\^@]}", "  €        ¤", "            ", "           "],
};

/// The character a dead key gives when followed by Space.
pub(super) fn spacing(mark: char) -> Option<char> {
    match mark {
        '\u{300}' => Some('`'),
        '\u{301}' => Some('´'),
        '\u{302}' => Some('^'),
        '\u{308}' => Some('¨'),
        _ => None,
    }
}

/// `base` with the accent of dead key `mark`, for the letters dead keys combine with.
pub(super) fn compose(mark: char, base: char) -> Option<char> {
    let (bases, composed) = match mark {
        '\u{300}' => ("aeiouAEIOU", "àèìòùÀÈÌÒÙ"),
        '\u{301}' => ("aeiouyAEIOUY", "áéíóúýÁÉÍÓÚÝ"),
        '\u{302}' => ("aeiouAEIOU", "âêîôûÂÊÎÔÛ"),
        '\u{308}' => ("aeiouyAEIOU", "äëïöüÿÄËÏÖÜ"),
        _ => return None,
    };
    let at = bases.chars().position(|c| c == base)?;
    composed.chars().nth(at)
}
