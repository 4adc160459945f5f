//! What the host offers QEMU: KVM, the QEMU binary, OVMF, swtpm, the bridge helper, CPUs, memory.
//!
//! [`HostCaps::probe_with`] takes the filesystem root and the environment as parameters so tests
//! can describe any host with a temporary folder. Probing never fails: missing things are `None`
//! (or [`KvmStatus::Missing`]) and the caller turns them into a message when a VM needs them.
//!
//! KVM caveat: an openable `/dev/kvm` only means KVM is *probably* usable. Some hosts (nested
//! setups such as KVM-PVM inside a Firecracker VM) open `/dev/kvm` fine yet cannot boot a Linux
//! guest. `HANGAR_ACCEL=tcg|kvm|auto` overrides every VM's accelerator setting for such hosts.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Accel;

/// Environment variable forcing the accelerator of every VM (`tcg`, `kvm` or `auto`).
pub const ACCEL_ENV: &str = "HANGAR_ACCEL";
/// Environment variable naming the QEMU binary (a path, or a name looked up on `PATH`).
pub const QEMU_ENV: &str = "HANGAR_QEMU";
/// The QEMU system emulator Hangar drives.
pub const QEMU_NAME: &str = "qemu-system-x86_64";

/// Can QEMU use KVM?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmStatus {
    /// `/dev/kvm` opens read-write. Probably usable, not proven (see the module docs).
    Usable,
    /// There is no `/dev/kvm`.
    Missing,
    /// `/dev/kvm` exists but cannot be opened; `reason` says why and what to do.
    NotAccessible { reason: String },
}

/// An accelerator QEMU actually runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelKind {
    Kvm,
    Tcg,
}

impl AccelKind {
    /// The name QEMU uses (`kvm`, `tcg`).
    pub fn as_str(self) -> &'static str {
        match self {
            AccelKind::Kvm => "kvm",
            AccelKind::Tcg => "tcg",
        }
    }
}

/// The outcome of [`HostCaps::resolve_accel`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAccel {
    pub accel: AccelKind,
    /// Set when Hangar fell back to software emulation; show it to the user.
    pub warning: Option<String>,
}

/// The value of `HANGAR_ACCEL` when it is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccelOverride {
    /// Replaces the accelerator of every VM.
    Force(Accel),
    /// Not one of `tcg`, `kvm`, `auto`; starting a VM reports it.
    Invalid(String),
}

/// OVMF (UEFI) firmware images. Code and variable templates come in matching pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ovmf {
    pub code: PathBuf,
    /// Template of the variable store (copied into each VM).
    pub vars: PathBuf,
    /// Secure Boot build of the code, when installed.
    pub secure_code: Option<PathBuf>,
    /// Variable template with the Microsoft keys enrolled, when installed.
    pub secure_vars: Option<PathBuf>,
}

impl Ovmf {
    /// The code image for a VM with or without Secure Boot.
    pub fn code_for(&self, secure_boot: bool) -> Option<&Path> {
        if secure_boot {
            self.secure_code.as_deref()
        } else {
            Some(&self.code)
        }
    }

    /// The variable-store template to copy into a new VM with or without Secure Boot.
    pub fn vars_template_for(&self, secure_boot: bool) -> Option<&Path> {
        if secure_boot {
            self.secure_vars.as_deref()
        } else {
            Some(&self.vars)
        }
    }
}

/// Why the host cannot run a VM as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// KVM was required (by the VM or by `HANGAR_ACCEL`) but cannot be used.
    #[error("{required_by} asks for KVM, but {reason}. Fix that, or {alternative}.")]
    KvmUnavailable {
        reason: String,
        required_by: &'static str,
        alternative: &'static str,
    },
    /// `HANGAR_ACCEL` holds something else than `tcg`, `kvm` or `auto`.
    #[error("HANGAR_ACCEL={value:?} is not understood: set it to tcg, kvm or auto, or unset it")]
    InvalidAccelOverride { value: String },
    /// No QEMU binary.
    #[error("{QEMU_NAME} was not found on PATH: install the qemu-system-x86 package")]
    QemuNotFound,
    /// `HANGAR_QEMU` names something that is not an executable file.
    #[error(
        "HANGAR_QEMU={value:?} is not an executable file (or not found on PATH): fix or unset HANGAR_QEMU"
    )]
    QemuOverrideNotFound { value: String },
}

/// Everything Hangar needs to know about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCaps {
    pub kvm: KvmStatus,
    /// `HANGAR_ACCEL`, when set.
    pub accel_override: Option<AccelOverride>,
    /// The QEMU binary, resolved to a path.
    pub qemu_binary: Option<PathBuf>,
    /// `HANGAR_QEMU`, when set (for the message when it points nowhere).
    pub qemu_override: Option<String>,
    pub ovmf: Option<Ovmf>,
    pub swtpm: Option<PathBuf>,
    /// `qemu-bridge-helper` (for bridged networking without root).
    pub bridge_helper: Option<PathBuf>,
    /// Online CPUs (at least 1).
    pub cpus: u32,
    /// Total memory in MiB; 0 when unknown.
    pub memory_mib: u64,
}

/// OVMF layouts of the distributions, best first: (folder, code, vars, secure code, secure vars).
const OVMF_LAYOUTS: &[(&str, &str, &str, &str, &str)] = &[
    // Debian / Ubuntu, 4 MiB flash.
    (
        "usr/share/OVMF",
        "OVMF_CODE_4M.fd",
        "OVMF_VARS_4M.fd",
        "OVMF_CODE_4M.secboot.fd",
        "OVMF_VARS_4M.ms.fd",
    ),
    // Older Debian / Ubuntu, 2 MiB flash.
    (
        "usr/share/OVMF",
        "OVMF_CODE.fd",
        "OVMF_VARS.fd",
        "OVMF_CODE.secboot.fd",
        "OVMF_VARS.ms.fd",
    ),
    // Fedora / RHEL.
    (
        "usr/share/edk2/ovmf",
        "OVMF_CODE.fd",
        "OVMF_VARS.fd",
        "OVMF_CODE.secboot.fd",
        "OVMF_VARS.secboot.fd",
    ),
];

/// Where distributions install `qemu-bridge-helper`.
const BRIDGE_HELPERS: &[&str] = &[
    "usr/lib/qemu/qemu-bridge-helper",
    "usr/libexec/qemu-bridge-helper",
    "usr/lib/qemu-bridge-helper",
];

impl HostCaps {
    /// Probe the real host with the process environment.
    pub fn probe() -> Self {
        Self::probe_with(Path::new("/"), |k| std::env::var_os(k))
    }

    /// Probe a host whose filesystem starts at `root`, with an injectable environment. Paths in
    /// the result include `root`.
    pub fn probe_with(root: &Path, env: impl Fn(&str) -> Option<OsString>) -> Self {
        let path_var = env("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
        let accel_override = env(ACCEL_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| parse_accel_override(&v.to_string_lossy()));
        let qemu_override = env(QEMU_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned());
        let qemu_binary = match &qemu_override {
            Some(value) => find_program(root, value, &path_var),
            None => find_program(root, QEMU_NAME, &path_var),
        };
        let caps = HostCaps {
            kvm: probe_kvm(root),
            accel_override,
            qemu_binary,
            qemu_override,
            ovmf: probe_ovmf(root),
            swtpm: find_program(root, "swtpm", &path_var),
            bridge_helper: BRIDGE_HELPERS
                .iter()
                .map(|p| root.join(p))
                .find(|p| is_executable(p)),
            cpus: probe_cpus(root),
            memory_mib: probe_memory_mib(root),
        };
        tracing::debug!(?caps, "probed host");
        caps
    }

    /// The QEMU binary, or why there is none.
    pub fn qemu(&self) -> Result<&Path, HostError> {
        match (&self.qemu_binary, &self.qemu_override) {
            (Some(path), _) => Ok(path),
            (None, Some(value)) => Err(HostError::QemuOverrideNotFound { value: value.clone() }),
            (None, None) => Err(HostError::QemuNotFound),
        }
    }

    /// Decide the accelerator for a VM that asks for `requested`. `HANGAR_ACCEL` wins over it.
    pub fn resolve_accel(&self, requested: Accel) -> Result<ResolvedAccel, HostError> {
        let (wanted, required_by, alternative) = match &self.accel_override {
            Some(AccelOverride::Invalid(value)) => {
                return Err(HostError::InvalidAccelOverride { value: value.clone() })
            }
            Some(AccelOverride::Force(accel)) => {
                if *accel != requested {
                    tracing::info!(?requested, forced = ?accel, "HANGAR_ACCEL overrides the VM's accelerator");
                }
                (*accel, "HANGAR_ACCEL=kvm", "unset HANGAR_ACCEL")
            }
            None => (
                requested,
                "this VM (machine.accel = \"kvm\")",
                "set machine.accel to \"auto\" or \"tcg\" to use software emulation",
            ),
        };
        let kvm_problem = match &self.kvm {
            KvmStatus::Usable => None,
            KvmStatus::Missing => Some(
                "/dev/kvm does not exist (hardware virtualisation is off in the firmware settings, \
                 or the kvm_intel/kvm_amd module is not loaded)"
                    .to_string(),
            ),
            KvmStatus::NotAccessible { reason } => Some(format!("/dev/kvm is not accessible: {reason}")),
        };
        let tcg = |warning| ResolvedAccel {
            accel: AccelKind::Tcg,
            warning,
        };
        match (wanted, kvm_problem) {
            (Accel::Tcg, _) => Ok(tcg(None)),
            (Accel::Kvm | Accel::Auto, None) => Ok(ResolvedAccel {
                accel: AccelKind::Kvm,
                warning: None,
            }),
            (Accel::Auto, Some(problem)) => Ok(tcg(Some(format!(
                "{problem}; running with software emulation (slow)"
            )))),
            (Accel::Kvm, Some(reason)) => Err(HostError::KvmUnavailable {
                reason,
                required_by,
                alternative,
            }),
        }
    }
}

fn parse_accel_override(value: &str) -> AccelOverride {
    match value.trim().to_ascii_lowercase().as_str() {
        "tcg" => AccelOverride::Force(Accel::Tcg),
        "kvm" => AccelOverride::Force(Accel::Kvm),
        "auto" => AccelOverride::Force(Accel::Auto),
        _ => AccelOverride::Invalid(value.to_string()),
    }
}

/// `path` below `root` (absolute paths lose their leading `/`).
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A program given as a path (contains `/`) or as a name looked up on `path_var`.
fn find_program(root: &Path, program: &str, path_var: &OsString) -> Option<PathBuf> {
    if program.contains('/') {
        let candidate = under(root, Path::new(program));
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| under(root, &dir).join(program))
        .find(|p| is_executable(p))
}

fn probe_kvm(root: &Path) -> KvmStatus {
    let node = root.join("dev/kvm");
    match fs::OpenOptions::new().read(true).write(true).open(&node) {
        Ok(_) => KvmStatus::Usable,
        Err(err) => {
            let owner = fs::metadata(&node).ok().map(|m| NodeOwner {
                user: name_of(root, "etc/passwd", m.uid()),
                group: name_of(root, "etc/group", m.gid()),
                mode: m.mode() & 0o7777,
            });
            kvm_error_status(&err, owner.as_ref())
        }
    }
}

/// Owner and mode of a device node, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeOwner {
    user: String,
    group: String,
    mode: u32,
}

/// Classify a failed open of `/dev/kvm`.
fn kvm_error_status(err: &io::Error, owner: Option<&NodeOwner>) -> KvmStatus {
    if err.kind() == io::ErrorKind::NotFound {
        return KvmStatus::Missing;
    }
    let denied = matches!(err.raw_os_error(), Some(libc::EACCES | libc::EPERM));
    let reason = match (denied, owner) {
        (true, Some(o)) if o.group != "root" && o.mode & 0o060 == 0o060 => format!(
            "permission denied (owner {}:{}, mode {:04o}): add yourself to the {} group \
             (sudo usermod -aG {} $USER) and log in again",
            o.user, o.group, o.mode, o.group, o.group
        ),
        (true, Some(o)) => format!(
            "permission denied (owner {}:{}, mode {:04o}): give the kvm group access \
             (sudo chgrp kvm /dev/kvm && sudo chmod 0660 /dev/kvm; the qemu package's udev rules \
             normally do this), then add yourself to it (sudo usermod -aG kvm $USER) and log in again",
            o.user, o.group, o.mode
        ),
        (true, None) => "permission denied: add yourself to the kvm group (sudo usermod -aG kvm $USER) \
                         and log in again"
            .to_string(),
        (false, _) => format!(
            "opening it failed ({err}): enable hardware virtualisation (VT-x/AMD-V) in the firmware settings"
        ),
    };
    KvmStatus::NotAccessible { reason }
}

/// The name of numeric id `id` in a passwd/group style file, or the number.
fn name_of(root: &Path, file: &str, id: u32) -> String {
    let wanted = id.to_string();
    fs::read_to_string(root.join(file))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let num = fields.nth(1)?;
                (num == wanted).then(|| name.to_string())
            })
        })
        .unwrap_or(wanted)
}

fn probe_ovmf(root: &Path) -> Option<Ovmf> {
    OVMF_LAYOUTS
        .iter()
        .find_map(|(dir, code, vars, sec_code, sec_vars)| {
            let dir = root.join(dir);
            let existing = |name: &str| {
                let p = dir.join(name);
                p.is_file().then_some(p)
            };
            let (code, vars) = (existing(code)?, existing(vars)?);
            let (secure_code, secure_vars) = match (existing(sec_code), existing(sec_vars)) {
                (Some(c), Some(v)) => (Some(c), Some(v)),
                _ => (None, None),
            };
            Some(Ovmf {
                code,
                vars,
                secure_code,
                secure_vars,
            })
        })
}

fn probe_cpus(root: &Path) -> u32 {
    let cpu_dir = root.join("sys/devices/system/cpu");
    let from_online = fs::read_to_string(cpu_dir.join("online"))
        .ok()
        .and_then(|s| count_cpu_list(s.trim()));
    let count = from_online.or_else(|| {
        let entries = fs::read_dir(&cpu_dir).ok()?;
        let n = entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.strip_prefix("cpu")
                    .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
            })
            .count();
        u32::try_from(n).ok()
    });
    count.filter(|&n| n > 0).unwrap_or(1)
}

/// Count a kernel CPU list such as `0-3,6,8-9`.
fn count_cpu_list(list: &str) -> Option<u32> {
    list.split(',').try_fold(0u32, |acc, part| {
        let n = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.parse::<u32>().ok()?;
                1
            }
        };
        acc.checked_add(n)
    })
}

fn probe_memory_mib(root: &Path) -> u64 {
    fs::read_to_string(root.join("proc/meminfo"))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let rest = l.strip_prefix("MemTotal:")?;
                rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kib| kib / 1024)
}

#[cfg(test)]
mod tests;
