//! Work of the hardware editor that must not block the window: disk images (create, inspect,
//! resize, delete), the CD-ROM medium, USB passthrough, and the facts shown beside the config
//! (image sizes, host USB devices, what the guest agent says). Each runs on relm4's tokio
//! runtime and reports back as a `DetailsCmd`.

use std::collections::HashMap;
use std::path::PathBuf;

use hangar_core::config::{DiskBus, DiskConfig, Update, VmConfig};
use hangar_core::manager::{Manager, ManagerError};
use hangar_core::storage::ImageInfo;
use hangar_core::store::resolve;
use hangar_core::usb::UsbDevice;

use super::parse::{field_message, is_own_image, new_disk_name};
use crate::i18n::{gettext, i18n_f};

/// A background edit started from a section.
#[derive(Debug)]
pub enum Job {
    /// Create `diskN.qcow2` of `size` bytes in the VM folder and add it.
    AddNewDisk {
        size: u64,
        bus: DiskBus,
    },
    /// Add an existing image where it is (its format is detected).
    AddExistingDisk {
        path: PathBuf,
        bus: DiskBus,
    },
    /// Remove a disk from the VM; `delete_image` also deletes its image when it is inside the
    /// VM folder and the VM is stopped.
    RemoveDisk {
        id: String,
        delete_image: bool,
    },
    /// Grow a disk image to `size` bytes (VM stopped).
    ResizeDisk {
        id: String,
        size: u64,
    },
    /// Insert an ISO (`Some`) or eject (`None`); live on a running VM.
    Cdrom(Option<PathBuf>),
    UsbAttach(Box<UsbDevice>),
    UsbDetach(String),
}

/// What a finished job changed.
#[derive(Debug, Default)]
pub struct JobOk {
    /// The saved config, when the job edited it.
    pub config: Option<VmConfig>,
    /// A confirmation for a toast.
    pub notify: Option<String>,
}

fn config_changed(config: VmConfig, notify: String) -> JobOk {
    JobOk {
        config: Some(config),
        notify: Some(notify),
    }
}

/// Runs `job` on VM `name`. Errors come back as the message to show beside the field.
pub async fn run(manager: Manager, name: String, job: Job) -> Result<JobOk, String> {
    match job {
        Job::AddNewDisk { size, bus } => add_new_disk(&manager, &name, size, bus).await,
        Job::AddExistingDisk { path, bus } => add_existing_disk(&manager, &name, path, bus).await,
        Job::RemoveDisk { id, delete_image } => remove_disk(&manager, &name, &id, delete_image),
        Job::ResizeDisk { id, size } => resize_disk(&manager, &name, &id, size).await,
        Job::Cdrom(iso) => {
            let ejected = iso.is_none();
            let config = manager
                .change_cdrom(&name, iso)
                .await
                .map_err(|e| field_message(&e))?;
            let notify = if ejected {
                gettext("Disc ejected")
            } else {
                gettext("Disc inserted")
            };
            Ok(config_changed(config, notify))
        }
        Job::UsbAttach(device) => {
            let notify = crate::ui::usb::attach(&manager, &name, &device)
                .await
                .map_err(|e| e.text())?;
            Ok(JobOk {
                config: None,
                notify: Some(notify),
            })
        }
        Job::UsbDetach(id) => {
            let notify = crate::ui::usb::detach(&manager, &name, &id)
                .await
                .map_err(|e| e.details)?;
            Ok(JobOk {
                config: None,
                notify: Some(notify),
            })
        }
    }
}

fn err(e: impl Into<ManagerError>) -> String {
    field_message(&e.into())
}

async fn add_new_disk(manager: &Manager, name: &str, size: u64, bus: DiskBus) -> Result<JobOk, String> {
    let config = manager.store().load(name).map_err(err)?;
    let dir = manager.store().dir(name);
    let (id, file) = new_disk_name(&config.disks, |f| dir.join(f).exists());
    let disk = DiskConfig {
        id: id.clone(),
        path: file.clone().into(),
        format: "qcow2".into(),
        bus,
        readonly: false,
    };
    let update = Update::AddDisk(disk);
    // Refuse before creating anything when the edit cannot be saved.
    config.update(&update).map_err(err)?;
    let image = dir.join(&file);
    manager
        .qemu_img()
        .create(&image, "qcow2", size)
        .await
        .map_err(err)?;
    match manager.update(name, &update) {
        Ok(config) => Ok(config_changed(config, i18n_f("Disk {} added", &[&id]))),
        Err(e) => {
            if let Err(rm) = std::fs::remove_file(&image) {
                tracing::warn!(image = %image.display(), "cannot remove the unused new image: {rm}");
            }
            Err(field_message(&e))
        }
    }
}

async fn add_existing_disk(
    manager: &Manager,
    name: &str,
    path: PathBuf,
    bus: DiskBus,
) -> Result<JobOk, String> {
    let config = manager.store().load(name).map_err(err)?;
    let dir = manager.store().dir(name);
    let path = std::path::absolute(&path).unwrap_or(path);
    if config.disks.iter().any(|d| resolve(&dir, &d.path) == path) {
        return Err(i18n_f(
            "{} is already a disk of this virtual machine.",
            &[&path.display().to_string()],
        ));
    }
    if !path.is_file() {
        return Err(err(ManagerError::MissingFile {
            what: "disk image",
            path,
        }));
    }
    let info = manager.qemu_img().info(&path).await.map_err(err)?;
    let (id, _) = new_disk_name(&config.disks, |_| false);
    let disk = DiskConfig {
        id: id.clone(),
        path,
        format: info.format,
        bus,
        readonly: false,
    };
    let config = manager
        .update(name, &Update::AddDisk(disk))
        .map_err(|e| field_message(&e))?;
    Ok(config_changed(config, i18n_f("Disk {} added", &[&id])))
}

fn remove_disk(manager: &Manager, name: &str, id: &str, delete_image: bool) -> Result<JobOk, String> {
    let config = manager.store().load(name).map_err(err)?;
    let dir = manager.store().dir(name);
    let disk = config
        .disks
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(|| i18n_f("There is no disk {} any more.", &[id]))?;
    let image = resolve(&dir, &disk.path);
    if delete_image {
        if manager.pid(name).is_some() {
            return Err(gettext(
                "The image cannot be deleted while the virtual machine runs. Shut it down first.",
            ));
        }
        if !is_own_image(&dir, &disk.path) {
            return Err(gettext(
                "Only images inside the virtual machine’s folder are deleted. Remove the disk without deleting its image.",
            ));
        }
    }
    let config = manager
        .update(name, &Update::RemoveDisk(id.to_owned()))
        .map_err(|e| field_message(&e))?;
    if delete_image {
        if let Err(e) = std::fs::remove_file(&image) {
            return Err(i18n_f(
                "The disk was removed, but its image {} could not be deleted: {}",
                &[&image.display().to_string(), &e.to_string()],
            ));
        }
        tracing::info!(vm = name, image = %image.display(), "disk image deleted");
    }
    Ok(config_changed(config, i18n_f("Disk {} removed", &[id])))
}

async fn resize_disk(manager: &Manager, name: &str, id: &str, size: u64) -> Result<JobOk, String> {
    if manager.pid(name).is_some() {
        return Err(gettext(
            "Disks can only be resized while the virtual machine is shut down.",
        ));
    }
    let config = manager.store().load(name).map_err(err)?;
    let disk = config
        .disks
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(|| i18n_f("There is no disk {} any more.", &[id]))?;
    let image = resolve(&manager.store().dir(name), &disk.path);
    manager
        .qemu_img()
        .resize(&image, Some(&disk.format), size, false)
        .await
        .map_err(err)?;
    Ok(JobOk {
        config: None,
        notify: Some(i18n_f("Disk {} resized", &[id])),
    })
}

/// `qemu-img info` of every disk (by id), for sizes and formats.
pub async fn disk_facts(
    manager: Manager,
    name: String,
    config: VmConfig,
) -> HashMap<String, Result<ImageInfo, String>> {
    let dir = manager.store().dir(&name);
    let mut out = HashMap::new();
    for d in &config.disks {
        let path = resolve(&dir, &d.path);
        let info = manager
            .qemu_img()
            .info_as(&path, &d.format)
            .await
            .map_err(|e| e.to_string());
        out.insert(d.id.clone(), info);
    }
    out
}

pub use crate::ui::usb::{usb_facts, HostUsb, UsbFacts};
