//! Can the current user open a device node read-write (as QEMU's `usb-host` needs)? If not, say
//! exactly why and give the udev rule that fixes it.

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::AccessFlags;
use thiserror::Error;

use super::device::UsbDevice;

/// Where the udev rule goes. Numbered below 73 so that systemd's `73-seat-late.rules` sees the tag.
pub const UDEV_RULES_FILE: &str = "/etc/udev/rules.d/70-hangar-usb.rules";
/// Commands that make udev apply a new rule to devices already plugged in.
pub const UDEV_RELOAD: &str = "sudo udevadm control --reload && sudo udevadm trigger";

/// The udev rule that gives the logged-in user access to this model of device.
pub fn udev_rule(vendor_id: u16, product_id: u16) -> String {
    format!(
        "SUBSYSTEM==\"usb\", ATTRS{{idVendor}}==\"{vendor_id:04x}\", ATTRS{{idProduct}}==\"{product_id:04x}\", TAG+=\"uaccess\""
    )
}

/// The permissions that are lacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Read,
    Write,
    ReadWrite,
}

impl Missing {
    fn from_flags(read_ok: bool, write_ok: bool) -> Option<Missing> {
        match (read_ok, write_ok) {
            (true, true) => None,
            (true, false) => Some(Missing::Write),
            (false, true) => Some(Missing::Read),
            (false, false) => Some(Missing::ReadWrite),
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Missing::Read => "read",
            Missing::Write => "write",
            Missing::ReadWrite => "read and write",
        })
    }
}

/// How to grant access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFix {
    /// The line to put in [`AccessFix::rules_file`].
    pub udev_rule: String,
    pub rules_file: PathBuf,
    /// Shell commands that apply the rule now.
    pub reload: String,
    /// A one-time alternative that lasts until the device is unplugged.
    pub one_time: String,
}

/// Why a device node cannot be opened read-write, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessProblem {
    pub node: PathBuf,
    /// Owner and group names (numeric when unknown).
    pub owner: String,
    pub group: String,
    /// `ls -l` style (`crw-rw-r--`).
    pub mode: String,
    pub missing: Missing,
    pub fix: AccessFix,
}

impl fmt::Display for AccessProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open {} for reading and writing: it belongs to {}:{} with mode {}, which does not give \
             you {} permission. To allow this device for good, add this line to {}:\n    {}\nthen run: {}\n\
             Or, until it is unplugged: {}",
            self.node.display(),
            self.owner,
            self.group,
            self.mode,
            self.missing,
            self.fix.rules_file.display(),
            self.fix.udev_rule,
            self.fix.reload,
            self.fix.one_time,
        )
    }
}

impl std::error::Error for AccessProblem {}

#[derive(Debug, Error)]
pub enum AccessError {
    #[error(transparent)]
    Denied(Box<AccessProblem>),

    #[error(
        "{} no longer exists: the device on bus {bus} address {devnum} was unplugged; \
         plug it in again and choose it from the refreshed list",
        node.display()
    )]
    Gone { node: PathBuf, bus: u16, devnum: u16 },

    #[error("cannot open {}: {source}", node.display())]
    Io {
        node: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Whose permissions are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// This process, through `access(2)` (which also honours ACLs such as udev's `uaccess`).
    Current,
    /// A given user, judged from the owner/group/other mode bits only.
    User { uid: u32, gid: u32, groups: Vec<u32> },
}

/// Checks and opens device nodes; `root` is where `/etc/passwd` and `/etc/group` are looked up.
#[derive(Debug, Clone)]
pub struct AccessChecker {
    root: PathBuf,
    who: Identity,
}

impl AccessChecker {
    /// The current process, accounts from `root` (`/` in production).
    pub fn new(root: impl Into<PathBuf>) -> AccessChecker {
        AccessChecker::for_identity(root, Identity::Current)
    }

    pub fn for_identity(root: impl Into<PathBuf>, who: Identity) -> AccessChecker {
        AccessChecker {
            root: root.into(),
            who,
        }
    }

    /// `Ok` when the device's node can be opened read-write.
    pub fn check(&self, dev: &UsbDevice) -> Result<(), AccessError> {
        let node = dev.devnode();
        let meta = fs::metadata(node).map_err(|e| self.io_error(dev, e))?;
        let missing = match &self.who {
            Identity::Current => {
                let ok = |flag| match nix::unistd::access(node, flag) {
                    Ok(()) => Ok(true),
                    Err(Errno::EACCES | Errno::EPERM | Errno::EROFS) => Ok(false),
                    Err(e) => Err(self.io_error(dev, io::Error::from(e))),
                };
                Missing::from_flags(ok(AccessFlags::R_OK)?, ok(AccessFlags::W_OK)?)
            }
            Identity::User { uid, gid, groups } => {
                let bits = permission_bits(&meta, *uid, *gid, groups);
                Missing::from_flags(bits & 0o4 != 0, bits & 0o2 != 0)
            }
        };
        match missing {
            None => Ok(()),
            Some(missing) => Err(AccessError::Denied(Box::new(self.problem(dev, &meta, missing)))),
        }
    }

    /// Opens the node `O_RDWR | O_CLOEXEC`, for handing to QEMU with `add-fd`
    /// (`hostdevice=/dev/fdset/N`).
    pub fn open_for_passthrough(&self, dev: &UsbDevice) -> Result<OwnedFd, AccessError> {
        if matches!(self.who, Identity::User { .. }) {
            self.check(dev)?;
        }
        let node = dev.devnode();
        match nix::fcntl::open(node, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => Ok(fd),
            Err(e @ (Errno::EACCES | Errno::EPERM | Errno::EROFS)) => {
                self.check(dev)?;
                // The mode allows it yet the open was refused (a security module, a read-only mount):
                // report what we know.
                let meta = fs::metadata(node).map_err(|e| self.io_error(dev, e))?;
                tracing::warn!(node = %node.display(), "open refused ({e}) although permissions allow it");
                Err(AccessError::Denied(Box::new(self.problem(
                    dev,
                    &meta,
                    Missing::ReadWrite,
                ))))
            }
            Err(e) => Err(self.io_error(dev, io::Error::from(e))),
        }
    }

    fn io_error(&self, dev: &UsbDevice, e: io::Error) -> AccessError {
        let node = dev.devnode().to_path_buf();
        if e.kind() == io::ErrorKind::NotFound || matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ENXIO))
        {
            AccessError::Gone {
                node,
                bus: dev.bus,
                devnum: dev.devnum,
            }
        } else {
            AccessError::Io { node, source: e }
        }
    }

    fn problem(&self, dev: &UsbDevice, meta: &fs::Metadata, missing: Missing) -> AccessProblem {
        let node = dev.devnode().to_path_buf();
        AccessProblem {
            owner: self.user_name(meta.uid()),
            group: self.group_name(meta.gid()),
            mode: mode_string(meta.mode()),
            missing,
            fix: AccessFix {
                udev_rule: udev_rule(dev.vendor_id, dev.product_id),
                rules_file: PathBuf::from(UDEV_RULES_FILE),
                reload: UDEV_RELOAD.to_string(),
                one_time: format!("sudo setfacl -m u:$USER:rw {}", node.display()),
            },
            node,
        }
    }

    fn user_name(&self, uid: u32) -> String {
        if self.root == Path::new("/") {
            if let Ok(Some(u)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
                return u.name;
            }
        }
        account_name(&self.root.join("etc/passwd"), uid).unwrap_or_else(|| format!("uid {uid}"))
    }

    fn group_name(&self, gid: u32) -> String {
        if self.root == Path::new("/") {
            if let Ok(Some(g)) = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)) {
                return g.name;
            }
        }
        account_name(&self.root.join("etc/group"), gid).unwrap_or_else(|| format!("gid {gid}"))
    }
}

/// The rwx bits (0-7) that apply to this user, as the kernel chooses them: owner, else group, else
/// other. Root may read and write anything.
fn permission_bits(meta: &fs::Metadata, uid: u32, gid: u32, groups: &[u32]) -> u32 {
    let mode = meta.mode();
    if uid == 0 {
        0o6 | (mode & 0o1)
    } else if meta.uid() == uid {
        (mode >> 6) & 0o7
    } else if meta.gid() == gid || groups.contains(&meta.gid()) {
        (mode >> 3) & 0o7
    } else {
        mode & 0o7
    }
}

/// Name for numeric id `id` in a passwd/group style file (`name:x:id:…`).
fn account_name(file: &Path, id: u32) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let num: u32 = fields.next()?.parse().ok()?;
        (num == id && !name.is_empty()).then(|| name.to_string())
    })
}

/// `ls -l` style mode text: `crw-rw-r--`.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 's',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (bit, on, off)) in special.iter().enumerate() {
        let shift = 6 - 3 * i;
        let rwx = (mode >> shift) & 0o7;
        s.push(if rwx & 4 != 0 { 'r' } else { '-' });
        s.push(if rwx & 2 != 0 { 'w' } else { '-' });
        s.push(match (mode & bit != 0, rwx & 1 != 0) {
            (true, true) => *on,
            (true, false) => *off,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
