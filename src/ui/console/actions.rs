//! The `console` action group (menus and buttons) and the console's own keyboard shortcuts.
//!
//! Shortcuts sit in a capture-phase controller on the console, so they also work while the
//! guest screen has the keyboard focus; during a grab the display widget pauses that controller
//! and every key goes to the guest (it still sees the release chord and the fullscreen key).

use gtk::gio;
use gtk::glib;
use gtk::prelude::*;
use hangar_display::ScalingMode;
use relm4::Sender;

use super::ConsoleInput;

/// The actions whose state or sensitivity the component changes.
pub struct Actions {
    pub group: gio::SimpleActionGroup,
    /// Enabled only while the display is connected.
    connected_only: Vec<gio::SimpleAction>,
    pub resize_guest: gio::SimpleAction,
    pub screenshot: gio::SimpleAction,
    fullscreen: gio::SimpleAction,
    pub fullscreen_shortcut: gtk::Shortcut,
}

/// Scaling mode ↔ action target.
pub fn scaling_target(mode: ScalingMode) -> &'static str {
    match mode {
        ScalingMode::Fit => "fit",
        ScalingMode::OneToOne => "one",
        ScalingMode::Fill => "fill",
    }
}

pub fn scaling_from_target(target: &str) -> Option<ScalingMode> {
    match target {
        "fit" => Some(ScalingMode::Fit),
        "one" => Some(ScalingMode::OneToOne),
        "fill" => Some(ScalingMode::Fill),
        _ => None,
    }
}

fn simple(
    group: &gio::SimpleActionGroup,
    name: &str,
    input: &Sender<ConsoleInput>,
    msg: fn() -> ConsoleInput,
) -> gio::SimpleAction {
    let action = gio::SimpleAction::new(name, None);
    let input = input.clone();
    action.connect_activate(move |_, _| input.emit(msg()));
    group.add_action(&action);
    action
}

impl Actions {
    pub fn new(input: &Sender<ConsoleInput>, fullscreen_key: &str) -> Self {
        let group = gio::SimpleActionGroup::new();

        let send_keys = gio::SimpleAction::new("send-keys", Some(glib::VariantTy::STRING));
        let tx = input.clone();
        send_keys.connect_activate(move |_, target| {
            if let Some(id) = target.and_then(|t| t.str()) {
                tx.emit(ConsoleInput::SendKeys(id.to_owned()));
            }
        });
        group.add_action(&send_keys);

        let scaling = gio::SimpleAction::new_stateful(
            "scaling",
            Some(glib::VariantTy::STRING),
            &scaling_target(ScalingMode::Fit).to_variant(),
        );
        let tx = input.clone();
        scaling.connect_activate(move |action, target| {
            let Some(mode) = target.and_then(|t| t.str()).and_then(scaling_from_target) else {
                return;
            };
            action.set_state(&scaling_target(mode).to_variant());
            tx.emit(ConsoleInput::SetScaling(mode));
        });
        group.add_action(&scaling);

        let resize_guest = gio::SimpleAction::new_stateful("resize-guest", None, &false.to_variant());
        let tx = input.clone();
        resize_guest.connect_activate(move |action, _| {
            let on = !action.state().and_then(|s| s.get::<bool>()).unwrap_or(false);
            action.set_state(&on.to_variant());
            tx.emit(ConsoleInput::ResizeGuestToWindow(on));
        });
        group.add_action(&resize_guest);

        let connected_only = vec![
            send_keys,
            scaling.clone(),
            resize_guest.clone(),
            simple(&group, "zoom-in", input, || ConsoleInput::ZoomIn),
            simple(&group, "zoom-out", input, || ConsoleInput::ZoomOut),
            simple(&group, "zoom-reset", input, || ConsoleInput::ZoomReset),
            simple(&group, "resize-window", input, || {
                ConsoleInput::ResizeWindowToGuest
            }),
            simple(&group, "release", input, || ConsoleInput::Release),
        ];
        let screenshot = simple(&group, "screenshot", input, || ConsoleInput::Screenshot);
        let fullscreen = simple(&group, "fullscreen", input, || ConsoleInput::ToggleFullscreen);
        simple(&group, "detach", input, || ConsoleInput::ToggleDetached);

        let fullscreen_shortcut = gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string(fullscreen_key),
            Some(gtk::NamedAction::new("console.fullscreen")),
        );
        let actions = Actions {
            group,
            connected_only,
            resize_guest,
            screenshot,
            fullscreen,
            fullscreen_shortcut,
        };
        actions.set_connected(false, false);
        actions
    }

    /// Enables what needs a live display. Fullscreen stays available while in fullscreen, so
    /// that a console that lost its display can always be left.
    pub fn set_connected(&self, connected: bool, fullscreen: bool) {
        for action in &self.connected_only {
            action.set_enabled(connected);
        }
        self.screenshot.set_enabled(connected);
        self.fullscreen.set_enabled(connected || fullscreen);
    }

    /// The shortcut controller for `widget` (zoom keys and the fullscreen key).
    pub fn shortcut_controller(&self) -> gtk::ShortcutController {
        let controller = gtk::ShortcutController::new();
        controller.set_propagation_phase(gtk::PropagationPhase::Capture);
        controller.set_name(Some("hangar-console-shortcuts"));
        let zoom = [
            ("<Control>plus|<Control>equal|<Control>KP_Add", "console.zoom-in"),
            ("<Control>minus|<Control>KP_Subtract", "console.zoom-out"),
            ("<Control>0|<Control>KP_0", "console.zoom-reset"),
        ];
        for (triggers, action) in zoom {
            controller.add_shortcut(gtk::Shortcut::new(
                gtk::ShortcutTrigger::parse_string(triggers),
                Some(gtk::NamedAction::new(action)),
            ));
        }
        controller.add_shortcut(self.fullscreen_shortcut.clone());
        controller
    }

    /// A new fullscreen key from the preferences.
    pub fn set_fullscreen_key(&self, spec: &str) {
        match gtk::ShortcutTrigger::parse_string(spec) {
            Some(trigger) => self.fullscreen_shortcut.set_trigger(Some(trigger)),
            None => tracing::warn!(spec, "fullscreen key not understood; the shortcut is unchanged"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_targets_round_trip() {
        for mode in [ScalingMode::Fit, ScalingMode::OneToOne, ScalingMode::Fill] {
            assert_eq!(scaling_from_target(scaling_target(mode)), Some(mode));
        }
        assert_eq!(scaling_from_target("zoom"), None);
    }
}
