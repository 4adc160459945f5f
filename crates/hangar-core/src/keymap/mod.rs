//! Keyboard layouts for typing text into a guest: which keys (QEMU `QKeyCode`s, i.e. physical
//! positions) produce each character under the layout the guest uses. Used to "type" the host
//! clipboard into guests that have no clipboard agent (installers, consoles, login screens).
//!
//! Text is turned into a [`Plan`]: one [`Stroke`] per character (two for characters made with a
//! dead key, like `ê` on French or `^` on German keyboards); characters the layout cannot type
//! are listed, never dropped silently. Newline types Return and tab types Tab.

mod tables;

use std::collections::HashMap;
use std::sync::OnceLock;

use qapi_qmp::QKeyCode;
use serde::Serialize;

use tables::Rows;

/// A keyboard layout a guest may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Us,
    Fr,
    De,
    Gb,
}

impl Layout {
    /// Every layout, in the order to offer them.
    pub const ALL: [Layout; 4] = [Layout::Us, Layout::Gb, Layout::De, Layout::Fr];

    /// The name used in `vm.toml` (`[input] keyboard_layout`).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Us => "us",
            Layout::Fr => "fr",
            Layout::De => "de",
            Layout::Gb => "gb",
        }
    }

    /// Name for people.
    pub fn label(self) -> &'static str {
        match self {
            Layout::Us => "English (US)",
            Layout::Fr => "French (AZERTY)",
            Layout::De => "German (QWERTZ)",
            Layout::Gb => "English (UK)",
        }
    }

    pub fn from_name(name: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == name)
    }

    /// `us, gb, de, fr` (for messages).
    pub fn names() -> String {
        Layout::ALL.map(Layout::name).join(", ")
    }

    fn rows(self) -> &'static Rows {
        match self {
            Layout::Us => &tables::US,
            Layout::Fr => &tables::FR,
            Layout::De => &tables::DE,
            Layout::Gb => &tables::GB,
        }
    }

    fn index(self) -> usize {
        match self {
            Layout::Us => 0,
            Layout::Fr => 1,
            Layout::De => 2,
            Layout::Gb => 3,
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One key press with its modifiers held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stroke {
    pub key: QKeyCode,
    pub shift: bool,
    /// AltGr (right Alt).
    pub altgr: bool,
}

impl Stroke {
    const fn plain(key: QKeyCode) -> Stroke {
        Stroke {
            key,
            shift: false,
            altgr: false,
        }
    }

    /// The keys to hold, modifiers first (the order QMP `send-key` presses them).
    pub fn keys(&self) -> Vec<QKeyCode> {
        let mut keys = Vec::with_capacity(3);
        if self.shift {
            keys.push(QKeyCode::shift);
        }
        if self.altgr {
            keys.push(QKeyCode::alt_r);
        }
        keys.push(self.key);
        keys
    }
}

/// A character the layout cannot type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Position in the text, in characters (0-based).
    pub index: usize,
    pub ch: char,
}

/// One character of the text and the strokes that type it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChar {
    /// Position in the text, in characters (0-based).
    pub index: usize,
    pub strokes: Vec<Stroke>,
}

/// How a text is typed under a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub layout: Layout,
    pub chars: Vec<PlannedChar>,
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// Number of strokes (key presses with their modifiers).
    pub fn stroke_count(&self) -> usize {
        self.chars.iter().map(|c| c.strokes.len()).sum()
    }
}

/// Plan typing `text` under `layout`. `\r\n` and a lone `\r` type Return once, like `\n`.
pub fn plan(layout: Layout, text: &str) -> Plan {
    let mut chars = Vec::new();
    let mut skipped = Vec::new();
    let mut iter = text.chars().enumerate().peekable();
    while let Some((index, ch)) = iter.next() {
        let ch = if ch == '\r' {
            if iter.peek().is_some_and(|(_, next)| *next == '\n') {
                continue;
            }
            '\n'
        } else {
            ch
        };
        match strokes_for(layout, ch) {
            Some(strokes) => chars.push(PlannedChar { index, strokes }),
            None => skipped.push(Skipped { index, ch }),
        }
    }
    Plan {
        layout,
        chars,
        skipped,
    }
}

/// The strokes typing `ch` under `layout`, or `None` when the layout has no way to type it.
pub fn strokes_for(layout: Layout, ch: char) -> Option<Vec<Stroke>> {
    table(layout).get(&ch).cloned()
}

fn table(layout: Layout) -> &'static HashMap<char, Vec<Stroke>> {
    static TABLES: [OnceLock<HashMap<char, Vec<Stroke>>>; 4] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
    TABLES[layout.index()].get_or_init(|| build(layout.rows()))
}

/// Characters to strokes: fewest modifiers win (plain, then Shift, then AltGr), then characters
/// made with a dead key (the accent alone is the dead key followed by Space).
fn build(rows: &Rows) -> HashMap<char, Vec<Stroke>> {
    let space = Stroke::plain(QKeyCode::spc);
    let mut map: HashMap<char, Vec<Stroke>> = HashMap::new();
    map.insert(' ', vec![space]);
    map.insert('\n', vec![Stroke::plain(QKeyCode::ret)]);
    map.insert('\t', vec![Stroke::plain(QKeyCode::tab)]);
    let mut dead = Vec::new();
    for (level, (shift, altgr)) in [
        (rows.plain, (false, false)),
        (rows.shift, (true, false)),
        (rows.altgr, (false, true)),
    ] {
        let chars = level.iter().flat_map(|row| row.chars());
        for (&key, ch) in tables::KEYS.iter().zip(chars) {
            let stroke = Stroke { key, shift, altgr };
            if ch == ' ' {
                continue;
            }
            if tables::spacing(ch).is_some() {
                dead.push((ch, stroke));
            } else {
                map.entry(ch).or_insert_with(|| vec![stroke]);
            }
        }
    }
    for (mark, dead_key) in dead {
        if let Some(alone) = tables::spacing(mark) {
            map.entry(alone).or_insert_with(|| vec![dead_key, space]);
        }
        for base in "aeiouyAEIOUY".chars() {
            let (Some(composed), Some(typed)) = (tables::compose(mark, base), map.get(&base).cloned()) else {
                continue;
            };
            if let [base_stroke] = typed[..] {
                map.entry(composed).or_insert_with(|| vec![dead_key, base_stroke]);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests;
