//! The one error type the window shows to people. Every failure that reaches the UI is turned
//! into a [`UserError`] and sent as [`crate::app::AppMsg::Error`].

use std::error::Error;

/// A failure worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    /// One short translated sentence: what failed ("Could not load the virtual machines").
    pub summary: String,
    /// What happened and what to do; may be long and span lines. Empty when there is nothing
    /// more to say.
    pub details: String,
}

impl UserError {
    pub fn new(summary: impl Into<String>, details: impl Into<String>) -> Self {
        UserError {
            summary: summary.into(),
            details: details.into(),
        }
    }

    /// `summary` with the error and its chain of causes as details.
    pub fn from_error(summary: impl Into<String>, err: &(dyn Error + 'static)) -> Self {
        let mut details = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !details.contains(&text) {
                details.push('\n');
                details.push_str(&text);
            }
            source = cause.source();
        }
        UserError {
            summary: summary.into(),
            details,
        }
    }

    /// Whether the details need a dialog rather than fitting in a toast.
    pub fn needs_dialog(&self) -> bool {
        self.details.lines().count() > 1 || self.details.chars().count() > 120
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failure")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn details_follow_the_cause_chain_without_repeats() {
        let err = Outer(std::io::Error::other("disk on fire"));
        let user = UserError::from_error("Could not save", &err);
        assert_eq!(user.summary, "Could not save");
        assert_eq!(user.details, "outer failure\ndisk on fire");
        assert!(user.needs_dialog());
    }

    #[test]
    fn short_single_line_details_fit_a_toast() {
        assert!(!UserError::new("Failed", "The folder is read-only.").needs_dialog());
        assert!(!UserError::new("Failed", "").needs_dialog());
        assert!(UserError::new("Failed", "y".repeat(121)).needs_dialog());
    }
}
