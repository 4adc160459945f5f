//! Size matching between the window and the guest screen.
//!
//! * "Resize Guest to Window": while on, the console's size in device pixels is sent to the
//!   guest whenever it has been stable for [`SETTLE`] (a window drag must not send dozens of
//!   requests). GTK 4 has no size-changed signal for a plain widget, so a tick callback compares
//!   sizes; it only runs while the option is on.
//! * "Resize Window to Guest": grows or shrinks the window so the console shows the guest at
//!   its own size.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gtk::glib;
use gtk::prelude::*;
use hangar_display::{DisplayView, ScalingMode};

/// How long the size must stay the same before the guest is asked to follow.
pub const SETTLE: Duration = Duration::from_millis(400);

/// Decides when to send a size: after it changed and then stayed the same for [`SETTLE`].
#[derive(Debug, Default)]
pub struct Settler {
    /// Last size seen and when it was first seen.
    pending: Option<((u32, u32), Instant)>,
    sent: Option<(u32, u32)>,
}

impl Settler {
    /// Feeds the current size; returns a size to send, at most once per settled size.
    pub fn observe(&mut self, size: (u32, u32), now: Instant) -> Option<(u32, u32)> {
        if size.0 == 0 || size.1 == 0 {
            return None;
        }
        match self.pending {
            Some((seen, since)) if seen == size => {
                if now.duration_since(since) >= SETTLE && self.sent != Some(size) {
                    self.sent = Some(size);
                    return Some(size);
                }
                None
            }
            _ => {
                self.pending = Some((size, now));
                None
            }
        }
    }
}

/// A running "Resize Guest to Window"; stops when dropped.
pub struct GuestFollower {
    tick: Option<gtk::TickCallbackId>,
    stopped: Rc<Cell<bool>>,
}

impl GuestFollower {
    /// Starts following; `on_error` gets the first failure's text, after which following stops.
    pub fn start(view: &DisplayView, on_error: impl Fn(String) + 'static) -> Self {
        let settler = std::cell::RefCell::new(Settler::default());
        let stopped = Rc::new(Cell::new(false));
        let stop = stopped.clone();
        let tick = view.add_tick_callback(move |view, _| {
            if stop.get() {
                return glib::ControlFlow::Break;
            }
            let sf = view.scale_factor().max(1);
            let size = (view.width() * sf, view.height() * sf);
            let size = (
                u32::try_from(size.0).unwrap_or(0),
                u32::try_from(size.1).unwrap_or(0),
            );
            if let Some((w, h)) = settler.borrow_mut().observe(size, Instant::now()) {
                if view.guest_size() == Some((w, h)) {
                    return glib::ControlFlow::Continue;
                }
                tracing::debug!(w, h, "asking the guest to resize");
                if let Err(err) = view.resize_guest(w, h) {
                    stop.set(true);
                    on_error(err.to_string());
                    return glib::ControlFlow::Break;
                }
            }
            glib::ControlFlow::Continue
        });
        GuestFollower {
            tick: Some(tick),
            stopped,
        }
    }
}

impl Drop for GuestFollower {
    fn drop(&mut self) {
        self.stopped.set(true);
        if let Some(tick) = self.tick.take() {
            // Removing a tick callback that already ended is harmless (unlike main-loop sources).
            tick.remove();
        }
    }
}

/// The window size that shows the guest unscaled, given the window's and the console's
/// current sizes (logical pixels). `None` when the guest size is unknown.
pub fn window_size_for_guest(view: &DisplayView, window: &gtk::Window) -> Option<(i32, i32)> {
    let (gw, gh) = view.guest_size()?;
    let sf = f64::from(view.scale_factor().max(1));
    let zoom = match view.scaling_mode() {
        ScalingMode::OneToOne => view.zoom(),
        _ => 1.0,
    };
    let want = |guest: u32| (f64::from(guest) * zoom / sf).round() as i32;
    let w = window.width() + want(gw) - view.width();
    let h = window.height() + want(gh) - view.height();
    Some((w.max(1), h.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_once_after_the_size_settles() {
        let t0 = Instant::now();
        let mut s = Settler::default();
        assert_eq!(s.observe((800, 600), t0), None);
        assert_eq!(s.observe((800, 600), t0 + Duration::from_millis(100)), None);
        // Still moving: a new size restarts the wait.
        assert_eq!(s.observe((820, 600), t0 + Duration::from_millis(200)), None);
        assert_eq!(s.observe((820, 600), t0 + Duration::from_millis(500)), None);
        assert_eq!(
            s.observe((820, 600), t0 + Duration::from_millis(650)),
            Some((820, 600))
        );
        // Sent once only.
        assert_eq!(s.observe((820, 600), t0 + Duration::from_secs(5)), None);
        // Zero sizes (unmapped) are ignored.
        assert_eq!(s.observe((0, 600), t0 + Duration::from_secs(6)), None);
    }
}
