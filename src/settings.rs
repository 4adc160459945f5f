//! GSettings access that never aborts when the schema is not installed.
//!
//! GLib aborts the process on `g_settings_new()` with an unknown schema, so the schema is looked
//! up first. Installed (`make install`, Flatpak, distribution package): the default backend
//! (dconf) is used. Not installed (`cargo run`, tests): the schema compiled and embedded by
//! `build.rs` is loaded and values are kept in a key file under `$XDG_CONFIG_HOME/hangar/`.
//! If even that fails, the application runs with defaults and says settings are not saved.

use std::fmt;
use std::path::{Path, PathBuf};

use gtk::prelude::*;
use gtk::{gio, glib};

use crate::config::APP_ID;

/// `gschemas.compiled` made by `build.rs` from `data/org.hangar.Hangar.gschema.xml`.
static COMPILED_SCHEMA: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/schemas/gschemas.compiled"));

/// Setting keys, one constant per key of the schema.
pub mod keys {
    pub const WINDOW_WIDTH: &str = "window-width";
    pub const WINDOW_HEIGHT: &str = "window-height";
    pub const WINDOW_MAXIMIZED: &str = "window-maximized";
    pub const VM_FOLDER: &str = "vm-folder";
    pub const RELEASE_CHORD: &str = "release-chord";
    pub const FULLSCREEN_KEY: &str = "fullscreen-key";
    pub const CONFIRM_FORCE_OFF: &str = "confirm-force-off";
    pub const DEFAULT_ACCEL: &str = "default-accel";
}

/// Where the values live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// Installed schema, default backend (dconf on a desktop).
    System,
    /// Embedded schema, values in this key file.
    KeyFile(PathBuf),
    /// Embedded schema, values kept in memory only (the key file could not be used).
    Memory,
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backing::System => f.write_str("installed schema, default backend"),
            Backing::KeyFile(path) => write!(f, "embedded schema, key file {}", path.display()),
            Backing::Memory => f.write_str("embedded schema, memory (not saved)"),
        }
    }
}

/// Why the embedded schema could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot create a temporary folder for the settings schema in {0}; check that it is writable")]
    TempDir(PathBuf),
    #[error("cannot write the settings schema to {path} ({source}); check free space and permissions")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the embedded settings schema is unreadable ({0}); rebuild Hangar")]
    Load(glib::Error),
    #[error("the embedded settings schema lacks {APP_ID}; rebuild Hangar")]
    Missing,
}

/// The application's settings, or `None` when no schema at all could be loaded.
#[derive(Clone, Debug)]
pub struct Prefs {
    settings: Option<gio::Settings>,
    backing: Option<Backing>,
}

impl Prefs {
    /// Opens the settings as described in the module documentation.
    pub fn load() -> Self {
        let installed = gio::SettingsSchemaSource::default().and_then(|src| src.lookup(APP_ID, true));
        if installed.is_some() {
            tracing::debug!("using the installed GSettings schema");
            return Prefs {
                settings: Some(gio::Settings::new(APP_ID)),
                backing: Some(Backing::System),
            };
        }
        match embedded_schema() {
            Ok(schema) => {
                let (backend, backing) = fallback_backend();
                tracing::info!("settings schema not installed; using {backing}");
                let settings = gio::Settings::new_full(&schema, Some(&backend), None);
                Prefs {
                    settings: Some(settings),
                    backing: Some(backing),
                }
            }
            Err(err) => {
                tracing::error!("settings are unavailable and will not be saved: {err}");
                Prefs {
                    settings: None,
                    backing: None,
                }
            }
        }
    }

    /// The underlying settings, for bindings (preferences window).
    pub fn settings(&self) -> Option<&gio::Settings> {
        self.settings.as_ref()
    }

    /// Human-readable description for the About window's debug information.
    pub fn describe(&self) -> String {
        match &self.backing {
            Some(backing) => backing.to_string(),
            None => "unavailable (defaults, not saved)".to_owned(),
        }
    }

    /// Saved window geometry: (width, height, maximized).
    pub fn window_state(&self) -> (i32, i32, bool) {
        match &self.settings {
            Some(s) => (
                s.int(keys::WINDOW_WIDTH),
                s.int(keys::WINDOW_HEIGHT),
                s.boolean(keys::WINDOW_MAXIMIZED),
            ),
            None => (880, 620, false),
        }
    }

    /// Remembers the geometry of `window`; the unmaximized size is kept when it is maximized.
    pub fn save_window_state(&self, window: &impl IsA<gtk::Window>) {
        let Some(settings) = &self.settings else { return };
        let window = window.as_ref();
        let maximized = window.is_maximized();
        let mut result = settings.set_boolean(keys::WINDOW_MAXIMIZED, maximized);
        if !maximized {
            let (width, height) = window.default_size();
            result = result
                .and_then(|()| settings.set_int(keys::WINDOW_WIDTH, width))
                .and_then(|()| settings.set_int(keys::WINDOW_HEIGHT, height));
        }
        if let Err(err) = result {
            tracing::warn!("cannot remember the window size: {err}");
        }
        gio::Settings::sync();
    }

    /// The `vm-folder` setting (empty: default folder).
    pub fn vm_folder(&self) -> String {
        self.settings
            .as_ref()
            .map(|s| s.string(keys::VM_FOLDER).to_string())
            .unwrap_or_default()
    }
}

/// Loads the schema embedded at build time. GLib only reads schemas from a folder, so the file
/// is written to a fresh private temporary folder, loaded, and removed again.
fn embedded_schema() -> Result<gio::SettingsSchema, SettingsError> {
    let tmp = glib::tmp_dir();
    let dir = glib::mkdtemp(tmp.join("hangar-schema-XXXXXX")).ok_or_else(|| SettingsError::TempDir(tmp))?;
    let result = load_schema_from(&dir);
    if let Err(err) = std::fs::remove_dir_all(&dir) {
        tracing::warn!("cannot remove the temporary folder {}: {err}", dir.display());
    }
    result
}

fn load_schema_from(dir: &Path) -> Result<gio::SettingsSchema, SettingsError> {
    let file = dir.join("gschemas.compiled");
    std::fs::write(&file, COMPILED_SCHEMA).map_err(|source| SettingsError::Write { path: file, source })?;
    let source = gio::SettingsSchemaSource::from_directory(dir, None, false).map_err(SettingsError::Load)?;
    source.lookup(APP_ID, false).ok_or(SettingsError::Missing)
}

/// Key file under the user's configuration folder, or memory when that folder is unusable.
fn fallback_backend() -> (gio::SettingsBackend, Backing) {
    let dir = glib::user_config_dir().join("hangar");
    match std::fs::create_dir_all(&dir) {
        Ok(()) => {
            let file = dir.join("settings.ini");
            let backend = gio::keyfile_settings_backend_new(
                &file.to_string_lossy(),
                "/org/hangar/Hangar/",
                Some("hangar"),
            );
            (backend, Backing::KeyFile(file))
        }
        Err(err) => {
            tracing::warn!(
                "cannot create {} ({err}); settings will not be saved",
                dir.display()
            );
            (gio::memory_settings_backend_new(), Backing::Memory)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schema_has_every_key_with_the_documented_defaults() {
        let schema = embedded_schema().expect("embedded schema loads");
        let settings = gio::Settings::new_full(&schema, Some(&gio::memory_settings_backend_new()), None);
        assert_eq!(settings.string(keys::RELEASE_CHORD), "Control_L+Alt_L");
        assert_eq!(settings.string(keys::FULLSCREEN_KEY), "F11");
        assert_eq!(settings.string(keys::DEFAULT_ACCEL), "auto");
        assert_eq!(settings.string(keys::VM_FOLDER), "");
        assert!(settings.boolean(keys::CONFIRM_FORCE_OFF));
        assert!(!settings.boolean(keys::WINDOW_MAXIMIZED));
        assert!(settings.int(keys::WINDOW_WIDTH) >= 360);
        assert!(settings.int(keys::WINDOW_HEIGHT) >= 294);
    }

    #[test]
    fn accelerator_choice_is_enforced_by_the_schema() {
        let schema = embedded_schema().expect("embedded schema loads");
        let settings = gio::Settings::new_full(&schema, Some(&gio::memory_settings_backend_new()), None);
        assert!(settings.set_string(keys::DEFAULT_ACCEL, "tcg").is_ok());
        assert!(settings.set_string(keys::DEFAULT_ACCEL, "xen").is_err());
        assert_eq!(settings.string(keys::DEFAULT_ACCEL), "tcg");
    }

    #[test]
    fn key_file_backend_persists_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("settings.ini");
        let schema = embedded_schema().expect("embedded schema loads");
        let backend =
            gio::keyfile_settings_backend_new(&file.to_string_lossy(), "/org/hangar/Hangar/", Some("hangar"));
        let settings = gio::Settings::new_full(&schema, Some(&backend), None);
        settings.set_int(keys::WINDOW_WIDTH, 1234).expect("writable");
        gio::Settings::sync();
        let text = std::fs::read_to_string(&file).expect("key file written");
        assert!(text.contains("window-width=1234"), "key file was:\n{text}");
    }
}
