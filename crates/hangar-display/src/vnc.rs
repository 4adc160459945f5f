//! VNC backend on gvnc (libgvnc, the protocol half of gtk-vnc).
//!
//! * Connection: a connected `UnixStream` is handed to `vnc_connection_open_fd`; gvnc wraps it
//!   in a `GSocket`, which owns and closes the descriptor. QEMU's `-vnc unix:PATH` answers RFB
//!   3.8 with security type None.
//! * Pixels: on `vnc-initialized` the client asks for 32 bpp little-endian BGRx (depth 24,
//!   shifts 16/8/0) and gives gvnc a `VncBaseFramebuffer` over a buffer this crate allocates.
//!   The buffer is attached to the framebuffer object as GObject data, so it lives exactly as
//!   long as gvnc may write into it. A desktop resize or a pixel format change replaces it.
//! * Updates: one incremental FramebufferUpdateRequest per drawn frame (see
//!   [`crate::backend::Backend::frame_done`]), so a fast-changing guest is throttled to the
//!   frame rate instead of queueing updates the screen cannot show. gvnc itself re-sends the
//!   last request after pseudo-encoding-only updates (cursor, LED state, pointer mode).
//! * Keys: QEMU extended key events carry the scancode (qnum); the keysym is only a fallback.
//! * Clipboard: gvnc's own `client_cut_text` counts the terminating NUL in the length; this
//!   module calls the C function with the exact UTF-8 bytes instead (QEMU treats cut text as
//!   UTF-8).

use std::cell::{Cell, RefCell};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::rc::Rc;

use gtk::glib::translate::{from_glib_full, ToGlibPtr};
use gtk::prelude::*;
use gtk::{gdk, glib};
use gvnc::prelude::*;
use gvnc::FramebufferManualExt;

use crate::backend::{strip_nuls, BackendEvent, GuestCursor, PointerAction, Sink};
use crate::error::DisplayError;
use crate::frame::FrameView;

/// Encodings offered to the server, best first. Pseudo-encodings turn on server features.
const ENCODINGS: &[i32] = &[
    gvnc::ffi::VNC_CONNECTION_ENCODING_TIGHT,
    gvnc::ffi::VNC_CONNECTION_ENCODING_ZRLE,
    gvnc::ffi::VNC_CONNECTION_ENCODING_HEXTILE,
    gvnc::ffi::VNC_CONNECTION_ENCODING_RAW,
    gvnc::ffi::VNC_CONNECTION_ENCODING_DESKTOP_RESIZE,
    gvnc::ffi::VNC_CONNECTION_ENCODING_EXTENDED_DESKTOP_RESIZE,
    gvnc::ffi::VNC_CONNECTION_ENCODING_WMVi,
    gvnc::ffi::VNC_CONNECTION_ENCODING_ALPHA_CURSOR,
    gvnc::ffi::VNC_CONNECTION_ENCODING_RICH_CURSOR,
    gvnc::ffi::VNC_CONNECTION_ENCODING_POINTER_CHANGE,
    gvnc::ffi::VNC_CONNECTION_ENCODING_LED_STATE,
    gvnc::ffi::VNC_CONNECTION_ENCODING_EXT_KEY_EVENT,
    gvnc::ffi::VNC_CONNECTION_ENCODING_LAST_RECT,
    gvnc::ffi::VNC_CONNECTION_ENCODING_DESKTOP_NAME,
];

/// Center of the coordinate range: QEMU reads relative motion as offsets from it when the
/// client supports the pointer-type-change pseudo-encoding.
const REL_CENTER: i32 = 0x7fff;

/// Name of the GObject data slot that owns a framebuffer's pixel buffer.
const PIXELS_KEY: &str = "hangar-display-pixels";

/// The local pixel format: 32 bpp little-endian BGRx, depth 24.
fn local_format() -> Option<gvnc::PixelFormat> {
    gvnc::PixelFormat::new_with((255, 255, 255), (16, 8, 0), 24, 32, gvnc::ByteOrder::Little, 1).ok()
}

pub struct VncBackend {
    conn: gvnc::Connection,
    closed: Cell<bool>,
    handlers: RefCell<Vec<glib::SignalHandlerId>>,
    last_pos: Cell<(u16, u16)>,
    absolute: Cell<bool>,
}

impl VncBackend {
    /// Connects to a VNC server listening on a unix socket.
    pub fn connect_unix(path: &Path, sink: Sink) -> Result<VncBackend, DisplayError> {
        let stream = UnixStream::connect(path).map_err(|source| DisplayError::Socket {
            path: path.to_owned(),
            source,
        })?;
        let conn = gvnc::Connection::new();
        let backend = VncBackend {
            conn: conn.clone(),
            closed: Cell::new(false),
            handlers: RefCell::new(Vec::new()),
            last_pos: Cell::new((0, 0)),
            absolute: Cell::new(true),
        };
        backend.connect_signals(sink);
        // Ask for a shared session: gvnc's default is exclusive, and QEMU then disconnects every
        // other client (a second Hangar window, a viewer), which would reconnect and so throw
        // this one out in turn.
        if let Err(e) = conn.set_shared(true) {
            tracing::warn!("vnc: cannot ask for a shared session: {e}");
        }
        let fd = stream.into_raw_fd();
        if let Err(e) = conn.open_fd(fd) {
            // gvnc did not take the descriptor: close it here.
            drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
            backend.disconnect_signals();
            return Err(DisplayError::SessionStart {
                protocol: "VNC",
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
        tracing::debug!(path = %path.display(), "vnc: socket handed to gvnc");
        Ok(backend)
    }

    fn connect_signals(&self, sink: Sink) {
        let c = &self.conn;
        let mut ids = Vec::new();
        // An I/O error after the session started is the server going away (VM powered off):
        // it is reported as a disconnect. Before that, it is why the connection failed.
        let started = Rc::new(Cell::new(false));
        let last_error: Rc<RefCell<Option<String>>> = Rc::default();
        let s = sink.clone();
        let st = started.clone();
        ids.push(c.connect_vnc_initialized(move |conn| {
            st.set(true);
            on_initialized(conn, &s);
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_desktop_resize(move |conn, w, h| {
            if let Some(fmt) = conn.pixel_format() {
                install_framebuffer(conn, w, h, &fmt, &s);
            }
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_pixel_format_changed(move |conn, fmt| {
            install_framebuffer(conn, conn.width(), conn.height(), fmt, &s);
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_framebuffer_update(move |_, x, y, w, h| {
            s(BackendEvent::Damage {
                x,
                y,
                width: w,
                height: h,
            });
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_pointer_mode_changed(move |_, absolute| {
            s(BackendEvent::PointerMode { absolute });
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_cursor_changed(move |_, cursor| {
            s(BackendEvent::Cursor(
                cursor.and_then(cursor_from_vnc).unwrap_or(GuestCursor::Default),
            ));
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_server_cut_text(move |_, text| {
            s(BackendEvent::CutText(strip_nuls(text)));
        }));
        let le = last_error.clone();
        ids.push(c.connect_vnc_error(move |_, msg| {
            tracing::debug!(%msg, "vnc: error");
            le.replace(Some(msg.to_owned()));
        }));
        // gvnc waits for the client to pick one of the offered security types.
        let s = sink.clone();
        ids.push(c.connect_vnc_auth_choose_type(move |conn, types| {
            let offered: Vec<gvnc::ConnectionAuth> = types
                .iter()
                .filter_map(|v| v.get::<gvnc::ConnectionAuth>().ok())
                .collect();
            tracing::debug!(?offered, "vnc: security types offered");
            if offered.contains(&gvnc::ConnectionAuth::None) {
                if let Err(e) = conn.set_auth_type(gvnc::ffi::VNC_CONNECTION_AUTH_NONE as u32) {
                    s(BackendEvent::Error(format!(
                        "VNC: choosing security type None failed: {e}"
                    )));
                }
            } else {
                s(BackendEvent::Error(format!(
                    "VNC: the server offers only security types {offered:?}; the console needs type \
                     None: start QEMU's VNC server on a unix socket without a password"
                )));
                conn.shutdown();
            }
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_auth_unsupported(move |_, kind| {
            s(BackendEvent::Error(format!(
                "VNC: the server wants authentication type {kind}, which the console does not \
                 support; start QEMU's VNC server without a password (it only listens on a \
                 private unix socket)"
            )));
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_auth_credential(move |conn, _| {
            s(BackendEvent::Error(
                "VNC: the server asks for a password; start QEMU's VNC server without one (it only \
                 listens on a private unix socket)"
                    .to_owned(),
            ));
            conn.shutdown();
        }));
        let s = sink.clone();
        ids.push(c.connect_vnc_auth_failure(move |_, msg| {
            s(BackendEvent::Error(format!("VNC: authentication failed: {msg}")));
        }));
        ids.push(c.connect_vnc_disconnected(move |_| {
            if started.get() {
                sink(BackendEvent::Disconnected);
            } else {
                let why = last_error.borrow().clone().unwrap_or_else(|| {
                    "the server closed the connection before the session started".to_owned()
                });
                sink(BackendEvent::Error(format!("VNC: {why}")));
            }
        }));
        // No handler on `vnc-led-state`: libgvnc 1.3 declares it with an INT marshaller but
        // emits it without the argument, and any connected handler triggers a GLib critical.
        self.handlers.borrow_mut().extend(ids);
    }

    fn disconnect_signals(&self) {
        for id in self.handlers.borrow_mut().drain(..) {
            self.conn.disconnect(id);
        }
    }

    pub fn key(&self, pressed: bool, keyval: u32, qnum: u16) {
        if let Err(e) = self.conn.key_event(pressed, keyval, qnum) {
            tracing::debug!(error = %e, "vnc: key event not sent");
        }
    }

    pub fn pointer(&self, action: PointerAction, mask: u8) {
        let clamp16 = |v: i64| v.clamp(0, i64::from(u16::MAX)) as u16;
        let (x, y) = match action {
            PointerAction::MoveTo { x, y } => {
                let p = (clamp16(x.into()), clamp16(y.into()));
                self.last_pos.set(p);
                self.absolute.set(true);
                p
            }
            PointerAction::MoveBy { dx, dy } => {
                self.absolute.set(false);
                (
                    clamp16(i64::from(REL_CENTER + dx)),
                    clamp16(i64::from(REL_CENTER + dy)),
                )
            }
            PointerAction::Button { .. } => {
                if self.absolute.get() {
                    self.last_pos.get()
                } else {
                    (REL_CENTER as u16, REL_CENTER as u16)
                }
            }
        };
        if let Err(e) = self.conn.pointer_event(mask, x, y) {
            tracing::debug!(error = %e, "vnc: pointer event not sent");
        }
    }

    pub fn with_frame<R>(&self, f: impl FnOnce(FrameView<'_>) -> R) -> Option<R> {
        let fb = self.conn.framebuffer()?;
        let stride = usize::try_from(fb.rowstride()).ok()?;
        let view = FrameView {
            data: fb.buffer(),
            width: u32::from(fb.width()),
            height: u32::from(fb.height()),
            stride,
        };
        Some(f(view))
    }

    /// Asks the server for the next update of the whole screen.
    pub fn request_update(&self, incremental: bool) {
        if !self.conn.is_initialized() {
            return;
        }
        let w = u16::try_from(self.conn.width()).unwrap_or(u16::MAX);
        let h = u16::try_from(self.conn.height()).unwrap_or(u16::MAX);
        if let Err(e) = self.conn.framebuffer_update_request(incremental, 0, 0, w, h) {
            tracing::debug!(error = %e, "vnc: update request not sent");
        }
    }

    pub fn send_clipboard_text(&self, text: &str) -> Result<(), DisplayError> {
        if !self.conn.is_initialized() {
            return Err(DisplayError::NotConnected);
        }
        let bytes = text.as_bytes();
        // SAFETY: gvnc copies `length` bytes from `data` into its output buffer before
        // returning; the pointer is valid for that many bytes and is not written to.
        let ok = unsafe {
            gvnc::ffi::vnc_connection_client_cut_text(
                self.conn.to_glib_none().0,
                bytes.as_ptr() as *mut std::ffi::c_void,
                bytes.len(),
            )
        };
        if ok == glib::ffi::GFALSE {
            return Err(DisplayError::Clipboard(
                "the VNC connection has failed".to_owned(),
            ));
        }
        Ok(())
    }

    pub fn resize_guest(&self, width: u32, height: u32) -> Result<(), DisplayError> {
        if !self.conn.is_initialized() {
            return Err(DisplayError::NotConnected);
        }
        match self.conn.set_size(width, height) {
            gvnc::ConnectionResizeStatus::Ok | gvnc::ConnectionResizeStatus::Forwarded => Ok(()),
            gvnc::ConnectionResizeStatus::Unsupported => Err(DisplayError::ResizeUnsupported(
                "the VNC server does not offer resizing (it needs a display device that can \
                 change mode, such as virtio-vga, and a guest driver that follows it)"
                    .to_owned(),
            )),
            other => Err(DisplayError::ResizeUnsupported(format!(
                "the VNC server refused: {other:?}"
            ))),
        }
    }

    pub fn shutdown(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.disconnect_signals();
        self.conn.shutdown();
    }
}

impl Drop for VncBackend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn on_initialized(conn: &gvnc::Connection, sink: &Sink) {
    let Some(fmt) = local_format() else {
        sink(BackendEvent::Error(
            "VNC: could not describe the local pixel format".to_owned(),
        ));
        return;
    };
    if let Err(e) = conn.set_pixel_format(&fmt) {
        sink(BackendEvent::Error(format!(
            "VNC: setting the pixel format failed: {e}"
        )));
        return;
    }
    if let Err(e) = conn.set_encodings(ENCODINGS) {
        sink(BackendEvent::Error(format!(
            "VNC: setting the encodings failed: {e}"
        )));
        return;
    }
    let remote = conn.pixel_format().unwrap_or(fmt);
    tracing::debug!(
        width = conn.width(),
        height = conn.height(),
        name = ?conn.name(),
        ext_key = conn.is_ext_key_event(),
        abs = conn.is_abs_pointer(),
        "vnc: initialized"
    );
    sink(BackendEvent::Connected);
    install_framebuffer(conn, conn.width(), conn.height(), &remote, sink);
    sink(BackendEvent::PointerMode {
        absolute: conn.is_abs_pointer(),
    });
}

/// Allocates a pixel buffer for a `width` x `height` screen and makes gvnc decode into it.
fn install_framebuffer(
    conn: &gvnc::Connection,
    width: i32,
    height: i32,
    remote: &gvnc::PixelFormat,
    sink: &Sink,
) {
    let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
        sink(BackendEvent::Error(format!(
            "VNC: the server sent an impossible screen size {width}x{height}"
        )));
        return;
    };
    let Some(local) = local_format() else {
        return;
    };
    let stride = usize::from(w) * 4;
    let mut pixels = vec![0u8; stride * usize::from(h).max(1)];
    // SAFETY: `pixels` holds `h` rows of `stride` bytes; its heap block does not move when the
    // Vec itself is moved into the object's data below, and that data is dropped only when the
    // framebuffer object is finalized, after gvnc's last use of it.
    let fb: gvnc::BaseFramebuffer = unsafe {
        from_glib_full(gvnc::ffi::vnc_base_framebuffer_new(
            pixels.as_mut_ptr(),
            w,
            h,
            stride as i32,
            local.to_glib_none().0,
            remote.to_glib_none().0,
        ))
    };
    // SAFETY: the key is private to this module and always holds a Vec<u8>.
    unsafe { fb.set_data(PIXELS_KEY, pixels) };
    if let Err(e) = conn.set_framebuffer(&fb) {
        sink(BackendEvent::Error(format!(
            "VNC: installing the framebuffer failed: {e}"
        )));
        return;
    }
    if let Err(e) = conn.framebuffer_update_request(false, 0, 0, w, h) {
        tracing::debug!(error = %e, "vnc: full update request not sent");
    }
    sink(BackendEvent::Resized {
        width: u32::from(w),
        height: u32::from(h),
    });
}

/// Converts gvnc's RGBA cursor into a GDK cursor.
fn cursor_from_vnc(cursor: &gvnc::Cursor) -> Option<GuestCursor> {
    let (w, h) = (cursor.width(), cursor.height());
    if w == 0 || h == 0 {
        return None;
    }
    let data = cursor.data();
    let bytes = glib::Bytes::from(data);
    let texture = gdk::MemoryTexture::new(
        i32::from(w),
        i32::from(h),
        gdk::MemoryFormat::R8g8b8a8,
        &bytes,
        usize::from(w) * 4,
    );
    let image = gdk::Cursor::from_texture(&texture, i32::from(cursor.hotx()), i32::from(cursor.hoty()), None);
    Some(GuestCursor::Image(image))
}
