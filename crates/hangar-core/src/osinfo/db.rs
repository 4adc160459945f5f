//! Loading osinfo-db: every `os/<vendor>/<os>.xml` under the database folders, merged, with
//! inherited resources, devices and firmware resolved once at load.
//!
//! Folders, later ones overriding entries of earlier ones with the same id (as libosinfo):
//! the system database (`$OSINFO_SYSTEM_DIR`, else `/usr/share/osinfo`, `/usr/share/osinfo-db`
//! or `/usr/share/libosinfo/db`), the local one (`$OSINFO_LOCAL_DIR` or `/etc/osinfo`) and the
//! user's (`$OSINFO_USER_DIR` or `$XDG_CONFIG_HOME/osinfo`, where
//! `osinfo-db-import --user --latest` puts a newer database than the distribution's).
//!
//! Loading reads a few MB of XML: callers run [`OsDb::load`] or [`system_db`] off the UI thread.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::entry::{Devices, FirmwareSupport, OsEntry, Resources};
use super::parse::{parse_file, Draft};

/// Short ids whose OS needs UEFI + Secure Boot + TPM 2.0 (osinfo-db has no field for it).
const TPM_SECURE_BOOT_OSES: &[&str] = &["win11", "win2k25"];

/// Why the database could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error(
        "no operating system database found (looked in {}): install the osinfo-db package \
         (`sudo apt install osinfo-db`)",
        list(searched)
    )]
    NotFound { searched: Vec<PathBuf> },
    #[error("cannot read {}: {reason}. Make it readable, or reinstall osinfo-db", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "the operating system database in {} describes no system: reinstall osinfo-db \
         (`sudo apt install --reinstall osinfo-db`)",
        list(roots)
    )]
    Empty { roots: Vec<PathBuf> },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A database file that was skipped (the rest of the database still loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: String,
}

/// The loaded database.
#[derive(Debug, Clone)]
pub struct OsDb {
    entries: Vec<OsEntry>,
    by_id: HashMap<String, usize>,
    by_short_id: HashMap<String, usize>,
    roots: Vec<PathBuf>,
    version: Option<String>,
    skipped: Vec<SkippedFile>,
    load_time: Duration,
}

impl OsDb {
    /// The database folders from the environment, in load order (see the module docs).
    pub fn default_roots() -> Vec<PathBuf> {
        Self::roots_from(|k| std::env::var_os(k))
    }

    /// [`OsDb::default_roots`] with an injectable environment.
    pub fn roots_from(env: impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
        let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let system = var("OSINFO_SYSTEM_DIR").unwrap_or_else(|| {
            [
                "/usr/share/osinfo",
                "/usr/share/osinfo-db",
                "/usr/share/libosinfo/db",
            ]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.join("os").is_dir())
            .unwrap_or_else(|| PathBuf::from("/usr/share/osinfo"))
        });
        let local = var("OSINFO_LOCAL_DIR").unwrap_or_else(|| PathBuf::from("/etc/osinfo"));
        let user = var("OSINFO_USER_DIR").or_else(|| {
            var("XDG_CONFIG_HOME")
                .or_else(|| var("HOME").map(|h| h.join(".config")))
                .map(|c| c.join("osinfo"))
        });
        let mut roots = vec![system, local];
        roots.extend(user);
        roots
    }

    /// Load and merge the databases under `roots` (missing folders are skipped). Files that do
    /// not parse are skipped with a warning and listed in [`OsDb::skipped`].
    pub fn load(roots: &[PathBuf]) -> Result<Self, DbError> {
        let start = Instant::now();
        let mut drafts: HashMap<String, Draft> = HashMap::new();
        let mut skipped = vec![];
        let mut used = vec![];
        let mut version = None;
        for root in roots {
            let os_dir = root.join("os");
            if !os_dir.is_dir() {
                continue;
            }
            let files = xml_files(&os_dir)?;
            used.push(root.clone());
            if let Ok(v) = std::fs::read_to_string(root.join("VERSION")) {
                version = Some(v.trim().to_string()).filter(|v| !v.is_empty()).or(version);
            }
            for file in files {
                let parsed = std::fs::read_to_string(&file)
                    .map_err(|e| e.to_string())
                    .and_then(|text| parse_file(&text));
                match parsed {
                    Ok(list) => {
                        for d in list {
                            drafts.insert(d.entry.id.clone(), d);
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(file = %file.display(), "osinfo file skipped: {reason}");
                        skipped.push(SkippedFile { path: file, reason });
                    }
                }
            }
        }
        if used.is_empty() {
            return Err(DbError::NotFound {
                searched: roots.to_vec(),
            });
        }
        if drafts.is_empty() {
            return Err(DbError::Empty { roots: used });
        }
        let mut drafts: Vec<Draft> = drafts.into_values().collect();
        drafts.sort_by(|a, b| a.entry.id.cmp(&b.entry.id));
        let entries = resolve(drafts);
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
        let mut by_short_id = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for s in &e.short_ids {
                by_short_id.entry(s.clone()).or_insert(i);
            }
        }
        let load_time = start.elapsed();
        tracing::debug!(
            entries = entries.len(),
            skipped = skipped.len(),
            ms = load_time.as_millis(),
            "osinfo database loaded"
        );
        Ok(OsDb {
            entries,
            by_id,
            by_short_id,
            roots: used,
            version,
            skipped,
            load_time,
        })
    }

    /// Every system, sorted by id.
    pub fn entries(&self) -> &[OsEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// By osinfo id (`http://microsoft.com/win/11`).
    pub fn get(&self, id: &str) -> Option<&OsEntry> {
        self.by_id.get(id).map(|&i| &self.entries[i])
    }

    /// By short id (`win11`, `debian11`), as stored in `vm.toml`.
    pub fn by_short_id(&self, short_id: &str) -> Option<&OsEntry> {
        self.by_short_id.get(short_id).map(|&i| &self.entries[i])
    }

    /// The folders that held a database.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Content of the last `VERSION` file read (`20221130`).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn skipped(&self) -> &[SkippedFile] {
        &self.skipped
    }

    /// How long [`OsDb::load`] took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

/// The database from [`OsDb::default_roots`], loaded on first call and kept for the life of the
/// process. The first call blocks for the load (tens of milliseconds): make it off the UI
/// thread. A failure is not kept, so a later call retries (after the user installed osinfo-db).
pub fn system_db() -> Result<&'static OsDb, DbError> {
    static DB: OnceLock<OsDb> = OnceLock::new();
    static LOADING: Mutex<()> = Mutex::new(());
    if let Some(db) = DB.get() {
        return Ok(db);
    }
    let _guard = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(db) = DB.get() {
        return Ok(db);
    }
    let db = OsDb::load(&OsDb::default_roots())?;
    Ok(DB.get_or_init(|| db))
}

/// `*.xml` files in `os/` and its vendor folders, sorted.
fn xml_files(os_dir: &Path) -> Result<Vec<PathBuf>, DbError> {
    let unreadable = |path: &Path, e: std::io::Error| DbError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut files = vec![];
    let is_xml = |p: &Path| p.extension().is_some_and(|x| x == "xml");
    for entry in std::fs::read_dir(os_dir).map_err(|e| unreadable(os_dir, e))? {
        let path = entry.map_err(|e| unreadable(os_dir, e))?.path();
        if path.is_dir() {
            let inner = std::fs::read_dir(&path).map_err(|e| unreadable(&path, e))?;
            files.extend(
                inner
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| is_xml(p)),
            );
        } else if is_xml(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// What an entry inherits, resolved.
#[derive(Clone, Default)]
struct Resolved {
    resources: Option<Resources>,
    devices: Devices,
    firmware: FirmwareSupport,
    needs_tpm: bool,
}

/// Fill in each entry's resources, devices, firmware and TPM rule from its own data and its
/// parents' (`<derives-from>`, then `<clones>`, then `<upgrades>`).
fn resolve(drafts: Vec<Draft>) -> Vec<OsEntry> {
    let index: HashMap<&str, usize> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.entry.id.as_str(), i))
        .collect();
    let parents: Vec<Vec<usize>> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let e = &d.entry;
            let mut ps: Vec<usize> = vec![];
            let ids = e.derives_from.iter().chain(&e.clones).chain(&e.upgrades);
            for p in ids.filter_map(|id| index.get(id.as_str()).copied()) {
                if p != i && !ps.contains(&p) {
                    ps.push(p);
                }
            }
            ps
        })
        .collect();
    let mut memo: Vec<Option<Resolved>> = vec![None; drafts.len()];
    let mut visiting = vec![false; drafts.len()];
    for i in 0..drafts.len() {
        resolve_one(i, &drafts, &parents, &mut memo, &mut visiting);
    }
    drafts
        .into_iter()
        .zip(memo)
        .map(|(d, r)| {
            let r = r.unwrap_or_default();
            OsEntry {
                resources: r.resources,
                devices: r.devices,
                firmware: r.firmware,
                needs_tpm_and_secure_boot: r.needs_tpm,
                ..d.entry
            }
        })
        .collect()
}

fn resolve_one(
    i: usize,
    drafts: &[Draft],
    parents: &[Vec<usize>],
    memo: &mut [Option<Resolved>],
    visiting: &mut [bool],
) -> Resolved {
    if let Some(r) = &memo[i] {
        return r.clone();
    }
    if visiting[i] {
        // A cycle in the database: the entry inherits nothing through it.
        return Resolved::default();
    }
    visiting[i] = true;
    let from_parents: Vec<Resolved> = parents[i]
        .iter()
        .map(|&p| resolve_one(p, drafts, parents, memo, visiting))
        .collect();
    visiting[i] = false;

    let d = &drafts[i];
    let mut devices = Devices::default();
    for p in &from_parents {
        devices = union(devices, p.devices);
    }
    devices.override_with(&d.devices);
    let inherited =
        |f: fn(&FirmwareSupport) -> Option<bool>| from_parents.iter().find_map(|p| f(&p.firmware));
    let firmware = FirmwareSupport {
        efi: d.firmware.efi.or_else(|| inherited(|f| f.efi)),
        bios: d.firmware.bios.or_else(|| inherited(|f| f.bios)),
    };
    let resources = own_resources(d).or_else(|| from_parents.iter().find_map(|p| p.resources));
    let needs_tpm = d
        .entry
        .short_ids
        .iter()
        .any(|s| TPM_SECURE_BOOT_OSES.contains(&s.as_str()))
        || from_parents.iter().any(|p| p.needs_tpm);
    let r = Resolved {
        resources,
        devices,
        firmware,
        needs_tpm,
    };
    memo[i] = Some(r.clone());
    r
}

/// The entry's own x86 resources: `x86_64`, else `all`, else `i686`; none when it says
/// `inherit="true"` or gives nothing.
fn own_resources(d: &Draft) -> Option<Resources> {
    ["x86_64", "all", "i686"].iter().find_map(|arch| {
        d.resources
            .iter()
            .find(|r| r.arch == *arch)
            .filter(|r| !r.inherit && !r.resources.is_empty())
            .map(|r| r.resources)
    })
}

/// Device support of several parents: supported anywhere wins over refused, refused over unknown.
fn union(a: Devices, b: Devices) -> Devices {
    let u = |x: Option<bool>, y: Option<bool>| match (x, y) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        _ => None,
    };
    Devices {
        virtio_net: u(a.virtio_net, b.virtio_net),
        virtio_block: u(a.virtio_block, b.virtio_block),
        virtio_gpu: u(a.virtio_gpu, b.virtio_gpu),
        qxl: u(a.qxl, b.qxl),
        e1000e: u(a.e1000e, b.e1000e),
        rtl8139: u(a.rtl8139, b.rtl8139),
        hda: u(a.hda, b.hda),
        ac97: u(a.ac97, b.ac97),
    }
}

/// The fixture trees of `tests/fixtures/osinfo/`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/osinfo")
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_db() -> OsDb {
        OsDb::load(&[fixture("system"), fixture("user"), fixture("missing")]).unwrap()
    }

    #[test]
    fn loads_and_indexes_the_fixture_tree() {
        let db = fixture_db();
        assert_eq!(db.roots(), [fixture("system"), fixture("user")]);
        assert_eq!(db.version(), Some("20990101"));
        let deb = db.by_short_id("demodeb13").unwrap();
        assert_eq!(deb.name, "Demo Debian 13");
        assert_eq!(db.get("http://debian.example/debian/13").unwrap().id, deb.id);
        assert_eq!(db.by_short_id("demodebtrixie").unwrap().id, deb.id);
        // The broken file is skipped, not fatal.
        assert_eq!(db.skipped().len(), 1, "{:?}", db.skipped());
        assert!(db.skipped()[0].path.ends_with("broken.xml"));
    }

    #[test]
    fn later_roots_override_earlier_ones() {
        let db = fixture_db();
        let e = db.by_short_id("demodeb12").unwrap();
        assert_eq!(e.name, "Demo Debian 12 (updated)");
        let system_only = OsDb::load(&[fixture("system")]).unwrap();
        assert_eq!(
            system_only.by_short_id("demodeb12").unwrap().name,
            "Demo Debian 12"
        );
    }

    #[test]
    fn derived_entries_inherit_resources_devices_firmware() {
        let db = fixture_db();
        let deb13 = db.by_short_id("demodeb13").unwrap();
        // Own resources: none; inherited from demodeb12 (through <derives-from>).
        let r = deb13.resources.unwrap();
        assert_eq!(r.recommended.ram_bytes, Some(2 << 30));
        assert_eq!(deb13.devices.virtio_net, Some(true));
        assert_eq!(deb13.devices.virtio_block, Some(true));
        // Its own <devices> refuses virtio-gpu although the parent lists it.
        assert_eq!(deb13.devices.virtio_gpu, Some(false));
        let w12 = db.by_short_id("demowin12").unwrap();
        assert!(w12.firmware.efi_required(), "{:?}", w12.firmware);
        assert!(w12.needs_tpm_and_secure_boot);
        assert_eq!(w12.resources.unwrap().minimum.ram_bytes, Some(4 << 30));
        let w11 = db.by_short_id("win11").unwrap();
        assert!(w11.needs_tpm_and_secure_boot);
        assert!(!db.by_short_id("demowin10").unwrap().needs_tpm_and_secure_boot);
    }

    #[test]
    fn cycles_do_not_hang() {
        let db = fixture_db();
        let a = db.by_short_id("cyclea").unwrap();
        assert_eq!(a.resources.unwrap().minimum.n_cpus, Some(3));
        assert_eq!(
            db.by_short_id("cycleb").unwrap().derives_from,
            std::slice::from_ref(&a.id)
        );
    }

    #[test]
    fn missing_database_says_to_install_it() {
        let e = OsDb::load(&[PathBuf::from("/nonexistent/osinfo")]).unwrap_err();
        assert!(matches!(e, DbError::NotFound { .. }));
        assert!(e.to_string().contains("apt install osinfo-db"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("os")).unwrap();
        let e = OsDb::load(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(matches!(e, DbError::Empty { .. }), "{e}");
    }

    #[test]
    fn roots_follow_the_environment() {
        let env = |k: &str| match k {
            "OSINFO_SYSTEM_DIR" => Some("/sys-db".into()),
            "XDG_CONFIG_HOME" => Some("/home/u/.cfg".into()),
            _ => None,
        };
        assert_eq!(
            OsDb::roots_from(env),
            [
                PathBuf::from("/sys-db"),
                "/etc/osinfo".into(),
                "/home/u/.cfg/osinfo".into()
            ]
        );
        let env = |k: &str| (k == "HOME").then(|| "/home/v".into());
        assert_eq!(OsDb::roots_from(env)[2], PathBuf::from("/home/v/.config/osinfo"));
    }
}
