//! The VM store: one folder per VM under [`Paths::vms`], holding `vm.toml` and the VM's disks,
//! UEFI variables, TPM state and logs. Saves are atomic; a `vm.toml` that does not parse is
//! listed as broken instead of failing the whole list.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::{validate_name, ConfigError, Update, VmConfig, CONFIG_FILE};
use crate::paths::Paths;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("there is no VM named {0:?}; `hangarctl list` shows the VMs there are")]
    NotFound(String),
    #[error("a VM named {0:?} already exists; choose another name")]
    Exists(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.to_path_buf();
        move |source| StoreError::Io { action, path, source }
    }
}

/// One VM folder as found on disk.
#[derive(Debug, Clone)]
pub struct VmEntry {
    /// The folder name, which is the VM's name.
    pub name: String,
    pub dir: PathBuf,
    /// The parsed and validated config, or why it is broken.
    pub config: Result<VmConfig, ConfigError>,
}

/// What deleting a VM removes and what it leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletePlan {
    /// Files that will be removed.
    pub remove: Vec<PathBuf>,
    /// Disk images that stay (kept on request, or living outside the VM folder).
    pub keep: Vec<PathBuf>,
}

/// Access to the VM folders.
#[derive(Debug, Clone)]
pub struct Store {
    paths: Paths,
}

impl Store {
    pub fn new(paths: Paths) -> Self {
        Store { paths }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Folder of VM `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.paths.vm_dir(name)
    }

    /// Every VM folder (those holding a `vm.toml`), sorted by name. A missing store is empty.
    pub fn list(&self) -> Result<Vec<VmEntry>, StoreError> {
        let read = match fs::read_dir(&self.paths.vms) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(StoreError::io("read the VM folder", &self.paths.vms)(e)),
        };
        let mut out = vec![];
        for entry in read.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !entry.path().join(CONFIG_FILE).is_file() {
                continue;
            }
            let config = self.read_config(&name);
            out.push(VmEntry {
                dir: entry.path(),
                name,
                config,
            });
        }
        out.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.name.cmp(&b.name))
        });
        Ok(out)
    }

    fn read_config(&self, name: &str) -> Result<VmConfig, ConfigError> {
        let file = self.dir(name).join(CONFIG_FILE);
        let text = fs::read_to_string(&file).map_err(|e| ConfigError::Parse {
            file: file.clone(),
            line: 1,
            column: 1,
            reason: format!("cannot read the file ({e})"),
        })?;
        let mut config = VmConfig::from_toml(&text, &file)?;
        if config.name != name {
            // The folder name is authoritative: a copied folder is a new VM under its new name.
            tracing::debug!(
                folder = name,
                config = config.name,
                "vm.toml name differs from its folder"
            );
            config.name = name.to_string();
        }
        config.validate()?;
        Ok(config)
    }

    /// Whether VM `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.dir(name).join(CONFIG_FILE).is_file()
    }

    /// Load and validate VM `name`.
    pub fn load(&self, name: &str) -> Result<VmConfig, StoreError> {
        validate_name(name)?;
        if !self.exists(name) {
            return Err(StoreError::NotFound(name.into()));
        }
        Ok(self.read_config(name)?)
    }

    /// Create the folder of a new VM and write its config. Fails when the name is taken.
    pub fn create(&self, config: &VmConfig) -> Result<PathBuf, StoreError> {
        config.validate()?;
        fs::create_dir_all(&self.paths.vms)
            .map_err(StoreError::io("create the VM folder", &self.paths.vms))?;
        let dir = self.dir(&config.name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Exists(config.name.clone()))
            }
            Err(e) => return Err(StoreError::io("create", &dir)(e)),
        }
        write_atomic(&dir.join(CONFIG_FILE), config.to_toml().as_bytes())
            .map_err(StoreError::io("write", &dir.join(CONFIG_FILE)))?;
        Ok(dir)
    }

    /// Validate and atomically replace the config of an existing VM.
    pub fn save(&self, config: &VmConfig) -> Result<(), StoreError> {
        config.validate()?;
        if !self.exists(&config.name) {
            return Err(StoreError::NotFound(config.name.clone()));
        }
        let file = self.dir(&config.name).join(CONFIG_FILE);
        write_atomic(&file, config.to_toml().as_bytes()).map_err(StoreError::io("write", &file))
    }

    /// Save raw text as the config of `name` if it parses and validates (for `hangarctl edit`).
    pub fn save_text(&self, name: &str, text: &str) -> Result<VmConfig, StoreError> {
        let file = self.dir(name).join(CONFIG_FILE);
        let config = VmConfig::parse(text, &file)?;
        if config.name != name {
            return Err(ConfigError::invalid(
                "name",
                "rename a VM with `hangarctl rename` (or in the app), not in vm.toml",
            )
            .into());
        }
        write_atomic(&file, text.as_bytes()).map_err(StoreError::io("write", &file))?;
        Ok(config)
    }

    /// Load, apply one edit, save. A rename also renames the folder. Returns the new config.
    pub fn update(&self, name: &str, update: &Update) -> Result<VmConfig, StoreError> {
        let old = self.load(name)?;
        let new = old.update(update)?;
        if new.name != old.name {
            let to = self.dir(&new.name);
            if to.exists() {
                return Err(StoreError::Exists(new.name.clone()));
            }
            let from = self.dir(name);
            fs::rename(&from, &to).map_err(StoreError::io("rename", &from))?;
        }
        self.save(&new)?;
        Ok(new)
    }

    /// What [`Store::delete`] would remove and keep.
    pub fn delete_plan(&self, name: &str, keep_disks: bool) -> Result<DeletePlan, StoreError> {
        let dir = self.dir(name);
        if !dir.is_dir() {
            return Err(StoreError::NotFound(name.into()));
        }
        let disks: Vec<PathBuf> = match self.read_config(name) {
            Ok(c) => c.disks.iter().map(|d| resolve(&dir, &d.path)).collect(),
            Err(_) => vec![],
        };
        let mut plan = DeletePlan::default();
        for d in &disks {
            if keep_disks || !d.starts_with(&dir) {
                plan.keep.push(d.clone());
            }
        }
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).map_err(StoreError::io("read", &d))?.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path);
                } else if !plan.keep.contains(&path) {
                    plan.remove.push(path);
                }
            }
        }
        plan.remove.sort();
        Ok(plan)
    }

    /// Delete VM `name`: its folder, or everything but its disks when `keep_disks`. Disks outside
    /// the VM folder are never deleted. The caller makes sure the VM is not running.
    pub fn delete(&self, name: &str, keep_disks: bool) -> Result<DeletePlan, StoreError> {
        let plan = self.delete_plan(name, keep_disks)?;
        let dir = self.dir(name);
        if plan.keep.iter().any(|k| k.starts_with(&dir)) {
            for f in &plan.remove {
                fs::remove_file(f).map_err(StoreError::io("delete", f))?;
            }
        } else {
            fs::remove_dir_all(&dir).map_err(StoreError::io("delete", &dir))?;
        }
        Ok(plan)
    }
}

/// A path from `vm.toml`: relative ones live in the VM folder.
pub fn resolve(vm_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        vm_dir.join(path)
    }
}

/// Write `bytes` to `path` atomically: temporary file in the same folder, fsync, rename, fsync
/// of the folder. Readers see the old or the new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent folder"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DiskBus, DiskConfig};

    fn store() -> (tempfile::TempDir, Store) {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(Paths::new(t.path().join("vms"), t.path().join("run")));
        (t, s)
    }

    #[test]
    fn create_list_load_and_duplicate() {
        let (_t, s) = store();
        assert!(s.list().unwrap().is_empty());
        s.create(&VmConfig::new("b")).unwrap();
        s.create(&VmConfig::new("A")).unwrap();
        let names: Vec<_> = s.list().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["A", "b"]);
        assert!(matches!(
            s.create(&VmConfig::new("b")),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(s.load("b").unwrap(), VmConfig::new("b"));
        assert!(matches!(s.load("zz"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn broken_config_is_listed_not_fatal() {
        let (_t, s) = store();
        s.create(&VmConfig::new("good")).unwrap();
        let bad = s.paths().vms.join("bad");
        fs::create_dir_all(&bad).unwrap();
        fs::write(
            bad.join(CONFIG_FILE),
            "name = \"bad\"\n[machine]\ncpus = \"many\"\n",
        )
        .unwrap();
        let list = s.list().unwrap();
        assert_eq!(list.len(), 2);
        let broken = list.iter().find(|e| e.name == "bad").unwrap();
        let err = broken.config.as_ref().unwrap_err().to_string();
        assert!(err.contains("vm.toml:3:"), "{err}");
        assert!(list.iter().find(|e| e.name == "good").unwrap().config.is_ok());
    }

    #[test]
    fn update_saves_atomically_and_renames() {
        let (_t, s) = store();
        s.create(&VmConfig::new("a")).unwrap();
        s.update("a", &Update::SetMemoryMib(4096)).unwrap();
        assert_eq!(s.load("a").unwrap().machine.memory_mib, 4096);
        assert!(s.update("a", &Update::SetMemoryMib(1)).is_err());
        assert_eq!(
            s.load("a").unwrap().machine.memory_mib,
            4096,
            "a refused edit changes nothing"
        );
        s.update("a", &Update::Rename("b".into())).unwrap();
        assert!(!s.exists("a"));
        assert_eq!(s.load("b").unwrap().machine.memory_mib, 4096);
        let leftovers: Vec<_> = fs::read_dir(s.dir("b"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(CONFIG_FILE)]);
    }

    #[test]
    fn copied_folder_takes_folder_name() {
        let (_t, s) = store();
        s.create(&VmConfig::new("orig")).unwrap();
        fs::create_dir(s.dir("copy")).unwrap();
        fs::copy(s.dir("orig").join(CONFIG_FILE), s.dir("copy").join(CONFIG_FILE)).unwrap();
        assert_eq!(s.load("copy").unwrap().name, "copy");
    }

    #[test]
    fn delete_keeps_outside_disks_and_optionally_own() {
        let (t, s) = store();
        let mut c = VmConfig::new("d");
        let outside = t.path().join("shared.qcow2");
        fs::write(&outside, b"x").unwrap();
        let disk = |id: &str, p: &Path| DiskConfig {
            id: id.into(),
            path: p.into(),
            format: "qcow2".into(),
            bus: DiskBus::Virtio,
            readonly: false,
        };
        c.disks = vec![disk("disk0", Path::new("disk0.qcow2")), disk("disk1", &outside)];
        s.create(&c).unwrap();
        fs::write(s.dir("d").join("disk0.qcow2"), b"y").unwrap();
        fs::write(s.dir("d").join("serial.log"), b"z").unwrap();

        let plan = s.delete("d", true).unwrap();
        assert!(plan.keep.contains(&s.dir("d").join("disk0.qcow2")));
        assert!(s.dir("d").join("disk0.qcow2").exists());
        assert!(!s.dir("d").join("serial.log").exists());
        assert!(!s.exists("d"));

        let (t2, s2) = store();
        let outside2 = t2.path().join("o.qcow2");
        fs::write(&outside2, b"x").unwrap();
        c.disks[1].path = outside2.clone();
        s2.create(&c).unwrap();
        s2.delete("d", false).unwrap();
        assert!(!s2.dir("d").exists());
        assert!(outside2.exists(), "disks outside the VM folder are never deleted");
    }

    #[test]
    fn edit_text_validates_first() {
        let (_t, s) = store();
        s.create(&VmConfig::new("e")).unwrap();
        assert!(s.save_text("e", "name = \"e\"\n[machine]\ncpus = 0\n").is_err());
        assert_eq!(s.load("e").unwrap().machine.cpus, 2);
        s.save_text("e", "name = \"e\"\n# my comment\n[machine]\ncpus = 4\n")
            .unwrap();
        assert!(fs::read_to_string(s.dir("e").join(CONFIG_FILE))
            .unwrap()
            .contains("# my comment"));
    }
}
