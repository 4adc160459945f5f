//! What the wizard does with each edit: state changes, file checks, the file chooser and the
//! creation itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use adw::prelude::*;
use gtk::{gio, glib};
use hangar_core::manager::{CreateRequest, Manager};
use hangar_core::osinfo::{detect_info, read_iso_info, system_db};
use relm4::ComponentSender;

use super::model::{Check, ImportedDisk, Page, SourceKind};
use super::{recent, DbState, Wizard, WizardCmd, WizardInput};
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};

/// Typed paths are checked once typing pauses this long.
const CHECK_DELAY: Duration = Duration::from_millis(300);

/// A VM the wizard made.
#[derive(Debug)]
pub struct Created {
    pub name: String,
}

impl Wizard {
    pub(super) fn handle(&mut self, message: WizardInput, sender: &ComponentSender<Wizard>) {
        if self.creating && !matches!(message, WizardInput::OsQuery(_)) {
            return;
        }
        match message {
            WizardInput::SetSource(kind) => {
                if self.state.source != kind {
                    self.state.source = kind;
                    // The system of an ISO is detected; other sources start generic.
                    let detected = match (&self.state.iso, kind) {
                        (Check::Ready(found), SourceKind::Iso) => found.as_ref().map(|m| m.os.clone()),
                        _ => None,
                    };
                    self.state.set_os(detected);
                }
            }
            WizardInput::IsoPath(text) => {
                if text != self.state.iso_path {
                    self.state.iso_path = text;
                    self.iso_generation += 1;
                    self.state.iso = if self.state.iso_path.trim().is_empty() {
                        Check::Empty
                    } else {
                        Check::Checking
                    };
                    self.schedule(sender, WizardInput::CheckIso(self.iso_generation));
                }
            }
            WizardInput::ImportPath(text) => {
                if text != self.state.import_path {
                    self.state.import_path = text;
                    self.import_generation += 1;
                    self.state.import = if self.state.import_path.trim().is_empty() {
                        Check::Empty
                    } else {
                        Check::Checking
                    };
                    self.schedule(sender, WizardInput::CheckImport(self.import_generation));
                }
            }
            WizardInput::CheckIso(generation) => self.check_iso(generation, sender),
            WizardInput::CheckImport(generation) => self.check_import(generation, sender),
            WizardInput::ChooseFile(kind) => self.choose_file(kind, sender),
            WizardInput::UseRecent(path) => {
                self.state.source = SourceKind::Iso;
                let text = path.to_string_lossy().into_owned();
                self.handle(WizardInput::IsoPath(text), sender);
                self.check_iso(self.iso_generation, sender);
            }
            WizardInput::OsQuery(query) => self.query = query,
            WizardInput::OsSearchActivated => {
                let first = match &self.db {
                    DbState::Ready(db) if !self.query.trim().is_empty() => {
                        super::os::visible_entries(db, &self.query)
                            .first()
                            .map(|e| e.id.clone())
                    }
                    _ => None,
                };
                let chosen = self.state.os.as_ref().map(|o| o.id.clone());
                match first {
                    Some(id) if chosen.as_deref() != Some(id.as_str()) => {
                        self.handle(WizardInput::ChooseOs(Some(id)), sender);
                    }
                    _ => self.handle(WizardInput::Next, sender),
                }
            }
            WizardInput::ChooseOs(id) => {
                let os = match (&self.db, id) {
                    (DbState::Ready(db), Some(id)) => db.get(&id).cloned(),
                    _ => None,
                };
                self.state.set_os(os);
            }
            WizardInput::Memory(mib) => {
                if self.state.memory_mib != mib {
                    self.state.memory_mib = mib;
                    self.state.resources_edited = true;
                }
            }
            WizardInput::Cpus(cpus) => {
                if self.state.cpus != cpus {
                    self.state.cpus = cpus;
                    self.state.resources_edited = true;
                }
            }
            WizardInput::DiskGib(gib) => {
                if self.state.disk_gib != gib {
                    self.state.disk_gib = gib;
                    self.state.resources_edited = true;
                }
            }
            WizardInput::RecommendedResources => self.state.use_recommended_resources(),
            WizardInput::Firmware(choice) => {
                if self.state.firmware != choice {
                    // A manual choice starts from what automatic would do.
                    if self.state.firmware == super::model::FirmwareChoice::Automatic {
                        self.state.tpm = self.state.recommendation.firmware.tpm;
                    }
                    self.state.firmware = choice;
                }
            }
            WizardInput::Tpm(on) => self.state.tpm = on,
            WizardInput::Network(mode) => self.state.network = mode,
            WizardInput::Bridge(text) => self.state.bridge = text,
            WizardInput::Name(text) => {
                if text != self.state.name {
                    self.state.name = text;
                    self.state.name_edited = true;
                }
            }
            WizardInput::Customize(on) => self.state.customize = on,
            WizardInput::Back => {
                if let Some(previous) = self.page.previous() {
                    self.page = previous;
                    self.error = None;
                    self.focus_pending.set(true);
                }
            }
            WizardInput::Next => self.next(sender),
        }
    }

    fn next(&mut self, sender: &ComponentSender<Wizard>) {
        if self.page_problem().is_some() {
            return;
        }
        match self.page.next() {
            Some(page) => {
                self.page = page;
                self.focus_pending.set(true);
            }
            None => self.create(sender),
        }
    }

    fn schedule(&self, sender: &ComponentSender<Wizard>, message: WizardInput) {
        let input = sender.input_sender().clone();
        glib::timeout_add_local_once(CHECK_DELAY, move || input.emit(message));
    }

    fn check_iso(&mut self, generation: u64, sender: &ComponentSender<Wizard>) {
        if generation != self.iso_generation || self.state.iso != Check::Checking {
            return;
        }
        let path = PathBuf::from(self.state.iso_path.trim());
        sender.spawn_oneshot_command(move || {
            let result = match read_iso_info(&path) {
                // Without the database the image is still usable, only not recognised.
                Ok(info) => Ok(system_db()
                    .ok()
                    .and_then(|db| detect_info(db, &info))
                    .map(Box::new)),
                Err(err) => Err(err.to_string()),
            };
            WizardCmd::IsoChecked { generation, result }
        });
    }

    fn check_import(&mut self, generation: u64, sender: &ComponentSender<Wizard>) {
        if generation != self.import_generation || self.state.import != Check::Checking {
            return;
        }
        let path = PathBuf::from(self.state.import_path.trim());
        let manager = self.manager.clone();
        sender.oneshot_command(async move {
            let result = if path.is_dir() {
                Err(i18n_f(
                    "{} is a folder. Choose the disk image file inside it.",
                    &[&path.display().to_string()],
                ))
            } else {
                match manager.qemu_img().info(&path).await {
                    Ok(info) => Ok(ImportedDisk {
                        format: info.format,
                        virtual_size: info.virtual_size,
                    }),
                    Err(err) => Err(err.to_string()),
                }
            };
            WizardCmd::ImportChecked { generation, result }
        });
    }

    fn choose_file(&mut self, kind: SourceKind, sender: &ComponentSender<Wizard>) {
        let (title, current) = match kind {
            SourceKind::Iso => (gettext("Choose an ISO Image"), self.state.iso_path.trim()),
            SourceKind::Import => (gettext("Choose a Disk Image"), self.state.import_path.trim()),
            SourceKind::Empty => return,
        };
        let chooser = gtk::FileChooserNative::new(
            Some(&title),
            Some(&self.window),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Open")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let filter = gtk::FileFilter::new();
        if kind == SourceKind::Iso {
            filter.set_name(Some(&gettext("ISO images")));
            filter.add_suffix("iso");
            filter.add_mime_type("application/x-cd-image");
        } else {
            filter.set_name(Some(&gettext("Disk images")));
            for suffix in ["qcow2", "qcow", "img", "raw", "vmdk", "vdi", "vhdx", "vhd", "qed"] {
                filter.add_suffix(suffix);
            }
        }
        chooser.add_filter(&filter);
        let all = gtk::FileFilter::new();
        all.set_name(Some(&gettext("All files")));
        all.add_pattern("*");
        chooser.add_filter(&all);
        // Start beside the current file, else in Downloads, where images usually land.
        let folder = Path::new(current)
            .parent()
            .filter(|p| p.is_dir())
            .map(Path::to_path_buf)
            .or_else(|| glib::user_special_dir(glib::UserDirectory::Downloads).filter(|p| p.is_dir()));
        if let Some(folder) = folder {
            if let Err(err) = chooser.set_current_folder(Some(&gio::File::for_path(folder))) {
                tracing::debug!("file chooser keeps its own folder: {err}");
            }
        }
        let input = sender.input_sender().clone();
        chooser.connect_response(move |chooser, response| {
            if response == gtk::ResponseType::Accept {
                if let Some(path) = chooser.file().and_then(|f| f.path()) {
                    let text = path.to_string_lossy().into_owned();
                    input.emit(WizardInput::SetSource(kind));
                    input.emit(match kind {
                        SourceKind::Import => WizardInput::ImportPath(text),
                        _ => WizardInput::IsoPath(text),
                    });
                }
            }
        });
        chooser.show();
        self.chooser = Some(chooser);
    }

    fn create(&mut self, sender: &ComponentSender<Wizard>) {
        let built = self.state.build_request(&self.exists());
        let request = match built {
            Ok(request) => request,
            Err(problem) => {
                self.page = problem.page();
                self.focus_pending.set(true);
                return;
            }
        };
        self.creating = true;
        self.error = None;
        let manager = self.manager.clone();
        let recent_file = self.recent_file.clone();
        tracing::info!(name = %request.config.name, "creating a virtual machine");
        sender.oneshot_command(
            async move { WizardCmd::Created(create_vm(manager, request, recent_file).await) },
        );
    }

    /// The summary page is where the last error is shown.
    pub(super) fn creation_error(&self) -> Option<&UserError> {
        self.error.as_ref().filter(|_| self.page == Page::Summary)
    }
}

/// Create the VM (its first disk on the recommended bus, see `WizardState::build_request`)
/// and remember the ISO.
async fn create_vm(
    manager: Manager,
    request: CreateRequest,
    recent_file: PathBuf,
) -> Result<Created, UserError> {
    let iso = request.iso.clone();
    let config = manager
        .create(request)
        .await
        .map_err(|err| UserError::from_error(gettext("Could not create the virtual machine"), &err))?;
    if let Some(iso) = iso {
        let iso = std::path::absolute(&iso).unwrap_or(iso);
        if let Err(err) = recent::remember(&recent_file, &iso) {
            tracing::warn!(file = %recent_file.display(), "cannot update the recent ISO list: {err}");
        }
    }
    Ok(Created { name: config.name })
}

/// Free bytes on the file system that holds (or will hold) `folder`.
pub(super) fn free_space(folder: &Path) -> Option<u64> {
    let existing = folder.ancestors().find(|p| p.is_dir())?;
    let info = gio::File::for_path(existing)
        .query_filesystem_info(gio::FILE_ATTRIBUTE_FILESYSTEM_FREE, gio::Cancellable::NONE)
        .map_err(|err| tracing::debug!(folder = %existing.display(), "free space unknown: {err}"))
        .ok()?;
    info.has_attribute(gio::FILE_ATTRIBUTE_FILESYSTEM_FREE)
        .then(|| info.attribute_uint64(gio::FILE_ATTRIBUTE_FILESYSTEM_FREE))
}
