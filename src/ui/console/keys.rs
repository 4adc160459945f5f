//! Key combinations of the Send Key menu, and key settings turned into text for people.

use gtk::gdk;

use crate::i18n::{gettext, i18n_f};

/// One entry of the Send Key menu. `id` is the action target, `keys` are GDK key names pressed
/// in order and released in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Combo {
    pub id: &'static str,
    pub keys: &'static [&'static str],
}

const CTRL_ALT_FN: [Combo; 12] = {
    const fn f(id: &'static str, keys: &'static [&'static str]) -> Combo {
        Combo { id, keys }
    }
    [
        f("ctrl-alt-f1", &["Control_L", "Alt_L", "F1"]),
        f("ctrl-alt-f2", &["Control_L", "Alt_L", "F2"]),
        f("ctrl-alt-f3", &["Control_L", "Alt_L", "F3"]),
        f("ctrl-alt-f4", &["Control_L", "Alt_L", "F4"]),
        f("ctrl-alt-f5", &["Control_L", "Alt_L", "F5"]),
        f("ctrl-alt-f6", &["Control_L", "Alt_L", "F6"]),
        f("ctrl-alt-f7", &["Control_L", "Alt_L", "F7"]),
        f("ctrl-alt-f8", &["Control_L", "Alt_L", "F8"]),
        f("ctrl-alt-f9", &["Control_L", "Alt_L", "F9"]),
        f("ctrl-alt-f10", &["Control_L", "Alt_L", "F10"]),
        f("ctrl-alt-f11", &["Control_L", "Alt_L", "F11"]),
        f("ctrl-alt-f12", &["Control_L", "Alt_L", "F12"]),
    ]
};

/// Ctrl+Alt+Del, Ctrl+Alt+Backspace, PrintScreen and SysRq (the main section of the menu).
pub const MAIN_COMBOS: [Combo; 4] = [
    Combo {
        id: "ctrl-alt-delete",
        keys: &["Control_L", "Alt_L", "Delete"],
    },
    Combo {
        id: "ctrl-alt-backspace",
        keys: &["Control_L", "Alt_L", "BackSpace"],
    },
    Combo {
        id: "print",
        keys: &["Print"],
    },
    // On a PC keyboard SysRq is Alt + the PrintScreen key.
    Combo {
        id: "sysrq",
        keys: &["Alt_L", "Sys_Req"],
    },
];

/// Ctrl+Alt+F1 … Ctrl+Alt+F12 (virtual terminals), in a submenu.
pub fn function_combos() -> &'static [Combo] {
    &CTRL_ALT_FN
}

/// The combination with this action target.
pub fn find(id: &str) -> Option<Combo> {
    MAIN_COMBOS
        .iter()
        .chain(CTRL_ALT_FN.iter())
        .find(|c| c.id == id)
        .copied()
}

impl Combo {
    /// The keys as GDK keyvals; `None` if a name is unknown to GDK (a defect of the table).
    pub fn keyvals(&self) -> Option<Vec<gdk::Key>> {
        self.keys.iter().map(|name| gdk::Key::from_name(*name)).collect()
    }

    /// Menu label, translated.
    pub fn label(&self) -> String {
        match self.id {
            "ctrl-alt-delete" => gettext("Ctrl+Alt+Del"),
            "ctrl-alt-backspace" => gettext("Ctrl+Alt+Backspace"),
            "print" => gettext("Print Screen"),
            "sysrq" => gettext("SysRq"),
            _ => {
                let key = self.keys.last().copied().unwrap_or_default();
                i18n_f("Ctrl+Alt+{}", &[key])
            }
        }
    }
}

/// People's name of one key of a chord or hotkey setting (`Control_L` → `Ctrl`).
fn key_label(name: &str) -> String {
    match name {
        "Control_L" | "Control_R" => gettext("Ctrl"),
        "Alt_L" | "Alt_R" => gettext("Alt"),
        "Shift_L" | "Shift_R" => gettext("Shift"),
        "Super_L" | "Super_R" => gettext("Super"),
        "Meta_L" | "Meta_R" => gettext("Meta"),
        "ISO_Level3_Shift" => gettext("AltGr"),
        other => other.replace('_', " "),
    }
}

/// A release chord setting (`Control_L+Alt_L`) as people read it (`Ctrl+Alt`). The left and
/// right variant of a modifier give the same word; repeats are shown once.
pub fn chord_label(spec: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for name in spec.split('+').map(str::trim).filter(|n| !n.is_empty()) {
        let word = key_label(name);
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words.join("+")
}

/// A hotkey setting in GTK accelerator syntax (`F11`, `<Shift>F12`) as people read it
/// (`F11`, `Shift+F12`). Works without a display; unknown modifiers are shown as written.
pub fn hotkey_label(spec: &str) -> String {
    let mut rest = spec.trim();
    let mut words: Vec<String> = Vec::new();
    while let Some(open) = rest.strip_prefix('<') {
        let Some((modifier, after)) = open.split_once('>') else {
            return spec.to_owned();
        };
        let word = match modifier.to_ascii_lowercase().as_str() {
            "control" | "ctrl" | "ctl" | "primary" => gettext("Ctrl"),
            "shift" => gettext("Shift"),
            "alt" | "mod1" => gettext("Alt"),
            "super" => gettext("Super"),
            "meta" => gettext("Meta"),
            "hyper" => gettext("Hyper"),
            other => other.to_owned(),
        };
        words.push(word);
        rest = after;
    }
    if rest.is_empty() {
        return spec.to_owned();
    }
    words.push(key_label(rest));
    words.join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combo_has_known_keys_and_a_unique_id() {
        let all: Vec<Combo> = MAIN_COMBOS.iter().chain(function_combos()).copied().collect();
        assert_eq!(all.len(), 16);
        for combo in &all {
            let keys = combo
                .keyvals()
                .unwrap_or_else(|| panic!("unknown key in {combo:?}"));
            assert_eq!(keys.len(), combo.keys.len());
            assert_eq!(find(combo.id), Some(*combo));
            assert!(!combo.label().is_empty());
        }
        let mut ids: Vec<&str> = all.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "duplicate ids");
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn ctrl_alt_del_presses_control_alt_delete_in_order() {
        let combo = find("ctrl-alt-delete").expect("present");
        assert_eq!(
            combo.keyvals(),
            Some(vec![gdk::Key::Control_L, gdk::Key::Alt_L, gdk::Key::Delete])
        );
        assert_eq!(
            find("ctrl-alt-f7").map(|c| c.label()).as_deref(),
            Some("Ctrl+Alt+F7")
        );
    }

    #[test]
    fn chords_read_like_people_say_them() {
        assert_eq!(chord_label("Control_L+Alt_L"), "Ctrl+Alt");
        assert_eq!(chord_label(" Control_R + Control_L+Shift_L"), "Ctrl+Shift");
        assert_eq!(chord_label("Super_L+F12"), "Super+F12");
        assert_eq!(chord_label("Page_Up"), "Page Up");
        assert_eq!(chord_label(""), "");
    }

    #[test]
    fn hotkeys_read_like_people_say_them_and_survive_garbage() {
        assert_eq!(hotkey_label("F11"), "F11");
        assert_eq!(hotkey_label("<Shift>F12"), "Shift+F12");
        assert_eq!(hotkey_label("<Bogus>"), "<Bogus>");
        assert_eq!(hotkey_label("<Primary><Alt>Page_Up"), "Ctrl+Alt+Page Up");
        assert_eq!(hotkey_label("<Shift"), "<Shift");
    }
}
