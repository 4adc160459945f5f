//! Everything about QEMU processes.

pub mod argv;
