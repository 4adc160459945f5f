//! Cost of one full-screen frame at 1920x1080.
//!
//! ```text
//! cargo bench -p hangar-display --bench upload
//! ```
//!
//! 1. `convert`: framebuffer (BGRx) to `gdk::MemoryTexture`, what the widget does once per
//!    frame-clock tick when anything changed.
//! 2. `render`: GTK's renderer of a real window draws that new texture scaled into a
//!    1280x720 area (texture upload + draw), as the widget's snapshot does in Fit mode. Needs an
//!    X display: uses `$DISPLAY`, or starts Xvfb. Without a GPU GTK renders with Mesa's
//!    llvmpipe (CPU), so this number is an upper bound for machines with a GPU.
//!
//! Reports wall time and process CPU time (all threads, from /proc/self/stat) per frame.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gtk::prelude::*;
use gtk::{gdk, graphene, gsk};
use hangar_display::frame::{frame_to_texture, FrameView};

const W: u32 = 1920;
const H: u32 = 1080;
const FRAMES: u32 = 120;

/// Process CPU time (user + system, all threads).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn frame_data(seed: u8) -> Vec<u8> {
    let mut data = vec![0u8; (W * H * 4) as usize];
    for (i, px) in data.chunks_exact_mut(4).enumerate() {
        let v = (i as u32).wrapping_mul(2_654_435_761).to_le_bytes();
        px[0] = v[0] ^ seed;
        px[1] = v[1];
        px[2] = v[2];
        px[3] = 0;
    }
    data
}

fn report(name: &str, wall: Duration, cpu: Duration) {
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(FRAMES);
    println!(
        "{name}: {:.2} ms wall, {:.2} ms CPU per 1920x1080 frame ({FRAMES} frames)",
        per(wall),
        per(cpu)
    );
}

fn bench_convert(frames: &[Vec<u8>]) -> Vec<gdk::Texture> {
    let mut textures = Vec::with_capacity(frames.len());
    let (t0, c0) = (Instant::now(), cpu_time());
    for i in 0..FRAMES as usize {
        let data = &frames[i % frames.len()];
        let view = FrameView {
            data,
            width: W,
            height: H,
            stride: (W * 4) as usize,
        };
        match frame_to_texture(&view) {
            Some(t) => textures.push(t),
            None => panic!("conversion failed"),
        }
        // Keep memory bounded like the widget does (it holds one texture).
        if textures.len() > 2 {
            textures.remove(0);
        }
    }
    report("convert", t0.elapsed(), cpu_time() - c0);
    textures
}

fn bench_render(frames: &[Vec<u8>]) {
    let window = gtk::Window::new();
    window.set_default_size(1280, 720);
    window.present();
    let ctx = gtk::glib::MainContext::default();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        ctx.iteration(false);
    }
    let Some(renderer) = window.renderer() else {
        println!("render: skipped (the window has no renderer)");
        return;
    };
    println!("render: renderer {}", renderer.type_().name());
    let area = graphene::Rect::new(0.0, 0.0, 1280.0, 720.0);
    let (t0, c0) = (Instant::now(), cpu_time());
    for i in 0..FRAMES as usize {
        let data = &frames[i % frames.len()];
        let view = FrameView {
            data,
            width: W,
            height: H,
            stride: (W * 4) as usize,
        };
        let Some(texture) = frame_to_texture(&view) else {
            panic!("conversion failed")
        };
        let node = gsk::TextureNode::new(&texture, &area);
        let out = renderer.render_texture(&node, Some(&area));
        // Make sure the work is done: read the result back (download needs the whole image).
        let mut px = vec![0u8; 4 * 1280 * 720];
        out.download(&mut px, 4 * 1280);
    }
    report("convert+render", t0.elapsed(), cpu_time() - c0);

    // The same draw with one texture that stays uploaded: the draw and readback alone.
    let view = FrameView {
        data: &frames[0],
        width: W,
        height: H,
        stride: (W * 4) as usize,
    };
    let Some(texture) = frame_to_texture(&view) else {
        panic!("conversion failed")
    };
    let node = gsk::TextureNode::new(&texture, &area);
    let (t0, c0) = (Instant::now(), cpu_time());
    for _ in 0..FRAMES {
        let out = renderer.render_texture(&node, Some(&area));
        let mut px = vec![0u8; 4 * 1280 * 720];
        out.download(&mut px, 4 * 1280);
    }
    report("render (texture already uploaded)", t0.elapsed(), cpu_time() - c0);
}

/// Stops the Xvfb this benchmark started, also when it panics.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let frames = [frame_data(0), frame_data(0x55)];
    bench_convert(&frames);

    let mut _xvfb = None;
    if std::env::var_os("DISPLAY").is_none() {
        match Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1920x1080x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                let mut line = String::new();
                if let Some(out) = child.stdout.take() {
                    use std::io::BufRead;
                    let _ = std::io::BufReader::new(out).read_line(&mut line);
                }
                std::env::set_var("DISPLAY", format!(":{}", line.trim()));
                _xvfb = Some(KillOnDrop(child));
            }
            Err(e) => {
                println!("render: skipped (no DISPLAY and Xvfb failed: {e})");
                return;
            }
        }
    }
    std::env::set_var("GDK_BACKEND", "x11");
    if let Err(e) = gtk::init() {
        println!("render: skipped (gtk::init: {e})");
    } else {
        bench_render(&frames);
    }
}
