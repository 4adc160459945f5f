//! Widgets of the main window and its dialogs.

pub mod about;
pub mod console;
pub mod details;
pub mod dialogs;
pub mod library;
pub mod preferences;
pub mod snapshots;
pub mod usb;
pub mod vm_dialogs;
pub mod vm_page;
pub mod vm_row;
pub mod wizard;
