//! The one error type the GUI and the CLI see from the manager.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::host::HostError;
use crate::qemu::argv::ArgvError;
use crate::qemu::process::ProcessError;
use crate::qmp::QmpError;
use crate::storage::StorageError;
use crate::store::StoreError;

/// Everything that can go wrong when managing a VM, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Argv(#[from] ArgvError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{name}: {source}")]
    Qmp {
        name: String,
        #[source]
        source: QmpError,
    },
    #[error("VM {0:?} is not running; start it with `hangarctl start {0}`")]
    NotRunning(String),
    #[error("VM {0:?} is running; shut it down first (`hangarctl stop {0}`)")]
    Running(String),
    #[error("QEMU could not start VM {name:?}{}:\n{output}", status.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    StartFailed {
        name: String,
        status: Option<String>,
        output: String,
    },
    #[error("VM {name:?} did not answer on its control socket within {seconds} s; see {log}")]
    StartTimeout {
        name: String,
        seconds: u64,
        log: PathBuf,
    },
    #[error("the {what} {path} does not exist; choose another file or fix the path in vm.toml")]
    MissingFile { what: &'static str, path: PathBuf },
    #[error(
        "the {what} {path} cannot be opened ({reason}); check its permissions (ls -l) or choose another file"
    )]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Unsupported(String),
}

impl ManagerError {
    pub(crate) fn qmp(name: &str) -> impl FnOnce(QmpError) -> ManagerError + '_ {
        move |source| ManagerError::Qmp {
            name: name.to_string(),
            source,
        }
    }
}

/// Result of manager operations.
pub type Result<T, E = ManagerError> = std::result::Result<T, E>;
