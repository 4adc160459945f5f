//! Where the guest picture goes inside the widget, and the way back for pointer coordinates.
//!
//! All widget coordinates are GTK logical pixels; `scale_factor` converts them to device pixels.
//! The same [`Viewport`] is used to draw and to map the pointer, so a letterboxed picture never
//! gets an offset between what is seen and where the guest pointer lands.

use gtk::glib;

/// How the guest picture is fitted into the widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "HangarScalingMode")]
pub enum ScalingMode {
    /// Scale to the largest size that fits, keep the aspect ratio, center it (letterbox).
    #[default]
    Fit,
    /// One guest pixel is one *device* pixel (so it is divided by the HiDPI scale factor in
    /// logical pixels). Centered; what does not fit is clipped.
    OneToOne,
    /// Stretch to the whole widget, ignoring the aspect ratio.
    Fill,
}

/// Smallest and largest zoom factor accepted by the widget.
pub const ZOOM_MIN: f64 = 0.25;
/// Largest zoom factor.
pub const ZOOM_MAX: f64 = 8.0;
/// Factor of one zoom step.
pub const ZOOM_STEP: f64 = 1.25;

/// Clamps a zoom factor into `[ZOOM_MIN, ZOOM_MAX]`; non-finite values give 1.
pub fn clamp_zoom(zoom: f64) -> f64 {
    if zoom.is_finite() {
        zoom.clamp(ZOOM_MIN, ZOOM_MAX)
    } else {
        1.0
    }
}

/// The rectangle (in widget logical pixels) that the guest framebuffer is drawn into.
/// It may extend beyond the widget (then it is clipped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub guest_width: u32,
    pub guest_height: u32,
}

/// Inputs of the layout computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutInput {
    pub widget_width: f64,
    pub widget_height: f64,
    pub scale_factor: f64,
    pub guest_width: u32,
    pub guest_height: u32,
    pub mode: ScalingMode,
    /// Multiplies the mode's scale (Fit and OneToOne; Fill ignores it).
    pub zoom: f64,
}

impl LayoutInput {
    /// Computes the viewport, or `None` if the widget or the guest has no area.
    pub fn viewport(&self) -> Option<Viewport> {
        let (ww, wh) = (self.widget_width, self.widget_height);
        let (gw, gh) = (f64::from(self.guest_width), f64::from(self.guest_height));
        if !(ww > 0.0 && wh > 0.0 && gw > 0.0 && gh > 0.0) {
            return None;
        }
        let sf = if self.scale_factor.is_finite() && self.scale_factor > 0.0 {
            self.scale_factor
        } else {
            1.0
        };
        let zoom = clamp_zoom(self.zoom);
        let (width, height) = match self.mode {
            ScalingMode::Fill => (ww, wh),
            ScalingMode::Fit => {
                let s = (ww / gw).min(wh / gh) * zoom;
                (gw * s, gh * s)
            }
            ScalingMode::OneToOne => (gw * zoom / sf, gh * zoom / sf),
        };
        // Center, and put the origin on the device pixel grid so that an unscaled picture is
        // not resampled across two device pixels.
        let snap = |v: f64| (v * sf).round() / sf;
        Some(Viewport {
            x: snap((ww - width) / 2.0),
            y: snap((wh - height) / 2.0),
            width,
            height,
            guest_width: self.guest_width,
            guest_height: self.guest_height,
        })
    }
}

impl Viewport {
    /// Maps a widget point to a guest pixel, clamped to the guest screen (a pointer in the
    /// letterbox bars pins to the nearest edge).
    pub fn to_guest(&self, wx: f64, wy: f64) -> (u32, u32) {
        let map = |w: f64, origin: f64, extent: f64, guest: u32| -> u32 {
            let max = guest.saturating_sub(1);
            let v = ((w - origin) * f64::from(guest) / extent).floor();
            if v.is_nan() || v <= 0.0 {
                0
            } else if v >= f64::from(max) {
                max
            } else {
                v as u32
            }
        };
        (
            map(wx, self.x, self.width, self.guest_width),
            map(wy, self.y, self.height, self.guest_height),
        )
    }

    /// Whether a widget point lies on the guest picture.
    pub fn contains(&self, wx: f64, wy: f64) -> bool {
        wx >= self.x && wy >= self.y && wx < self.x + self.width && wy < self.y + self.height
    }

    /// Guest pixels per widget logical pixel, horizontally (used to scale relative motion).
    pub fn guest_per_widget_x(&self) -> f64 {
        f64::from(self.guest_width) / self.width
    }

    /// Guest pixels per widget logical pixel, vertically.
    pub fn guest_per_widget_y(&self) -> f64 {
        f64::from(self.guest_height) / self.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(ww: f64, wh: f64, sf: f64, mode: ScalingMode) -> LayoutInput {
        LayoutInput {
            widget_width: ww,
            widget_height: wh,
            scale_factor: sf,
            guest_width: 800,
            guest_height: 600,
            mode,
            zoom: 1.0,
        }
    }

    #[test]
    fn fit_letterboxes_horizontally() {
        let vp = input(1000.0, 600.0, 1.0, ScalingMode::Fit)
            .viewport()
            .unwrap_or_else(|| panic!());
        assert_eq!((vp.x, vp.y, vp.width, vp.height), (100.0, 0.0, 800.0, 600.0));
    }

    #[test]
    fn fit_downscales_keeping_aspect() {
        let vp = input(400.0, 400.0, 1.0, ScalingMode::Fit)
            .viewport()
            .unwrap_or_else(|| panic!());
        assert_eq!((vp.width, vp.height), (400.0, 300.0));
        assert_eq!((vp.x, vp.y), (0.0, 50.0));
    }

    #[test]
    fn pointer_in_letterbox_maps_without_offset() {
        // Picture starts at x=100: widget x=100 is guest x=0, widget x=500 is guest 400.
        let vp = input(1000.0, 600.0, 1.0, ScalingMode::Fit)
            .viewport()
            .unwrap_or_else(|| panic!());
        assert_eq!(vp.to_guest(100.0, 0.0), (0, 0));
        assert_eq!(vp.to_guest(500.5, 300.5), (400, 300));
        // In the bars: clamped to the edges.
        assert_eq!(vp.to_guest(10.0, 10.0), (0, 10));
        assert_eq!(vp.to_guest(990.0, 599.9), (799, 599));
        assert!(!vp.contains(10.0, 10.0));
        assert!(vp.contains(100.0, 0.0));
    }

    #[test]
    fn scaled_mapping_is_proportional() {
        let vp = input(400.0, 400.0, 1.0, ScalingMode::Fit)
            .viewport()
            .unwrap_or_else(|| panic!());
        // Half size: widget (200, 50+150) is guest (400, 300).
        assert_eq!(vp.to_guest(200.0, 200.0), (400, 300));
    }

    #[test]
    fn one_to_one_uses_device_pixels() {
        // Scale factor 2: 800 guest pixels take 400 logical pixels.
        let vp = input(1000.0, 1000.0, 2.0, ScalingMode::OneToOne)
            .viewport()
            .unwrap_or_else(|| panic!());
        assert_eq!((vp.width, vp.height), (400.0, 300.0));
        assert_eq!((vp.x, vp.y), (300.0, 350.0));
        assert_eq!(vp.to_guest(300.0 + 200.0, 350.0 + 150.0), (400, 300));
    }

    #[test]
    fn one_to_one_overflow_is_centered_and_clipped() {
        let vp = input(400.0, 300.0, 1.0, ScalingMode::OneToOne)
            .viewport()
            .unwrap_or_else(|| panic!());
        assert_eq!((vp.x, vp.y, vp.width, vp.height), (-200.0, -150.0, 800.0, 600.0));
        assert_eq!(vp.to_guest(0.0, 0.0), (200, 150));
    }

    #[test]
    fn origin_snaps_to_device_pixels() {
        // (801 - 800) / 2 = 0.5 logical = 0.5 device pixels at scale 1: snapped.
        let vp = input(801.0, 600.0, 1.0, ScalingMode::OneToOne)
            .viewport()
            .unwrap_or_else(|| panic!());
        assert_eq!(vp.x.fract(), 0.0);
        // At scale 2, half logical pixels are whole device pixels and are kept.
        let vp = input(801.0, 600.0, 2.0, ScalingMode::OneToOne)
            .viewport()
            .unwrap_or_else(|| panic!());
        assert_eq!(vp.x, 200.5);
    }

    #[test]
    fn fill_stretches_and_ignores_zoom() {
        let mut i = input(1000.0, 500.0, 1.0, ScalingMode::Fill);
        i.zoom = 3.0;
        let vp = i.viewport().unwrap_or_else(|| panic!());
        assert_eq!((vp.x, vp.y, vp.width, vp.height), (0.0, 0.0, 1000.0, 500.0));
        assert_eq!(vp.to_guest(500.0, 250.0), (400, 300));
    }

    #[test]
    fn zoom_multiplies_and_is_clamped() {
        let mut i = input(800.0, 600.0, 1.0, ScalingMode::OneToOne);
        i.zoom = 2.0;
        let vp = i.viewport().unwrap_or_else(|| panic!());
        assert_eq!((vp.width, vp.height), (1600.0, 1200.0));
        assert_eq!(clamp_zoom(100.0), ZOOM_MAX);
        assert_eq!(clamp_zoom(0.0), ZOOM_MIN);
        assert_eq!(clamp_zoom(f64::NAN), 1.0);
    }

    #[test]
    fn empty_sizes_give_no_viewport() {
        assert!(input(0.0, 600.0, 1.0, ScalingMode::Fit).viewport().is_none());
        let mut i = input(800.0, 600.0, 1.0, ScalingMode::Fit);
        i.guest_width = 0;
        assert!(i.viewport().is_none());
    }
}
