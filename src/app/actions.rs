//! Per-VM actions, from the row menus and the VM page alike: they run in relm4's tokio runtime
//! and end in [`AppCmd::Done`] (success toast or a [`UserError`] with the manager's full text,
//! QEMU's own words included). Stopping from the app first saves a thumbnail of the screen;
//! so does quitting while VMs run.

use std::time::Duration;

use adw::prelude::*;

use hangar_core::manager::{Manager, ManagerError, StartOptions, StopMode};
use hangar_core::store::DeletePlan;
use relm4::ComponentSender;

use super::listing::load_thumbnail;
use super::{App, AppCmd, AppMsg};
use crate::error::UserError;
use crate::i18n::i18n_f;
use crate::model::{Busy, RowState, VmAction, THUMBNAIL_FILE};
use crate::settings::keys;
use crate::ui::vm_dialogs;

/// How long Shut Down waits for the guest before the manager forces it off.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long saving one thumbnail may take.
const THUMBNAIL_TIMEOUT: Duration = Duration::from_secs(3);

/// Saves a picture of VM `name`'s screen as its thumbnail; failures only cost the picture.
async fn save_thumbnail(manager: &Manager, name: &str) -> bool {
    let file = manager.store().dir(name).join(THUMBNAIL_FILE);
    match tokio::time::timeout(THUMBNAIL_TIMEOUT, manager.screendump(name, &file)).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::debug!(vm = name, "no thumbnail: {err}");
            false
        }
        Err(_) => {
            tracing::debug!(vm = name, "no thumbnail: the screen dump took too long");
            false
        }
    }
}

/// Saves the thumbnail of `name`, then tells the app to show it.
async fn thumbnail_then_show(manager: &Manager, name: &str, out: &relm4::Sender<AppCmd>) {
    if save_thumbnail(manager, name).await {
        let file = manager.store().dir(name).join(THUMBNAIL_FILE);
        let texture = tokio::task::spawn_blocking(move || load_thumbnail(&file))
            .await
            .ok()
            .flatten();
        out.emit(AppCmd::Thumbnail {
            name: name.to_owned(),
            texture,
        });
    }
}

impl App {
    /// Runs (or asks about) `action` on VM `name`.
    pub(super) fn run_action(
        &mut self,
        name: String,
        action: VmAction,
        root: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        tracing::info!(vm = name, ?action, "action");
        let manager = self.manager.clone();
        let input = sender.input_sender().clone();
        match action {
            VmAction::Start => {
                self.set_state(&name, RowState::Starting);
                let failure = i18n_f("Could not start “{}”", &[&name]);
                sender.oneshot_command(async move {
                    let result = manager.start(&name, &StartOptions::default()).await.map(drop);
                    AppCmd::Done {
                        name,
                        failure,
                        success: None,
                        result,
                    }
                });
            }
            VmAction::Pause | VmAction::Resume | VmAction::ShutDown => {
                let failure = match action {
                    VmAction::Pause => i18n_f("Could not pause “{}”", &[&name]),
                    VmAction::Resume => i18n_f("Could not resume “{}”", &[&name]),
                    _ => i18n_f("Could not shut “{}” down", &[&name]),
                };
                sender.command(move |out, shutdown| {
                    shutdown
                        .register(async move {
                            let result = match action {
                                VmAction::Pause => manager.pause(&name).await,
                                VmAction::Resume => manager.resume(&name).await,
                                _ => {
                                    thumbnail_then_show(&manager, &name, &out).await;
                                    let mode = StopMode::Acpi {
                                        timeout: SHUTDOWN_TIMEOUT,
                                    };
                                    manager.stop(&name, mode).await
                                }
                            };
                            out.emit(AppCmd::Done {
                                name,
                                failure,
                                success: None,
                                result,
                            });
                        })
                        .drop_on_shutdown()
                });
            }
            VmAction::ForceOff | VmAction::Reset => {
                let ask = self
                    .prefs
                    .settings()
                    .is_none_or(|s| s.boolean(keys::CONFIRM_FORCE_OFF));
                if ask {
                    let vm = name.clone();
                    vm_dialogs::confirm_power(root, &name, action, move || {
                        input.emit(AppMsg::PowerConfirmed {
                            name: vm.clone(),
                            action,
                        })
                    });
                } else {
                    self.power(name, action, sender);
                }
            }
            VmAction::Clone => {
                let store = manager.store().clone();
                let vm = name.clone();
                vm_dialogs::clone(
                    root,
                    &name,
                    move |to| store.exists(to),
                    move |to, linked| {
                        input.emit(AppMsg::CloneVm {
                            name: vm.clone(),
                            to,
                            linked,
                        })
                    },
                );
            }
            VmAction::TakeSnapshot => {
                let vm = name.clone();
                vm_dialogs::snapshot(root, &name, move |tag| {
                    input.emit(AppMsg::TakeSnapshot {
                        name: vm.clone(),
                        tag,
                    })
                });
            }
            VmAction::Delete => {
                sender.oneshot_command(async move {
                    let store = manager.store().clone();
                    let vm = name.clone();
                    let result = tokio::task::spawn_blocking(move || {
                        Ok((store.delete_plan(&vm, false)?, store.delete_plan(&vm, true)?))
                    })
                    .await
                    .unwrap_or_else(|e| Err(ManagerError::Unsupported(format!("delete plan failed: {e}"))));
                    AppCmd::DeletePlans { name, result }
                });
            }
        }
    }

    /// Force Off or Reset, without asking.
    pub(super) fn power(&mut self, name: String, action: VmAction, sender: &ComponentSender<Self>) {
        let manager = self.manager.clone();
        if action == VmAction::Reset {
            let failure = i18n_f("Could not reset “{}”", &[&name]);
            sender.oneshot_command(async move {
                let result = manager.reset(&name).await;
                AppCmd::Done {
                    name,
                    failure,
                    success: None,
                    result,
                }
            });
            return;
        }
        self.set_state(&name, RowState::Stopping);
        let failure = i18n_f("Could not force “{}” off", &[&name]);
        sender.command(move |out, shutdown| {
            shutdown
                .register(async move {
                    thumbnail_then_show(&manager, &name, &out).await;
                    let result = manager.stop(&name, StopMode::Force).await;
                    out.emit(AppCmd::Done {
                        name,
                        failure,
                        success: None,
                        result,
                    });
                })
                .drop_on_shutdown()
        });
    }

    pub(super) fn clone_vm(
        &mut self,
        name: String,
        to: String,
        linked: bool,
        sender: &ComponentSender<Self>,
    ) {
        let text = i18n_f("Cloning to “{}”", &[&to]);
        self.set_busy(
            &name,
            Some(Busy {
                text: text.clone(),
                fraction: (!linked).then_some(0.0),
            }),
        );
        let manager = self.manager.clone();
        let failure = i18n_f("Could not clone “{}”", &[&name]);
        let success = Some(i18n_f("“{}” created", &[&to]));
        sender.command(move |out, shutdown| {
            shutdown
                .register(async move {
                    let progress_out = out.clone();
                    let vm = name.clone();
                    let mut last = -1.0;
                    let progress = move |percent: f64| {
                        // A message per whole percent is plenty.
                        if linked || percent - last < 1.0 {
                            return;
                        }
                        last = percent;
                        progress_out.emit(AppCmd::Progress {
                            name: vm.clone(),
                            busy: Some(Busy {
                                text: text.clone(),
                                fraction: Some(percent / 100.0),
                            }),
                        });
                    };
                    let result = manager.clone_vm(&name, &to, linked, progress).await.map(drop);
                    out.emit(AppCmd::Progress {
                        name: name.clone(),
                        busy: None,
                    });
                    out.emit(AppCmd::Done {
                        name,
                        failure,
                        success,
                        result,
                    });
                })
                .drop_on_shutdown()
        });
    }

    pub(super) fn take_snapshot(&mut self, name: String, tag: String, sender: &ComponentSender<Self>) {
        self.set_busy(
            &name,
            Some(Busy {
                text: i18n_f("Taking snapshot “{}”", &[&tag]),
                fraction: None,
            }),
        );
        let manager = self.manager.clone();
        let failure = i18n_f("Could not take a snapshot of “{}”", &[&name]);
        let success = Some(i18n_f("Snapshot “{}” taken", &[&tag]));
        sender.command(move |out, shutdown| {
            shutdown
                .register(async move {
                    let result = manager.snapshot_save(&name, &tag).await;
                    out.emit(AppCmd::Progress {
                        name: name.clone(),
                        busy: None,
                    });
                    out.emit(AppCmd::Done {
                        name,
                        failure,
                        success,
                        result,
                    });
                })
                .drop_on_shutdown()
        });
    }

    pub(super) fn confirm_delete(
        &mut self,
        name: String,
        result: Result<(DeletePlan, DeletePlan), ManagerError>,
        root: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        match result {
            Ok((all, keep)) => {
                let input = sender.input_sender().clone();
                let dir = self.manager.store().dir(&name);
                let vm = name.clone();
                vm_dialogs::delete(root, &name, &dir, all, keep, move |keep_disks| {
                    input.emit(AppMsg::DeleteVm {
                        name: vm.clone(),
                        keep_disks,
                    })
                });
            }
            Err(err) => self.report(
                root,
                UserError::from_error(i18n_f("Could not delete “{}”", &[&name]), &err),
            ),
        }
    }

    pub(super) fn delete_vm(
        &mut self,
        name: String,
        keep_disks: bool,
        root: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        if self.page.as_ref().is_some_and(|(page, _)| *page == name) {
            self.back(root);
        }
        let manager = self.manager.clone();
        let failure = i18n_f("Could not delete “{}”", &[&name]);
        let success = Some(i18n_f("“{}” deleted", &[&name]));
        sender.oneshot_command(async move {
            let vm = name.clone();
            let result = tokio::task::spawn_blocking(move || manager.delete(&vm, keep_disks).map(drop))
                .await
                .unwrap_or_else(|e| Err(ManagerError::Unsupported(format!("deleting failed: {e}"))));
            AppCmd::Done {
                name,
                failure,
                success,
                result,
            }
        });
    }

    pub(super) fn done(
        &mut self,
        name: String,
        failure: String,
        success: Option<String>,
        result: Result<(), ManagerError>,
        root: &adw::ApplicationWindow,
        sender: &ComponentSender<Self>,
    ) {
        match result {
            Ok(()) => {
                if let Some(text) = success {
                    self.notify(&text);
                }
            }
            Err(err) => {
                tracing::debug!(vm = name, "action failed: {err}");
                self.report(root, UserError::from_error(failure, &err));
                // Show what the VM does now, not what was hoped for.
                self.relist(sender);
            }
        }
    }

    /// Saves the thumbnails of the running VMs, then closes the window (VMs keep running).
    pub(super) fn prepare_close(&mut self, root: &adw::ApplicationWindow, sender: &ComponentSender<Self>) {
        if self.close_ready.get() {
            return;
        }
        // The size first: the window may be hidden while the thumbnails are saved.
        self.prefs.save_window_state(root);
        let running: Vec<String> = self
            .states
            .iter()
            .filter(|(_, state)| state.is_active())
            .map(|(name, _)| name.clone())
            .collect();
        if running.is_empty() {
            self.close_ready.set(true);
            root.close();
            return;
        }
        root.set_visible(false);
        let manager = self.manager.clone();
        sender.oneshot_command(async move {
            let mut saves = tokio::task::JoinSet::new();
            for name in running {
                let manager = manager.clone();
                saves.spawn(async move { save_thumbnail(&manager, &name).await });
            }
            let mut saved = 0;
            while let Some(done) = saves.join_next().await {
                saved += usize::from(done.unwrap_or(false));
            }
            tracing::info!(saved, "thumbnails saved; the VMs keep running");
            AppCmd::ReadyToClose
        });
    }
}
