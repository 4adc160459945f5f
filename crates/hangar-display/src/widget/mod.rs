//! The [`DisplayView`] widget.

mod events;
mod imp;

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use gtk::glib::translate::IntoGlib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gdk, glib};

use crate::backend::{Backend, Sink};
use crate::error::DisplayError;
use crate::frame::{frame_to_texture, Picture};
use crate::geometry::ZOOM_STEP;
use crate::input::{Chord, Hotkey};
use crate::keymap::{evdev_to_qnum, keycode_to_qnum, keyval_to_evdev};
use crate::spice::SpiceBackend;
use crate::vnc::VncBackend;

pub use imp::{DEFAULT_FULLSCREEN_KEY, DEFAULT_RELEASE_CHORD};

/// State of the console connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, glib::Boxed)]
#[boxed_type(name = "HangarDisplayState")]
pub enum ConnectionState {
    /// No session (initial state, after `disconnect`, or after the server closed it).
    #[default]
    Disconnected,
    /// A session was started and the server has not answered yet.
    Connecting,
    /// Pictures and input flow.
    Connected,
    /// The session failed; the text says what happened.
    Error(String),
}

/// Counters of the picture pipeline, for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Textures built (at most one per frame-clock tick).
    pub frames: u64,
    /// Snapshots that drew a guest picture: frames the frame clock actually painted. A texture
    /// built and replaced before the next paint counts in `frames` only.
    pub paints: u64,
    /// Damage rectangles folded into those frames.
    pub rects: u64,
    /// CPU time of the last framebuffer-to-texture conversion.
    pub last_upload: Duration,
    /// Sum of all conversion times.
    pub total_upload: Duration,
}

glib::wrapper! {
    /// A GTK 4 widget that shows a VM console over VNC or SPICE and sends keyboard and pointer
    /// input to it. See the crate documentation for the behaviour.
    pub struct DisplayView(ObjectSubclass<imp::DisplayView>)
        @extends gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for DisplayView {
    fn default() -> Self {
        Self::new()
    }
}

impl DisplayView {
    pub fn new() -> Self {
        glib::Object::new()
    }

    /// Connects to a VNC server on a unix socket (QEMU `-vnc unix:PATH`). Any previous session
    /// is closed first. The state goes to `Connecting`, then `Connected` or `Error`.
    pub fn connect_vnc_unix(&self, path: impl AsRef<Path>) -> Result<(), DisplayError> {
        let sink = self.begin_session();
        self.finish_start(VncBackend::connect_unix(path.as_ref(), sink).map(Backend::Vnc))
    }

    /// Connects to a SPICE server on a unix socket (QEMU `-spice unix=on,addr=PATH`).
    pub fn connect_spice_unix(&self, path: impl AsRef<Path>) -> Result<(), DisplayError> {
        let sink = self.begin_session();
        self.finish_start(SpiceBackend::connect_unix(path.as_ref(), sink).map(Backend::Spice))
    }

    fn begin_session(&self) -> Sink {
        let imp = self.imp();
        imp.stop_session();
        let generation = imp.generation.get();
        let weak = self.downgrade();
        Rc::new(move |event| {
            if let Some(view) = weak.upgrade() {
                view.imp().handle_event(generation, event);
            }
        })
    }

    fn finish_start(&self, backend: Result<Backend, DisplayError>) -> Result<(), DisplayError> {
        let imp = self.imp();
        match backend {
            Ok(backend) => {
                imp.start_session(backend);
                imp.set_state(ConnectionState::Connecting);
                Ok(())
            }
            Err(e) => {
                imp.set_state(ConnectionState::Error(e.to_string()));
                Err(e)
            }
        }
    }

    /// Closes the session. The last picture stays visible.
    pub fn disconnect(&self) {
        let imp = self.imp();
        imp.stop_session();
        imp.set_state(ConnectionState::Disconnected);
    }

    /// Guest screen size in pixels, once known.
    pub fn guest_size(&self) -> Option<(u32, u32)> {
        let (w, h) = (self.guest_width(), self.guest_height());
        (w > 0 && h > 0).then_some((w, h))
    }

    /// Zooms in one step (×1.25).
    pub fn zoom_in(&self) {
        self.set_zoom(self.zoom() * ZOOM_STEP);
    }

    /// Zooms out one step (÷1.25).
    pub fn zoom_out(&self) {
        self.set_zoom(self.zoom() / ZOOM_STEP);
    }

    /// Back to 100 %.
    pub fn zoom_reset(&self) {
        self.set_zoom(1.0);
    }

    /// Grabs the keyboard as a click would. Does nothing unless connected.
    pub fn grab(&self) {
        self.imp().grab_with(None);
    }

    /// Releases the grab as the release chord would.
    pub fn ungrab(&self) {
        self.imp().ungrab();
    }

    /// Sets the release chord (`Control_L+Alt_L`), reporting bad key names.
    pub fn try_set_release_chord(&self, spec: &str) -> Result<(), DisplayError> {
        Chord::parse(spec)?;
        self.set_release_chord(spec);
        Ok(())
    }

    /// Sets the fullscreen hotkey in GTK accelerator syntax, reporting bad input.
    pub fn try_set_fullscreen_key(&self, spec: &str) -> Result<(), DisplayError> {
        Hotkey::parse(spec)?;
        self.set_fullscreen_key(spec);
        Ok(())
    }

    /// Presses the keys in order, then releases them in reverse (e.g. Control_L, Alt_L, Delete).
    /// Keys are sent by the scancode of their US-keyboard position; keyvals without a fixed
    /// position are looked up in the host keymap.
    pub fn send_keys(&self, keys: &[gdk::Key]) -> Result<(), DisplayError> {
        let imp = self.imp();
        let backend = imp
            .backend()
            .filter(|_| imp.is_connected())
            .ok_or(DisplayError::NotConnected)?;
        let mut codes = Vec::with_capacity(keys.len());
        for &key in keys {
            let qnum = keyval_to_evdev(key)
                .and_then(evdev_to_qnum)
                .or_else(|| self.host_keymap_qnum(key))
                .ok_or_else(|| {
                    DisplayError::UnmappableKey(
                        key.name()
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| format!("{:#x}", key.into_glib())),
                    )
                })?;
            codes.push((key.into_glib(), qnum));
        }
        for &(keyval, qnum) in &codes {
            backend.key(true, keyval, qnum);
        }
        for &(keyval, qnum) in codes.iter().rev() {
            backend.key(false, keyval, qnum);
        }
        Ok(())
    }

    fn host_keymap_qnum(&self, key: gdk::Key) -> Option<u16> {
        let keys = self.display().map_keyval(key)?;
        keys.iter().find_map(|k| keycode_to_qnum(k.keycode()))
    }

    /// Asks the guest for a new screen size (VNC ExtendedDesktopSize; SPICE monitor config
    /// through the agent). The guest decides; `guest-resized` follows if it complies.
    pub fn resize_guest(&self, width: u32, height: u32) -> Result<(), DisplayError> {
        self.imp()
            .backend()
            .ok_or(DisplayError::NotConnected)?
            .resize_guest(width, height)
    }

    /// Puts text on the guest clipboard (SPICE: offers it; the guest fetches it when it pastes).
    pub fn send_clipboard_text(&self, text: &str) -> Result<(), DisplayError> {
        self.imp()
            .backend()
            .ok_or(DisplayError::NotConnected)?
            .send_clipboard_text(text)
    }

    /// Takes back text offered with [`DisplayView::send_clipboard_text`] (SPICE), e.g. when
    /// the host clipboard no longer holds text or sharing towards the guest was turned off.
    pub fn withdraw_clipboard_text(&self) {
        if let Some(backend) = self.imp().backend() {
            backend.withdraw_clipboard_text();
        }
    }

    /// Whether text the guest copies is fetched and reported with `clipboard-text` (default
    /// on). Off, SPICE guests are not even asked for it.
    pub fn set_clipboard_from_guest(&self, allowed: bool) {
        let imp = self.imp();
        imp.clipboard_from_guest.set(allowed);
        if let Some(backend) = imp.backend() {
            backend.set_clipboard_from_guest(allowed);
        }
    }

    /// Whether the guest's clipboard agent runs: `Some` for SPICE sessions (see
    /// `guest-agent-changed`), `None` without a session or for VNC, which has no agent of its own.
    pub fn guest_agent_connected(&self) -> Option<bool> {
        self.imp().backend()?.guest_agent_connected()
    }

    /// The current guest picture at guest resolution, if one was received.
    pub fn screenshot(&self) -> Option<gdk::Texture> {
        let imp = self.imp();
        if !imp.damage.borrow().is_empty() {
            imp.upload();
        }
        if let Some(Picture::Texture(t)) = imp.picture.borrow().clone() {
            return Some(t);
        }
        // No texture (none yet, or a cairo surface): build one from the framebuffer.
        imp.backend()?.with_frame(|f| frame_to_texture(&f)).flatten()
    }

    /// SPICE USB redirection of the current session (see [`crate::usbredir`]). Fails when not
    /// connected, on VNC, or when this computer cannot redirect USB devices.
    pub fn usb_redirection(&self) -> Result<crate::usbredir::UsbRedirection, DisplayError> {
        self.imp()
            .backend()
            .ok_or(DisplayError::NotConnected)?
            .usb_redirection()
    }

    /// Counters of the picture pipeline.
    pub fn frame_stats(&self) -> FrameStats {
        self.imp().stats.get()
    }

    pub fn connect_state_changed<F: Fn(&Self, &ConnectionState) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_closure(
            "state-changed",
            false,
            glib::closure_local!(move |view: &DisplayView, state: &ConnectionState| f(view, state)),
        )
    }

    pub fn connect_grab_changed<F: Fn(&Self, bool) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "grab-changed",
            false,
            glib::closure_local!(move |view: &DisplayView, grabbed: bool| f(view, grabbed)),
        )
    }

    pub fn connect_fullscreen_toggle<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "fullscreen-toggle",
            false,
            glib::closure_local!(move |view: &DisplayView| f(view)),
        )
    }

    pub fn connect_guest_resized<F: Fn(&Self, u32, u32) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "guest-resized",
            false,
            glib::closure_local!(move |view: &DisplayView, w: u32, h: u32| f(view, w, h)),
        )
    }

    /// The guest copied text (SPICE: through its agent; VNC: server cut text).
    pub fn connect_clipboard_text<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "clipboard-text",
            false,
            glib::closure_local!(move |view: &DisplayView, text: &str| f(view, text)),
        )
    }

    /// The guest's clipboard agent came (`true`) or went (SPICE sessions only).
    pub fn connect_guest_agent_changed<F: Fn(&Self, bool) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_closure(
            "guest-agent-changed",
            false,
            glib::closure_local!(move |view: &DisplayView, connected: bool| f(view, connected)),
        )
    }
}
