//! Everything about QEMU processes.

pub mod process;
