//! SPICE backend on spice-client-glib.
//!
//! * Connection: the session's `unix-path` property points at QEMU's `-spice unix=on,addr=PATH`
//!   socket; every channel of the session then connects to that path.
//! * Pixels: the display channel's primary surface (`display-primary-create`) is a 32 bpp
//!   BGRx buffer owned by spice-client-glib and valid until `display-primary-destroy`. It is
//!   read in place once per frame; `display-invalidate` only adds damage.
//! * Input: the inputs channel takes XT set 1 scancodes with `0x100 | code` for `0xe0` keys
//!   ([`crate::keymap::qnum_to_spice`]), absolute positions in client mouse mode, relative
//!   motion in server mouse mode.
//! * Clipboard and monitor configuration go through the main channel and need the SPICE agent
//!   (spice-vdagent) in the guest. Only the CLIPBOARD selection with UTF-8 text is shared: a
//!   guest grab is answered with a request at once (unless fetching from the guest is off), the
//!   text comes back as [`BackendEvent::CutText`]; host text is offered with a grab and handed
//!   over when the guest asks. `agent-connected` changes come as [`BackendEvent::GuestAgent`].

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;

use gtk::prelude::*;
use spice_client_glib as spice;
use spice_client_glib::prelude::*;

use crate::backend::{strip_nuls, BackendEvent, PointerAction, Sink};
use crate::error::DisplayError;
use crate::frame::FrameView;
use crate::input::buttons;
use crate::keymap::qnum_to_spice;
use crate::usbredir::UsbRedirection;

/// Where libusb finds the host's USB devices.
const USBFS: &str = "/dev/bus/usb";
/// `SPICE_MOUSE_MODE_CLIENT`: absolute positions.
const MOUSE_MODE_CLIENT: i32 = 2;
/// `VD_AGENT_CLIPBOARD_UTF8_TEXT`.
const CLIPBOARD_UTF8: u32 = 1;
/// `VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD`.
const SELECTION_CLIPBOARD: u32 = 0;
/// `VD_AGENT_CAP_CLIPBOARD_BY_DEMAND`: without it spice-client-glib drops clipboard grabs.
const CAP_CLIPBOARD_BY_DEMAND: u32 = 5;

#[derive(Default)]
struct Channels {
    main: Option<spice::MainChannel>,
    display: Option<spice::DisplayChannel>,
    inputs: Option<spice::InputsChannel>,
}

/// State shared with the signal handlers.
#[derive(Default)]
struct Shared {
    channels: RefCell<Channels>,
    primary: RefCell<Option<spice::DisplayPrimary>>,
    /// Text offered to the guest clipboard, handed over when the guest asks for it.
    clipboard_out: RefCell<Option<String>>,
    /// This client holds the guest's CLIPBOARD selection (it grabbed and the guest did not since).
    host_grab: Cell<bool>,
    /// Whether the guest's clipboard is fetched when it copies.
    from_guest: Cell<bool>,
    /// What was last reported as [`BackendEvent::GuestAgent`].
    agent_ready: Cell<bool>,
    connected: Cell<bool>,
}

/// The guest agent runs and has announced it can share the clipboard (its capabilities come
/// a moment after `agent-connected`).
fn clipboard_agent_ready(main: &spice::MainChannel) -> bool {
    main.is_agent_connected() && main.agent_test_capability(CAP_CLIPBOARD_BY_DEMAND)
}

pub struct SpiceBackend {
    session: spice::Session,
    shared: Rc<Shared>,
    closed: Cell<bool>,
}

impl SpiceBackend {
    /// Starts a SPICE session on a unix socket.
    pub fn connect_unix(path: &Path, sink: Sink) -> Result<SpiceBackend, DisplayError> {
        // Fail early and clearly if there is nothing to connect to.
        std::os::unix::net::UnixStream::connect(path).map_err(|source| DisplayError::Socket {
            path: path.to_owned(),
            source,
        })?;
        let path_str = path.to_str().ok_or_else(|| DisplayError::SessionStart {
            protocol: "SPICE",
            path: path.to_owned(),
            reason: "the socket path is not valid UTF-8; use a UTF-8 path".to_owned(),
        })?;
        let session = spice::Session::new();
        session.set_unix_path(Some(path_str));
        session.set_enable_audio(false);
        // Redirection channels exist only when the VM has them (`usb.redirect_channels`). libusb
        // needs usbfs: without it spice-client-glib only logs failures on every session.
        session.set_enable_usbredir(Path::new(USBFS).exists());
        let shared = Rc::new(Shared {
            from_guest: Cell::new(true),
            ..Shared::default()
        });
        {
            let shared = shared.clone();
            let sink = sink.clone();
            session.connect_channel_new(move |_, channel| on_channel_new(channel, &shared, &sink));
        }
        {
            let sink = sink.clone();
            session.connect_disconnected(move |_| sink(BackendEvent::Disconnected));
        }
        if !session.connect() {
            return Err(DisplayError::SessionStart {
                protocol: "SPICE",
                path: path.to_owned(),
                reason: "spice-client-glib refused to start the session".to_owned(),
            });
        }
        tracing::debug!(path = %path.display(), "spice: session started");
        Ok(SpiceBackend {
            session,
            shared,
            closed: Cell::new(false),
        })
    }

    fn inputs(&self) -> Option<spice::InputsChannel> {
        self.shared.channels.borrow().inputs.clone()
    }

    fn main(&self) -> Option<spice::MainChannel> {
        self.shared.channels.borrow().main.clone()
    }

    pub fn key(&self, pressed: bool, qnum: u16) {
        let Some(inputs) = self.inputs() else { return };
        let code = qnum_to_spice(qnum);
        if pressed {
            inputs.key_press(code);
        } else {
            inputs.key_release(code);
        }
    }

    pub fn pointer(&self, action: PointerAction, mask: u8) {
        let Some(inputs) = self.inputs() else { return };
        let state = i32::from(mask);
        match action {
            PointerAction::MoveTo { x, y } => {
                let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                inputs.position(clamp(x), clamp(y), 0, state);
            }
            PointerAction::MoveBy { dx, dy } => inputs.motion(dx, dy, state),
            PointerAction::Button { bit, pressed } => {
                let button = match bit {
                    buttons::LEFT => spice::MouseButton::Left,
                    buttons::MIDDLE => spice::MouseButton::Middle,
                    buttons::RIGHT => spice::MouseButton::Right,
                    buttons::WHEEL_UP => spice::MouseButton::Up,
                    buttons::WHEEL_DOWN => spice::MouseButton::Down,
                    // SPICE has no horizontal wheel.
                    _ => return,
                } as i32;
                if pressed {
                    inputs.button_press(button, state);
                } else {
                    inputs.button_release(button, state);
                }
            }
        }
    }

    pub fn with_frame<R>(&self, f: impl FnOnce(FrameView<'_>) -> R) -> Option<R> {
        let primary = self.shared.primary.borrow();
        let p = primary.as_ref()?;
        match p.format() {
            Ok(spice::SurfaceFormat::_32XRGB) | Ok(spice::SurfaceFormat::_32ARGB) => {}
            other => {
                tracing::warn!(format = ?other, "spice: primary surface format not supported");
                return None;
            }
        }
        let view = FrameView {
            data: p.data(),
            width: u32::try_from(p.width()).ok()?,
            height: u32::try_from(p.height()).ok()?,
            stride: p.stride(),
        };
        Some(f(view))
    }

    pub fn send_clipboard_text(&self, text: &str) -> Result<(), DisplayError> {
        let main = self.main().ok_or(DisplayError::NotConnected)?;
        if !clipboard_agent_ready(&main) {
            return Err(DisplayError::Clipboard(
                "the guest runs no SPICE agent; install spice-vdagent in the guest".to_owned(),
            ));
        }
        self.shared.clipboard_out.replace(Some(text.to_owned()));
        self.shared.host_grab.set(true);
        main.clipboard_selection_grab(SELECTION_CLIPBOARD, &[CLIPBOARD_UTF8]);
        Ok(())
    }

    pub fn withdraw_clipboard_text(&self) {
        self.shared.clipboard_out.replace(None);
        if self.shared.host_grab.replace(false) {
            if let Some(main) = self.main().filter(|m| m.is_agent_connected()) {
                main.clipboard_selection_release(SELECTION_CLIPBOARD);
            }
        }
    }

    pub fn set_clipboard_from_guest(&self, allowed: bool) {
        self.shared.from_guest.set(allowed);
    }

    pub fn guest_agent_connected(&self) -> bool {
        self.main().is_some_and(|m| clipboard_agent_ready(&m))
    }

    pub fn resize_guest(&self, width: u32, height: u32) -> Result<(), DisplayError> {
        let main = self.main().ok_or(DisplayError::NotConnected)?;
        if !main.is_agent_connected() {
            return Err(DisplayError::ResizeUnsupported(
                "the guest runs no SPICE agent; install spice-vdagent in the guest".to_owned(),
            ));
        }
        let w =
            i32::try_from(width).map_err(|_| DisplayError::ResizeUnsupported("width too large".into()))?;
        let h =
            i32::try_from(height).map_err(|_| DisplayError::ResizeUnsupported("height too large".into()))?;
        main.update_display_enabled(0, true, false);
        main.update_display(0, 0, 0, w, h, true);
        Ok(())
    }

    /// The session's USB redirection manager.
    pub fn usb_redirection(&self) -> Result<UsbRedirection, DisplayError> {
        if !self.session.enables_usbredir() {
            return Err(DisplayError::UsbRedirection(format!(
                "this computer has no USB devices to redirect ({USBFS} does not exist)"
            )));
        }
        UsbRedirection::for_session(&self.session)
    }

    pub fn shutdown(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.shared.primary.replace(None);
        *self.shared.channels.borrow_mut() = Channels::default();
        self.session.disconnect();
    }
}

impl Drop for SpiceBackend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn on_channel_new(channel: &spice::Channel, shared: &Rc<Shared>, sink: &Sink) {
    if let Some(main) = channel.downcast_ref::<spice::MainChannel>() {
        setup_main(main, shared, sink);
        shared.channels.borrow_mut().main = Some(main.clone());
        // The session connects the main channel itself.
        return;
    }
    if let Some(display) = channel.downcast_ref::<spice::DisplayChannel>() {
        if display.channel_id() != 0 {
            // Only the first monitor is shown.
            return;
        }
        setup_display(display, shared, sink);
        shared.channels.borrow_mut().display = Some(display.clone());
        if !ChannelExt::connect(display) {
            sink(BackendEvent::Error(
                "SPICE: the display channel could not connect".to_owned(),
            ));
        }
        return;
    }
    if let Some(inputs) = channel.downcast_ref::<spice::InputsChannel>() {
        shared.channels.borrow_mut().inputs = Some(inputs.clone());
        if !ChannelExt::connect(inputs) {
            sink(BackendEvent::Error(
                "SPICE: the inputs channel could not connect".to_owned(),
            ));
        }
    }
}

fn setup_main(main: &spice::MainChannel, shared: &Rc<Shared>, sink: &Sink) {
    let (sh, s) = (shared.clone(), sink.clone());
    main.connect_channel_event(move |main, event| match event {
        spice::ChannelEvent::Opened => {
            if !sh.connected.replace(true) {
                main.request_mouse_mode(MOUSE_MODE_CLIENT);
                s(BackendEvent::Connected);
            }
        }
        spice::ChannelEvent::None => {}
        // Once the session ran, the channel closing or failing is the server going away.
        _ if sh.connected.get() => s(BackendEvent::Disconnected),
        other => {
            let detail = main
                .error()
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("{other:?}"));
            s(BackendEvent::Error(format!(
                "SPICE: the main channel failed: {detail}"
            )));
        }
    });
    let s = sink.clone();
    main.connect_main_mouse_update(move |main| {
        s(BackendEvent::PointerMode {
            absolute: main.mouse_mode() == MOUSE_MODE_CLIENT,
        });
    });
    let (sh, s) = (shared.clone(), sink.clone());
    let agent_changed = move |main: &spice::MainChannel| {
        let ready = clipboard_agent_ready(main);
        if sh.agent_ready.replace(ready) != ready {
            s(BackendEvent::GuestAgent { connected: ready });
        }
    };
    main.connect_agent_connected_notify(agent_changed.clone());
    main.connect_main_agent_update(agent_changed);
    let sh = shared.clone();
    main.connect_main_clipboard_selection_grab(move |main, selection, types| {
        if selection != SELECTION_CLIPBOARD {
            return;
        }
        // The guest owns the clipboard now: our offer is void.
        sh.host_grab.set(false);
        sh.clipboard_out.replace(None);
        if sh.from_guest.get() && types.contains(&CLIPBOARD_UTF8) {
            main.clipboard_selection_request(selection, CLIPBOARD_UTF8);
        }
    });
    let (sh, s) = (shared.clone(), sink.clone());
    main.connect_main_clipboard_selection(move |_, selection, kind, data| {
        if selection == SELECTION_CLIPBOARD && kind == CLIPBOARD_UTF8 && sh.from_guest.get() {
            s(BackendEvent::CutText(strip_nuls(&String::from_utf8_lossy(data))));
        }
    });
    let sh = shared.clone();
    main.connect_main_clipboard_selection_request(move |main, selection, kind| {
        if selection != SELECTION_CLIPBOARD || kind != CLIPBOARD_UTF8 {
            return false;
        }
        match sh.clipboard_out.borrow().as_deref() {
            Some(text) => {
                main.clipboard_selection_notify(selection, kind, text.as_bytes());
                true
            }
            None => false,
        }
    });
}

fn setup_display(display: &spice::DisplayChannel, shared: &Rc<Shared>, sink: &Sink) {
    let (sh, s) = (shared.clone(), sink.clone());
    display.connect_display_primary_create(move |display| {
        let primary = display.primary(0);
        let size = primary.as_ref().map(|p| (p.width(), p.height()));
        sh.primary.replace(primary);
        if let Some((w, h)) = size {
            let (w, h) = (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
            tracing::debug!(w, h, "spice: primary surface");
            s(BackendEvent::Resized { width: w, height: h });
        }
    });
    let sh = shared.clone();
    display.connect_display_primary_destroy(move |_| {
        sh.primary.replace(None);
    });
    let s = sink.clone();
    display.connect_display_invalidate(move |_, x, y, w, h| {
        s(BackendEvent::Damage {
            x,
            y,
            width: w,
            height: h,
        });
    });
    let (sh, s) = (shared.clone(), sink.clone());
    display.connect_display_mark(move |_, mark| {
        if mark != 0 {
            if let Some(p) = sh.primary.borrow().as_ref() {
                let w = i32::try_from(p.width()).unwrap_or(i32::MAX);
                let h = i32::try_from(p.height()).unwrap_or(i32::MAX);
                s(BackendEvent::Damage {
                    x: 0,
                    y: 0,
                    width: w,
                    height: h,
                });
            }
        }
    });
}
