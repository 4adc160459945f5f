//! Disk images and VM-level storage operations (qemu-img, clones, archive).
