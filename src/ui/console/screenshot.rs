//! Screenshots: QEMU writes the guest screen to a private temporary file (QMP `screendump`),
//! then a save dialog asks where to keep it, named `<vm>-<date>.png` by default.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gtk::prelude::*;
use gtk::{gio, glib};

use crate::i18n::gettext;

/// Why a screenshot could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    #[error("cannot create a temporary folder in {0} for the screenshot; free some space there or check its permissions")]
    TempDir(PathBuf),
    #[error("cannot save the screenshot as {path}: {source}. Choose a folder you can write to")]
    Save { path: PathBuf, source: std::io::Error },
}

/// Default file name: the VM name and the local date and time, safe as a file name.
pub fn file_name(vm: &str, stamp: &str) -> String {
    let vm: String = vm
        .chars()
        .map(|c| if c == '/' || c.is_control() { '-' } else { c })
        .collect();
    let vm = vm.trim_start_matches('.');
    let vm = if vm.is_empty() { "vm" } else { vm };
    format!("{vm}-{stamp}.png")
}

/// Local date and time as used in file names (`2025-01-31 14-05-09`).
pub fn timestamp() -> String {
    glib::DateTime::now_local()
        .and_then(|now| now.format("%Y-%m-%d %H-%M-%S"))
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "screenshot".to_owned())
}

/// A fresh private folder with the path QEMU should write the picture to.
pub fn temp_file() -> Result<PathBuf, ScreenshotError> {
    let tmp = glib::tmp_dir();
    let dir = glib::mkdtemp(tmp.join("hangar-screenshot-XXXXXX")).ok_or(ScreenshotError::TempDir(tmp))?;
    Ok(dir.join("screen.png"))
}

/// Removes the temporary file and its folder (best effort: it is in the temporary folder).
pub fn discard(temp: &Path) {
    if let Err(err) = std::fs::remove_file(temp) {
        tracing::debug!("cannot remove {}: {err}", temp.display());
    }
    if let Some(dir) = temp.parent() {
        if let Err(err) = std::fs::remove_dir(dir) {
            tracing::debug!("cannot remove {}: {err}", dir.display());
        }
    }
}

/// Copies the temporary picture to `dest`, then removes the temporary one.
pub fn keep(temp: &Path, dest: &Path) -> Result<(), ScreenshotError> {
    let result = std::fs::copy(temp, dest)
        .map(drop)
        .map_err(|source| ScreenshotError::Save {
            path: dest.to_path_buf(),
            source,
        });
    discard(temp);
    result
}

/// Shows a save dialog for `vm`'s screenshot; `done` gets the chosen path, or `None` when the
/// dialog was cancelled. The dialog keeps itself alive until it answers.
pub fn ask_destination(parent: Option<&gtk::Window>, vm: &str, done: impl FnOnce(Option<PathBuf>) + 'static) {
    let dialog = gtk::FileChooserNative::new(
        Some(&gettext("Save Screenshot")),
        parent,
        gtk::FileChooserAction::Save,
        Some(&gettext("_Save")),
        Some(&gettext("_Cancel")),
    );
    dialog.set_modal(true);
    dialog.set_current_name(&file_name(vm, &timestamp()));
    if let Some(pictures) = glib::user_special_dir(glib::UserDirectory::Pictures).filter(|d| d.is_dir()) {
        if let Err(err) = dialog.set_current_folder(Some(&gio::File::for_path(&pictures))) {
            tracing::debug!("cannot open {} in the save dialog: {err}", pictures.display());
        }
    }
    let filter = gtk::FileFilter::new();
    filter.set_name(Some(&gettext("PNG images")));
    filter.add_mime_type("image/png");
    dialog.add_filter(&filter);

    // The native dialog object must outlive `show`; the response handler holds the last
    // reference and drops it.
    let keep_alive = Rc::new(RefCell::new(Some(dialog.clone())));
    let done = RefCell::new(Some(done));
    dialog.connect_response(move |dialog, response| {
        let path = (response == gtk::ResponseType::Accept)
            .then(|| dialog.file().and_then(|f| f.path()))
            .flatten();
        if let Some(done) = done.borrow_mut().take() {
            done(path);
        }
        keep_alive.borrow_mut().take();
    });
    dialog.show();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_vm_and_date() {
        assert_eq!(
            file_name("web", "2025-01-31 14-05-09"),
            "web-2025-01-31 14-05-09.png"
        );
        assert_eq!(file_name("a/b", "x"), "a-b-x.png");
        assert_eq!(file_name("..", "x"), "vm-x.png");
        assert_eq!(file_name("", "x"), "vm-x.png");
        let stamp = timestamp();
        assert_eq!(stamp.len(), "2025-01-31 14-05-09".len(), "{stamp}");
    }

    #[test]
    fn keep_copies_and_removes_the_temporary_file() {
        let temp = temp_file().expect("temp folder");
        std::fs::write(&temp, b"png").expect("write");
        let out = tempfile::tempdir().expect("tempdir");
        let dest = out.path().join("shot.png");
        keep(&temp, &dest).expect("kept");
        assert_eq!(std::fs::read(&dest).expect("read"), b"png");
        assert!(!temp.exists());
        assert!(!temp.parent().expect("parent").exists());
    }

    #[test]
    fn keep_reports_an_unwritable_destination_and_still_cleans_up() {
        let temp = temp_file().expect("temp folder");
        std::fs::write(&temp, b"png").expect("write");
        let err = keep(&temp, Path::new("/nonexistent-dir/x.png")).expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent-dir/x.png"), "{err}");
        assert!(!temp.exists());
    }
}
