//! Everything about QEMU processes: the pure argv builder and the process primitives.

pub mod argv;
pub mod process;
