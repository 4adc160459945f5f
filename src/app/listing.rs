//! Listing the VMs: `manager.list()` in the background, then OS names (osinfo database) and
//! thumbnails loaded off the main thread, then one [`LibraryMsg::SetVms`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use gtk::gdk;
use hangar_core::manager::ManagerError;
use hangar_core::osinfo;
use relm4::{ComponentController, ComponentSender};

use super::{App, AppCmd};
use crate::error::UserError;
use crate::i18n::gettext;
use crate::model::{rows_from, VmRow, THUMBNAIL_FILE};
use crate::ui::library::LibraryMsg;

impl App {
    /// Lists the VMs again; while a list is under way, one more is made after it.
    pub(super) fn relist(&mut self, sender: &ComponentSender<Self>) {
        if self.listing {
            self.relist = true;
            return;
        }
        self.listing = true;
        self.list_generation += 1;
        let generation = self.list_generation;
        let manager = self.manager.clone();
        sender.oneshot_command(async move {
            let result = match manager.list().await {
                Ok(infos) => tokio::task::spawn_blocking(move || {
                    rows_from(&infos, os_name, |dir| load_thumbnail(&dir.join(THUMBNAIL_FILE)))
                })
                .await
                .map_err(|e| ManagerError::Unsupported(format!("listing the VMs failed: {e}"))),
                Err(err) => Err(err),
            };
            AppCmd::Listed { generation, result }
        });
    }

    pub(super) fn listed(
        &mut self,
        generation: u64,
        result: Result<Vec<VmRow>, ManagerError>,
        root: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        self.listing = false;
        if generation == self.list_generation {
            match result {
                Ok(rows) => {
                    tracing::debug!(count = rows.len(), "virtual machines listed");
                    self.states = rows.iter().map(|row| (row.name.clone(), row.state)).collect();
                    if let Some((name, page)) = &self.page {
                        match self.states.get(name) {
                            Some(state) => page.emit(crate::ui::vm_page::VmPageMsg::SetState(*state)),
                            // Deleted or renamed elsewhere: nothing left to show. (A list
                            // begun before the VM was created does not know it yet.)
                            None if !self.manager.store().exists(name) => self.back(root),
                            None => {}
                        }
                    }
                    self.library.emit(LibraryMsg::SetVms(rows));
                }
                Err(err) => {
                    self.library.emit(LibraryMsg::SetVms(Vec::new()));
                    self.report(
                        root,
                        UserError::from_error(gettext("Could not list the virtual machines"), &err),
                    );
                }
            }
        }
        if std::mem::take(&mut self.relist) {
            self.relist(sender);
        }
    }
}

/// The name of an osinfo short id, from the system's osinfo database (loaded once, here on a
/// worker thread). `None` when the database or the id is unknown: the id is shown instead.
fn os_name(short_id: &str) -> Option<String> {
    match osinfo::system_db() {
        Ok(db) => db.by_short_id(short_id).map(|entry| entry.name.clone()),
        Err(err) => {
            tracing::debug!("no operating system names: {err}");
            None
        }
    }
}

/// Decoded thumbnails by file, reused while the file keeps its modification time.
fn cache() -> &'static Mutex<HashMap<PathBuf, (SystemTime, gdk::Texture)>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, (SystemTime, gdk::Texture)>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// Loads a thumbnail (safe off the main thread); `None` when there is none or it is unreadable.
pub(super) fn load_thumbnail(file: &Path) -> Option<gdk::Texture> {
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok()?;
    let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((when, texture)) = cache.get(file) {
        if *when == modified {
            return Some(texture.clone());
        }
    }
    match gdk::Texture::from_filename(file) {
        Ok(texture) => {
            cache.insert(file.to_path_buf(), (modified, texture.clone()));
            Some(texture)
        }
        Err(err) => {
            tracing::debug!("cannot load the thumbnail {}: {err}", file.display());
            cache.remove(file);
            None
        }
    }
}
