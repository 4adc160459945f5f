//! What the window shows about one virtual machine. Plain data: whatever produces the VM list
//! (today [`crate::library_source`], later hangar-core's store and manager) fills these in and
//! sends them with [`crate::app::AppMsg::SetVms`] or [`crate::app::AppMsg::UpdateVm`].

use crate::i18n::{gettext, i18n_f};

/// Run state of a virtual machine, as far as the library list cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowState {
    #[default]
    Stopped,
    Starting,
    Running,
    Paused,
    Stopping,
    /// The state could not be determined (for example the QMP socket does not answer).
    Unknown,
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
            RowState::Unknown => gettext("State Unknown"),
        }
    }

    /// Symbolic icon shown at the end of the row.
    pub fn icon_name(self) -> &'static str {
        match self {
            RowState::Stopped => "media-playback-stop-symbolic",
            RowState::Starting | RowState::Stopping => "content-loading-symbolic",
            RowState::Running => "media-playback-start-symbolic",
            RowState::Paused => "media-playback-pause-symbolic",
            RowState::Unknown => "dialog-question-symbolic",
        }
    }

    /// CSS class of the state icon (see `data/resources/style.css`).
    pub fn css_class(self) -> &'static str {
        match self {
            RowState::Running => "running",
            RowState::Paused => "paused",
            _ => "idle",
        }
    }
}

/// One row of the library list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmRow {
    /// The VM's name, which is also its folder name and its key in the list.
    pub name: String,
    /// Operating system description ("Debian 12"); empty when unknown.
    pub os: String,
    /// Current run state; ignored while the VM is broken.
    pub state: RowState,
    /// Why the VM cannot be used (its vm.toml does not load); `None` when it is fine.
    pub error: Option<String>,
}

impl VmRow {
    /// A VM that loads fine.
    pub fn new(name: impl Into<String>, os: impl Into<String>, state: RowState) -> Self {
        VmRow {
            name: name.into(),
            os: os.into(),
            state,
            error: None,
        }
    }

    /// A VM whose configuration cannot be used, with the reason.
    pub fn broken(name: impl Into<String>, error: impl Into<String>) -> Self {
        VmRow {
            name: name.into(),
            os: String::new(),
            state: RowState::Unknown,
            error: Some(error.into()),
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

    /// Second line of the row: "OS · State", or the first line of the error when broken.
    pub fn subtitle(&self) -> String {
        if let Some(error) = &self.error {
            let first_line = error.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            return i18n_f("Broken: {}", &[&shorten(first_line, 90)]);
        }
        if self.os.is_empty() {
            self.state_label()
        } else {
            format!("{} · {}", self.os, self.state_label())
        }
    }
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

    #[test]
    fn subtitle_joins_os_and_state() {
        assert_eq!(
            VmRow::new("a", "Debian 12", RowState::Running).subtitle(),
            "Debian 12 · Running"
        );
        assert_eq!(VmRow::new("a", "", RowState::Stopped).subtitle(), "Stopped");
    }

    #[test]
    fn broken_rows_show_the_first_error_line_shortened() {
        let row = VmRow::broken("b", "\nTOML parse error at line 1, column 5\n  |\n1 | x = \n");
        assert!(row.is_broken());
        assert_eq!(row.subtitle(), "Broken: TOML parse error at line 1, column 5");
        assert_eq!(row.state_label(), "Broken");
        let long = VmRow::broken("c", "x".repeat(200));
        assert_eq!(long.subtitle().chars().count(), "Broken: ".len() + 90);
        assert!(long.subtitle().ends_with('…'));
    }

    #[test]
    fn every_state_has_an_icon_and_label() {
        for state in [
            RowState::Stopped,
            RowState::Starting,
            RowState::Running,
            RowState::Paused,
            RowState::Stopping,
            RowState::Unknown,
        ] {
            assert!(state.icon_name().ends_with("-symbolic"));
            assert!(!state.label().is_empty());
        }
    }
}
