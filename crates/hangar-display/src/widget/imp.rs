//! GObject implementation of [`super::DisplayView`]: properties, signals, drawing and the
//! handling of backend events.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gtk::glib::subclass::Signal;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{cairo, gdk, glib, graphene, gsk};

use super::{ConnectionState, FrameStats};
use crate::backend::{Backend, BackendEvent, GuestCursor};
use crate::frame::{BufferPool, Damage, Picture};
use crate::geometry::{clamp_zoom, LayoutInput, ScalingMode, Viewport, ZOOM_MAX, ZOOM_MIN};
use crate::input::{Chord, HeldKeys, Hotkey, ScrollAccumulator};

pub const DEFAULT_RELEASE_CHORD: &str = "Control_L+Alt_L";
pub const DEFAULT_FULLSCREEN_KEY: &str = "F11";

#[derive(glib::Properties)]
#[properties(wrapper_type = super::DisplayView)]
pub struct DisplayView {
    /// Connection state.
    #[property(get)]
    pub(super) state: RefCell<ConnectionState>,
    /// Guest screen width in pixels (0 when unknown).
    #[property(get)]
    pub(super) guest_width: Cell<u32>,
    /// Guest screen height in pixels (0 when unknown).
    #[property(get)]
    pub(super) guest_height: Cell<u32>,
    #[property(get, set = Self::set_scaling_mode, builder(ScalingMode::Fit))]
    pub(super) scaling_mode: Cell<ScalingMode>,
    #[property(get, set = Self::set_zoom, minimum = ZOOM_MIN, maximum = ZOOM_MAX, default = 1.0)]
    pub(super) zoom: Cell<f64>,
    /// Whether keyboard (and in relative mode the pointer) go to the guest exclusively.
    #[property(get)]
    pub(super) grabbed: Cell<bool>,
    /// Whether the guest pointer is absolute (tablet) rather than relative (mouse).
    #[property(get)]
    pub(super) pointer_absolute: Cell<bool>,
    /// Keys that, held together, release the grab (`Control_L+Alt_L`).
    #[property(name = "release-chord", get = Self::release_chord_spec, set = Self::set_release_chord_spec, type = String)]
    pub(super) chord: RefCell<Chord>,
    /// Key that asks the application to toggle fullscreen while grabbed (`F11`).
    #[property(name = "fullscreen-key", get = Self::fullscreen_key_spec, set = Self::set_fullscreen_key_spec, type = String)]
    pub(super) fullscreen: Cell<Hotkey>,

    pub(super) backend: RefCell<Option<Rc<Backend>>>,
    /// Incremented for every session, so late events of an old session are ignored.
    pub(super) generation: Cell<u64>,
    pub(super) damage: RefCell<Damage>,
    pub(super) picture: RefCell<Option<Picture>>,
    pub(super) pool: BufferPool,
    pub(super) tick: RefCell<Option<gtk::TickCallbackId>>,
    pub(super) need_request: Cell<bool>,
    pub(super) held: RefCell<HeldKeys>,
    pub(super) buttons: Cell<u8>,
    pub(super) scroll: RefCell<ScrollAccumulator>,
    /// Last pointer position (widget coordinates) for relative motion, and sub-pixel rests.
    pub(super) last_motion: Cell<Option<(f64, f64)>>,
    pub(super) motion_rest: Cell<(f64, f64)>,
    pub(super) guest_cursor: RefCell<GuestCursor>,
    /// Capture-phase key controllers of ancestors paused during a grab, with their phase.
    pub(super) paused: RefCell<Vec<(gtk::EventController, gtk::PropagationPhase)>>,
    pub(super) inhibited: RefCell<Option<gdk::Toplevel>>,
    pub(super) stats: Cell<FrameStats>,
    /// Whether text the guest copies is taken (`clipboard-text`); kept across sessions.
    pub(super) clipboard_from_guest: Cell<bool>,
}

impl Default for DisplayView {
    fn default() -> Self {
        let chord = Chord::parse(DEFAULT_RELEASE_CHORD);
        let hotkey = Hotkey::parse(DEFAULT_FULLSCREEN_KEY);
        let (Ok(chord), Ok(hotkey)) = (chord, hotkey) else {
            unreachable!("built-in key defaults parse");
        };
        DisplayView {
            state: RefCell::new(ConnectionState::Disconnected),
            guest_width: Cell::new(0),
            guest_height: Cell::new(0),
            scaling_mode: Cell::new(ScalingMode::Fit),
            zoom: Cell::new(1.0),
            grabbed: Cell::new(false),
            pointer_absolute: Cell::new(true),
            chord: RefCell::new(chord),
            fullscreen: Cell::new(hotkey),
            backend: RefCell::new(None),
            generation: Cell::new(0),
            damage: RefCell::new(Damage::default()),
            picture: RefCell::new(None),
            pool: BufferPool::default(),
            tick: RefCell::new(None),
            need_request: Cell::new(false),
            held: RefCell::new(HeldKeys::default()),
            buttons: Cell::new(0),
            scroll: RefCell::new(ScrollAccumulator::default()),
            last_motion: Cell::new(None),
            motion_rest: Cell::new((0.0, 0.0)),
            guest_cursor: RefCell::new(GuestCursor::Default),
            paused: RefCell::new(Vec::new()),
            inhibited: RefCell::new(None),
            stats: Cell::new(FrameStats::default()),
            clipboard_from_guest: Cell::new(true),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for DisplayView {
    const NAME: &'static str = "HangarDisplayView";
    type Type = super::DisplayView;
    type ParentType = gtk::Widget;

    fn class_init(klass: &mut Self::Class) {
        klass.set_css_name("hangar-display");
        klass.set_accessible_role(gtk::AccessibleRole::Img);
    }
}

#[glib::derived_properties]
impl ObjectImpl for DisplayView {
    fn signals() -> &'static [Signal] {
        static SIGNALS: OnceLock<Vec<Signal>> = OnceLock::new();
        SIGNALS.get_or_init(|| {
            vec![
                Signal::builder("state-changed")
                    .param_types([ConnectionState::static_type()])
                    .build(),
                Signal::builder("grab-changed")
                    .param_types([bool::static_type()])
                    .build(),
                Signal::builder("fullscreen-toggle").build(),
                Signal::builder("guest-resized")
                    .param_types([u32::static_type(), u32::static_type()])
                    .build(),
                Signal::builder("clipboard-text")
                    .param_types([String::static_type()])
                    .build(),
                Signal::builder("guest-agent-changed")
                    .param_types([bool::static_type()])
                    .build(),
            ]
        })
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_focusable(true);
        obj.set_focus_on_click(true);
        obj.set_overflow(gtk::Overflow::Hidden);
        super::events::install_controllers(&obj);
    }

    fn dispose(&self) {
        self.ungrab();
        self.stop_session();
    }
}

impl WidgetImpl for DisplayView {
    fn measure(&self, orientation: gtk::Orientation, _for_size: i32) -> (i32, i32, i32, i32) {
        // Before the guest size is known, ask for a VGA-sized area.
        let (gw, gh) = match (self.guest_width.get(), self.guest_height.get()) {
            (0, _) | (_, 0) => (640, 480),
            size => size,
        };
        let guest = match orientation {
            gtk::Orientation::Horizontal => gw,
            _ => gh,
        };
        let sf = f64::from(self.obj().scale_factor().max(1));
        let zoom = match self.scaling_mode.get() {
            ScalingMode::OneToOne => self.zoom.get(),
            _ => 1.0,
        };
        let natural = (f64::from(guest) * zoom / sf).ceil().min(f64::from(i32::MAX)) as i32;
        (1, natural.max(1), -1, -1)
    }

    fn snapshot(&self, snapshot: &gtk::Snapshot) {
        let obj = self.obj();
        let (w, h) = (obj.width() as f32, obj.height() as f32);
        let bounds = graphene::Rect::new(0.0, 0.0, w, h);
        snapshot.append_color(&gdk::RGBA::BLACK, &bounds);
        let Some(picture) = self.picture.borrow().clone() else {
            return;
        };
        let Some(vp) = self.viewport() else {
            return;
        };
        snapshot.push_clip(&bounds);
        let dest = graphene::Rect::new(vp.x as f32, vp.y as f32, vp.width as f32, vp.height as f32);
        match picture {
            // GTK 4.8 draws textures with linear filtering (choosing the filter needs
            // `append_scaled_texture`, GTK 4.10). The origin is snapped to device pixels, so an
            // unscaled picture (OneToOne, or Fit at 100 %) is still copied pixel for pixel.
            Picture::Texture(texture) => snapshot.append_texture(&texture, &dest),
            Picture::Surface(surface) => paint_surface(snapshot, &surface, &dest),
        }
        snapshot.pop();
        let mut stats = self.stats.get();
        stats.paints += 1;
        self.stats.set(stats);
    }

    fn map(&self) {
        self.parent_map();
        if let Some(b) = self.backend() {
            b.refresh();
        }
    }

    fn unmap(&self) {
        self.ungrab();
        self.release_all_keys();
        self.parent_unmap();
    }
}

impl DisplayView {
    pub(super) fn backend(&self) -> Option<Rc<Backend>> {
        self.backend.borrow().clone()
    }

    pub(super) fn is_connected(&self) -> bool {
        matches!(*self.state.borrow(), ConnectionState::Connected)
    }

    fn set_scaling_mode(&self, mode: ScalingMode) {
        if self.scaling_mode.replace(mode) != mode {
            self.obj().queue_resize();
        }
    }

    fn set_zoom(&self, zoom: f64) {
        let zoom = clamp_zoom(zoom);
        if self.zoom.replace(zoom) != zoom {
            self.obj().queue_resize();
        }
    }

    fn release_chord_spec(&self) -> String {
        self.chord.borrow().to_spec()
    }

    fn set_release_chord_spec(&self, spec: String) {
        match Chord::parse(&spec) {
            Ok(chord) => {
                self.chord.replace(chord);
            }
            Err(e) => tracing::warn!(error = %e, "release-chord not changed"),
        }
    }

    fn fullscreen_key_spec(&self) -> String {
        self.fullscreen.get().to_spec()
    }

    fn set_fullscreen_key_spec(&self, spec: String) {
        match Hotkey::parse(&spec) {
            Ok(key) => self.fullscreen.set(key),
            Err(e) => tracing::warn!(error = %e, "fullscreen-key not changed"),
        }
    }

    /// Where the picture is drawn right now.
    pub(super) fn viewport(&self) -> Option<Viewport> {
        let obj = self.obj();
        LayoutInput {
            widget_width: f64::from(obj.width()),
            widget_height: f64::from(obj.height()),
            scale_factor: f64::from(obj.scale_factor()),
            guest_width: self.guest_width.get(),
            guest_height: self.guest_height.get(),
            mode: self.scaling_mode.get(),
            zoom: self.zoom.get(),
        }
        .viewport()
    }

    pub(super) fn set_state(&self, state: ConnectionState) {
        if *self.state.borrow() == state {
            return;
        }
        tracing::debug!(?state, "display state");
        self.state.replace(state.clone());
        let obj = self.obj();
        obj.notify_state();
        obj.emit_by_name::<()>("state-changed", &[&state]);
    }

    /// Installs a new backend (after `stop_session`).
    pub(super) fn start_session(&self, backend: Backend) {
        backend.set_clipboard_from_guest(self.clipboard_from_guest.get());
        self.backend.replace(Some(Rc::new(backend)));
    }

    /// Ends the current session, if any. Keeps the last picture on screen.
    pub(super) fn stop_session(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        self.release_all_keys();
        self.ungrab();
        if let Some(id) = self.tick.take() {
            id.remove();
        }
        self.damage.replace(Damage::default());
        self.need_request.set(false);
        self.buttons.set(0);
        if let Some(b) = self.backend.take() {
            b.shutdown();
        }
        self.set_guest_cursor(GuestCursor::Default);
    }

    /// Handles an event of the session started as `generation`.
    pub(super) fn handle_event(&self, generation: u64, event: BackendEvent) {
        if generation != self.generation.get() {
            return;
        }
        match event {
            BackendEvent::Connected => self.set_state(ConnectionState::Connected),
            BackendEvent::Disconnected => self.end_from_backend(ConnectionState::Disconnected),
            BackendEvent::Error(msg) => {
                tracing::warn!(%msg, "display session failed");
                self.end_from_backend(ConnectionState::Error(msg));
            }
            BackendEvent::Resized { width, height } => self.on_resized(width, height),
            BackendEvent::Damage { x, y, width, height } => {
                let bounds = (self.guest_width.get(), self.guest_height.get());
                self.damage.borrow_mut().add(x, y, width, height, bounds);
                self.need_request.set(true);
                self.ensure_tick();
            }
            BackendEvent::PointerMode { absolute } => {
                if self.pointer_absolute.replace(absolute) != absolute {
                    tracing::debug!(absolute, "guest pointer mode");
                    self.last_motion.set(None);
                    self.obj().notify_pointer_absolute();
                    self.update_cursor();
                }
            }
            BackendEvent::CutText(text) if self.clipboard_from_guest.get() => {
                self.obj().emit_by_name::<()>("clipboard-text", &[&text]);
            }
            BackendEvent::CutText(_) => tracing::debug!("guest clipboard not taken (turned off)"),
            BackendEvent::GuestAgent { connected } => {
                tracing::debug!(connected, "guest clipboard agent");
                self.obj()
                    .emit_by_name::<()>("guest-agent-changed", &[&connected]);
            }
            BackendEvent::Cursor(cursor) => self.set_guest_cursor(cursor),
        }
    }

    /// The session ended on the backend's side. The backend is dropped from an idle callback:
    /// this runs inside one of its own signal emissions.
    fn end_from_backend(&self, state: ConnectionState) {
        let backend = self.backend.borrow().clone();
        self.stop_session();
        if let Some(b) = backend {
            glib::idle_add_local_once(move || drop(b));
        }
        // A disconnect after an error keeps the error visible.
        let keep_error = matches!(*self.state.borrow(), ConnectionState::Error(_))
            && state == ConnectionState::Disconnected;
        if !keep_error {
            self.set_state(state);
        }
    }

    fn on_resized(&self, width: u32, height: u32) {
        let old_w = self.guest_width.replace(width);
        let old_h = self.guest_height.replace(height);
        let changed = old_w != width || old_h != height;
        self.damage.borrow_mut().add_all((width, height));
        self.need_request.set(false);
        self.ensure_tick();
        if changed {
            let obj = self.obj();
            obj.notify_guest_width();
            obj.notify_guest_height();
            obj.queue_resize();
            obj.emit_by_name::<()>("guest-resized", &[&width, &height]);
        }
    }

    fn ensure_tick(&self) {
        if self.tick.borrow().is_some() {
            return;
        }
        let id = self.obj().add_tick_callback(|obj, _clock| {
            let imp = obj.imp();
            imp.tick.replace(None);
            imp.on_frame();
            glib::ControlFlow::Break
        });
        self.tick.replace(Some(id));
    }

    /// Once per frame: turn the damage into a new texture and ask for the next update.
    fn on_frame(&self) {
        self.upload();
        if self.need_request.replace(false) {
            if let Some(b) = self.backend() {
                b.frame_done();
            }
        }
    }

    /// Converts the framebuffer into a texture if anything changed. Returns whether it did.
    pub(super) fn upload(&self) -> bool {
        let Some((_, rects)) = self.damage.borrow_mut().take() else {
            return false;
        };
        let Some(backend) = self.backend() else {
            return false;
        };
        let cairo = self.renderer_is_cairo();
        let start = Instant::now();
        let picture = backend
            .with_frame(|frame| Picture::from_frame(&frame, cairo, &self.pool))
            .flatten();
        let took = start.elapsed();
        let Some(picture) = picture else {
            return false;
        };
        self.picture.replace(Some(picture));
        self.record_upload(took, rects);
        self.obj().queue_draw();
        true
    }

    fn record_upload(&self, took: Duration, rects: u32) {
        let mut s = self.stats.get();
        s.frames += 1;
        s.rects += u64::from(rects);
        s.last_upload = took;
        s.total_upload += took;
        self.stats.set(s);
        if s.frames % 300 == 0 {
            tracing::debug!(
                frames = s.frames,
                avg_upload_us = (s.total_upload.as_micros() / u128::from(s.frames.max(1))) as u64,
                "display frame stats"
            );
        }
    }

    /// Whether the window is drawn by GTK's cairo renderer (`GSK_RENDERER=cairo`, or no GL).
    /// A texture would then be converted pixel by pixel through floats on every frame (GTK
    /// 4.8's download path), so the picture is kept as a cairo surface instead.
    fn renderer_is_cairo(&self) -> bool {
        self.obj()
            .native()
            .and_then(|n| n.renderer())
            .is_some_and(|r| r.is::<gsk::CairoRenderer>())
    }

    pub(super) fn set_guest_cursor(&self, cursor: GuestCursor) {
        self.guest_cursor.replace(cursor);
        self.update_cursor();
    }

    /// Local pointer shape: hidden while the guest pointer is relative and grabbed, else the
    /// guest's shape (absolute mode) or the default arrow.
    pub(super) fn update_cursor(&self) {
        let obj = self.obj();
        if self.grabbed.get() && !self.pointer_absolute.get() {
            obj.set_cursor_from_name(Some("none"));
            return;
        }
        match &*self.guest_cursor.borrow() {
            GuestCursor::Image(c) if self.pointer_absolute.get() && self.backend.borrow().is_some() => {
                obj.set_cursor(Some(c))
            }
            _ => obj.set_cursor(None),
        }
    }
}

/// Paints a guest surface into `dest` with a cairo node: nearest-neighbour when unscaled (a
/// plain copy), bilinear when scaled.
fn paint_surface(snapshot: &gtk::Snapshot, surface: &cairo::ImageSurface, dest: &graphene::Rect) {
    let (w, h) = (f64::from(surface.width()), f64::from(surface.height()));
    if w <= 0.0 || h <= 0.0 {
        return;
    }
    let cr = snapshot.append_cairo(dest);
    let (sx, sy) = (f64::from(dest.width()) / w, f64::from(dest.height()) / h);
    cr.translate(f64::from(dest.x()), f64::from(dest.y()));
    cr.scale(sx, sy);
    if let Err(e) = cr.set_source_surface(surface, 0.0, 0.0) {
        tracing::debug!("console picture not drawn: {e}");
        return;
    }
    let unscaled = (sx - 1.0).abs() < 1e-6 && (sy - 1.0).abs() < 1e-6;
    cr.source().set_filter(if unscaled {
        cairo::Filter::Nearest
    } else {
        cairo::Filter::Bilinear
    });
    cr.set_operator(cairo::Operator::Source);
    if let Err(e) = cr.paint() {
        tracing::debug!("console picture not drawn: {e}");
    }
}
