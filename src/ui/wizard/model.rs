//! The wizard's state without any widget: what the user chose, whether each page may be left,
//! and the [`CreateRequest`] it all amounts to. The pages only show this state and send edits.

use std::path::PathBuf;

use hangar_core::config::{
    validate_name, ConfigError, DiskBus, DiskConfig, FirmwareConfig, FirmwareKind, NetMode, VmConfig,
    DISK_FORMATS, MAX_MEMORY_MIB, MIN_MEMORY_MIB,
};
use hangar_core::manager::{CreateRequest, DiskSource};
use hangar_core::osinfo::{recommended_config, HostLimits, OsEntry, OsMatch, Recommendation};

use crate::i18n::{gettext, i18n_f};

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;
/// Largest new disk the wizard offers (64 TiB, far beyond any host; qcow2 grows on demand).
pub const MAX_DISK_GIB: u64 = 64 * 1024;
/// OVMF needs this much guest memory to start a boot loader.
pub const UEFI_MIN_MEMORY_MIB: u64 = 512;

/// The pages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Source,
    Os,
    Resources,
    System,
    Name,
    Summary,
}

impl Page {
    pub const ALL: [Page; 6] = [
        Page::Source,
        Page::Os,
        Page::Resources,
        Page::System,
        Page::Name,
        Page::Summary,
    ];

    pub fn index(self) -> usize {
        Page::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> Option<Page> {
        Page::ALL.get(self.index() + 1).copied()
    }

    pub fn previous(self) -> Option<Page> {
        self.index().checked_sub(1).map(|i| Page::ALL[i])
    }

    /// Name of the page in the stack.
    pub fn id(self) -> &'static str {
        match self {
            Page::Source => "source",
            Page::Os => "os",
            Page::Resources => "resources",
            Page::System => "system",
            Page::Name => "name",
            Page::Summary => "summary",
        }
    }

    /// Title shown in the header bar.
    pub fn title(self) -> String {
        match self {
            Page::Source => gettext("Installation Source"),
            Page::Os => gettext("Operating System"),
            Page::Resources => gettext("Memory, Processors and Disk"),
            Page::System => gettext("Firmware and Network"),
            Page::Name => gettext("Name"),
            Page::Summary => gettext("Summary"),
        }
    }
}

/// Where the system comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Boot an installer image; a new disk receives the system.
    Iso,
    /// Use an existing disk image where it is.
    Import,
    /// A new blank disk and no installer.
    Empty,
}

/// Progress of checking a file the user named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T> {
    /// No file named yet.
    Empty,
    Checking,
    Ready(T),
    /// Unusable; the message says why and what to do.
    Failed(String),
}

/// What `qemu-img info` said about an image to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDisk {
    pub format: String,
    pub virtual_size: u64,
}

/// The user's firmware choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareChoice {
    /// What the operating system needs (see [`WizardState::recommendation`]).
    Automatic,
    Bios,
    Uefi,
    UefiSecureBoot,
}

impl FirmwareChoice {
    pub const ALL: [FirmwareChoice; 4] = [
        FirmwareChoice::Automatic,
        FirmwareChoice::Bios,
        FirmwareChoice::Uefi,
        FirmwareChoice::UefiSecureBoot,
    ];
}

/// Why a page cannot be left yet. [`PageProblem::message`] says it to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageProblem {
    NoIso,
    IsoChecking,
    IsoUnusable(String),
    NoImage,
    ImageChecking,
    ImageUnusable(String),
    UnsupportedFormat(String),
    Memory,
    Cpus,
    Disk,
    Bridge,
    Name { name: String, reason: String },
    NameTaken(String),
}

impl PageProblem {
    /// The page to fix it on.
    pub fn page(&self) -> Page {
        match self {
            PageProblem::NoIso
            | PageProblem::IsoChecking
            | PageProblem::IsoUnusable(_)
            | PageProblem::NoImage
            | PageProblem::ImageChecking
            | PageProblem::ImageUnusable(_)
            | PageProblem::UnsupportedFormat(_) => Page::Source,
            PageProblem::Memory | PageProblem::Cpus | PageProblem::Disk => Page::Resources,
            PageProblem::Bridge => Page::System,
            PageProblem::Name { .. } | PageProblem::NameTaken(_) => Page::Name,
        }
    }

    /// Nothing to point out: the field is simply not filled in yet, or is being checked.
    pub fn is_quiet(&self) -> bool {
        match self {
            PageProblem::NoIso
            | PageProblem::IsoChecking
            | PageProblem::NoImage
            | PageProblem::ImageChecking => true,
            PageProblem::Name { name, .. } => name.is_empty(),
            _ => false,
        }
    }

    /// What is wrong and what to do, translated.
    pub fn message(&self) -> String {
        match self {
            PageProblem::NoIso => gettext("Choose an ISO image."),
            PageProblem::IsoChecking | PageProblem::ImageChecking => gettext("Checking the file…"),
            PageProblem::IsoUnusable(why) | PageProblem::ImageUnusable(why) => why.clone(),
            PageProblem::NoImage => gettext("Choose a disk image."),
            PageProblem::UnsupportedFormat(format) => i18n_f(
                "QEMU cannot use “{}” images as disks. Convert the image to qcow2 with qemu-img first.",
                &[format],
            ),
            PageProblem::Memory => gettext("Give the virtual machine at least 16 MiB of memory."),
            PageProblem::Cpus => gettext("Give the virtual machine at least one processor."),
            PageProblem::Disk => gettext("Make the disk at least 1 GiB."),
            PageProblem::Bridge => gettext(
                "Type the name of a bridge on this computer, such as br0 (letters, digits, “-”, “_” and “.”, at most 15 characters).",
            ),
            PageProblem::Name { reason, .. } => translated_name_reason(reason),
            PageProblem::NameTaken(name) => i18n_f(
                "A virtual machine named “{}” already exists. Choose another name.",
                &[name],
            ),
        }
    }
}

/// hangar-core's naming rules, said in the user's language.
fn translated_name_reason(reason: &str) -> String {
    match reason {
        "a name cannot be empty" => gettext("Type a name."),
        "a name has at most 64 characters" => gettext("Use at most 64 characters."),
        "a name cannot contain '/'" => gettext("A name cannot contain “/”."),
        "a name cannot start with '.'" => gettext("A name cannot start with “.”."),
        "a name cannot contain control characters" => gettext("A name cannot contain control characters."),
        "a name cannot start or end with spaces" => gettext("Remove the spaces at the start or end."),
        other => other.to_owned(),
    }
}

/// Everything chosen so far.
#[derive(Debug, Clone)]
pub struct WizardState {
    pub source: SourceKind,
    /// ISO path as typed or chosen.
    pub iso_path: String,
    /// The ISO's check: `Ready(Some)` recognised, `Ready(None)` a readable image nobody knows.
    pub iso: Check<Option<OsMatch>>,
    pub import_path: String,
    pub import: Check<ImportedDisk>,
    /// The chosen system; `None` is "Generic Linux / Other".
    pub os: Option<OsEntry>,
    pub limits: HostLimits,
    /// Settings for [`WizardState::os`] on this host.
    pub recommendation: Recommendation,
    pub memory_mib: u64,
    pub cpus: u32,
    pub disk_gib: u64,
    /// The user changed memory, processors or disk since the last recommendation.
    pub resources_edited: bool,
    pub firmware: FirmwareChoice,
    /// TPM when the firmware is not automatic.
    pub tpm: bool,
    pub network: NetMode,
    pub bridge: String,
    pub name: String,
    /// The user typed the name; it no longer follows the system.
    pub name_edited: bool,
    pub customize: bool,
}

impl WizardState {
    pub fn new(limits: HostLimits) -> Self {
        let recommendation = recommended_config(None, limits);
        let mut state = WizardState {
            source: SourceKind::Iso,
            iso_path: String::new(),
            iso: Check::Empty,
            import_path: String::new(),
            import: Check::Empty,
            os: None,
            limits,
            recommendation,
            memory_mib: 0,
            cpus: 0,
            disk_gib: 0,
            resources_edited: false,
            firmware: FirmwareChoice::Automatic,
            tpm: false,
            network: NetMode::Nat,
            bridge: String::new(),
            name: String::new(),
            name_edited: false,
            customize: false,
        };
        state.use_recommended_resources();
        state
    }

    /// Choose the system and apply its recommendation.
    pub fn set_os(&mut self, os: Option<OsEntry>) {
        self.os = os;
        self.recommendation = recommended_config(self.os.as_ref(), self.limits);
        self.use_recommended_resources();
    }

    /// New host figures (free disk space arrives late); edited sizes stay.
    pub fn set_limits(&mut self, limits: HostLimits) {
        self.limits = limits;
        self.recommendation = recommended_config(self.os.as_ref(), self.limits);
        if !self.resources_edited {
            self.use_recommended_resources();
        }
    }

    pub fn use_recommended_resources(&mut self) {
        self.memory_mib = self.recommendation.memory_mib;
        self.cpus = self.recommendation.cpus;
        self.disk_gib = self.recommendation.disk_bytes.div_ceil(GIB).max(1);
        self.resources_edited = false;
    }

    /// The ISO at `iso_path` was read: pick the system it holds, or the generic one.
    pub fn set_iso_checked(&mut self, result: Result<Option<OsMatch>, String>) {
        match result {
            Ok(found) => {
                self.set_os(found.as_ref().map(|m| m.os.clone()));
                self.iso = Check::Ready(found);
            }
            Err(why) => self.iso = Check::Failed(why),
        }
    }

    /// The ISO that will be inserted, when the source is an ISO.
    pub fn iso_file(&self) -> Option<PathBuf> {
        (self.source == SourceKind::Iso && !self.iso_path.trim().is_empty())
            .then(|| PathBuf::from(self.iso_path.trim()))
    }

    pub fn import_file(&self) -> Option<PathBuf> {
        (self.source == SourceKind::Import && !self.import_path.trim().is_empty())
            .then(|| PathBuf::from(self.import_path.trim()))
    }

    /// Firmware as it will be written.
    pub fn effective_firmware(&self) -> FirmwareConfig {
        match self.firmware {
            FirmwareChoice::Automatic => self.recommendation.firmware,
            FirmwareChoice::Bios => FirmwareConfig {
                kind: FirmwareKind::Bios,
                secure_boot: false,
                tpm: self.tpm,
            },
            FirmwareChoice::Uefi => FirmwareConfig {
                kind: FirmwareKind::Uefi,
                secure_boot: false,
                tpm: self.tpm,
            },
            FirmwareChoice::UefiSecureBoot => FirmwareConfig {
                kind: FirmwareKind::Uefi,
                secure_boot: true,
                tpm: self.tpm,
            },
        }
    }

    /// The bus the first disk should use (SATA for systems without virtio drivers).
    pub fn disk_bus(&self) -> DiskBus {
        self.recommendation.disk_bus
    }

    /// A name from the system (`debian11`), else from the file, else `vm`; made unique with
    /// `-2`, `-3`, … against `exists`.
    pub fn suggested_name(&self, exists: &dyn Fn(&str) -> bool) -> String {
        let from_file = match self.source {
            SourceKind::Iso => self.iso_file(),
            SourceKind::Import => self.import_file(),
            SourceKind::Empty => None,
        };
        let base = self
            .os
            .as_ref()
            .and_then(|os| os.short_id())
            .map(str::to_owned)
            .or_else(|| {
                from_file
                    .as_deref()
                    .and_then(|p| p.file_stem())
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .map(|s| clean_name(&s))
            .filter(|s| validate_name(s).is_ok())
            .unwrap_or_else(|| "vm".to_owned());
        unique_name(&base, exists)
    }

    /// Keep the name in step with the system while the user has not typed one.
    pub fn sync_name(&mut self, exists: &dyn Fn(&str) -> bool) {
        if !self.name_edited {
            self.name = self.suggested_name(exists);
        }
    }

    /// Whether `page` may be left with Next.
    pub fn validate_page(&self, page: Page, exists: &dyn Fn(&str) -> bool) -> Result<(), PageProblem> {
        match page {
            Page::Source => self.validate_source(),
            Page::Os | Page::Summary => Ok(()),
            Page::Resources => self.validate_resources(),
            Page::System => self.validate_network(),
            Page::Name => self.validate_name(exists),
        }
    }

    /// The first page that is not ready, with its problem.
    pub fn first_problem(&self, exists: &dyn Fn(&str) -> bool) -> Option<PageProblem> {
        Page::ALL
            .iter()
            .find_map(|p| self.validate_page(*p, exists).err())
    }

    fn validate_source(&self) -> Result<(), PageProblem> {
        match self.source {
            SourceKind::Iso => match &self.iso {
                _ if self.iso_path.trim().is_empty() => Err(PageProblem::NoIso),
                Check::Empty | Check::Checking => Err(PageProblem::IsoChecking),
                Check::Failed(why) => Err(PageProblem::IsoUnusable(why.clone())),
                Check::Ready(_) => Ok(()),
            },
            SourceKind::Import => match &self.import {
                _ if self.import_path.trim().is_empty() => Err(PageProblem::NoImage),
                Check::Empty | Check::Checking => Err(PageProblem::ImageChecking),
                Check::Failed(why) => Err(PageProblem::ImageUnusable(why.clone())),
                Check::Ready(disk) if !DISK_FORMATS.contains(&disk.format.as_str()) => {
                    Err(PageProblem::UnsupportedFormat(disk.format.clone()))
                }
                Check::Ready(_) => Ok(()),
            },
            SourceKind::Empty => Ok(()),
        }
    }

    fn validate_resources(&self) -> Result<(), PageProblem> {
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&self.memory_mib) {
            return Err(PageProblem::Memory);
        }
        if self.cpus == 0 {
            return Err(PageProblem::Cpus);
        }
        if self.source != SourceKind::Import && !(1..=MAX_DISK_GIB).contains(&self.disk_gib) {
            return Err(PageProblem::Disk);
        }
        Ok(())
    }

    fn validate_network(&self) -> Result<(), PageProblem> {
        if self.network == NetMode::Bridge && !valid_bridge(&self.bridge) {
            return Err(PageProblem::Bridge);
        }
        Ok(())
    }

    fn validate_name(&self, exists: &dyn Fn(&str) -> bool) -> Result<(), PageProblem> {
        if let Err(err) = validate_name(&self.name) {
            let reason = match err {
                ConfigError::InvalidName { reason, .. } => reason.to_owned(),
                other => other.to_string(),
            };
            return Err(PageProblem::Name {
                name: self.name.clone(),
                reason,
            });
        }
        if exists(&self.name) {
            return Err(PageProblem::NameTaken(self.name.clone()));
        }
        Ok(())
    }

    /// Where the first disk comes from.
    pub fn disk_source(&self) -> DiskSource {
        match self.source {
            SourceKind::Import => match self.import_file() {
                Some(path) => DiskSource::Import { path },
                None => DiskSource::None,
            },
            SourceKind::Iso | SourceKind::Empty => DiskSource::New {
                size_bytes: self.disk_gib.saturating_mul(GIB),
            },
        }
    }

    /// The request for `Manager::create`, once every page is valid.
    pub fn build_request(&self, exists: &dyn Fn(&str) -> bool) -> Result<CreateRequest, PageProblem> {
        if let Some(problem) = self.first_problem(exists) {
            return Err(problem);
        }
        let mut config = VmConfig::new(self.name.clone());
        // Stands for the first disk: `Manager::create` keeps only its bus, which
        // `settings.apply` sets to the recommended one (SATA for systems without virtio drivers).
        config.disks.push(DiskConfig {
            id: "disk0".into(),
            path: "disk0.qcow2".into(),
            format: "qcow2".into(),
            bus: DiskBus::Virtio,
            readonly: false,
        });
        let mut settings = self.recommendation.clone();
        settings.memory_mib = self.memory_mib;
        settings.cpus = self.cpus;
        settings.firmware = self.effective_firmware();
        settings.apply(&mut config);
        for net in &mut config.networks {
            net.mode = self.network.clone();
            net.bridge = (self.network == NetMode::Bridge).then(|| self.bridge.trim().to_owned());
        }
        Ok(CreateRequest {
            config,
            iso: self.iso_file(),
            disk: self.disk_source(),
        })
    }
}

/// Bridge names QEMU and the kernel accept (as hangar-core's config validation).
pub fn valid_bridge(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// A file stem made into a tidy VM name: no `/`, control characters, leading dots or spaces;
/// at most 48 characters so that suffixes still fit.
fn clean_name(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if c == '/' || c.is_control() { '-' } else { c })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    trimmed.chars().take(48).collect::<String>().trim().to_owned()
}

/// `base`, else `base-2`, `base-3`, … whichever `exists` does not know.
pub fn unique_name(base: &str, exists: &dyn Fn(&str) -> bool) -> String {
    if !exists(base) {
        return base.to_owned();
    }
    (2u32..=10_000)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !exists(candidate))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
