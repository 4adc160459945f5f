//! Keyboard, pointer and focus handling, and the grab.
//!
//! # Keyboard
//! A capture-phase `GtkEventControllerKey` on the widget sees keys before any descendant and
//! before bubble-phase shortcuts. Keys go to the guest by scancode while the widget has focus.
//! While grabbed, every key stops at the widget, and capture-phase key and shortcut controllers
//! of the ancestors — among them the window's `gtk-application-shortcuts`, which would run
//! *before* the widget — are paused, so application accelerators do not fire. The system's own
//! shortcuts are inhibited with `gdk::Toplevel::inhibit_system_shortcuts`. Two keys stay with the
//! viewer: the release chord (always) and the fullscreen key (emits `fullscreen-toggle`).
//!
//! # Pointer
//! Absolute mode (usb-tablet): positions are mapped through the same viewport the picture is
//! drawn in. Relative mode: GTK 4 cannot warp or confine the pointer, so while grabbed the widget
//! hides the cursor and sends the motion between successive events, scaled to guest pixels.
//! When the host pointer reaches the edge of the screen no more motion arrives; under X11 and
//! Xvfb that is the limit of this approach (the guest pointer then stops until the host pointer
//! moves back). Guests should use a usb-tablet, which Hangar configures by default.

use gtk::glib::translate::IntoGlib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gdk, glib};

use super::imp;
use super::DisplayView;
use crate::backend::PointerAction;
use crate::input::{gdk_button_bit, HeldKey};
use crate::keymap::keycode_to_qnum;

pub(super) fn install_controllers(view: &DisplayView) {
    let keys = gtk::EventControllerKey::new();
    keys.set_propagation_phase(gtk::PropagationPhase::Capture);
    keys.connect_key_pressed(glib::clone!(
        #[weak]
        view,
        #[upgrade_or]
        glib::Propagation::Proceed,
        move |_, keyval, keycode, state| view.imp().on_key(true, keyval, keycode, state)
    ));
    keys.connect_key_released(glib::clone!(
        #[weak]
        view,
        move |_, keyval, keycode, state| {
            view.imp().on_key(false, keyval, keycode, state);
        }
    ));
    view.add_controller(keys);

    let click = gtk::GestureClick::new();
    click.set_button(0);
    click.connect_pressed(glib::clone!(
        #[weak]
        view,
        move |g, _n, x, y| view.imp().on_button(g, true, x, y)
    ));
    click.connect_released(glib::clone!(
        #[weak]
        view,
        move |g, _n, x, y| view.imp().on_button(g, false, x, y)
    ));
    view.add_controller(click);

    let motion = gtk::EventControllerMotion::new();
    motion.connect_motion(glib::clone!(
        #[weak]
        view,
        move |_, x, y| view.imp().on_motion(x, y)
    ));
    motion.connect_leave(glib::clone!(
        #[weak]
        view,
        move |_| view.imp().last_motion.set(None)
    ));
    view.add_controller(motion);

    let scroll = gtk::EventControllerScroll::new(gtk::EventControllerScrollFlags::BOTH_AXES);
    scroll.connect_scroll(glib::clone!(
        #[weak]
        view,
        #[upgrade_or]
        glib::Propagation::Proceed,
        move |_, dx, dy| view.imp().on_scroll(dx, dy)
    ));
    scroll.connect_scroll_end(glib::clone!(
        #[weak]
        view,
        move |_| view.imp().scroll.borrow_mut().reset()
    ));
    view.add_controller(scroll);

    let focus = gtk::EventControllerFocus::new();
    focus.connect_leave(glib::clone!(
        #[weak]
        view,
        move |_| {
            let imp = view.imp();
            imp.release_all_keys();
            imp.ungrab();
        }
    ));
    view.add_controller(focus);
}

impl imp::DisplayView {
    fn on_key(
        &self,
        pressed: bool,
        keyval: gdk::Key,
        keycode: u32,
        state: gdk::ModifierType,
    ) -> glib::Propagation {
        let Some(backend) = self.backend().filter(|_| self.is_connected()) else {
            return glib::Propagation::Proceed;
        };
        let grabbed = self.grabbed.get();
        if pressed {
            let chord_done = self.chord.borrow_mut().press(keyval);
            if chord_done && grabbed {
                tracing::debug!("release chord: ungrab");
                self.ungrab();
                return glib::Propagation::Stop;
            }
            if grabbed && self.fullscreen.get().matches(keyval, state) {
                self.obj().emit_by_name::<()>("fullscreen-toggle", &[]);
                return glib::Propagation::Stop;
            }
        } else {
            self.chord.borrow_mut().release(keyval);
        }
        let Some(qnum) = keycode_to_qnum(keycode) else {
            tracing::debug!(keycode, ?keyval, "key without a PC scancode not sent");
            return if grabbed {
                glib::Propagation::Stop
            } else {
                glib::Propagation::Proceed
            };
        };
        let keyval = keyval.into_glib();
        if pressed {
            self.held.borrow_mut().press(HeldKey { qnum, keyval });
            backend.key(true, keyval, qnum);
        } else if let Some(k) = self.held.borrow_mut().release(qnum) {
            backend.key(false, k.keyval, qnum);
        }
        glib::Propagation::Stop
    }

    /// Releases in the guest every key it believes is held (focus loss, ungrab, unmap).
    pub(super) fn release_all_keys(&self) {
        let keys = self.held.borrow_mut().take_all();
        self.chord.borrow_mut().reset();
        if keys.is_empty() {
            return;
        }
        if let Some(backend) = self.backend() {
            for k in keys {
                backend.key(false, k.keyval, k.qnum);
            }
        }
    }

    fn on_button(&self, gesture: &gtk::GestureClick, pressed: bool, x: f64, y: f64) {
        if !self.is_connected() {
            return;
        }
        if pressed && !self.grabbed.get() {
            let event = gesture.current_event();
            self.grab_with(event.as_ref());
            if !self.pointer_absolute.get() {
                // The click that captures a relative pointer is not the guest's.
                return;
            }
        }
        let Some(bit) = gdk_button_bit(gesture.current_button()) else {
            return;
        };
        self.move_pointer_to(x, y);
        let mask = if pressed {
            self.buttons.get() | bit
        } else {
            self.buttons.get() & !bit
        };
        self.buttons.set(mask);
        if let Some(b) = self.backend() {
            b.pointer(PointerAction::Button { bit, pressed }, mask);
        }
    }

    fn on_motion(&self, x: f64, y: f64) {
        if !self.is_connected() {
            return;
        }
        if self.pointer_absolute.get() {
            self.move_pointer_to(x, y);
            return;
        }
        if !self.grabbed.get() {
            return;
        }
        let last = self.last_motion.replace(Some((x, y)));
        let (Some((lx, ly)), Some(vp)) = (last, self.viewport()) else {
            return;
        };
        let (rx, ry) = self.motion_rest.get();
        let fx = (x - lx) * vp.guest_per_widget_x() + rx;
        let fy = (y - ly) * vp.guest_per_widget_y() + ry;
        let (dx, dy) = (fx.trunc(), fy.trunc());
        self.motion_rest.set((fx - dx, fy - dy));
        if dx == 0.0 && dy == 0.0 {
            return;
        }
        if let Some(b) = self.backend() {
            let clamp = |v: f64| v.clamp(-32767.0, 32767.0) as i32;
            b.pointer(
                PointerAction::MoveBy {
                    dx: clamp(dx),
                    dy: clamp(dy),
                },
                self.buttons.get(),
            );
        }
    }

    fn move_pointer_to(&self, x: f64, y: f64) {
        if !self.pointer_absolute.get() {
            return;
        }
        let (Some(vp), Some(b)) = (self.viewport(), self.backend()) else {
            return;
        };
        let (gx, gy) = vp.to_guest(x, y);
        b.pointer(PointerAction::MoveTo { x: gx, y: gy }, self.buttons.get());
    }

    fn on_scroll(&self, dx: f64, dy: f64) -> glib::Propagation {
        if !self.is_connected() {
            return glib::Propagation::Proceed;
        }
        let clicks = self.scroll.borrow_mut().push(dx, dy);
        if let Some(b) = self.backend() {
            let held = self.buttons.get();
            for bit in clicks {
                b.pointer(PointerAction::Button { bit, pressed: true }, held | bit);
                b.pointer(PointerAction::Button { bit, pressed: false }, held);
            }
        }
        glib::Propagation::Stop
    }

    /// Grabs keyboard (and a relative pointer) for the guest.
    pub(super) fn grab_with(&self, event: Option<&gdk::Event>) {
        if self.grabbed.get() || !self.is_connected() {
            return;
        }
        let obj = self.obj();
        obj.grab_focus();
        self.grabbed.set(true);
        if let Some(toplevel) = obj
            .native()
            .and_then(|n| n.surface())
            .and_downcast::<gdk::Toplevel>()
        {
            toplevel.inhibit_system_shortcuts(event);
            self.inhibited.replace(Some(toplevel));
        }
        self.pause_ancestor_key_controllers();
        self.chord.borrow_mut().reset();
        self.last_motion.set(None);
        self.motion_rest.set((0.0, 0.0));
        self.update_cursor();
        tracing::debug!("grabbed");
        obj.notify_grabbed();
        obj.emit_by_name::<()>("grab-changed", &[&true]);
    }

    /// Gives keyboard and pointer back to the host. Keys held in the guest are released.
    pub(super) fn ungrab(&self) {
        if !self.grabbed.get() {
            return;
        }
        self.release_all_keys();
        self.grabbed.set(false);
        if let Some(toplevel) = self.inhibited.take() {
            toplevel.restore_system_shortcuts();
        }
        for (controller, phase) in self.paused.take() {
            controller.set_propagation_phase(phase);
        }
        self.last_motion.set(None);
        self.update_cursor();
        tracing::debug!("ungrabbed");
        let obj = self.obj();
        obj.notify_grabbed();
        obj.emit_by_name::<()>("grab-changed", &[&false]);
    }

    /// Pauses the capture-phase key and shortcut controllers of all ancestors (they would see
    /// keys before this widget). They are restored by `ungrab`.
    fn pause_ancestor_key_controllers(&self) {
        let mut paused = self.paused.borrow_mut();
        let mut ancestor = self.obj().parent();
        while let Some(widget) = ancestor {
            let list = widget.observe_controllers();
            for i in 0..list.n_items() {
                let Some(controller) = list.item(i).and_downcast::<gtk::EventController>() else {
                    continue;
                };
                let is_key =
                    controller.is::<gtk::ShortcutController>() || controller.is::<gtk::EventControllerKey>();
                let phase = controller.propagation_phase();
                if is_key && phase == gtk::PropagationPhase::Capture {
                    paused.push((controller.clone(), phase));
                }
            }
            ancestor = widget.parent();
        }
        for (controller, _) in paused.iter() {
            tracing::trace!(name = ?controller.name(), "pausing ancestor key controller");
            controller.set_propagation_phase(gtk::PropagationPhase::None);
        }
    }
}
