//! hangar-core: everything Hangar does with virtual machines, without any GTK.
//!
//! ```text
//!  hangar (GUI) ─┐                     ┌─ config/   vm.toml structs, validate(), update()
//!  hangarctl ────┼─> manager (handle) ─┼─ store     VM folders, atomic saves, broken configs
//!                │   + event stream    ├─ host      KVM/OVMF/swtpm probing (injectable root)
//!                │                     ├─ qemu/argv pure (config, host, paths) -> argv
//!                │                     ├─ qemu/process  detached spawn, pidfile, lock, reattach
//!                │                     ├─ qmp/      own transport (events, fds), qapi-qmp types
//!                │                     ├─ storage/  qemu-img, clones, snapshots, archive
//!                │                     ├─ usb/      sysfs devices, access checks, rules, plug monitor
//!                │                     ├─ agent/    spice-vdagent host side (clipboard over VNC)
//!                │                     ├─ qga/      qemu-guest-agent client
//!                │                     └─ osinfo/   OS detection and per-OS defaults
//! ```
//!
//! The GUI and the CLI only talk to [`manager`]; they never spawn QEMU or speak QMP themselves.

pub mod agent;
pub mod config;
pub mod host;
pub mod keymap;
mod lines;
pub mod manager;
pub mod osinfo;
pub mod paths;
pub mod qemu;
pub mod qga;
pub mod qmp;
pub mod storage;
pub mod store;
pub mod usb;
