//! The toolbar shown over the guest in fullscreen: it slides in when the pointer touches the
//! top edge and hides [`HIDE_AFTER`] after the pointer left it (never while one of its menus is
//! open). Outside fullscreen it stays hidden.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use gtk::glib;
use gtk::prelude::*;

/// How long the bar stays after the pointer left it.
pub const HIDE_AFTER: Duration = Duration::from_secs(3);
/// Height of the strip at the top edge that reveals the bar, in logical pixels.
const EDGE: f64 = 3.0;

/// Whether a pointer at `y` (widget coordinates) touches the top edge.
pub fn at_top_edge(y: f64) -> bool {
    y.is_finite() && y <= EDGE
}

/// The window whose pointer is watched, and the controller added to it.
type EdgeWatch = (glib::WeakRef<gtk::Window>, gtk::EventControllerMotion);

#[derive(Default)]
struct State {
    active: Cell<bool>,
    hovered: Cell<bool>,
    timer: RefCell<Option<glib::SourceId>>,
}

/// Controller of the revealer; cheap to clone.
#[derive(Clone)]
pub struct OverlayBar {
    revealer: gtk::Revealer,
    overlay: gtk::Overlay,
    /// Pointer watch on the window that holds the console (the pointer at the very top of a
    /// fullscreen window may be above the overlay, on the window's frame).
    edge: Rc<RefCell<Option<EdgeWatch>>>,
    menus: Rc<Vec<gtk::MenuButton>>,
    state: Rc<State>,
}

impl OverlayBar {
    /// Puts `bar` at the top of `overlay` in a revealer and watches the pointer. `menus` are the
    /// bar's menu buttons: the bar stays while one of their popovers is open.
    pub fn install(overlay: &gtk::Overlay, bar: &impl IsA<gtk::Widget>, menus: Vec<gtk::MenuButton>) -> Self {
        let revealer = gtk::Revealer::builder()
            .transition_type(gtk::RevealerTransitionType::SlideDown)
            .halign(gtk::Align::Center)
            .valign(gtk::Align::Start)
            .reveal_child(false)
            .visible(false)
            .child(bar)
            .build();
        overlay.add_overlay(&revealer);
        let this = OverlayBar {
            revealer,
            overlay: overlay.clone(),
            edge: Rc::default(),
            menus: Rc::new(menus),
            state: Rc::new(State::default()),
        };

        let hover = gtk::EventControllerMotion::new();
        let weak = this.downgrade();
        hover.connect_enter(move |_, _, _| {
            if let Some(this) = weak.upgrade() {
                this.state.hovered.set(true);
                this.cancel_timer();
            }
        });
        let weak = this.downgrade();
        hover.connect_leave(move |_| {
            if let Some(this) = weak.upgrade() {
                this.state.hovered.set(false);
                if this.state.active.get() {
                    this.schedule_hide();
                }
            }
        });
        this.revealer.add_controller(hover);
        for menu in this.menus.iter() {
            let weak = this.downgrade();
            if let Some(popover) = menu.popover() {
                popover.connect_closed(move |_| {
                    if let Some(this) = weak.upgrade() {
                        if this.state.active.get() && !this.state.hovered.get() {
                            this.schedule_hide();
                        }
                    }
                });
            }
        }
        this
    }

    fn downgrade(&self) -> WeakBar {
        WeakBar {
            revealer: self.revealer.downgrade(),
            overlay: self.overlay.downgrade(),
            edge: Rc::downgrade(&self.edge),
            menus: Rc::downgrade(&self.menus),
            state: Rc::downgrade(&self.state),
        }
    }

    /// Watches the pointer on `window`, the window that holds the console now.
    pub fn watch_window(&self, window: &gtk::Window) {
        self.unwatch_window();
        let motion = gtk::EventControllerMotion::new();
        let weak = self.downgrade();
        let win = window.downgrade();
        motion.connect_motion(move |_, x, y| {
            let (Some(this), Some(win)) = (weak.upgrade(), win.upgrade()) else {
                return;
            };
            if !this.state.active.get() {
                return;
            }
            // The overlay's top edge in window coordinates.
            let top = this
                .overlay
                .compute_point(&win, &gtk::graphene::Point::new(0.0, 0.0))
                .map_or(0.0, |p| f64::from(p.y()));
            if at_top_edge(y - top) && x.is_finite() {
                this.show_for_a_while();
            }
        });
        window.add_controller(motion.clone());
        self.edge.replace(Some((window.downgrade(), motion)));
    }

    /// Stops watching the pointer on the window given to [`OverlayBar::watch_window`].
    pub fn unwatch_window(&self) {
        if let Some((window, motion)) = self.edge.take() {
            if let Some(window) = window.upgrade() {
                window.remove_controller(&motion);
            }
        }
    }

    /// Fullscreen began (`true`: the bar shows briefly so people know it is there) or ended.
    pub fn set_active(&self, active: bool) {
        self.state.active.set(active);
        self.revealer.set_visible(active);
        if active {
            self.show_for_a_while();
        } else {
            self.cancel_timer();
            self.revealer.set_reveal_child(false);
        }
    }

    fn show_for_a_while(&self) {
        if !self.revealer.reveals_child() {
            tracing::info!("fullscreen toolbar shown");
        }
        self.revealer.set_reveal_child(true);
        if !self.state.hovered.get() {
            self.schedule_hide();
        }
    }

    fn cancel_timer(&self) {
        if let Some(id) = self.state.timer.take() {
            id.remove();
        }
    }

    fn schedule_hide(&self) {
        self.cancel_timer();
        let weak = self.downgrade();
        let id = glib::timeout_add_local_once(HIDE_AFTER, move || {
            if let Some(this) = weak.upgrade() {
                this.state.timer.replace(None);
                this.hide_unless_in_use();
            }
        });
        self.state.timer.replace(Some(id));
    }

    fn hide_unless_in_use(&self) {
        let menu_open = self
            .menus
            .iter()
            .any(|m| m.popover().is_some_and(|p| p.is_visible()));
        if self.state.hovered.get() || menu_open {
            return;
        }
        tracing::info!("fullscreen toolbar hidden");
        self.revealer.set_reveal_child(false);
    }
}

struct WeakBar {
    revealer: glib::WeakRef<gtk::Revealer>,
    overlay: glib::WeakRef<gtk::Overlay>,
    edge: std::rc::Weak<RefCell<Option<EdgeWatch>>>,
    menus: std::rc::Weak<Vec<gtk::MenuButton>>,
    state: std::rc::Weak<State>,
}

impl WeakBar {
    fn upgrade(&self) -> Option<OverlayBar> {
        Some(OverlayBar {
            revealer: self.revealer.upgrade()?,
            overlay: self.overlay.upgrade()?,
            edge: self.edge.upgrade()?,
            menus: self.menus.upgrade()?,
            state: self.state.upgrade()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::at_top_edge;

    #[test]
    fn only_the_top_strip_reveals() {
        assert!(at_top_edge(0.0));
        assert!(at_top_edge(2.5));
        assert!(!at_top_edge(10.0));
        assert!(!at_top_edge(f64::NAN));
    }
}
