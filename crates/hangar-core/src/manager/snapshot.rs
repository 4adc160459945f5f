//! Internal snapshots with RAM state (QMP `snapshot-save`/`-load`/`-delete` jobs on a running
//! VM), listed offline with `qemu-img`. Every disk must be qcow2; the first holds the RAM state.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{Event, Manager, ManagerError, Result, StartOptions, VmState};
use crate::config::VmConfig;
use crate::store::resolve;

/// How long a snapshot job may take (RAM is written to disk).
const JOB_TIMEOUT: Duration = Duration::from_secs(600);

/// One snapshot as listed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub name: String,
    /// Seconds since the Unix epoch.
    pub date: i64,
    /// Whether it holds the guest's memory (a running-state snapshot).
    pub has_ram: bool,
    pub vm_state_size: u64,
}

fn check_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.len() > 128 || tag.chars().any(|c| c.is_control()) {
        return Err(ManagerError::Unsupported(format!(
            "{tag:?} is not a snapshot name: use 1-128 printable characters"
        )));
    }
    Ok(())
}

/// Node names of the disks that take part, after checking they can hold snapshots.
fn snapshot_nodes(config: &VmConfig) -> Result<Vec<String>> {
    if config.disks.is_empty() {
        return Err(ManagerError::Unsupported(format!(
            "VM {:?} has no disk to store snapshots in; add a qcow2 disk",
            config.name
        )));
    }
    let mut nodes = vec![];
    for d in config.disks.iter().filter(|d| !d.readonly) {
        if d.format != "qcow2" {
            return Err(ManagerError::Unsupported(format!(
                "disk {} is {}: snapshots need qcow2 disks (convert it with `qemu-img convert -O qcow2`)",
                d.id, d.format
            )));
        }
        nodes.push(d.id.clone());
    }
    if nodes.is_empty() {
        return Err(ManagerError::Unsupported(
            "all disks are read-only: snapshots need a writable qcow2 disk".into(),
        ));
    }
    Ok(nodes)
}

/// `wanted` (from vm.toml) kept to the nodes the running QEMU really has, writable: a disk added
/// to vm.toml while the VM runs only exists at next boot and cannot take part yet.
async fn live_nodes(qmp: &crate::qmp::Qmp, name: &str, wanted: Vec<String>) -> Result<Vec<String>> {
    let nodes = qmp
        .execute(qapi_qmp::query_named_block_nodes { flat: Some(true) })
        .await
        .map_err(ManagerError::qmp(name))?;
    let live = |id: &String| {
        nodes
            .iter()
            .any(|n| n.node_name.as_deref() == Some(id.as_str()) && !n.ro)
    };
    let (kept, pending): (Vec<_>, Vec<_>) = wanted.into_iter().partition(live);
    if !pending.is_empty() {
        tracing::info!(
            vm = name,
            ?pending,
            "disks not in the running VM are left out of the snapshot"
        );
    }
    if kept.is_empty() {
        return Err(ManagerError::Unsupported(format!(
            "the running VM {name:?} has none of its vm.toml qcow2 disks attached yet; restart it, then take the snapshot"
        )));
    }
    Ok(kept)
}

impl Manager {
    fn first_disk(&self, config: &VmConfig) -> Result<PathBuf> {
        let nodes = snapshot_nodes(config)?;
        let disk = config
            .disks
            .iter()
            .find(|d| d.id == nodes[0])
            .map(|d| resolve(&self.store().dir(&config.name), &d.path));
        disk.ok_or_else(|| ManagerError::Unsupported("no snapshot disk".into()))
    }

    /// Snapshots of VM `name` (running or not).
    pub async fn snapshot_list(&self, name: &str) -> Result<Vec<SnapshotEntry>> {
        let config = self.store().load(name)?;
        let disk = self.first_disk(&config)?;
        let list = self.qemu_img().snapshot_list(&disk).await?;
        Ok(list
            .into_iter()
            .map(|s| SnapshotEntry {
                name: s.name,
                date: s.date_sec,
                has_ram: s.has_ram,
                vm_state_size: s.vm_state_size,
            })
            .collect())
    }

    /// Save a snapshot with RAM state of the running VM.
    pub async fn snapshot_save(&self, name: &str, tag: &str) -> Result<()> {
        check_tag(tag)?;
        let config = self.store().load(name)?;
        let devices = snapshot_nodes(&config)?;
        let qmp = self.control(name).await?;
        let devices = live_nodes(&qmp, name, devices).await?;
        let job_id = format!("hangar-save-{}", std::process::id());
        let cmd = qapi_qmp::snapshot_save {
            devices: devices.clone(),
            job_id: job_id.clone(),
            tag: tag.into(),
            vmstate: devices[0].clone(),
        };
        qmp.run_job(cmd, &job_id, JOB_TIMEOUT)
            .await
            .map_err(ManagerError::qmp(name))
    }

    /// Go back to a snapshot. A stopped VM is started paused first; the VM runs afterwards.
    pub async fn snapshot_load(&self, name: &str, tag: &str) -> Result<()> {
        check_tag(tag)?;
        let config = self.store().load(name)?;
        let devices = snapshot_nodes(&config)?;
        let started_here = if self.pid(name).is_none() {
            self.start(
                name,
                &StartOptions {
                    disposable: false,
                    paused: true,
                },
            )
            .await?;
            true
        } else {
            false
        };
        let qmp = self.control(name).await?;
        let devices = live_nodes(&qmp, name, devices).await?;
        let job_id = format!("hangar-load-{}", std::process::id());
        let cmd = qapi_qmp::snapshot_load {
            devices: devices.clone(),
            job_id: job_id.clone(),
            tag: tag.into(),
            vmstate: devices[0].clone(),
        };
        let result = qmp
            .run_job(cmd, &job_id, JOB_TIMEOUT)
            .await
            .map_err(ManagerError::qmp(name));
        if let Err(e) = result {
            if started_here {
                drop(qmp);
                let _ = self.stop(name, super::StopMode::Force).await;
            }
            return Err(e);
        }
        qmp.execute(qapi_qmp::cont {})
            .await
            .map_err(ManagerError::qmp(name))?;
        drop(qmp);
        self.emit(Event::State {
            name: name.into(),
            state: VmState::Running,
        });
        self.sync_guest_clock_quietly(name).await;
        Ok(())
    }

    /// Delete a snapshot (through QEMU when running, with qemu-img otherwise).
    pub async fn snapshot_delete(&self, name: &str, tag: &str) -> Result<()> {
        check_tag(tag)?;
        let config = self.store().load(name)?;
        let devices = snapshot_nodes(&config)?;
        if self.pid(name).is_some() {
            let qmp = self.control(name).await?;
            let devices = live_nodes(&qmp, name, devices).await?;
            let job_id = format!("hangar-delete-{}", std::process::id());
            let cmd = qapi_qmp::snapshot_delete {
                devices,
                job_id: job_id.clone(),
                tag: tag.into(),
            };
            return qmp
                .run_job(cmd, &job_id, JOB_TIMEOUT)
                .await
                .map_err(ManagerError::qmp(name));
        }
        let known = self.snapshot_list(name).await?;
        if !known.iter().any(|s| s.name == tag) {
            return Err(ManagerError::Unsupported(format!(
                "VM {name:?} has no snapshot {tag:?}; `hangarctl snapshot list {name}` shows them"
            )));
        }
        let dir = self.store().dir(name);
        for d in config.disks.iter().filter(|d| devices.contains(&d.id)) {
            let path = resolve(&dir, &d.path);
            let qemu_img = self.qemu_img();
            let has = qemu_img.snapshot_list(&path).await?.iter().any(|s| s.name == tag);
            if has {
                qemu_img.snapshot_delete(&path, tag).await?;
            }
        }
        Ok(())
    }
}
