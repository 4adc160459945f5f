//! What the widget needs from a remote display protocol, and what a protocol reports back.
//!
//! Both backends run entirely on the GTK main thread (gvnc and spice-client-glib use coroutines
//! driven by the default main context), so events are delivered by direct calls into a
//! [`Sink`]. The widget never keeps a `RefCell` borrowed while it calls into a backend, so a
//! backend may report an event from inside any call.

use std::rc::Rc;

use gtk::gdk;

use crate::error::DisplayError;
use crate::frame::FrameView;
use crate::spice::SpiceBackend;
use crate::usbredir::UsbRedirection;
use crate::vnc::VncBackend;

/// The mouse cursor the guest asks for.
#[derive(Debug, Clone)]
pub enum GuestCursor {
    /// The guest draws no cursor of its own: show the host's default arrow.
    Default,
    /// A cursor image with its hotspot.
    Image(gdk::Cursor),
}

/// Something that happened on the remote display.
#[derive(Debug, Clone)]
pub enum BackendEvent {
    /// The session is ready: pictures and input flow.
    Connected,
    /// The session ended normally (VM powered off, socket closed).
    Disconnected,
    /// The session failed; the text says what happened.
    Error(String),
    /// The guest screen has a new size (also sent once after connecting).
    Resized { width: u32, height: u32 },
    /// A rectangle of the guest screen changed.
    Damage { x: i32, y: i32, width: i32, height: i32 },
    /// Whether the guest pointer is absolute (tablet) or relative (mouse).
    PointerMode { absolute: bool },
    /// The guest put text on its clipboard.
    CutText(String),
    /// The guest's clipboard agent came (and announced it can share the clipboard) or went
    /// (SPICE only: VNC has no agent of its own).
    GuestAgent { connected: bool },
    /// The guest pointer shape changed.
    Cursor(GuestCursor),
}

/// Receiver of backend events (the widget).
pub type Sink = Rc<dyn Fn(BackendEvent)>;

/// A pointer action, with guest coordinates already mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerAction {
    /// Absolute position in guest pixels.
    MoveTo { x: u32, y: u32 },
    /// Relative motion in guest pixels.
    MoveBy { dx: i32, dy: i32 },
    /// A button changed; `bit` is one of [`crate::input::buttons`].
    Button { bit: u8, pressed: bool },
}

/// The live protocol session behind a widget.
pub enum Backend {
    Vnc(VncBackend),
    Spice(SpiceBackend),
}

impl Backend {
    /// Sends a key by scancode (qnum); `keyval` is the symbol for servers without scancodes.
    pub fn key(&self, pressed: bool, keyval: u32, qnum: u16) {
        match self {
            Backend::Vnc(b) => b.key(pressed, keyval, qnum),
            Backend::Spice(b) => b.key(pressed, qnum),
        }
    }

    /// Sends a pointer action; `mask` holds the buttons that are down *after* the action.
    pub fn pointer(&self, action: PointerAction, mask: u8) {
        match self {
            Backend::Vnc(b) => b.pointer(action, mask),
            Backend::Spice(b) => b.pointer(action, mask),
        }
    }

    /// Runs `f` on the current guest picture, if there is one.
    pub fn with_frame<R>(&self, f: impl FnOnce(FrameView<'_>) -> R) -> Option<R> {
        match self {
            Backend::Vnc(b) => b.with_frame(f),
            Backend::Spice(b) => b.with_frame(f),
        }
    }

    /// Called once per drawn frame: lets the backend ask for the next update.
    pub fn frame_done(&self) {
        match self {
            Backend::Vnc(b) => b.request_update(true),
            Backend::Spice(_) => {}
        }
    }

    /// Asks for a complete picture again (after the widget was mapped).
    pub fn refresh(&self) {
        match self {
            Backend::Vnc(b) => b.request_update(false),
            Backend::Spice(_) => {}
        }
    }

    pub fn send_clipboard_text(&self, text: &str) -> Result<(), DisplayError> {
        match self {
            Backend::Vnc(b) => b.send_clipboard_text(text),
            Backend::Spice(b) => b.send_clipboard_text(text),
        }
    }

    /// Takes back text offered with [`Backend::send_clipboard_text`] (VNC has nothing to take back).
    pub fn withdraw_clipboard_text(&self) {
        match self {
            Backend::Vnc(_) => {}
            Backend::Spice(b) => b.withdraw_clipboard_text(),
        }
    }

    /// Whether the guest's clipboard is fetched when it copies (VNC servers push it anyway).
    pub fn set_clipboard_from_guest(&self, allowed: bool) {
        match self {
            Backend::Vnc(_) => {}
            Backend::Spice(b) => b.set_clipboard_from_guest(allowed),
        }
    }

    /// Whether the guest's clipboard agent runs; `None` when the protocol cannot tell.
    pub fn guest_agent_connected(&self) -> Option<bool> {
        match self {
            Backend::Vnc(_) => None,
            Backend::Spice(b) => Some(b.guest_agent_connected()),
        }
    }

    pub fn resize_guest(&self, width: u32, height: u32) -> Result<(), DisplayError> {
        match self {
            Backend::Vnc(b) => b.resize_guest(width, height),
            Backend::Spice(b) => b.resize_guest(width, height),
        }
    }

    /// SPICE USB redirection of this session (SPICE only).
    pub fn usb_redirection(&self) -> Result<UsbRedirection, DisplayError> {
        match self {
            Backend::Vnc(_) => Err(DisplayError::UsbRedirection(
                "the VM's display is VNC; USB redirection needs a SPICE display (pass devices through instead)"
                    .to_owned(),
            )),
            Backend::Spice(b) => b.usb_redirection(),
        }
    }

    /// Ends the session; no events are delivered afterwards.
    pub fn shutdown(&self) {
        match self {
            Backend::Vnc(b) => b.shutdown(),
            Backend::Spice(b) => b.shutdown(),
        }
    }
}

/// Removes trailing NUL characters that some servers and gvnc put after clipboard text.
pub fn strip_nuls(text: &str) -> String {
    text.trim_end_matches('\0').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_nuls_are_removed() {
        assert_eq!(strip_nuls("hello\0"), "hello");
        assert_eq!(strip_nuls("a\0b\0\0"), "a\0b");
        assert_eq!(strip_nuls(""), "");
    }
}
