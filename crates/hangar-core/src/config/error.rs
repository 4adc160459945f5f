//! Errors of the configuration model. Each names the field and says what to do.

use std::path::PathBuf;

/// Why a `vm.toml` or an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML or does not match the model.
    #[error("{file}:{line}:{column}: {reason}. Fix the file by hand or with `hangarctl edit`.")]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },

    /// The VM name breaks the naming rules.
    #[error("invalid VM name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },

    /// A number is outside what QEMU and Hangar accept.
    #[error("{field} = {value} is out of range: use a value from {min} to {max}{unit}")]
    OutOfRange {
        field: String,
        value: u64,
        min: u64,
        max: u64,
        unit: &'static str,
    },

    /// A field holds a value that cannot work.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },

    /// Two devices share an id.
    #[error("{field}: the id {id:?} is used twice; give every device its own id")]
    DuplicateId { field: String, id: String },

    /// An edit names a device that does not exist.
    #[error("there is no {kind} with id {id:?}; `hangarctl status` lists the devices of a VM")]
    NoSuchDevice { kind: &'static str, id: String },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The config field this error is about, for showing the message beside that field.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { .. } | ConfigError::NoSuchDevice { .. } => None,
            ConfigError::InvalidName { .. } => Some("name"),
            ConfigError::OutOfRange { field, .. }
            | ConfigError::Invalid { field, .. }
            | ConfigError::DuplicateId { field, .. } => Some(field),
        }
    }
}
