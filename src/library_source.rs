//! Stand-in source of the VM list while hangar-core's store and manager are being written.
//!
//! It lists the VM folder (`$HANGAR_HOME`, else the `vm-folder` setting, else hangar-core's
//! default): every sub-folder holding a `vm.toml` is a VM; a `vm.toml` that cannot be read or
//! is not valid TOML makes the VM "broken". A VM counts as running when its QEMU pidfile (in
//! hangar-core's runtime folder) names a live `qemu*` process. The whole module is meant to be
//! replaced by calls into hangar-core; nothing else in the GUI reads VM folders.

use std::cell::Cell;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use gtk::prelude::*;
use gtk::{gio, glib};
use hangar_core::paths::Paths;

use crate::i18n::{gettext, i18n_f};
use crate::model::{RowState, VmRow};

/// File that makes a folder a VM.
pub const CONFIG_FILE: &str = "vm.toml";

/// Delay between a change in the VM folder and the rescan.
const WATCH_DELAY: Duration = Duration::from_millis(400);

/// Longest VM name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A name that cannot be used for a new VM folder. Messages are translated: the New Virtual
/// Machine dialog shows them under the name field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum NameError {
    Empty,
    Slash,
    LeadingDot,
    Control,
    TooLong,
}

impl NameError {
    /// What is wrong and how to fix it, translated.
    pub fn message(&self) -> String {
        match self {
            NameError::Empty => gettext("Type a name for the virtual machine."),
            NameError::Slash => gettext("Names cannot contain “/”. Use another character."),
            NameError::LeadingDot => gettext("Names cannot start with a dot. Remove the leading dot."),
            NameError::Control => gettext("Names cannot contain control characters. Remove them."),
            NameError::TooLong => gettext("This name is too long. Use at most 64 characters."),
        }
    }
}

/// What can go wrong while listing or creating VMs.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error(
        "cannot read the virtual machine folder {path}: {source}. Check that you may read it, \
         or choose another folder in Preferences"
    )]
    ReadFolder { path: PathBuf, source: std::io::Error },
    #[error("a virtual machine named “{name}” already exists in {folder}; choose another name")]
    Exists { name: String, folder: PathBuf },
    #[error("{0}")]
    InvalidName(#[from] NameError),
    #[error("cannot create the folder {path}: {source}. Check free space and permissions")]
    CreateFolder { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}. Check free space and permissions")]
    WriteConfig { path: PathBuf, source: std::io::Error },
}

/// The folders to use: `HANGAR_HOME` wins, then a non-empty `vm-folder` setting, then
/// hangar-core's default. The runtime folder always comes from hangar-core.
pub fn resolve_paths(vm_folder_setting: &str) -> Paths {
    let env = Paths::from_env();
    let home_set = std::env::var_os("HANGAR_HOME").is_some_and(|v| !v.is_empty());
    resolve_with(env, home_set, vm_folder_setting)
}

fn resolve_with(env: Paths, hangar_home_set: bool, vm_folder_setting: &str) -> Paths {
    let setting = vm_folder_setting.trim();
    if hangar_home_set || setting.is_empty() {
        env
    } else {
        Paths::new(setting, env.runtime)
    }
}

/// Whether `HANGAR_HOME` overrides the `vm-folder` setting.
pub fn folder_from_environment() -> bool {
    std::env::var_os("HANGAR_HOME").is_some_and(|v| !v.is_empty())
}

/// Lists the VMs of `paths.vms`, sorted by name. A missing folder is an empty library.
pub fn scan(paths: &Paths) -> Result<Vec<VmRow>, LibraryError> {
    let entries = match std::fs::read_dir(&paths.vms) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LibraryError::ReadFolder {
                path: paths.vms.clone(),
                source,
            })
        }
    };
    let mut rows = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LibraryError::ReadFolder {
            path: paths.vms.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let config = entry.path().join(CONFIG_FILE);
        if !config.exists() {
            continue;
        }
        rows.push(read_vm(paths, &name, &config));
    }
    rows.sort_by_key(|row| row.name.to_lowercase());
    Ok(rows)
}

fn read_vm(paths: &Paths, name: &str, config: &Path) -> VmRow {
    let text = match std::fs::read_to_string(config) {
        Ok(text) => text,
        Err(err) => {
            let what = i18n_f("{} cannot be read.", &[CONFIG_FILE]);
            return VmRow::broken(name, format!("{what}\n{err}\nFile: {}", config.display()));
        }
    };
    match text.parse::<toml::Table>() {
        Ok(table) => {
            let os = table.get("os").and_then(toml::Value::as_str).unwrap_or_default();
            VmRow::new(name, os, run_state(paths, name))
        }
        Err(err) => {
            let what = i18n_f("{} is not valid TOML.", &[CONFIG_FILE]);
            VmRow::broken(
                name,
                format!(
                    "{what}\n{}\nFile: {}",
                    err.to_string().trim_end(),
                    config.display()
                ),
            )
        }
    }
}

/// Running when the pidfile names a live QEMU process, stopped otherwise.
fn run_state(paths: &Paths, name: &str) -> RowState {
    let pidfile = paths.runtime_for(name).pidfile;
    let Ok(text) = std::fs::read_to_string(&pidfile) else {
        return RowState::Stopped;
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return RowState::Stopped;
    };
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) if comm.trim_start().starts_with("qemu") => RowState::Running,
        _ => RowState::Stopped,
    }
}

/// Checks a name for a new VM and returns it without surrounding spaces.
pub fn validate_name(name: &str) -> Result<&str, NameError> {
    let name = name.trim();
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.contains('/') {
        Err(NameError::Slash)
    } else if name.starts_with('.') {
        Err(NameError::LeadingDot)
    } else if name.chars().any(char::is_control) {
        Err(NameError::Control)
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err(NameError::TooLong)
    } else {
        Ok(name)
    }
}

/// Creates the folder of a new VM with a `vm.toml` holding its name; returns the folder.
pub fn create(paths: &Paths, name: &str) -> Result<PathBuf, LibraryError> {
    let name = validate_name(name)?;
    std::fs::create_dir_all(&paths.vms).map_err(|source| LibraryError::CreateFolder {
        path: paths.vms.clone(),
        source,
    })?;
    let dir = paths.vm_dir(name);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            return Err(LibraryError::Exists {
                name: name.to_owned(),
                folder: paths.vms.clone(),
            })
        }
        Err(source) => return Err(LibraryError::CreateFolder { path: dir, source }),
    }
    let mut table = toml::Table::new();
    table.insert("name".to_owned(), toml::Value::String(name.to_owned()));
    let config = dir.join(CONFIG_FILE);
    std::fs::write(&config, table.to_string())
        .map_err(|source| LibraryError::WriteConfig { path: config, source })?;
    tracing::info!(folder = %dir.display(), "created virtual machine folder");
    Ok(dir)
}

/// Calls `on_change` shortly after a VM folder appears in or leaves `folder` (bursts of events
/// are coalesced, and the delay lets a new folder receive its `vm.toml`). Returns the monitor,
/// which must be kept alive, or `None` (logged) when the folder cannot be watched.
pub fn watch(folder: &Path, on_change: impl Fn() + 'static) -> Option<gio::FileMonitor> {
    let file = gio::File::for_path(folder);
    match file.monitor_directory(gio::FileMonitorFlags::WATCH_MOVES, gio::Cancellable::NONE) {
        Ok(monitor) => {
            let on_change = Rc::new(on_change);
            let pending = Rc::new(Cell::new(false));
            monitor.connect_changed(move |_, _, _, event| {
                use gio::FileMonitorEvent as E;
                let relevant = matches!(
                    event,
                    E::Created | E::Deleted | E::MovedIn | E::MovedOut | E::Renamed
                );
                if relevant && !pending.replace(true) {
                    let (pending, on_change) = (pending.clone(), on_change.clone());
                    glib::timeout_add_local_once(WATCH_DELAY, move || {
                        pending.set(false);
                        on_change();
                    });
                }
            });
            Some(monitor)
        }
        Err(err) => {
            tracing::warn!(
                "cannot watch {} for new virtual machines: {err}",
                folder.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths_in(dir: &Path) -> Paths {
        Paths::new(dir.join("vms"), dir.join("run"))
    }

    fn add_vm(paths: &Paths, folder: &str, config: Option<&str>) {
        let dir = paths.vm_dir(folder);
        std::fs::create_dir_all(&dir).expect("mkdir");
        if let Some(text) = config {
            std::fs::write(dir.join(CONFIG_FILE), text).expect("write");
        }
    }

    #[test]
    fn missing_folder_is_an_empty_library() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(scan(&paths_in(tmp.path())).expect("scan").is_empty());
    }

    #[test]
    fn lists_vm_folders_marks_broken_ones_and_skips_the_rest() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = paths_in(tmp.path());
        add_vm(&paths, "debian", Some("name = \"debian\"\nos = \"Debian 12\"\n"));
        add_vm(&paths, "Broken", Some("name = [unclosed\n"));
        add_vm(&paths, "not-a-vm", None);
        add_vm(&paths, ".hidden", Some("name = \"x\"\n"));
        std::fs::write(paths.vms.join("stray.toml"), "x = 1").expect("write");

        let rows = scan(&paths).expect("scan");
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Broken", "debian"]);
        assert!(rows[0].is_broken());
        assert!(rows[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not valid TOML")));
        assert!(!rows[1].is_broken());
        assert_eq!(rows[1].os, "Debian 12");
        assert_eq!(rows[1].state, RowState::Stopped);
    }

    #[test]
    fn a_live_qemu_pidfile_means_running() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = paths_in(tmp.path());
        add_vm(&paths, "vm", Some("name = \"vm\"\n"));
        let runtime = paths.runtime_for("vm");
        std::fs::create_dir_all(&runtime.dir).expect("mkdir");
        // Our own pid is alive but is not QEMU: stopped.
        std::fs::write(&runtime.pidfile, std::process::id().to_string()).expect("write");
        assert_eq!(scan(&paths).expect("scan")[0].state, RowState::Stopped);
        std::fs::write(&runtime.pidfile, "not a pid").expect("write");
        assert_eq!(scan(&paths).expect("scan")[0].state, RowState::Stopped);
    }

    #[test]
    fn unreadable_folder_is_an_error_that_says_what_to_do() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("file");
        std::fs::write(&file, "").expect("write");
        let paths = Paths::new(&file, tmp.path());
        let err = scan(&paths).expect_err("a file is not a folder");
        assert!(err.to_string().contains("choose another folder"), "{err}");
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(validate_name("  My VM "), Ok("My VM"));
        assert_eq!(validate_name("   "), Err(NameError::Empty));
        assert_eq!(validate_name("a/b"), Err(NameError::Slash));
        assert_eq!(validate_name(".vm"), Err(NameError::LeadingDot));
        assert_eq!(validate_name("a\tb"), Err(NameError::Control));
        assert_eq!(validate_name(&"é".repeat(64)).map(str::len), Ok(128));
        assert_eq!(validate_name(&"é".repeat(65)), Err(NameError::TooLong));
    }

    #[test]
    fn create_writes_a_loadable_vm_and_refuses_duplicates() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = paths_in(tmp.path());
        let dir = create(&paths, "Fedora \"Workstation\"").expect("create");
        let rows = scan(&paths).expect("scan");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "Fedora \"Workstation\"");
        assert!(!rows[0].is_broken(), "{:?}", rows[0].error);
        let text = std::fs::read_to_string(dir.join(CONFIG_FILE)).expect("read");
        assert_eq!(
            text.parse::<toml::Table>().expect("toml")["name"].as_str(),
            Some("Fedora \"Workstation\"")
        );
        assert!(matches!(
            create(&paths, "Fedora \"Workstation\""),
            Err(LibraryError::Exists { .. })
        ));
        assert!(matches!(
            create(&paths, ""),
            Err(LibraryError::InvalidName(NameError::Empty))
        ));
    }

    #[test]
    fn environment_wins_over_the_setting() {
        let env = Paths::new("/env/vms", "/run/h");
        assert_eq!(
            resolve_with(env.clone(), true, "/setting").vms,
            PathBuf::from("/env/vms")
        );
        assert_eq!(
            resolve_with(env.clone(), false, "  ").vms,
            PathBuf::from("/env/vms")
        );
        let chosen = resolve_with(env, false, "/setting");
        assert_eq!(chosen.vms, PathBuf::from("/setting"));
        assert_eq!(chosen.runtime, PathBuf::from("/run/h"));
    }
}
