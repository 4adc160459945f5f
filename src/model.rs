//! What the window shows about virtual machines, as plain data: the rows of the library
//! ([`VmRow`], built from hangar-core's [`VmInfo`] by [`rows_from`]), their run state
//! ([`RowState`], from hangar-core's [`VmState`]) and the per-VM actions ([`VmAction`]) offered
//! by the row menus and the VM page's power controls.

use gtk::gdk;
use hangar_core::manager::{VmInfo, VmState};

use crate::i18n::{gettext, i18n_f};

/// File in a VM's folder holding a picture of its screen, saved when the app stops the VM or
/// quits while it runs; shown in the library row.
pub const THUMBNAIL_FILE: &str = "thumbnail.png";

/// Run state of a virtual machine, as far as the window cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowState {
    #[default]
    Stopped,
    Starting,
    Running,
    Paused,
    Stopping,
    /// QEMU runs, but neither running nor paused (internal error, guest panic, …).
    Troubled,
    /// The state could not be determined (broken configuration).
    Unknown,
}

impl From<VmState> for RowState {
    fn from(state: VmState) -> Self {
        match state {
            VmState::Stopped => RowState::Stopped,
            VmState::Starting => RowState::Starting,
            VmState::Running => RowState::Running,
            VmState::Paused => RowState::Paused,
            VmState::ShuttingDown => RowState::Stopping,
            VmState::Other => RowState::Troubled,
        }
    }
}

impl RowState {
    /// Translated label, also used as the accessible name of the state icon.
    pub fn label(self) -> String {
        match self {
            RowState::Stopped => gettext("Stopped"),
            RowState::Starting => gettext("Starting"),
            RowState::Running => gettext("Running"),
            RowState::Paused => gettext("Paused"),
            RowState::Stopping => gettext("Shutting Down"),
            RowState::Troubled => gettext("Not Running Normally"),
            RowState::Unknown => gettext("State Unknown"),
        }
    }

    /// Symbolic icon for the state.
    pub fn icon_name(self) -> &'static str {
        match self {
            RowState::Stopped => "media-playback-stop-symbolic",
            RowState::Starting | RowState::Stopping => "content-loading-symbolic",
            RowState::Running => "media-playback-start-symbolic",
            RowState::Paused => "media-playback-pause-symbolic",
            RowState::Troubled => "dialog-warning-symbolic",
            RowState::Unknown => "dialog-question-symbolic",
        }
    }

    /// CSS class of the state icon (see `data/resources/style.css`).
    pub fn css_class(self) -> &'static str {
        match self {
            RowState::Running => "running",
            RowState::Paused => "paused",
            RowState::Troubled => "broken",
            _ => "idle",
        }
    }

    /// Whether a QEMU process exists for the VM.
    pub fn is_active(self) -> bool {
        !matches!(self, RowState::Stopped | RowState::Unknown)
    }
}

/// What can be done to one VM from its row menu or its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmAction {
    Start,
    Pause,
    Resume,
    /// ACPI power button (forced off after a while if the guest does not react).
    ShutDown,
    ForceOff,
    Reset,
    Clone,
    TakeSnapshot,
    Delete,
}

impl VmAction {
    /// Every action, in menu order.
    pub const ALL: [VmAction; 9] = [
        VmAction::Start,
        VmAction::Pause,
        VmAction::Resume,
        VmAction::ShutDown,
        VmAction::ForceOff,
        VmAction::Reset,
        VmAction::Clone,
        VmAction::TakeSnapshot,
        VmAction::Delete,
    ];

    /// Name of the `gio::Action` (in the `row` and `vm` groups).
    pub fn action_name(self) -> &'static str {
        match self {
            VmAction::Start => "start",
            VmAction::Pause => "pause",
            VmAction::Resume => "resume",
            VmAction::ShutDown => "shut-down",
            VmAction::ForceOff => "force-off",
            VmAction::Reset => "reset",
            VmAction::Clone => "clone",
            VmAction::TakeSnapshot => "take-snapshot",
            VmAction::Delete => "delete",
        }
    }

    /// Translated menu label, with mnemonic.
    pub fn label(self) -> String {
        match self {
            VmAction::Start => gettext("_Start"),
            VmAction::Pause => gettext("_Pause"),
            VmAction::Resume => gettext("_Resume"),
            VmAction::ShutDown => gettext("S_hut Down"),
            VmAction::ForceOff => gettext("_Force Off"),
            VmAction::Reset => gettext("R_eset"),
            VmAction::Clone => gettext("_Clone…"),
            VmAction::TakeSnapshot => gettext("_Take Snapshot…"),
            VmAction::Delete => gettext("_Delete…"),
        }
    }

    /// Whether the action makes sense for a VM in `state`; `broken` VMs can only be deleted.
    pub fn enabled(self, state: RowState, broken: bool) -> bool {
        use RowState as S;
        if broken {
            return self == VmAction::Delete;
        }
        match self {
            VmAction::Start | VmAction::Clone | VmAction::Delete => state == S::Stopped,
            VmAction::Pause => state == S::Running,
            VmAction::Resume => state == S::Paused,
            VmAction::ShutDown | VmAction::Reset => {
                matches!(state, S::Running | S::Paused | S::Troubled)
            }
            VmAction::ForceOff => state.is_active(),
            VmAction::TakeSnapshot => matches!(state, S::Running | S::Paused),
        }
    }
}

/// Long-running work on a VM (clone, snapshot), shown in its row instead of the state.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    /// What is being done, translated ("Cloning to “x”").
    pub text: String,
    /// Progress from 0 to 1 when known.
    pub fraction: Option<f64>,
}

/// One row of the library list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmRow {
    /// The VM's name, which is also its folder name and its key in the list.
    pub name: String,
    /// Operating system name ("Debian 12"), or its osinfo short id when the name is unknown;
    /// empty when the VM says nothing.
    pub os: String,
    /// Current run state; ignored while the VM is broken.
    pub state: RowState,
    /// Why the VM cannot be used (its vm.toml does not load); `None` when it is fine.
    pub error: Option<String>,
    /// The last picture of its screen ([`THUMBNAIL_FILE`]), when there is one.
    pub thumbnail: Option<gdk::Texture>,
}

impl VmRow {
    /// A VM that loads fine.
    pub fn new(name: impl Into<String>, os: impl Into<String>, state: RowState) -> Self {
        VmRow {
            name: name.into(),
            os: os.into(),
            state,
            error: None,
            thumbnail: None,
        }
    }

    /// A VM whose configuration cannot be used, with the reason.
    pub fn broken(name: impl Into<String>, error: impl Into<String>) -> Self {
        VmRow {
            name: name.into(),
            state: RowState::Unknown,
            error: Some(error.into()),
            ..VmRow::default()
        }
    }

    /// Whether the VM's configuration cannot be used.
    pub fn is_broken(&self) -> bool {
        self.error.is_some()
    }

    /// Translated state label ("Running", or "Broken" for a broken VM).
    pub fn state_label(&self) -> String {
        if self.is_broken() {
            gettext("Broken")
        } else {
            self.state.label()
        }
    }

    /// Second line of the row: "OS · State" (or "OS · busy text"), or the first line of the
    /// error when broken.
    pub fn subtitle(&self, busy: Option<&Busy>) -> String {
        if let Some(error) = &self.error {
            let first_line = error.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            return i18n_f("Broken: {}", &[&shorten(first_line, 90)]);
        }
        let status = match busy {
            Some(Busy {
                text,
                fraction: Some(f),
            }) => format!("{text} — {:.0} %", (f * 100.0).clamp(0.0, 100.0)),
            Some(Busy { text, fraction: None }) => text.clone(),
            None => self.state_label(),
        };
        if self.os.is_empty() {
            status
        } else {
            format!("{} · {status}", self.os)
        }
    }

    /// Sort key of the list: case-insensitive name, then the exact name (as hangar-core sorts).
    pub fn sort_key(&self) -> (String, String) {
        (self.name.to_lowercase(), self.name.clone())
    }
}

/// Rows for `infos`: `os_name` turns an osinfo short id into a name (None: unknown id, the id
/// is shown), `thumbnail` loads the picture of a VM folder.
pub fn rows_from(
    infos: &[VmInfo],
    os_name: impl Fn(&str) -> Option<String>,
    thumbnail: impl Fn(&std::path::Path) -> Option<gdk::Texture>,
) -> Vec<VmRow> {
    let mut rows: Vec<VmRow> = infos
        .iter()
        .map(|info| match &info.entry.config {
            Ok(config) => {
                let os = config
                    .os
                    .as_deref()
                    .map(|id| os_name(id).unwrap_or_else(|| id.to_owned()))
                    .unwrap_or_default();
                VmRow {
                    thumbnail: thumbnail(&info.entry.dir),
                    ..VmRow::new(&info.entry.name, os, info.state.into())
                }
            }
            Err(err) => VmRow::broken(&info.entry.name, err.to_string()),
        })
        .collect();
    rows.sort_by_key(VmRow::sort_key);
    rows
}

/// One step turning the old list of names into the new one (see [`merge_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Remove the item at this position.
    Remove(usize),
    /// Replace the data of the item at this position with the new list's entry there.
    Update(usize),
    /// Insert the new list's entry at this position.
    Insert(usize),
}

/// Edits that turn `old` into `new` while keeping the items whose name stays (so their
/// widgets, focus and open menus survive a refresh). Both lists are sorted the same way;
/// applied in order, each index refers to the list as it is after the previous edits.
pub fn merge_plan(old: &[&str], new: &[&str]) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut kept: Vec<&str> = Vec::new();
    // Removals from the back, so earlier indices stay valid.
    for (index, name) in old.iter().enumerate().rev() {
        if new.contains(name) {
            kept.push(name);
        } else {
            edits.push(Edit::Remove(index));
        }
    }
    kept.reverse();
    // The kept items are in the new list's order: walking it, each position either holds
    // its item already or gets it inserted.
    for (at, name) in new.iter().enumerate() {
        if kept.get(at) == Some(name) {
            edits.push(Edit::Update(at));
        } else {
            edits.push(Edit::Insert(at));
            kept.insert(at, name);
        }
    }
    edits
}

/// Cuts `text` to at most `max` characters, ending with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_core::config::VmConfig;
    use hangar_core::store::VmEntry;
    use std::path::PathBuf;

    #[test]
    fn subtitle_joins_os_and_state_or_busy_text() {
        let row = VmRow::new("a", "Debian 12", RowState::Running);
        assert_eq!(row.subtitle(None), "Debian 12 · Running");
        assert_eq!(VmRow::new("a", "", RowState::Stopped).subtitle(None), "Stopped");
        let busy = Busy {
            text: "Cloning".into(),
            fraction: Some(0.424),
        };
        assert_eq!(row.subtitle(Some(&busy)), "Debian 12 · Cloning — 42 %");
        let busy = Busy {
            text: "Saving".into(),
            fraction: None,
        };
        assert_eq!(row.subtitle(Some(&busy)), "Debian 12 · Saving");
    }

    #[test]
    fn broken_rows_show_the_first_error_line_shortened() {
        let row = VmRow::broken("b", "\nTOML parse error at line 1, column 5\n  |\n1 | x = \n");
        assert!(row.is_broken());
        assert_eq!(row.subtitle(None), "Broken: TOML parse error at line 1, column 5");
        assert_eq!(row.state_label(), "Broken");
        let long = VmRow::broken("c", "x".repeat(200));
        assert_eq!(long.subtitle(None).chars().count(), "Broken: ".len() + 90);
        assert!(long.subtitle(None).ends_with('…'));
    }

    #[test]
    fn core_states_map_to_row_states() {
        assert_eq!(RowState::from(VmState::ShuttingDown), RowState::Stopping);
        assert_eq!(RowState::from(VmState::Other), RowState::Troubled);
        assert_eq!(RowState::from(VmState::Running), RowState::Running);
        for state in [
            RowState::Stopped,
            RowState::Starting,
            RowState::Running,
            RowState::Paused,
            RowState::Stopping,
            RowState::Troubled,
            RowState::Unknown,
        ] {
            assert!(state.icon_name().ends_with("-symbolic"));
            assert!(!state.label().is_empty());
        }
    }

    #[test]
    fn actions_follow_the_state() {
        use RowState as S;
        use VmAction as A;
        let enabled =
            |state, broken| -> Vec<A> { A::ALL.into_iter().filter(|a| a.enabled(state, broken)).collect() };
        assert_eq!(enabled(S::Stopped, false), [A::Start, A::Clone, A::Delete]);
        assert_eq!(
            enabled(S::Running, false),
            [A::Pause, A::ShutDown, A::ForceOff, A::Reset, A::TakeSnapshot]
        );
        assert_eq!(
            enabled(S::Paused, false),
            [A::Resume, A::ShutDown, A::ForceOff, A::Reset, A::TakeSnapshot]
        );
        assert_eq!(enabled(S::Stopping, false), [A::ForceOff]);
        assert_eq!(enabled(S::Starting, false), [A::ForceOff]);
        assert_eq!(enabled(S::Unknown, true), [A::Delete]);
        let names: std::collections::HashSet<_> = A::ALL.iter().map(|a| a.action_name()).collect();
        assert_eq!(names.len(), A::ALL.len());
    }

    fn info(name: &str, os: Option<&str>, state: VmState) -> VmInfo {
        let mut config = VmConfig::new(name);
        config.os = os.map(str::to_owned);
        VmInfo {
            entry: VmEntry {
                name: name.into(),
                dir: PathBuf::from("/vms").join(name),
                config: Ok(config),
            },
            state,
            pid: None,
        }
    }

    #[test]
    fn rows_name_the_os_or_fall_back_to_its_id_and_sort_like_the_core() {
        let mut broken = info("Zed", None, VmState::Stopped);
        broken.entry.config = Err(hangar_core::config::ConfigError::Invalid {
            field: "memory".into(),
            reason: "too big".into(),
        });
        let infos = [
            info("beta", Some("weird9"), VmState::Running),
            info("Alpha", Some("debian12"), VmState::Paused),
            broken,
            info("gamma", None, VmState::Other),
        ];
        let rows = rows_from(
            &infos,
            |id| (id == "debian12").then(|| "Debian 12".to_owned()),
            |_| None,
        );
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Alpha", "beta", "gamma", "Zed"]);
        assert_eq!(rows[0].os, "Debian 12");
        assert_eq!(rows[0].state, RowState::Paused);
        assert_eq!(rows[1].os, "weird9");
        assert_eq!(rows[2].os, "");
        assert_eq!(rows[2].state, RowState::Troubled);
        assert!(rows[3].is_broken());
        assert_eq!(rows[3].subtitle(None), "Broken: memory: too big");
    }

    /// Applies `merge_plan` to a plain list, as the library applies it to its rows.
    fn apply(old: &[&str], new: &[&str]) -> (Vec<String>, usize) {
        let mut list: Vec<String> = old.iter().map(|s| s.to_string()).collect();
        let mut inserts = 0;
        for edit in merge_plan(old, new) {
            match edit {
                Edit::Remove(i) => {
                    list.remove(i);
                }
                Edit::Update(at) => assert_eq!(list[at], new[at], "update hits its item"),
                Edit::Insert(at) => {
                    list.insert(at, new[at].to_string());
                    inserts += 1;
                }
            }
        }
        (list, inserts)
    }

    #[test]
    fn merge_keeps_surviving_items_and_reaches_the_new_list() {
        let cases: [(&[&str], &[&str]); 6] = [
            (&[], &["a", "b"]),
            (&["a", "b"], &[]),
            (&["a", "b", "c"], &["a", "c"]),
            (&["a", "c"], &["a", "b", "c", "d"]),
            (&["b", "d"], &["a", "c", "e"]),
            (&["a", "b", "c"], &["a", "b", "c"]),
        ];
        for (old, new) in cases {
            let (list, inserts) = apply(old, new);
            assert_eq!(list, new, "{old:?} -> {new:?}");
            let kept = new.iter().filter(|n| old.contains(n)).count();
            assert_eq!(inserts, new.len() - kept, "only new names are inserted");
        }
    }
}
