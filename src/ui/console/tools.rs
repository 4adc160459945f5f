//! What the toolbar and the fullscreen bar do: fullscreen, Send Key, screenshots and sizing
//! the window to the guest.

use std::path::PathBuf;

use adw::prelude::*;
use relm4::ComponentSender;

use super::{keys, resize, screenshot, Console, ConsoleCmd, ConsoleInput, ConsoleOutput};
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};

impl Console {
    pub(super) fn toggle_fullscreen(&mut self, sender: &ComponentSender<Self>) {
        let want = !self.fullscreen;
        match &self.detached {
            Some(d) => d.window.set_fullscreened(want),
            None => {
                let _ = sender.output(ConsoleOutput::SetFullscreen(want));
            }
        }
    }

    /// The window around the console entered or left fullscreen.
    pub(super) fn apply_fullscreen(&mut self, on: bool) {
        if self.fullscreen == on {
            return;
        }
        self.fullscreen = on;
        self.actions
            .set_connected(self.phase == super::Phase::Connected, on);
        tracing::info!(vm = %self.name, fullscreen = on, "console fullscreen");
        self.w.toolbar.set_visible(!on);
        if let Some(d) = &self.detached {
            d.header.set_visible(!on);
        }
        self.w.bar.set_active(on);
        let icon = if on {
            "view-restore-symbolic"
        } else {
            "view-fullscreen-symbolic"
        };
        self.w.fullscreen_button.set_icon_name(icon);
    }

    /// Follows the fullscreen state of whatever window holds the console now.
    pub(super) fn watch_window(&mut self, sender: &ComponentSender<Self>) {
        self.unwatch_window();
        let Some(window) = self.w.content.root().and_downcast::<gtk::Window>() else {
            return;
        };
        let input = sender.input_sender().clone();
        let id = window.connect_fullscreened_notify(move |w| {
            input.emit(ConsoleInput::WindowFullscreen(w.is_fullscreen()))
        });
        self.apply_fullscreen(window.is_fullscreen());
        self.w.bar.watch_window(&window);
        self.window_watch = Some((window.downgrade(), id));
    }

    pub(super) fn unwatch_window(&mut self) {
        self.w.bar.unwatch_window();
        if let Some((window, id)) = self.window_watch.take() {
            if let Some(window) = window.upgrade() {
                window.disconnect(id);
            }
        }
    }

    pub(super) fn send_keys(&self, id: &str, sender: &ComponentSender<Self>) {
        let Some(keys) = keys::find(id).and_then(|c| c.keyvals()) else {
            tracing::warn!(id, "unknown key combination");
            return;
        };
        match self.w.view.send_keys(&keys) {
            Ok(()) => tracing::info!(vm = %self.name, combo = id, "keys sent"),
            Err(err) => {
                let _ = sender.output(ConsoleOutput::Error(UserError::from_error(
                    gettext("Could not send the keys"),
                    &err,
                )));
            }
        }
    }

    pub(super) fn take_screenshot(&mut self, sender: &ComponentSender<Self>) {
        if std::mem::replace(&mut self.shot_busy, true) {
            return;
        }
        let manager = self.manager.clone();
        let name = self.name.clone();
        sender.oneshot_command(async move {
            let summary = gettext("Could not take a screenshot");
            let result = match screenshot::temp_file() {
                Err(err) => Err(UserError::from_error(summary, &err)),
                Ok(temp) => match manager.screendump(&name, &temp).await {
                    Ok(()) => Ok(temp),
                    Err(err) => {
                        screenshot::discard(&temp);
                        Err(UserError::from_error(summary, &err))
                    }
                },
            };
            ConsoleCmd::Screenshot(result)
        });
    }

    pub(super) fn save_screenshot(
        &self,
        temp: PathBuf,
        dest: Option<PathBuf>,
        sender: &ComponentSender<Self>,
    ) {
        let Some(dest) = dest else {
            screenshot::discard(&temp);
            return;
        };
        let out = match screenshot::keep(&temp, &dest) {
            Ok(()) => {
                let file = dest
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                ConsoleOutput::Notify(i18n_f("Screenshot saved as “{}”", &[&file]))
            }
            Err(err) => ConsoleOutput::Error(UserError::from_error(
                gettext("Could not save the screenshot"),
                &err,
            )),
        };
        let _ = sender.output(out);
    }

    pub(super) fn resize_window_to_guest(&self) {
        let Some(window) = self.w.content.root().and_downcast::<gtk::Window>() else {
            return;
        };
        if window.is_fullscreen() {
            return;
        }
        if window.is_maximized() {
            window.unmaximize();
        }
        if let Some((w, h)) = resize::window_size_for_guest(&self.w.view, &window) {
            tracing::debug!(w, h, "resizing the window to the guest");
            window.set_default_size(w, h);
        }
    }

    pub(super) fn on_screenshot_taken(
        &mut self,
        result: Result<PathBuf, UserError>,
        sender: &ComponentSender<Self>,
    ) {
        self.shot_busy = false;
        match result {
            Ok(temp) => {
                let parent = self.w.content.root().and_downcast::<gtk::Window>();
                let input = sender.input_sender().clone();
                screenshot::ask_destination(parent.as_ref(), &self.name, move |dest| {
                    input.emit(ConsoleInput::SaveScreenshot { temp, dest })
                });
            }
            Err(err) => {
                let _ = sender.output(ConsoleOutput::Error(err));
            }
        }
    }
}
