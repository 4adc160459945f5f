//! Command-line grammar.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Control Hangar virtual machines from a shell.
///
/// VMs live in $HANGAR_HOME (default ~/.local/share/hangar/vms), one folder each with a
/// human-editable vm.toml. Exit codes: 0 success, 1 failure, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "hangarctl", version, propagate_version = true)]
pub struct Cli {
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List VMs with their state.
    List,
    /// Create a VM.
    Create(CreateArgs),
    /// Start a VM (detached: it keeps running when this command ends).
    Start {
        name: String,
        /// Discard every disk change when the VM powers off.
        #[arg(long)]
        disposable: bool,
        /// Start with the vCPUs paused.
        #[arg(long)]
        paused: bool,
        /// Stay attached and print state changes until the VM stops.
        #[arg(long)]
        watch: bool,
    },
    /// Shut a VM down (ACPI power button, then forced off after the timeout).
    Stop {
        name: String,
        /// Pull the plug instead of asking the guest.
        #[arg(long)]
        force: bool,
        /// Seconds to wait for the guest before forcing it off.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Pause a running VM.
    Pause { name: String },
    /// Resume a paused VM.
    Resume { name: String },
    /// Reset a VM (like its reset button).
    Reset { name: String },
    /// Show a VM's state and settings.
    Status { name: String },
    /// Snapshots with RAM state.
    Snapshot {
        #[command(subcommand)]
        action: SnapshotCmd,
    },
    /// Copy a stopped VM.
    Clone {
        source: String,
        target: String,
        /// Share the source's disks as a read-only base instead of copying them.
        #[arg(long)]
        linked: bool,
    },
    /// Rename a stopped VM.
    Rename { name: String, new_name: String },
    /// Delete a stopped VM.
    Delete {
        name: String,
        /// Keep the disk images.
        #[arg(long)]
        keep_disks: bool,
    },
    /// Print the QEMU command line a start would use.
    Argv { name: String },
    /// Send a raw QMP command, e.g. '{"execute":"query-status"}'.
    Qmp {
        name: String,
        /// The command as JSON. (Not named `json`: that id belongs to the global --json flag.)
        #[arg(value_name = "JSON")]
        command: String,
    },
    /// Run a human monitor command, e.g. "info block".
    Monitor { name: String, command: String },
    /// Attach to the serial console (Ctrl-] detaches).
    Console { name: String },
    /// Save the guest's screen as PNG.
    Screenshot { name: String, file: PathBuf },
    /// Store a compressed, standalone copy of a stopped VM's disks and config.
    Archive { name: String },
    /// Edit vm.toml in $EDITOR; it is validated before it is saved.
    Edit { name: String },
    /// Host USB devices: list, pass through to running VMs, automatic rules, udev help.
    Usb {
        #[command(subcommand)]
        action: crate::usb::UsbCmd,
    },
    /// Share the clipboard with a running VNC or headless VM (send, get, policy).
    Clipboard {
        vm: String,
        #[command(subcommand)]
        action: crate::clipboard::ClipboardCmd,
    },
    /// Type TEXT into a running VM as key presses, with its keyboard layout.
    Type {
        vm: String,
        text: String,
        /// Do not ask before typing long text or leaving out characters the layout lacks.
        #[arg(long)]
        yes: bool,
    },
    /// Show the VM's clipboard agent (spice-vdagent) and qemu-guest-agent, with install help.
    Agent {
        vm: String,
        /// Seconds to wait for spice-vdagent to answer.
        #[arg(long, default_value_t = 3)]
        wait: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    pub name: String,
    /// Install from this ISO (attached as CD-ROM, with a new empty disk).
    #[arg(long, conflicts_with = "import")]
    pub iso: Option<PathBuf>,
    /// Use this existing disk image (qcow2, raw, vmdk, …) where it is.
    #[arg(long)]
    pub import: Option<PathBuf>,
    /// Guest memory, e.g. 2G or 512M (a plain number means MiB, as with qemu -m).
    #[arg(long, default_value = "2G")]
    pub memory: String,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// Size of the new disk (ignored with --import); 0 for no disk.
    #[arg(long, default_value = "20G")]
    pub disk: String,
    #[arg(long, value_enum, default_value_t = Firmware::Bios)]
    pub firmware: Firmware,
    #[arg(long, value_enum, default_value_t = Display::Vnc)]
    pub display: Display,
    /// osinfo short id, e.g. debian12.
    #[arg(long)]
    pub os: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Firmware {
    Bios,
    Uefi,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Display {
    Vnc,
    Spice,
    None,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// Save a snapshot (with RAM state) of a running VM.
    Save { name: String, tag: String },
    /// Go back to a snapshot (starts the VM if needed).
    Load { name: String, tag: String },
    /// List snapshots.
    List { name: String },
    /// Delete a snapshot.
    Delete { name: String, tag: String },
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn qmp_takes_its_json_next_to_the_global_json_flag() {
        for args in [
            &["hangarctl", "qmp", "vm", "{}"][..],
            &["hangarctl", "--json", "qmp", "vm", "{}"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert!(
                matches!(&cli.command, Command::Qmp { name, command } if name == "vm" && command == "{}"),
                "{cli:?}"
            );
        }
    }
}
