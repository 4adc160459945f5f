//! A synthetic RFB 3.8 server for the console benchmark: a 1920x1080 screen whose every pixel
//! changes `fps` times a second, sent as one raw-encoded full-screen rectangle per update.
//!
//! * Handshake: version 3.8, security type None, any shared flag, a 32 bpp true-colour server
//!   format. A client may switch to any other 32 bpp true-colour format (shifts, byte order);
//!   the frames are then rebuilt in that format. Other depths end the connection.
//! * Updates: a non-incremental FramebufferUpdateRequest is answered at once. An incremental
//!   one waits until the picture has changed since the last update sent to that client (the
//!   content advances on a fixed clock of `fps` ticks per second), like a server that only
//!   sends damage. So no client can get more than `fps` frames a second, and a slower client
//!   gets fewer: every update sent is counted per connection (`Served`).
//! * Listens on a unix socket (for Hangar's widget) and a TCP port on 127.0.0.1 (gvncviewer only
//!   speaks TCP); both serve the same picture clock.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const WIDTH: u16 = 1920;
pub const HEIGHT: u16 = 1080;
/// Distinct pictures cycled through (each one full-screen, different in every pixel).
const PICTURES: usize = 4;

/// Updates sent to all clients since the server started (one client at a time in the bench).
#[derive(Clone, Default)]
pub struct Served(Arc<AtomicU64>);

impl Served {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A 32 bpp true-colour pixel format as RFB describes it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Format {
    big_endian: bool,
    max: [u16; 3],
    shift: [u8; 3],
}

const SERVER_FORMAT: Format = Format {
    big_endian: false,
    max: [255, 255, 255],
    shift: [16, 8, 0],
};

impl Format {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[32, 24, u8::from(self.big_endian), 1]);
        for m in self.max {
            out.extend_from_slice(&m.to_be_bytes());
        }
        out.extend_from_slice(&self.shift);
        out.extend_from_slice(&[0, 0, 0]);
    }

    /// Parses the 16-byte PIXEL_FORMAT; `None` unless it is 32 bpp true colour.
    fn decode(b: &[u8; 16]) -> Option<Format> {
        let max = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        (b[0] == 32 && b[3] != 0).then(|| Format {
            big_endian: b[2] != 0,
            max: [max(4), max(6), max(8)],
            shift: [b[10], b[11], b[12]],
        })
    }

    fn pixel(&self, rgb: [u8; 3]) -> [u8; 4] {
        let mut v = 0u32;
        for ((&value, &max), &shift) in rgb.iter().zip(&self.max).zip(&self.shift) {
            v |= (u32::from(value) * u32::from(max) / 255) << shift;
        }
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
}

/// The update messages (header + one raw rectangle) of all pictures in one format.
fn build_updates(format: Format) -> Vec<Vec<u8>> {
    let (w, h) = (usize::from(WIDTH), usize::from(HEIGHT));
    (0..PICTURES)
        .map(|n| {
            let mut msg = Vec::with_capacity(16 + w * h * 4);
            msg.extend_from_slice(&[0, 0, 0, 1]); // FramebufferUpdate, padding, 1 rectangle
            for v in [0, 0, WIDTH, HEIGHT] {
                msg.extend_from_slice(&v.to_be_bytes());
            }
            msg.extend_from_slice(&0i32.to_be_bytes()); // raw encoding
            let shift = n * 61;
            for y in 0..h {
                for x in 0..w {
                    // Moving diagonal bands plus a per-pixel hash: no two pictures share a pixel
                    // row, and nothing compresses.
                    let hash = ((x * 7 + y * 13 + n * 101) as u32).wrapping_mul(2_654_435_761);
                    let rgb = [
                        ((x + y + shift) & 0xff) as u8,
                        ((x.wrapping_sub(y) + 2 * shift) & 0xff) as u8,
                        (hash >> 24) as u8,
                    ];
                    msg.extend_from_slice(&format.pixel(rgb));
                }
            }
            msg
        })
        .collect()
}

/// The shared picture clock: which picture is current.
#[derive(Clone)]
struct Clock {
    start: Instant,
    tick: Duration,
}

impl Clock {
    fn now(&self) -> u64 {
        (self.start.elapsed().as_nanos() / self.tick.as_nanos().max(1)) as u64
    }

    /// Waits until the picture differs from `seen`; returns the current tick.
    fn wait_past(&self, seen: Option<u64>) -> u64 {
        loop {
            let now = self.now();
            if Some(now) != seen {
                return now;
            }
            let next = self.tick * u32::try_from(now + 1).unwrap_or(u32::MAX);
            std::thread::sleep(next.saturating_sub(self.start.elapsed()));
        }
    }
}

/// A running server. Its threads stop when the process ends.
pub struct Server {
    pub tcp_port: u16,
    pub served: Served,
}

/// Binds both listeners and serves clients in background threads.
pub fn start(unix_path: &Path, fps: u32) -> std::io::Result<Server> {
    let unix = UnixListener::bind(unix_path)?;
    // gvncviewer takes host:display (port 5900 + display): find a free display number.
    let (tcp, tcp_port) = (10..100u16)
        .find_map(|d| {
            TcpListener::bind(("127.0.0.1", 5900 + d))
                .ok()
                .map(|l| (l, 5900 + d))
        })
        .ok_or_else(|| std::io::Error::other("no free TCP port in 5910..6000"))?;
    let clock = Clock {
        start: Instant::now(),
        tick: Duration::from_secs(1) / fps.max(1),
    };
    let served = Served::default();
    let base = Arc::new(build_updates(SERVER_FORMAT));
    let (c, s, b) = (clock.clone(), served.clone(), base.clone());
    std::thread::spawn(move || {
        for stream in unix.incoming().flatten() {
            let (c, s, b) = (c.clone(), s.clone(), b.clone());
            std::thread::spawn(move || report(serve(stream, &c, &s, &b)));
        }
    });
    let counter = served.clone();
    std::thread::spawn(move || {
        for stream in tcp.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            let (c, s, b) = (clock.clone(), counter.clone(), base.clone());
            std::thread::spawn(move || report(serve(stream, &c, &s, &b)));
        }
    });
    Ok(Server { tcp_port, served })
}

fn report(result: std::io::Result<()>) {
    match result {
        Ok(()) => {}
        // Clients are killed at the end of their run.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe
            ) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => eprintln!("rfb server: client ended: {e}"),
    }
}

fn read_n<const N: usize>(s: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    s.read_exact(&mut b)?;
    Ok(b)
}

fn skip(s: &mut impl Read, n: usize) -> std::io::Result<()> {
    std::io::copy(&mut s.take(n as u64), &mut std::io::sink()).map(drop)
}

fn serve(
    mut s: impl Read + Write,
    clock: &Clock,
    served: &Served,
    base: &Arc<Vec<Vec<u8>>>,
) -> std::io::Result<()> {
    s.write_all(b"RFB 003.008\n")?;
    let _client_version: [u8; 12] = read_n(&mut s)?;
    s.write_all(&[1, 1])?; // one security type: None
    let [_chosen] = read_n(&mut s)?;
    s.write_all(&0u32.to_be_bytes())?; // SecurityResult OK
    let [_shared] = read_n(&mut s)?;
    let name = b"hangar bench";
    let mut init = Vec::new();
    init.extend_from_slice(&WIDTH.to_be_bytes());
    init.extend_from_slice(&HEIGHT.to_be_bytes());
    SERVER_FORMAT.encode(&mut init);
    init.extend_from_slice(&(name.len() as u32).to_be_bytes());
    init.extend_from_slice(name);
    s.write_all(&init)?;
    s.flush()?;

    let mut updates = base.clone();
    let mut last_sent: Option<u64> = None;
    loop {
        let [kind] = read_n(&mut s)?;
        match kind {
            0 => {
                let b: [u8; 19] = read_n(&mut s)?;
                let pf: [u8; 16] = b[3..19].try_into().unwrap_or([0; 16]);
                let format = Format::decode(&pf).ok_or_else(|| {
                    std::io::Error::other(format!("client asked for an unsupported pixel format {pf:?}"))
                })?;
                if format != SERVER_FORMAT {
                    updates = Arc::new(build_updates(format));
                }
            }
            2 => {
                let [_, hi, lo] = read_n(&mut s)?;
                skip(&mut s, 4 * usize::from(u16::from_be_bytes([hi, lo])))?;
            }
            3 => {
                let b: [u8; 9] = read_n(&mut s)?;
                let incremental = b[0] != 0;
                let tick = if incremental {
                    clock.wait_past(last_sent)
                } else {
                    clock.now()
                };
                last_sent = Some(tick);
                s.write_all(&updates[tick as usize % PICTURES])?;
                s.flush()?;
                served.0.fetch_add(1, Ordering::Relaxed);
            }
            4 => skip(&mut s, 7)?,
            5 => skip(&mut s, 5)?,
            6 => {
                let b: [u8; 7] = read_n(&mut s)?;
                skip(&mut s, u32::from_be_bytes([b[3], b[4], b[5], b[6]]) as usize)?;
            }
            // QEMU client message: only the extended key event (sub-type 0) is sent unasked.
            255 => {
                let [sub] = read_n(&mut s)?;
                if sub != 0 {
                    return Err(std::io::Error::other(format!("unexpected QEMU message {sub}")));
                }
                skip(&mut s, 10)?;
            }
            other => {
                return Err(std::io::Error::other(format!(
                    "unexpected client message {other}"
                )));
            }
        }
    }
}
