//! The last ISO images used to create VMs, newest first, one absolute path per line in
//! `$XDG_DATA_HOME/hangar/recent-isos`.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How many paths are kept.
pub const MAX_RECENT: usize = 5;

/// The file the list lives in.
pub fn default_file() -> PathBuf {
    gtk::glib::user_data_dir().join("hangar").join("recent-isos")
}

/// Paths from the file's bytes: absolute ones, without repeats, at most [`MAX_RECENT`].
pub fn parse(bytes: &[u8]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = vec![];
    for line in bytes.split(|b| *b == b'\n') {
        let path = PathBuf::from(OsStr::from_bytes(line));
        if path.is_absolute() && !out.contains(&path) && out.len() < MAX_RECENT {
            out.push(path);
        }
    }
    out
}

/// `list` with `path` moved to the front. Paths that cannot be stored on one line are left out.
pub fn push(list: &[PathBuf], path: &Path) -> Vec<PathBuf> {
    let storable = path.is_absolute() && !path.as_os_str().as_bytes().contains(&b'\n');
    let mut out = Vec::with_capacity(MAX_RECENT);
    if storable {
        out.push(path.to_path_buf());
    }
    out.extend(list.iter().filter(|p| p.as_path() != path).cloned());
    out.truncate(MAX_RECENT);
    out
}

fn serialize(list: &[PathBuf]) -> Vec<u8> {
    let mut out = vec![];
    for path in list {
        out.extend_from_slice(path.as_os_str().as_bytes());
        out.push(b'\n');
    }
    out
}

/// The stored list; a missing or unreadable file is an empty list (unreadable ones are logged).
pub fn load(file: &Path) -> Vec<PathBuf> {
    match std::fs::read(file) {
        Ok(bytes) => parse(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => vec![],
        Err(e) => {
            tracing::warn!(file = %file.display(), "cannot read the recent ISO list: {e}");
            vec![]
        }
    }
}

/// Put `path` first in the stored list.
pub fn remember(file: &Path, path: &Path) -> io::Result<()> {
    let list = push(&load(file), path);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    hangar_core::store::write_atomic(file, &serialize(&list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn parse_keeps_five_absolute_unique_paths() {
        let text = b"/a.iso\nrelative.iso\n\n/a.iso\n/b.iso\n/c.iso\n/d.iso\n/e.iso\n/f.iso\n";
        assert_eq!(
            parse(text),
            paths(&["/a.iso", "/b.iso", "/c.iso", "/d.iso", "/e.iso"])
        );
        assert!(parse(b"").is_empty());
    }

    #[test]
    fn push_moves_to_front_and_drops_the_oldest() {
        let list = paths(&["/a", "/b", "/c", "/d", "/e"]);
        assert_eq!(
            push(&list, Path::new("/c")),
            paths(&["/c", "/a", "/b", "/d", "/e"])
        );
        assert_eq!(
            push(&list, Path::new("/f")),
            paths(&["/f", "/a", "/b", "/c", "/d"])
        );
        assert_eq!(push(&list, Path::new("rel")), list);
        assert_eq!(push(&[], Path::new("/x\ny")), Vec::<PathBuf>::new());
    }

    #[test]
    fn remember_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/recent-isos");
        assert!(load(&file).is_empty());
        remember(&file, Path::new("/isos/one.iso")).unwrap();
        remember(&file, Path::new("/isos/two é.iso")).unwrap();
        remember(&file, Path::new("/isos/one.iso")).unwrap();
        assert_eq!(load(&file), paths(&["/isos/one.iso", "/isos/two é.iso"]));
    }
}
