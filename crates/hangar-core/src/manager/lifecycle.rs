//! Start and stop: the per-VM lock, pre-flight checks, firmware/TPM/overlay preparation,
//! detached spawn, readiness over QMP, and ACPI power-down with a forced fallback.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Event, Manager, ManagerError, Result, VmState};
use crate::config::{FirmwareKind, VmConfig};
use crate::paths::RuntimePaths;
use crate::qemu::argv::{self, LaunchOptions};
use crate::qemu::process::{self, VmLock};
use crate::qmp::Qmp;
use crate::storage;
use crate::store::resolve;

/// How long QEMU may take until its control socket answers.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a start waits for another process holding the VM's lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(90);

/// Options of one start.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Write all disk changes to throw-away overlays, discarded at power-off.
    pub disposable: bool,
    /// Start with the vCPUs paused.
    pub paused: bool,
}

/// What a start did.
#[derive(Debug, Clone, Serialize)]
pub struct StartReport {
    pub pid: i32,
    /// `true` when the VM was already running (nothing was started).
    pub already_running: bool,
    pub accelerator: String,
    pub warnings: Vec<String>,
}

/// How to stop.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// ACPI power button; after `timeout` the VM is forced off.
    Acpi { timeout: Duration },
    /// Pull the plug.
    Force,
}

impl Manager {
    /// Start VM `name`. Two concurrent starts start one QEMU: the second waits for the lock and
    /// then finds the VM running.
    pub async fn start(&self, name: &str, opts: &StartOptions) -> Result<StartReport> {
        let config = self.store().load(name)?;
        let dir = self.store().dir(name);
        let lock_dir = dir.clone();
        let lock = tokio::task::spawn_blocking(move || VmLock::acquire(&lock_dir, LOCK_TIMEOUT))
            .await
            .map_err(|e| ManagerError::Unsupported(format!("lock task failed: {e}")))??;
        if let Some(pid) = self.pid(name) {
            return Ok(StartReport {
                pid,
                already_running: true,
                accelerator: String::new(),
                warnings: vec![],
            });
        }
        let rt = self.runtime(name);
        process::prepare_runtime_dir(&rt)?;
        let result = self.start_locked(&config, &dir, &rt, opts).await;
        if result.is_err() {
            process::cleanup_runtime_dir(&rt);
        }
        drop(lock);
        let mut report = result?;
        for w in &report.warnings {
            self.emit(Event::Warning {
                name: name.into(),
                message: w.clone(),
            });
        }
        let state = if opts.paused {
            VmState::Paused
        } else {
            VmState::Running
        };
        self.emit(Event::State {
            name: name.into(),
            state,
        });
        report.warnings.extend(self.usb_rules_after_start(name).await);
        Ok(report)
    }

    async fn start_locked(
        &self,
        config: &VmConfig,
        dir: &Path,
        rt: &RuntimePaths,
        opts: &StartOptions,
    ) -> Result<StartReport> {
        let name = config.name.as_str();
        preflight(config, dir)?;
        let host = self.host();
        if config.firmware.kind == FirmwareKind::Uefi {
            prepare_uefi_vars(config, dir, host)?;
        }
        if config.firmware.tpm {
            start_swtpm(dir, rt, host).await?;
        }
        let overlays = if opts.disposable {
            let disks: Vec<(PathBuf, String)> = config
                .disks
                .iter()
                .map(|d| (resolve(dir, &d.path), d.format.clone()))
                .collect();
            Some(storage::create_disposable_overlays(self.qemu_img(), &disks, &rt.overlays).await?)
        } else {
            None
        };
        let launch = LaunchOptions {
            disposable_overlays: overlays,
            paused: opts.paused,
        };
        let argv = argv::build(config, dir, host, rt, &launch)?;
        let log = self.log_path(name);
        let mut spawned = process::spawn_detached(&argv.program, &argv.args, &log)?;
        tracing::info!(vm = name, pid = spawned.pid, "QEMU started");

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = spawned.child.try_wait() {
                // Give QEMU's last words a moment to reach the log.
                let output = process::log_since(&log, spawned.log_offset);
                return Err(ManagerError::StartFailed {
                    name: name.into(),
                    status: Some(status.to_string()),
                    output: if output.is_empty() {
                        "(QEMU printed nothing)".into()
                    } else {
                        output
                    },
                });
            }
            if let Ok(Ok((qmp, _events))) =
                tokio::time::timeout(Duration::from_secs(5), Qmp::connect(&rt.qmp_ctl)).await
            {
                if qmp.execute(qapi_qmp::query_status {}).await.is_ok() {
                    break;
                }
            }
            if Instant::now() >= deadline {
                process::signal(spawned.pid, libc::SIGKILL);
                return Err(ManagerError::StartTimeout {
                    name: name.into(),
                    seconds: START_TIMEOUT.as_secs(),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Reap QEMU when it ends if we are still around; dropping the Child never kills it.
        let mut child = spawned.child;
        std::thread::spawn(move || child.wait());
        Ok(StartReport {
            pid: spawned.pid,
            already_running: false,
            accelerator: argv.accel.accel.as_str().to_string(),
            warnings: argv.accel.warning.into_iter().chain(argv.warnings).collect(),
        })
    }

    /// Stop VM `name` and wait until QEMU is gone; runtime files are removed.
    pub async fn stop(&self, name: &str, mode: StopMode) -> Result<()> {
        let Some(pid) = self.pid(name) else {
            self.clean_stale(name);
            return Err(ManagerError::NotRunning(name.into()));
        };
        if let StopMode::Acpi { timeout } = mode {
            // The guest agent first (when it answers), for half the time; then the ACPI button.
            let deadline = Instant::now() + timeout;
            if self
                .power_off_via_agent(name, pid, Instant::now() + timeout / 2)
                .await
            {
                self.finish_stop(name);
                return Ok(());
            }
            // A VM whose monitor does not answer cannot be asked; say how to force it off.
            let or_force = |e: ManagerError| {
                match e {
                ManagerError::NotRunning(_) => e,
                e => ManagerError::Unsupported(format!(
                    "cannot press the power button of VM {name:?}: {e}\nTo turn it off anyway: hangarctl stop --force {name}"
                )),
            }
            };
            let powerdown = async {
                let qmp = self.control(name).await?;
                qmp.execute(qapi_qmp::system_powerdown {})
                    .await
                    .map_err(ManagerError::qmp(name))
            };
            if let Err(e) = powerdown.await {
                // The guest may have powered off just now.
                if process::is_alive(pid) {
                    return Err(or_force(e));
                }
                self.finish_stop(name);
                return Ok(());
            }
            self.emit(Event::State {
                name: name.into(),
                state: VmState::ShuttingDown,
            });
            if process::wait_exit(pid, deadline.saturating_duration_since(Instant::now())).await {
                self.finish_stop(name);
                return Ok(());
            }
            tracing::info!(vm = name, "guest did not power off within {timeout:?}; forcing");
        }
        // Ask QEMU to quit (it flushes disks), then insist. When the monitor could not take the
        // request there is nothing to wait for: go to SIGTERM at once.
        let mut asked = false;
        if let Ok(Ok(qmp)) = tokio::time::timeout(Duration::from_secs(3), self.control(name)).await {
            let quit = tokio::time::timeout(Duration::from_secs(3), qmp.execute(qapi_qmp::quit {})).await;
            // An error here is mostly QEMU closing the monitor as it quits.
            asked = quit.is_ok();
        }
        let patience = if asked {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(200)
        };
        if !process::wait_exit(pid, patience).await {
            process::signal(pid, libc::SIGTERM);
            if !process::wait_exit(pid, Duration::from_secs(5)).await {
                process::signal(pid, libc::SIGKILL);
                process::wait_exit(pid, Duration::from_secs(5)).await;
            }
        }
        self.finish_stop(name);
        Ok(())
    }

    fn finish_stop(&self, name: &str) {
        process::cleanup_runtime_dir(&self.runtime(name));
        self.emit(Event::State {
            name: name.into(),
            state: VmState::Stopped,
        });
    }
}

/// Refuse to start with files that are missing or unreadable, naming them.
fn preflight(config: &VmConfig, dir: &Path) -> Result<()> {
    for disk in &config.disks {
        let path = resolve(dir, &disk.path);
        check_file("disk image", &path, !disk.readonly)?;
    }
    if let Some(iso) = config.cdrom.as_ref().and_then(|c| c.path.as_ref()) {
        check_file("ISO image", &resolve(dir, iso), false)?;
    }
    Ok(())
}

fn check_file(what: &'static str, path: &Path, write: bool) -> Result<()> {
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ManagerError::MissingFile {
                what,
                path: path.to_path_buf(),
            })
        }
        Err(e) => {
            return Err(ManagerError::Unreadable {
                what,
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
        Ok(_) => {}
    }
    let open = fs::OpenOptions::new().read(true).write(write).open(path);
    open.map(drop).map_err(|e| ManagerError::Unreadable {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Give a UEFI VM its own copy of the firmware variable store on first start.
fn prepare_uefi_vars(config: &VmConfig, dir: &Path, host: &crate::host::HostCaps) -> Result<()> {
    let vars = argv::uefi_vars_path(dir);
    if vars.exists() {
        return Ok(());
    }
    let ovmf = host.ovmf.as_ref().ok_or_else(|| {
        ManagerError::Unsupported("UEFI firmware (OVMF) is not installed: install the ovmf package".into())
    })?;
    let template = ovmf.vars_template_for(config.firmware.secure_boot).ok_or_else(|| {
        ManagerError::Unsupported(
            "the Secure Boot build of OVMF is not installed: install the ovmf package (or turn Secure Boot off)".into(),
        )
    })?;
    fs::copy(template, &vars).map_err(|e| ManagerError::Unreadable {
        what: "UEFI variable template",
        path: template.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(())
}

/// Start swtpm for the VM's TPM; it exits by itself when QEMU disconnects.
async fn start_swtpm(dir: &Path, rt: &RuntimePaths, host: &crate::host::HostCaps) -> Result<()> {
    let swtpm = host.swtpm.as_ref().ok_or_else(|| {
        ManagerError::Unsupported(
            "this VM has a TPM but swtpm is not installed: install the swtpm package".into(),
        )
    })?;
    let state = argv::tpm_state_dir(dir);
    fs::create_dir_all(&state).map_err(|e| ManagerError::Unreadable {
        what: "TPM state folder",
        path: state.clone(),
        reason: e.to_string(),
    })?;
    let mut ctrl = OsString::from("type=unixio,path=");
    ctrl.push(&rt.tpm);
    let mut tpmstate = OsString::from("dir=");
    tpmstate.push(&state);
    let args: Vec<OsString> = vec![
        "socket".into(),
        "--tpm2".into(),
        "--tpmstate".into(),
        tpmstate,
        "--ctrl".into(),
        ctrl,
        "--terminate".into(),
    ];
    let log = dir.join("swtpm.log");
    let spawned = process::spawn_detached(swtpm, &args, &log)?;
    let mut child = spawned.child;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rt.tpm.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(ManagerError::StartFailed {
                name: "swtpm".into(),
                status: Some(status.to_string()),
                output: process::log_since(&log, spawned.log_offset),
            });
        }
        if Instant::now() >= deadline {
            process::signal(spawned.pid, libc::SIGKILL);
            return Err(ManagerError::Unsupported(format!(
                "swtpm did not create {} in time",
                rt.tpm.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::thread::spawn(move || child.wait());
    Ok(())
}
