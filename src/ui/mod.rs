//! Widgets of the main window and its dialogs.

pub mod about;
pub mod console;
pub mod dialogs;
pub mod library;
pub mod new_vm;
pub mod preferences;
pub mod vm_row;
