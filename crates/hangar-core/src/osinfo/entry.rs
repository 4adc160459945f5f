//! One operating system of the osinfo database, reduced to what Hangar uses.

use std::sync::OnceLock;

use regex_lite::{Regex, RegexBuilder};

/// How far along its life cycle a release is (`<release-status>`; absent means released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReleaseStatus {
    #[default]
    Released,
    Prerelease,
    Snapshot,
    Rolling,
}

impl ReleaseStatus {
    pub(crate) fn parse(s: &str) -> Self {
        match s.trim() {
            "prerelease" => ReleaseStatus::Prerelease,
            "snapshot" => ReleaseStatus::Snapshot,
            "rolling" => ReleaseStatus::Rolling,
            _ => ReleaseStatus::Released,
        }
    }
}

/// One level of `<resources>` (`<minimum>`, `<recommended>`, `<maximum>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceSet {
    pub n_cpus: Option<u32>,
    pub ram_bytes: Option<u64>,
    pub storage_bytes: Option<u64>,
}

impl ResourceSet {
    pub fn is_empty(&self) -> bool {
        self.n_cpus.is_none() && self.ram_bytes.is_none() && self.storage_bytes.is_none()
    }
}

/// Resource needs of an OS on x86: its own `x86_64` (else `all`, else `i686`) `<resources>`,
/// else those of the OS it derives from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub minimum: ResourceSet,
    pub recommended: ResourceSet,
    pub maximum: ResourceSet,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.minimum.is_empty() && self.recommended.is_empty() && self.maximum.is_empty()
    }
}

/// What the OS's drivers support among the devices Hangar can give it: `Some(true)` listed
/// in `<devices>` (own or inherited), `Some(false)` listed with `supported="false"`, `None`
/// not mentioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Devices {
    pub virtio_net: Option<bool>,
    pub virtio_block: Option<bool>,
    pub virtio_gpu: Option<bool>,
    pub qxl: Option<bool>,
    pub e1000e: Option<bool>,
    pub rtl8139: Option<bool>,
    pub hda: Option<bool>,
    pub ac97: Option<bool>,
}

/// osinfo device ids Hangar maps to a [`Devices`] field. Transitional (legacy) virtio ids count:
/// Hangar plugs devices into the root complex, where QEMU keeps their legacy interface.
/// Picks the [`Devices`] field an osinfo device id maps to.
pub(crate) type DeviceField = fn(&mut Devices) -> &mut Option<bool>;

pub(crate) const DEVICE_IDS: &[(&str, DeviceField)] = &[
    ("http://pcisig.com/pci/1af4/1000", |d| &mut d.virtio_net),
    ("http://pcisig.com/pci/1af4/1041", |d| &mut d.virtio_net),
    ("http://pcisig.com/pci/1af4/1001", |d| &mut d.virtio_block),
    ("http://pcisig.com/pci/1af4/1042", |d| &mut d.virtio_block),
    ("http://pcisig.com/pci/1af4/1050", |d| &mut d.virtio_gpu),
    ("http://pcisig.com/pci/1b36/0100", |d| &mut d.qxl),
    ("http://pcisig.com/pci/8086/10d3", |d| &mut d.e1000e),
    ("http://pcisig.com/pci/10ec/8139", |d| &mut d.rtl8139),
    ("http://pcisig.com/pci/8086/293e", |d| &mut d.hda),
    ("http://pcisig.com/pci/8086/2415", |d| &mut d.ac97),
];

impl Devices {
    /// Fields set in `other` replace ours.
    pub(crate) fn override_with(&mut self, other: &Devices) {
        let pick = |mine: &mut Option<bool>, theirs: Option<bool>| {
            if theirs.is_some() {
                *mine = theirs;
            }
        };
        pick(&mut self.virtio_net, other.virtio_net);
        pick(&mut self.virtio_block, other.virtio_block);
        pick(&mut self.virtio_gpu, other.virtio_gpu);
        pick(&mut self.qxl, other.qxl);
        pick(&mut self.e1000e, other.e1000e);
        pick(&mut self.rtl8139, other.rtl8139);
        pick(&mut self.hda, other.hda);
        pick(&mut self.ac97, other.ac97);
    }
}

/// Firmware support on x86_64 (`<firmware arch="x86_64" type="efi|bios" supported=…/>`), own or
/// inherited. `None`: the database does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirmwareSupport {
    pub efi: Option<bool>,
    pub bios: Option<bool>,
}

impl FirmwareSupport {
    /// UEFI is the only way to boot it.
    pub fn efi_required(&self) -> bool {
        self.bios == Some(false) && self.efi != Some(false)
    }
}

/// A regular expression of the database (`<volume-id>` …), compiled on first use.
///
/// libosinfo matches with GLib's PCRE-based `GRegex`, unanchored; the patterns of the database
/// use syntax `regex-lite` shares with PCRE (`\d`, classes, groups, `^`, `\+`), except one
/// lookahead (see below). Matching here is ASCII case-insensitive: labels differ in case
/// between releases. `regex-lite` rather than `regex`: it compiles the ~2000 volume-id rules in
/// ~20 ms where `regex` takes ~0.4 s, and image labels are at most 128 bytes.
#[derive(Debug, Clone)]
pub struct IdPattern {
    source: String,
    compiled: OnceLock<Option<Regex>>,
}

impl IdPattern {
    pub(crate) fn new(source: &str) -> Self {
        IdPattern {
            source: source.to_string(),
            compiled: OnceLock::new(),
        }
    }

    /// The pattern as written in the database.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `value` matches; a pattern this crate cannot compile matches nothing.
    pub fn is_match(&self, value: &str) -> bool {
        let compiled = self.compiled.get_or_init(|| {
            let build = |src: &str| RegexBuilder::new(src).case_insensitive(true).build();
            match build(&self.source) {
                Ok(r) => Some(r),
                // PCRE lookarounds (one catch-all entry uses `(?!…)`): drop them, which widens
                // the rule; the ranking in `detect` still prefers the precise entries.
                Err(first) => match without_lookarounds(&self.source).map(|s| build(&s)) {
                    Some(Ok(r)) => Some(r),
                    _ => {
                        tracing::warn!(pattern = %self.source, "osinfo pattern not usable: {first}");
                        None
                    }
                },
            }
        });
        compiled.as_ref().is_some_and(|r| r.is_match(value))
    }

    /// Compile now; false when the pattern is not usable.
    pub fn compiles(&self) -> bool {
        self.is_match("");
        self.compiled.get().is_some_and(Option::is_some)
    }
}

/// `src` without its lookaround groups (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`), or `None` when
/// it has none.
fn without_lookarounds(src: &str) -> Option<String> {
    const OPENERS: [&str; 4] = ["(?=", "(?!", "(?<=", "(?<!"];
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut found = false;
    while i < bytes.len() {
        let rest = &src[i..];
        if bytes[i] == b'\\' {
            let len = rest.chars().take(2).map(char::len_utf8).sum::<usize>();
            out.push_str(&rest[..len]);
            i += len;
            continue;
        }
        if let Some(open) = OPENERS.iter().find(|o| rest.starts_with(**o)) {
            found = true;
            // Skip to the matching parenthesis, minding escapes and classes.
            let (mut depth, mut j, mut class) = (1usize, i + open.len(), false);
            while j < bytes.len() && depth > 0 {
                match bytes[j] {
                    b'\\' => j += 1,
                    b'[' if !class => class = true,
                    b']' if class => class = false,
                    b'(' if !class => depth += 1,
                    b')' if !class => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            i = j;
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8();
    }
    found.then_some(out)
}

impl PartialEq for IdPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for IdPattern {}

/// One `<media>` with an `<iso>` block: how to recognise an installation image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `x86_64`, `i686`, `aarch64`, … (`all` when the database leaves it out).
    pub arch: String,
    pub volume_id: Option<IdPattern>,
    pub system_id: Option<IdPattern>,
    pub publisher_id: Option<IdPattern>,
    pub application_id: Option<IdPattern>,
    /// Exact image size in bytes, for images only told apart by it.
    pub volume_size: Option<u64>,
}

impl Media {
    /// Whether this media runs on an x86 machine.
    pub fn is_x86(&self) -> bool {
        is_x86_arch(&self.arch)
    }
}

pub(crate) fn is_x86_arch(arch: &str) -> bool {
    matches!(arch, "x86_64" | "i686" | "i586" | "i486" | "i386" | "all")
}

/// One operating system.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsEntry {
    /// The osinfo id, a URL (`http://debian.org/debian/11`).
    pub id: String,
    /// Short ids, best first (`debian11`, `debianbullseye`). Hangar stores the first in `vm.toml`.
    pub short_ids: Vec<String>,
    /// English name (`Debian 11`).
    pub name: String,
    pub vendor: String,
    /// `linux`, `winnt`, `win9x`, `freebsd`, …
    pub family: String,
    /// `debian`, `fedora`, `win`, …
    pub distro: String,
    pub version: Option<String>,
    pub codename: Option<String>,
    /// `YYYY-MM-DD`.
    pub release_date: Option<String>,
    /// `YYYY-MM-DD`: end of (vendor) support.
    pub eol_date: Option<String>,
    pub release_status: ReleaseStatus,
    /// `<derives-from>` ids.
    pub derives_from: Vec<String>,
    /// `<clones>` id (a rebuild of another OS, like Rocky of RHEL).
    pub clones: Option<String>,
    /// `<upgrades>` ids (the previous release).
    pub upgrades: Vec<String>,
    /// Installation images the database can recognise.
    pub media: Vec<Media>,
    /// Resource needs on x86, resolved through parents; `None` when nobody says.
    pub resources: Option<Resources>,
    /// Driver support, resolved through parents.
    pub devices: Devices,
    /// Firmware support on x86_64, resolved through parents.
    pub firmware: FirmwareSupport,
    /// Built-in rule (osinfo-db does not encode it): Windows 11, Windows Server 2025 and what
    /// derives from them need UEFI with Secure Boot and a TPM 2.0.
    pub needs_tpm_and_secure_boot: bool,
}

impl OsEntry {
    /// The short id Hangar writes to `vm.toml` (`os = "debian11"`).
    pub fn short_id(&self) -> Option<&str> {
        self.short_ids.first().map(String::as_str)
    }

    pub fn is_windows(&self) -> bool {
        matches!(self.family.as_str(), "winnt" | "win9x" | "win16" | "msdos")
    }

    pub fn is_linux(&self) -> bool {
        self.family == "linux"
    }

    /// Not a final release (prerelease, snapshot) or a catch-all entry (`fedora-unknown`).
    pub fn is_prerelease(&self) -> bool {
        matches!(
            self.release_status,
            ReleaseStatus::Prerelease | ReleaseStatus::Snapshot
        ) || self.short_ids.iter().any(|s| s.ends_with("unknown"))
    }

    /// Out of vendor support on `today` (`YYYY-MM-DD`, see [`today`]).
    pub fn is_eol(&self, today: &str) -> bool {
        self.eol_date.as_deref().is_some_and(|d| d <= today)
    }

    /// Installable on an x86 machine: has x86 media, or no media at all to say otherwise.
    pub fn runs_on_x86(&self) -> bool {
        self.media.is_empty() || self.media.iter().any(Media::is_x86)
    }
}

/// Today's date in UTC as `YYYY-MM-DD`, to compare with [`OsEntry::eol_date`].
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date(secs / 86_400)
}

/// Days since 1970-01-01 to a proleptic Gregorian date.
fn civil_date(days: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm, for non-negative day counts.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(19_782), "2024-02-29");
        assert_eq!(civil_date(20_000), "2024-10-04");
        assert!(today().as_str() > "2024-01-01");
    }

    #[test]
    fn patterns_are_unanchored_and_case_insensitive() {
        let p = IdPattern::new(r"Debian 11.\d+.\d+ amd64 n");
        assert!(p.is_match("Debian 11.7.0 amd64 n"));
        assert!(p.is_match("DEBIAN 11.7.0 AMD64 N"));
        assert!(!p.is_match("Debian 11 amd64 n"));
        let anchored = IdPattern::new(r"^(J_)?(CCSN?A|C?CCOMA)_X64FREE?_");
        assert!(anchored.is_match("CCCOMA_X64FRE_EN-US_DV9"));
        assert!(!anchored.is_match("XCCCOMA_X64FRE_EN-US_DV9"));
        let plus = IdPattern::new(r"Ubuntu 22.04(.\d\+?)?(.\d\+?)? LTS amd64");
        assert!(plus.is_match("Ubuntu 22.04.3 LTS amd64"));
        let look = IdPattern::new(r"Asianux Server (7 (?!SP[123])|(4 ?!SP[67])).+");
        assert!(look.compiles());
        assert!(look.is_match("Asianux Server 7 x86_64"));
        assert_eq!(without_lookarounds(r"a(?!b[)]\)c)d(?<=e)f"), Some("adf".into()));
        assert_eq!(without_lookarounds(r"a\(?!b"), None);
        let broken = IdPattern::new(r"(unclosed");
        assert!(!broken.compiles());
        assert!(!broken.is_match("(unclosed"));
    }

    #[test]
    fn efi_required_only_when_bios_is_refused() {
        let fw = |efi, bios| FirmwareSupport { efi, bios };
        assert!(fw(None, Some(false)).efi_required());
        assert!(fw(Some(true), Some(false)).efi_required());
        assert!(!fw(Some(true), None).efi_required());
        assert!(!fw(None, None).efi_required());
    }
}
