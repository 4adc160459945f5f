//! Damage accumulation and conversion of the guest framebuffer into what GTK draws: a
//! `gdk::Texture`, or a cairo surface under GTK's cairo renderer.
//!
//! # Why a `gdk::MemoryTexture` per frame
//!
//! Both backends leave the guest screen in a 32 bpp little-endian BGRx buffer (VNC: a buffer
//! gvnc decodes into; SPICE: the primary surface of spice-client-glib). Once per frame-clock
//! tick, if any damage arrived since the last one, the widget copies the whole buffer into a
//! fresh `Vec` with the padding byte set to 0xff (GTK 4.8 has no BGRx memory format:
//! `B8g8r8x8` is 4.14, so the picture is handed over as premultiplied BGRA with opaque alpha),
//! wraps it in a `gdk::MemoryTexture` and queues a redraw. GTK then uploads that texture once.
//!
//! The alternative, a `GtkGLArea` that keeps one GL texture and updates only the damaged
//! rectangles with `glTexSubImage2D`, saves the full copy and the full upload when only a
//! small part changes. It needs a GL loader and its own shader and costs a second code path
//! for the software renderer. The numbers below show the simple path is affordable, so it is
//! the one implemented.
//!
//! Measured on the project machine (2 shared cores, no GPU, Xvfb; release build; `cargo bench
//! -p hangar-display --bench upload`), 1920x1080, every pixel new in every frame, CPU time of the
//! whole process per frame (wall time is noisier on the shared host):
//!
//! | step | CPU per frame |
//! |---|---|
//! | copy + alpha fix + `MemoryTexture::new` (this module) | 2.0–2.5 ms (4.5 ms with a zero-filled `Vec`) |
//! | GTK GL renderer (Mesa llvmpipe): new texture, upload, draw scaled to 1280x720, read back | 35–36 ms |
//! | the same draw and read back with a texture that is already uploaded | 27–28 ms |
//!
//! So the per-frame texture (conversion plus upload) costs about 8–9 ms of a 35 ms software-GL
//! frame; the rest is drawing, which a `GtkGLArea` path would not save. With a GPU the draw is
//! nearly free and the 2 ms conversion remains. The GLArea path is left for when partial-damage
//! uploads matter (it would skip both the conversion and most of the upload for small changes).
//!
//! # GTK's cairo renderer: a cairo surface instead of a texture
//!
//! With `GSK_RENDERER=cairo` (or where GL is unavailable) GTK 4.8 turns every texture into a
//! cairo surface by converting it pixel by pixel through floats (`gdk_memory_convert`'s
//! generic path; 40 % of the client's CPU in `perf`). When the window's renderer is the cairo
//! one the widget therefore keeps the picture as a cairo `RGB24` image surface (cairo's name
//! for BGRx: a plain row copy, no alpha pass) and paints it with a cairo node
//! ([`Picture::Surface`]). In `cargo bench -p hangar-display --bench console_vs_gvncviewer`
//! this took the cairo client from 36 to 23 ms of CPU per 1920x1080 frame.
//!
//! Frame buffers come from a [`BufferPool`]: a fresh 8 MB `Vec` per frame made the kernel map
//! and zero ≈2000 new pages per frame (page faults were the largest single cost in `perf`).
//!
//! Damage is a bounding box: gvnc reports one rectangle per encoded rect (hundreds per update)
//! and only "is there any" and "how much" matter for a full-frame texture.

use std::sync::{Arc, Mutex};

use gtk::prelude::*;
use gtk::{cairo, gdk, glib};

/// A rectangle in guest pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    fn union(self, o: Rect) -> Rect {
        let x0 = self.x.min(o.x);
        let y0 = self.y.min(o.y);
        let x1 = (self.x + self.width).max(o.x + o.width);
        let y1 = (self.y + self.height).max(o.y + o.height);
        Rect {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        }
    }
}

/// Damage gathered between two frames: the bounding box and how many rectangles made it.
#[derive(Debug, Default, Clone)]
pub struct Damage {
    bbox: Option<Rect>,
    rects: u32,
}

impl Damage {
    /// Adds a damaged rectangle, clipped to a `bounds` sized screen. Empty or fully outside
    /// rectangles are ignored.
    pub fn add(&mut self, x: i32, y: i32, width: i32, height: i32, bounds: (u32, u32)) {
        let clip = |start: i32, len: i32, max: u32| -> Option<(u32, u32)> {
            let max = i64::from(max);
            let s = i64::from(start).clamp(0, max);
            let e = (i64::from(start) + i64::from(len)).clamp(0, max);
            (e > s).then(|| (s as u32, (e - s) as u32))
        };
        let (Some((x, w)), Some((y, h))) = (clip(x, width, bounds.0), clip(y, height, bounds.1)) else {
            return;
        };
        let r = Rect {
            x,
            y,
            width: w,
            height: h,
        };
        self.bbox = Some(match self.bbox {
            Some(b) => b.union(r),
            None => r,
        });
        self.rects = self.rects.saturating_add(1);
    }

    /// Marks the whole screen damaged (after a resize or a new surface).
    pub fn add_all(&mut self, bounds: (u32, u32)) {
        let w = i32::try_from(bounds.0).unwrap_or(i32::MAX);
        let h = i32::try_from(bounds.1).unwrap_or(i32::MAX);
        self.add(0, 0, w, h, bounds);
    }

    pub fn is_empty(&self) -> bool {
        self.bbox.is_none()
    }

    /// Returns the bounding box and the number of rectangles, and clears the damage.
    pub fn take(&mut self) -> Option<(Rect, u32)> {
        let rects = std::mem::take(&mut self.rects);
        self.bbox.take().map(|b| (b, rects))
    }
}

/// A borrowed 32 bpp BGRx picture.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// Bytes per row.
    pub stride: usize,
}

impl FrameView<'_> {
    /// Whether `data` holds `height` rows of `stride` bytes, each with `width` pixels.
    pub fn is_valid(&self) -> bool {
        let row = self.width as usize * 4;
        if self.width == 0 || self.height == 0 || self.stride < row {
            return false;
        }
        let needed = self
            .stride
            .checked_mul(self.height as usize - 1)
            .and_then(|n| n.checked_add(row));
        matches!(needed, Some(n) if n <= self.data.len())
    }
}

/// Copies a BGRx frame into rows of exactly `width * 4` bytes, padding bytes as they are.
pub fn bgrx_rows(frame: &FrameView<'_>) -> Option<Vec<u8>> {
    if !frame.is_valid() {
        return None;
    }
    let row = frame.width as usize * 4;
    // Copy row by row (no zero-fill first).
    let mut out = Vec::with_capacity(row * frame.height as usize);
    for src in frame.data.chunks(frame.stride).take(frame.height as usize) {
        out.extend_from_slice(&src[..row]);
    }
    Some(out)
}

/// Copies a BGRx frame into an opaque BGRA buffer (`width * 4` bytes per row).
pub fn bgrx_to_opaque(frame: &FrameView<'_>) -> Option<Vec<u8>> {
    let mut out = bgrx_rows(frame)?;
    for px in out.chunks_exact_mut(4) {
        px[3] = 0xff;
    }
    Some(out)
}

/// Recycles frame buffers. A fresh 8 MB buffer per 1920x1080 frame costs about 2000 page
/// faults (the allocator maps new zeroed pages each time); a buffer returns here when the
/// texture or surface that owned it is freed, and the next frame reuses it.
#[derive(Debug, Clone, Default)]
pub struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufferPool {
    /// Buffers kept for reuse: one on screen, one being built, one spare.
    const KEEP: usize = 3;

    /// An empty buffer with room for `len` bytes.
    fn take(&self, len: usize) -> PooledBuf {
        let reused = self.0.lock().ok().and_then(|mut v| {
            let i = v.iter().position(|b| b.capacity() >= len)?;
            Some(v.swap_remove(i))
        });
        let mut data = reused.unwrap_or_else(|| Vec::with_capacity(len));
        data.clear();
        PooledBuf {
            data,
            pool: self.clone(),
        }
    }
}

/// A buffer that goes back to its pool when dropped.
#[derive(Debug)]
pub struct PooledBuf {
    data: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl AsMut<[u8]> for PooledBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Ok(mut v) = self.pool.0.lock() {
            if v.len() < BufferPool::KEEP {
                v.push(std::mem::take(&mut self.data));
            }
        }
    }
}

/// Like [`bgrx_rows`], into a buffer of `pool`; `opaque` sets every padding byte to 0xff.
pub fn bgrx_rows_pooled(frame: &FrameView<'_>, pool: &BufferPool, opaque: bool) -> Option<PooledBuf> {
    if !frame.is_valid() {
        return None;
    }
    let row = frame.width as usize * 4;
    let mut out = pool.take(row * frame.height as usize);
    for src in frame.data.chunks(frame.stride).take(frame.height as usize) {
        out.data.extend_from_slice(&src[..row]);
    }
    if opaque {
        for px in out.data.chunks_exact_mut(4) {
            px[3] = 0xff;
        }
    }
    Some(out)
}

/// Builds a cairo `RGB24` image surface (cairo's name for little-endian BGRx, so no alpha pass)
/// that owns a copy of the frame; `None` if the frame description is inconsistent.
pub fn frame_to_surface(frame: &FrameView<'_>, pool: &BufferPool) -> Option<cairo::ImageSurface> {
    let pixels = bgrx_rows_pooled(frame, pool, false)?;
    let width = i32::try_from(frame.width).ok()?;
    let stride = cairo::Format::Rgb24.stride_for_width(frame.width).ok()?;
    if usize::try_from(stride).ok()? != frame.width as usize * 4 {
        return None;
    }
    let height = i32::try_from(frame.height).ok()?;
    cairo::ImageSurface::create_for_data(pixels, cairo::Format::Rgb24, width, height, stride).ok()
}

/// The guest picture as the widget draws it.
#[derive(Debug, Clone)]
pub enum Picture {
    /// For GPU renderers (GL, Vulkan): uploaded once, drawn by the renderer.
    Texture(gdk::Texture),
    /// For GTK's cairo renderer: painted with a cairo node straight from this surface.
    Surface(cairo::ImageSurface),
}

impl Picture {
    /// Builds the picture of the kind that suits a renderer (`cairo`: GTK's cairo renderer).
    pub fn from_frame(frame: &FrameView<'_>, cairo: bool, pool: &BufferPool) -> Option<Picture> {
        if cairo {
            frame_to_surface(frame, pool).map(Picture::Surface)
        } else {
            let pixels = bgrx_rows_pooled(frame, pool, true)?;
            texture_from_opaque(frame, glib::Bytes::from_owned(pixels)).map(Picture::Texture)
        }
    }
}

/// Builds a texture from a BGRx frame; `None` if the frame description is inconsistent.
pub fn frame_to_texture(frame: &FrameView<'_>) -> Option<gdk::Texture> {
    let pixels = bgrx_to_opaque(frame)?;
    texture_from_opaque(frame, glib::Bytes::from_owned(pixels))
}

/// Wraps opaque BGRA pixels (`frame`'s size, `width * 4` bytes per row) in a texture.
fn texture_from_opaque(frame: &FrameView<'_>, bytes: glib::Bytes) -> Option<gdk::Texture> {
    let texture = gdk::MemoryTexture::new(
        i32::try_from(frame.width).ok()?,
        i32::try_from(frame.height).ok()?,
        gdk::MemoryFormat::B8g8r8a8Premultiplied,
        &bytes,
        frame.width as usize * 4,
    );
    Some(texture.upcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_unions_and_clips() {
        let mut d = Damage::default();
        assert!(d.is_empty());
        d.add(10, 10, 5, 5, (100, 100));
        d.add(50, 0, 10, 200, (100, 100));
        d.add(-10, -10, 5, 5, (100, 100)); // fully outside: ignored
        d.add(20, 20, 0, 10, (100, 100)); // empty: ignored
        let (r, n) = d.take().unwrap_or_else(|| panic!("damage expected"));
        assert_eq!(
            r,
            Rect {
                x: 10,
                y: 0,
                width: 50,
                height: 100
            }
        );
        assert_eq!(n, 2);
        assert!(d.take().is_none());
    }

    #[test]
    fn damage_all_covers_screen() {
        let mut d = Damage::default();
        d.add_all((640, 480));
        assert_eq!(
            d.take().map(|x| x.0),
            Some(Rect {
                x: 0,
                y: 0,
                width: 640,
                height: 480
            })
        );
    }

    #[test]
    fn conversion_sets_alpha_and_drops_padding() {
        // 2x2 pixels, stride 12 (4 bytes of row padding).
        let data = [
            1, 2, 3, 0, 4, 5, 6, 0, 9, 9, 9, 9, //
            7, 8, 9, 0x55, 10, 11, 12, 0, 9, 9, 9, 9,
        ];
        let f = FrameView {
            data: &data,
            width: 2,
            height: 2,
            stride: 12,
        };
        let out = bgrx_to_opaque(&f).unwrap_or_default();
        assert_eq!(
            out,
            vec![1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255]
        );
    }

    #[test]
    fn surface_keeps_the_pixels() {
        let data = [
            1, 2, 3, 0, 4, 5, 6, 0, 9, 9, 9, 9, //
            7, 8, 9, 0x55, 10, 11, 12, 0, 9, 9, 9, 9,
        ];
        let f = FrameView {
            data: &data,
            width: 2,
            height: 2,
            stride: 12,
        };
        let pool = BufferPool::default();
        let Some(mut surface) = frame_to_surface(&f, &pool) else {
            panic!("surface expected");
        };
        assert_eq!((surface.width(), surface.height(), surface.stride()), (2, 2, 8));
        assert_eq!(surface.format(), cairo::Format::Rgb24);
        let px = surface.data().map(|d| d.to_vec()).unwrap_or_default();
        assert_eq!(px, vec![1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0x55, 10, 11, 12, 0]);
        drop(surface);
        // The buffer went back to the pool and is reused, also for a texture.
        assert_eq!(pool.0.lock().map(|v| v.len()).unwrap_or(0), 1);
        assert!(matches!(
            Picture::from_frame(&f, true, &pool),
            Some(Picture::Surface(_))
        ));
        assert_eq!(pool.0.lock().map(|v| v.len()).unwrap_or(9), 1);
        let Some(Picture::Texture(t)) = Picture::from_frame(&f, false, &pool) else {
            panic!("texture expected");
        };
        let mut px = [0u8; 16];
        t.download(&mut px, 8);
        assert_eq!(px, [1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255]);
    }

    #[test]
    fn inconsistent_frames_are_rejected() {
        let data = [0u8; 15];
        assert!(bgrx_to_opaque(&FrameView {
            data: &data,
            width: 2,
            height: 2,
            stride: 8
        })
        .is_none());
        assert!(bgrx_to_opaque(&FrameView {
            data: &data,
            width: 2,
            height: 1,
            stride: 4
        })
        .is_none());
        assert!(bgrx_to_opaque(&FrameView {
            data: &data,
            width: 0,
            height: 1,
            stride: 8
        })
        .is_none());
        // Last row may be shorter than the stride.
        let data = [0u8; 20];
        assert!(bgrx_to_opaque(&FrameView {
            data: &data,
            width: 2,
            height: 2,
            stride: 12
        })
        .is_some());
    }
}
