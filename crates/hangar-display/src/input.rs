//! Input state that does not depend on a backend: pointer buttons, scroll accumulation, held
//! keys and the release chord.

use gtk::gdk;

/// Button bits as RFB and SPICE both define them (left, middle, right, wheel up/down/left/right).
pub mod buttons {
    pub const LEFT: u8 = 1 << 0;
    pub const MIDDLE: u8 = 1 << 1;
    pub const RIGHT: u8 = 1 << 2;
    pub const WHEEL_UP: u8 = 1 << 3;
    pub const WHEEL_DOWN: u8 = 1 << 4;
    pub const WHEEL_LEFT: u8 = 1 << 5;
    pub const WHEEL_RIGHT: u8 = 1 << 6;
}

/// The guest button of a GDK button number (1 left, 2 middle, 3 right). Other buttons
/// (back/forward) are not sent.
pub fn gdk_button_bit(button: u32) -> Option<u8> {
    match button {
        1 => Some(buttons::LEFT),
        2 => Some(buttons::MIDDLE),
        3 => Some(buttons::RIGHT),
        _ => None,
    }
}

/// Turns scroll deltas into whole wheel clicks. Discrete wheels deliver ±1 per notch and give
/// one click at once; touchpads deliver fractions that add up.
#[derive(Debug, Default, Clone)]
pub struct ScrollAccumulator {
    x: f64,
    y: f64,
}

impl ScrollAccumulator {
    /// Adds a delta and returns the wheel buttons to click, one entry per click.
    pub fn push(&mut self, dx: f64, dy: f64) -> Vec<u8> {
        let mut out = Vec::new();
        if dx.is_finite() {
            self.x += dx;
        }
        if dy.is_finite() {
            self.y += dy;
        }
        // Bound the number of clicks from one event (a runaway delta must not flood the guest).
        const MAX_CLICKS: f64 = 20.0;
        let take = |acc: &mut f64, neg: u8, pos: u8, out: &mut Vec<u8>| {
            let steps = acc.trunc().clamp(-MAX_CLICKS, MAX_CLICKS);
            *acc -= acc.trunc();
            let bit = if steps < 0.0 { neg } else { pos };
            for _ in 0..(steps.abs() as u32) {
                out.push(bit);
            }
        };
        take(&mut self.y, buttons::WHEEL_UP, buttons::WHEEL_DOWN, &mut out);
        take(&mut self.x, buttons::WHEEL_LEFT, buttons::WHEEL_RIGHT, &mut out);
        out
    }

    /// Forgets the fractions (end of a touchpad gesture).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// A key sent to the guest as pressed and not yet released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldKey {
    pub qnum: u16,
    pub keyval: u32,
}

/// Keys the guest currently believes are down, in press order.
#[derive(Debug, Default, Clone)]
pub struct HeldKeys {
    keys: Vec<HeldKey>,
}

impl HeldKeys {
    /// Records a press; a repeated press of a held key (autorepeat) is not recorded twice.
    pub fn press(&mut self, key: HeldKey) {
        if !self.keys.iter().any(|k| k.qnum == key.qnum) {
            self.keys.push(key);
        }
    }

    /// Records a release. Returns the key as it was pressed, or `None` if the guest never saw
    /// the press (then the release must not be sent either).
    pub fn release(&mut self, qnum: u16) -> Option<HeldKey> {
        let pos = self.keys.iter().position(|k| k.qnum == qnum)?;
        Some(self.keys.remove(pos))
    }

    /// Takes every held key, most recently pressed first (the order to release them in).
    pub fn take_all(&mut self) -> Vec<HeldKey> {
        let mut keys = std::mem::take(&mut self.keys);
        keys.reverse();
        keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Error from parsing a key description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySpecError {
    #[error("empty key combination: give key names joined by '+', e.g. \"Control_L+Alt_L\"")]
    Empty,
    #[error("unknown key name {0:?}: use GDK key names such as Control_L, Alt_L, Shift_R, F12")]
    UnknownKey(String),
    #[error("invalid accelerator {0:?}: use GTK accelerator syntax such as \"F11\" or \"<Control><Alt>f\"")]
    BadAccelerator(String),
}

/// Keys that must all be held down together to release the grab (e.g. `Control_L+Alt_L`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chord {
    keys: Vec<gdk::Key>,
    down: Vec<bool>,
}

impl Chord {
    /// Parses `Name+Name+...` with GDK key names.
    pub fn parse(spec: &str) -> Result<Chord, KeySpecError> {
        let mut keys = Vec::new();
        for name in spec.split('+').map(str::trim).filter(|n| !n.is_empty()) {
            let key = gdk::Key::from_name(name).ok_or_else(|| KeySpecError::UnknownKey(name.to_owned()))?;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(KeySpecError::Empty);
        }
        let down = vec![false; keys.len()];
        Ok(Chord { keys, down })
    }

    /// Feeds a key press; returns true when this press completes the chord.
    pub fn press(&mut self, keyval: gdk::Key) -> bool {
        let key = keyval.to_lower();
        let mut hit = false;
        for (k, d) in self.keys.iter().zip(self.down.iter_mut()) {
            if k.to_lower() == key {
                *d = true;
                hit = true;
            }
        }
        hit && self.down.iter().all(|d| *d)
    }

    /// Feeds a key release.
    pub fn release(&mut self, keyval: gdk::Key) {
        let key = keyval.to_lower();
        for (k, d) in self.keys.iter().zip(self.down.iter_mut()) {
            if k.to_lower() == key {
                *d = false;
            }
        }
    }

    /// Forgets what is held (after a grab change or focus loss).
    pub fn reset(&mut self) {
        self.down.iter_mut().for_each(|d| *d = false);
    }

    /// The canonical text form, e.g. `Control_L+Alt_L`.
    pub fn to_spec(&self) -> String {
        self.keys
            .iter()
            .filter_map(|k| k.name())
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// A single hotkey with modifiers, in GTK accelerator syntax (`F11`, `<Control><Alt>f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hotkey {
    key: gdk::Key,
    mods: gdk::ModifierType,
}

/// Modifiers that take part in hotkey matching.
fn relevant_mods(m: gdk::ModifierType) -> gdk::ModifierType {
    m & (gdk::ModifierType::CONTROL_MASK
        | gdk::ModifierType::ALT_MASK
        | gdk::ModifierType::SHIFT_MASK
        | gdk::ModifierType::SUPER_MASK)
}

impl Hotkey {
    /// Parses GTK accelerator syntax: `<Control>`, `<Ctrl>`, `<Primary>`, `<Alt>`, `<Shift>`
    /// and `<Super>` prefixes (any case), then one GDK key name.
    pub fn parse(spec: &str) -> Result<Hotkey, KeySpecError> {
        let bad = || KeySpecError::BadAccelerator(spec.to_owned());
        let mut rest = spec.trim();
        let mut mods = gdk::ModifierType::empty();
        while let Some(after) = rest.strip_prefix('<') {
            let (name, tail) = after.split_once('>').ok_or_else(bad)?;
            mods |= match name.to_ascii_lowercase().as_str() {
                "control" | "ctrl" | "ctl" | "primary" => gdk::ModifierType::CONTROL_MASK,
                "alt" | "mod1" => gdk::ModifierType::ALT_MASK,
                "shift" | "shft" => gdk::ModifierType::SHIFT_MASK,
                "super" => gdk::ModifierType::SUPER_MASK,
                _ => return Err(bad()),
            };
            rest = tail;
        }
        let key = gdk::Key::from_name(rest.trim()).ok_or_else(bad)?;
        Ok(Hotkey { key, mods })
    }

    /// Whether a key press with modifier `state` is this hotkey.
    pub fn matches(&self, keyval: gdk::Key, state: gdk::ModifierType) -> bool {
        keyval.to_lower() == self.key.to_lower() && relevant_mods(state) == self.mods
    }

    /// The accelerator text.
    pub fn to_spec(&self) -> String {
        let mut out = String::new();
        for (mask, name) in [
            (gdk::ModifierType::CONTROL_MASK, "<Control>"),
            (gdk::ModifierType::ALT_MASK, "<Alt>"),
            (gdk::ModifierType::SHIFT_MASK, "<Shift>"),
            (gdk::ModifierType::SUPER_MASK, "<Super>"),
        ] {
            if self.mods.contains(mask) {
                out.push_str(name);
            }
        }
        out.push_str(self.key.name().as_deref().unwrap_or(""));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gdk::Key;

    #[test]
    fn discrete_wheel_clicks_at_once() {
        let mut s = ScrollAccumulator::default();
        assert_eq!(s.push(0.0, -1.0), vec![buttons::WHEEL_UP]);
        assert_eq!(s.push(0.0, 2.0), vec![buttons::WHEEL_DOWN, buttons::WHEEL_DOWN]);
        assert_eq!(s.push(1.0, 0.0), vec![buttons::WHEEL_RIGHT]);
        assert_eq!(s.push(-1.0, 0.0), vec![buttons::WHEEL_LEFT]);
    }

    #[test]
    fn smooth_scroll_accumulates() {
        let mut s = ScrollAccumulator::default();
        assert!(s.push(0.0, 0.4).is_empty());
        assert!(s.push(0.0, 0.4).is_empty());
        assert_eq!(s.push(0.0, 0.4), vec![buttons::WHEEL_DOWN]);
        // 0.2 left over; reset drops it.
        s.reset();
        assert!(s.push(0.0, 0.9).is_empty());
        assert!(s.push(f64::NAN, f64::INFINITY).is_empty());
        assert_eq!(s.push(0.0, 1e9).len(), 20);
    }

    #[test]
    fn held_keys_release_in_reverse_and_once() {
        let mut h = HeldKeys::default();
        h.press(HeldKey {
            qnum: 0x1d,
            keyval: 1,
        });
        h.press(HeldKey {
            qnum: 0x38,
            keyval: 2,
        });
        h.press(HeldKey {
            qnum: 0x38,
            keyval: 2,
        }); // autorepeat
        h.press(HeldKey {
            qnum: 0xd3,
            keyval: 3,
        });
        assert_eq!(h.release(0x38).map(|k| k.keyval), Some(2));
        assert_eq!(h.release(0x38), None);
        let all: Vec<u16> = h.take_all().iter().map(|k| k.qnum).collect();
        assert_eq!(all, vec![0xd3, 0x1d]);
        assert!(h.is_empty());
    }

    #[test]
    fn chord_needs_all_keys_together() {
        let mut c = Chord::parse("Control_L+Alt_L").unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.press(Key::Control_L));
        c.release(Key::Control_L);
        assert!(!c.press(Key::Alt_L));
        assert!(c.press(Key::Control_L));
        c.reset();
        assert!(!c.press(Key::Alt_L));
        assert!(!c.press(Key::Control_R));
        assert_eq!(c.to_spec(), "Control_L+Alt_L");
    }

    #[test]
    fn chord_parse_errors() {
        assert_eq!(Chord::parse(" + "), Err(KeySpecError::Empty));
        assert_eq!(
            Chord::parse("Control_L+Nope"),
            Err(KeySpecError::UnknownKey("Nope".into()))
        );
    }

    #[test]
    fn hotkey_matches_with_exact_modifiers() {
        let f11 = Hotkey::parse("F11").unwrap_or_else(|e| panic!("{e}"));
        assert!(f11.matches(Key::F11, gdk::ModifierType::empty()));
        assert!(f11.matches(Key::F11, gdk::ModifierType::LOCK_MASK)); // caps lock is ignored
        assert!(!f11.matches(Key::F11, gdk::ModifierType::CONTROL_MASK));
        assert!(!f11.matches(Key::F10, gdk::ModifierType::empty()));
        let f = Hotkey::parse("<Control><Alt>f").unwrap_or_else(|e| panic!("{e}"));
        let ca = gdk::ModifierType::CONTROL_MASK | gdk::ModifierType::ALT_MASK;
        assert!(f.matches(Key::f, ca));
        assert!(!f.matches(Key::f, gdk::ModifierType::CONTROL_MASK));
        assert!(Hotkey::parse("<Bogus>").is_err());
        assert!(Hotkey::parse("<Control>").is_err());
        assert!(Hotkey::parse("<Control").is_err());
        assert_eq!(f11.to_spec(), "F11");
        assert_eq!(f.to_spec(), "<Control><Alt>f");
    }

    #[test]
    fn gdk_buttons() {
        assert_eq!(gdk_button_bit(1), Some(buttons::LEFT));
        assert_eq!(gdk_button_bit(3), Some(buttons::RIGHT));
        assert_eq!(gdk_button_bit(8), None);
    }
}
