//! Everything about QEMU processes.
