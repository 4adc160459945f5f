//! The pure parts of the hardware editor: reading what people type (port forwards, extra QEMU
//! arguments, disk sizes), boot order moves, choosing names for new disks, and presenting
//! command lines and errors. No widgets here, so all of it is unit-tested.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use hangar_core::config::{BootDevice, ConfigError, DiskConfig, PortForward, Protocol};
use hangar_core::manager::ManagerError;
use hangar_core::store::StoreError;

use crate::i18n::{gettext, i18n_f};

/// Why a port forward entry cannot be used. [`ForwardError::message`] is translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    Empty,
    Shape(String),
    Port(String),
}

impl ForwardError {
    pub fn message(&self) -> String {
        match self {
            ForwardError::Empty => gettext("Type a forward such as “2222:22” (host port, then guest port)."),
            ForwardError::Shape(text) => i18n_f(
                "“{}” is not a port forward. Write the host port and the guest port, such as “2222:22” or “udp 5353:53”.",
                &[text],
            ),
            ForwardError::Port(text) => {
                i18n_f("“{}” is not a port number. Use a number from 1 to 65535.", &[text])
            }
        }
    }
}

fn port(text: &str) -> Result<u16, ForwardError> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ForwardError::Port(text.to_owned())),
    }
}

/// Parses `[tcp|udp][ :/]HOST(:|->|→| )GUEST`, e.g. `2222:22`, `udp 5353:53`, `tcp/8080->80`.
/// The protocol defaults to TCP.
pub fn parse_forward(input: &str) -> Result<PortForward, ForwardError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(ForwardError::Empty);
    }
    let lower = text.to_ascii_lowercase();
    let (protocol, rest) = match lower.get(..3) {
        Some("tcp") => (Protocol::Tcp, &lower[3..]),
        Some("udp") => (Protocol::Udp, &lower[3..]),
        _ => (Protocol::Tcp, lower.as_str()),
    };
    let rest = rest.trim_start_matches([' ', ':', '/']).trim();
    let normalised = rest.replace("->", " ").replace(['→', ':'], " ");
    let parts: Vec<&str> = normalised.split_whitespace().collect();
    match parts.as_slice() {
        [host, guest] => Ok(PortForward {
            protocol,
            host_port: port(host)?,
            guest_port: port(guest)?,
        }),
        _ => Err(ForwardError::Shape(text.to_owned())),
    }
}

/// `TCP 2222 → 22` for lists.
pub fn format_forward(f: &PortForward) -> String {
    let proto = match f.protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    };
    format!("{proto} {} → {}", f.host_port, f.guest_port)
}

/// A line of the extra-arguments editor that is surely a mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraArgsError {
    pub line: usize,
    pub text: String,
}

impl ExtraArgsError {
    pub fn message(&self) -> String {
        let option = self.text.split_whitespace().next().unwrap_or_default();
        i18n_f(
            "Line {}: “{}” holds an option and its value. Put “{}” and its value on separate lines: each line is one argument.",
            &[&self.line.to_string(), &self.text, option],
        )
    }
}

/// The editor's text as argv elements: one per line, surrounding spaces removed, empty lines
/// skipped. A line such as `-device virtio-rng-pci` (an option and its value on one line) is
/// refused: QEMU would get it as one argument and fail to start.
pub fn parse_extra_args(text: &str) -> Result<Vec<String>, ExtraArgsError> {
    let mut args = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('-') && line.contains(char::is_whitespace) {
            return Err(ExtraArgsError {
                line: i + 1,
                text: line.to_owned(),
            });
        }
        args.push(line.to_owned());
    }
    Ok(args)
}

/// The editor text for `args` (one per line).
pub fn extra_args_text(args: &[String]) -> String {
    args.join("\n")
}

/// Every boot device with whether it is in the boot order: the ordered ones first, then the
/// others in a fixed order.
pub fn boot_rows(order: &[BootDevice]) -> Vec<(BootDevice, bool)> {
    let mut rows: Vec<(BootDevice, bool)> = order.iter().map(|d| (*d, true)).collect();
    for d in [BootDevice::Disk, BootDevice::Cdrom, BootDevice::Network] {
        if !order.contains(&d) {
            rows.push((d, false));
        }
    }
    rows
}

fn order_of(rows: &[(BootDevice, bool)]) -> Vec<BootDevice> {
    rows.iter().filter(|(_, on)| *on).map(|(d, _)| *d).collect()
}

/// The boot order after moving `device` one place up (`-1`) or down (`+1`) among the devices
/// in the order (others cannot move: they come last when switched on).
pub fn move_boot_device(order: &[BootDevice], device: BootDevice, delta: i32) -> Vec<BootDevice> {
    let mut order = order.to_vec();
    if let Some(at) = order.iter().position(|d| *d == device) {
        let to = at as i64 + i64::from(delta);
        if (0..order.len() as i64).contains(&to) {
            order.swap(at, to as usize);
        }
    }
    order
}

/// The boot order with `device` switched on (last) or off.
pub fn toggle_boot_device(order: &[BootDevice], device: BootDevice, on: bool) -> Vec<BootDevice> {
    let mut rows = boot_rows(order);
    for row in &mut rows {
        if row.0 == device {
            row.1 = on;
        }
    }
    order_of(&rows)
}

/// Id and file name for a new disk: the first `diskN` that no disk uses as id and whose
/// `diskN.qcow2` does not exist (`exists` is asked about file names in the VM folder).
pub fn new_disk_name(disks: &[DiskConfig], exists: impl Fn(&str) -> bool) -> (String, String) {
    (0u32..)
        .map(|n| (format!("disk{n}"), format!("disk{n}.qcow2")))
        .find(|(id, file)| !disks.iter().any(|d| &d.id == id || d.path == Path::new(file)) && !exists(file))
        .unwrap_or_else(|| ("disk-new".into(), "disk-new.qcow2".into()))
}

/// `path` (from vm.toml) made absolute against `vm_dir`, with `.` removed; `None` when it
/// contains `..` (then it is not treated as inside the folder).
fn lexical(vm_dir: &Path, path: &Path) -> Option<PathBuf> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        vm_dir.join(path)
    };
    let mut out = PathBuf::new();
    for c in full.components() {
        match c {
            Component::ParentDir => return None,
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Whether an image belongs to the VM: it lies inside the VM folder. Only such images may be
/// deleted together with their disk entry.
pub fn is_own_image(vm_dir: &Path, path: &Path) -> bool {
    lexical(vm_dir, path).is_some_and(|p| p.starts_with(vm_dir) && p != vm_dir)
}

/// `s` as a POSIX shell word (quoted only when needed), for showing copyable command lines.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=,+@%".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A command line for people: the program, then one option (with its value) per line, joined
/// with ` \` so the text can be pasted into a shell.
pub fn format_command_line(program: &OsStr, args: &[OsString]) -> String {
    let words: Vec<String> = args.iter().map(|a| shell_quote(&a.to_string_lossy())).collect();
    let mut lines = vec![shell_quote(&program.to_string_lossy())];
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let takes_value =
            word.starts_with('-') && words.get(i + 1).is_some_and(|next| !next.starts_with('-'));
        if takes_value {
            lines.push(format!("  {word} {}", words[i + 1]));
            i += 2;
        } else {
            lines.push(format!("  {word}"));
            i += 1;
        }
    }
    lines.join(" \\\n")
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The message shown beside a field whose edit was refused: out-of-range numbers in the user's
/// language, everything else as the core says it (it names the field and what to do).
pub fn field_message(err: &ManagerError) -> String {
    let config = match err {
        ManagerError::Config(c) | ManagerError::Store(StoreError::Config(c)) => Some(c),
        _ => None,
    };
    match config {
        Some(ConfigError::OutOfRange {
            value,
            min,
            max,
            unit,
            ..
        }) => i18n_f(
            "{} is out of range. Use a value from {} to {}{}.",
            &[&value.to_string(), &min.to_string(), &max.to_string(), unit],
        ),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_core::config::DiskBus;

    fn fwd(protocol: Protocol, host_port: u16, guest_port: u16) -> PortForward {
        PortForward {
            protocol,
            host_port,
            guest_port,
        }
    }

    #[test]
    fn forwards_in_the_usual_spellings() {
        assert_eq!(parse_forward("2222:22"), Ok(fwd(Protocol::Tcp, 2222, 22)));
        assert_eq!(parse_forward(" udp 5353:53 "), Ok(fwd(Protocol::Udp, 5353, 53)));
        assert_eq!(parse_forward("TCP/8080->80"), Ok(fwd(Protocol::Tcp, 8080, 80)));
        assert_eq!(parse_forward("tcp:8443 → 443"), Ok(fwd(Protocol::Tcp, 8443, 443)));
        assert_eq!(parse_forward("udp 1 2"), Ok(fwd(Protocol::Udp, 1, 2)));
    }

    #[test]
    fn bad_forwards_say_what_is_wrong() {
        assert_eq!(parse_forward("  "), Err(ForwardError::Empty));
        assert_eq!(parse_forward("2222"), Err(ForwardError::Shape("2222".into())));
        assert_eq!(parse_forward("1:2:3"), Err(ForwardError::Shape("1:2:3".into())));
        assert_eq!(parse_forward("0:22"), Err(ForwardError::Port("0".into())));
        assert_eq!(parse_forward("70000:22"), Err(ForwardError::Port("70000".into())));
        assert_eq!(parse_forward("ssh:22"), Err(ForwardError::Port("ssh".into())));
        assert!(ForwardError::Port("x".into()).message().contains("65535"));
        assert_eq!(format_forward(&fwd(Protocol::Udp, 5353, 53)), "UDP 5353 → 53");
    }

    #[test]
    fn extra_args_one_per_line() {
        let text = "-device\n  virtio-rng-pci \n\n-global\nkvm-pit.lost_tick_policy=discard\r\n";
        assert_eq!(
            parse_extra_args(text).unwrap(),
            [
                "-device",
                "virtio-rng-pci",
                "-global",
                "kvm-pit.lost_tick_policy=discard"
            ]
        );
        assert_eq!(parse_extra_args("").unwrap(), Vec::<String>::new());
        // A value with spaces is fine on its own line.
        assert_eq!(
            parse_extra_args("-append\nconsole=ttyS0 quiet").unwrap(),
            ["-append", "console=ttyS0 quiet"]
        );
        let err = parse_extra_args("-m 512\n-device virtio-rng-pci").unwrap_err();
        assert_eq!(
            err,
            ExtraArgsError {
                line: 1,
                text: "-m 512".into()
            }
        );
        assert!(err.message().contains("“-m”"), "{}", err.message());
        let args = vec!["-device".to_string(), "x".to_string()];
        assert_eq!(parse_extra_args(&extra_args_text(&args)).unwrap(), args);
    }

    #[test]
    fn boot_order_moves_and_toggles() {
        use BootDevice::*;
        let order = [Disk, Cdrom];
        assert_eq!(boot_rows(&order), [(Disk, true), (Cdrom, true), (Network, false)]);
        assert_eq!(move_boot_device(&order, Cdrom, -1), [Cdrom, Disk]);
        assert_eq!(move_boot_device(&order, Disk, -1), [Disk, Cdrom], "top stays");
        assert_eq!(
            move_boot_device(&order, Network, 1),
            [Disk, Cdrom],
            "bottom stays"
        );
        assert_eq!(
            move_boot_device(&order, Network, -1),
            [Disk, Cdrom],
            "off: not in the order"
        );
        assert_eq!(
            move_boot_device(&[Disk, Cdrom, Network], Network, -1),
            [Disk, Network, Cdrom]
        );
        assert_eq!(toggle_boot_device(&order, Network, true), [Disk, Cdrom, Network]);
        assert_eq!(toggle_boot_device(&order, Disk, false), [Cdrom]);
        assert_eq!(toggle_boot_device(&[Cdrom], Disk, true), [Cdrom, Disk]);
        assert_eq!(toggle_boot_device(&[], Cdrom, true), [Cdrom]);
    }

    fn disk(id: &str, path: &str) -> DiskConfig {
        DiskConfig {
            id: id.into(),
            path: path.into(),
            format: "qcow2".into(),
            bus: DiskBus::Virtio,
            readonly: false,
        }
    }

    #[test]
    fn new_disks_get_free_ids_and_files() {
        assert_eq!(
            new_disk_name(&[], |_| false),
            ("disk0".into(), "disk0.qcow2".into())
        );
        let disks = [disk("disk0", "disk0.qcow2"), disk("data", "disk1.qcow2")];
        assert_eq!(new_disk_name(&disks, |_| false).0, "disk2");
        assert_eq!(
            new_disk_name(&disks, |f| f == "disk2.qcow2"),
            ("disk3".into(), "disk3.qcow2".into())
        );
    }

    #[test]
    fn own_images_are_inside_the_vm_folder() {
        let dir = Path::new("/vms/a");
        assert!(is_own_image(dir, Path::new("disk0.qcow2")));
        assert!(is_own_image(dir, Path::new("/vms/a/sub/d.img")));
        assert!(is_own_image(dir, Path::new("./d.qcow2")));
        assert!(!is_own_image(dir, Path::new("/isos/d.qcow2")));
        assert!(!is_own_image(dir, Path::new("../b/disk0.qcow2")));
        assert!(!is_own_image(dir, Path::new("/vms/a/../b/disk0.qcow2")));
        assert!(!is_own_image(dir, Path::new("/vms/ab/disk0.qcow2")));
        assert!(!is_own_image(dir, Path::new(".")));
    }

    #[test]
    fn command_lines_are_shell_safe_and_grouped() {
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("guest=My VM"), "'guest=My VM'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        let args: Vec<OsString> = ["-name", "guest=a b", "-nodefaults", "-m", "512M", "-S"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            format_command_line(OsStr::new("/usr/bin/qemu-system-x86_64"), &args),
            "/usr/bin/qemu-system-x86_64 \\\n  -name 'guest=a b' \\\n  -nodefaults \\\n  -m 512M \\\n  -S"
        );
    }

    #[test]
    fn meminfo_total() {
        let text = "MemTotal:        8041236 kB\nMemFree:  1 kB\n";
        assert_eq!(parse_meminfo(text), Some(8041236 * 1024));
        assert_eq!(parse_meminfo("nothing"), None);
    }

    #[test]
    fn out_of_range_edits_are_explained() {
        let vm = hangar_core::config::VmConfig::new("a");
        let err = vm
            .update(&hangar_core::config::Update::SetMemoryMib(0))
            .unwrap_err();
        let msg = field_message(&ManagerError::Config(err.clone()));
        assert_eq!(msg, "0 is out of range. Use a value from 16 to 4194304 MiB.");
        let stored = ManagerError::Store(StoreError::Config(err));
        assert_eq!(field_message(&stored), msg, "as manager.update reports it");
        let err = vm
            .update(&hangar_core::config::Update::Rename("a/b".into()))
            .unwrap_err();
        assert!(field_message(&ManagerError::Config(err)).contains("'/'"));
    }
}
