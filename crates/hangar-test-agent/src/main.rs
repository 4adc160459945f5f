//! `hangar-test-agent`: a minimal guest clipboard agent for Hangar's end-to-end tests. It speaks
//! the guest side of the spice-vdagent protocol on the `com.redhat.spice.0` virtio port (or on
//! a unix socket, for host-only tests) and reports everything on stdout, one line per event.
//!
//! ```text
//! hangar-test-agent [--port PATH] [--grab TEXT] [--no-fetch]
//!   --port PATH   the port device (default: found in /sys/class/virtio-ports) or a unix socket
//!   --grab TEXT   own the guest clipboard with TEXT once the host announced itself
//!   --no-fetch    do not request the host's text when the host grabs
//! stdin commands:  grab TEXT | paste | release | quit        (TEXT: \n \t \r \\ escapes)
//! stdout lines:    READY | HOST-CAPS <hex words> | HOST-GRAB <types> | HOST-REQUEST
//!                  | SENT <bytes> | HOST-CLIPBOARD <escaped text> | HOST-CLIPBOARD-NONE
//!                  | HOST-RELEASE | HOST-MAX <bytes> | HOST-MONITORS <w>x<h> | ERROR <message>
//! ```
//!
//! Build it static for the busybox guest from this directory: `cargo build --release`
//! (`.cargo/config.toml` adds `+crt-static`).

mod wire;

use std::fs::OpenOptions;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wire::*;

const PORT_NAME: &str = "com.redhat.spice.0";

struct Options {
    port: Option<PathBuf>,
    grab: Option<String>,
    fetch: bool,
}

/// State shared by the port reader and the command loop.
struct Agent {
    writer: Mutex<Box<dyn Write + Send>>,
    state: Mutex<State>,
    fetch: bool,
}

#[derive(Default)]
struct State {
    /// Text this agent offers (answer to host requests).
    text: Option<String>,
    /// Both sides announced CLIPBOARD_SELECTION.
    selection: bool,
    /// The host has announced itself.
    ready: bool,
    /// Grab to make once the host is there.
    pending_grab: bool,
}

fn main() {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hangar-test-agent: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(options) {
        say(&format!("ERROR {e}"));
        std::process::exit(1);
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        port: None,
        grab: None,
        fetch: true,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => options.port = Some(args.next().ok_or("--port needs a path")?.into()),
            "--grab" => options.grab = Some(unescape(&args.next().ok_or("--grab needs a text")?)),
            "--no-fetch" => options.fetch = false,
            other => return Err(format!("unknown argument {other:?} (see the source for usage)")),
        }
    }
    Ok(options)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // stdout gone: nothing left to report to.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The port device of `com.redhat.spice.0`, from sysfs.
fn find_port() -> Result<PathBuf, String> {
    let dir = std::fs::read_dir("/sys/class/virtio-ports")
        .map_err(|e| format!("no virtio ports (is virtio_console loaded?): {e}"))?;
    for entry in dir.flatten() {
        let name = std::fs::read_to_string(entry.path().join("name")).unwrap_or_default();
        if name.trim() == PORT_NAME {
            return Ok(Path::new("/dev").join(entry.file_name()));
        }
    }
    Err(format!("no virtio port named {PORT_NAME}"))
}

fn run(options: Options) -> Result<(), String> {
    let path = match options.port {
        Some(p) => p,
        None => find_port()?,
    };
    let is_socket = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .file_type()
        .is_socket();
    let (reader, writer): (Box<dyn Read + Send>, Box<dyn Write + Send>) = if is_socket {
        let s = UnixStream::connect(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let w = s.try_clone().map_err(|e| e.to_string())?;
        (Box::new(s), Box::new(w))
    } else {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let w = f.try_clone().map_err(|e| e.to_string())?;
        (Box::new(f), Box::new(w))
    };
    let agent = Arc::new(Agent {
        writer: Mutex::new(writer),
        state: Mutex::new(State {
            pending_grab: options.grab.is_some(),
            text: options.grab,
            ..State::default()
        }),
        fetch: options.fetch,
    });
    agent.send(MSG_ANNOUNCE, &announce_payload(true))?;
    let port_agent = Arc::clone(&agent);
    let port_thread = std::thread::spawn(move || port_agent.read_port(reader, is_socket));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim_end_matches('\r');
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        match cmd {
            "grab" => agent.grab(Some(unescape(arg)))?,
            "paste" => agent.request()?,
            "release" => {
                let sel = agent.lock().selection;
                agent.send(MSG_RELEASE, &clipboard_payload(sel, &[], &[]))?;
            }
            "quit" => return Ok(()),
            "" => {}
            other => say(&format!("ERROR unknown command {other:?}")),
        }
    }
    // stdin closed (running in the background): serve the port until it fails.
    port_thread
        .join()
        .map_err(|_| "port reader crashed".to_string())?
}

fn announce_payload(request: bool) -> Vec<u8> {
    let caps = [
        CAP_MONITORS_CONFIG,
        CAP_REPLY,
        CAP_BY_DEMAND,
        CAP_SELECTION,
        CAP_LINEEND_LF,
        CAP_MAX_CLIPBOARD,
    ]
    .iter()
    .fold(0u32, |w, c| w | 1 << c);
    let mut out = u32::from(request).to_le_bytes().to_vec();
    out.extend_from_slice(&caps.to_le_bytes());
    out
}

impl Agent {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, kind: u32, payload: &[u8]) -> Result<(), String> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(&frame(kind, payload))
            .and_then(|()| w.flush())
            .map_err(|e| format!("writing the port: {e}"))
    }

    /// Own the clipboard with `text` (now if the host is there, else once it announces).
    fn grab(&self, text: Option<String>) -> Result<(), String> {
        let (ready, sel) = {
            let mut s = self.lock();
            s.text = text;
            s.pending_grab = !s.ready;
            (s.ready, s.selection)
        };
        if ready {
            self.send(MSG_GRAB, &clipboard_payload(sel, &[TYPE_UTF8], &[]))?;
        }
        Ok(())
    }

    fn request(&self) -> Result<(), String> {
        let sel = self.lock().selection;
        self.send(MSG_REQUEST, &clipboard_payload(sel, &[TYPE_UTF8], &[]))
    }

    fn read_port(&self, mut reader: Box<dyn Read + Send>, is_socket: bool) -> Result<(), String> {
        let mut assembler = Assembler::default();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) if is_socket => return Err("the host closed the socket".into()),
                // A virtio port reads 0 while the host end is not connected: wait for it.
                Ok(0) => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading the port: {e}")),
            };
            for (kind, payload) in assembler.push(&buf[..n])? {
                self.on_message(kind, &payload)?;
            }
        }
    }

    fn on_message(&self, kind: u32, p: &[u8]) -> Result<(), String> {
        let sel = self.lock().selection;
        // Clipboard payloads start after the selection prefix.
        let body = if sel { p.get(4..).unwrap_or_default() } else { p };
        match kind {
            MSG_ANNOUNCE => {
                let request = le32(p, 0).unwrap_or(0) != 0;
                let words: Vec<u32> = (1..p.len() / 4).filter_map(|i| le32(p, i * 4)).collect();
                let hex: Vec<String> = words.iter().map(|w| format!("{w:08x}")).collect();
                say(&format!("HOST-CAPS {}", hex.join(" ")));
                if request {
                    self.send(MSG_ANNOUNCE, &announce_payload(false))?;
                }
                let (first, grab, sel) = {
                    let mut s = self.lock();
                    s.selection = has_cap(&words, CAP_SELECTION);
                    let first = !s.ready;
                    s.ready = true;
                    let grab = std::mem::take(&mut s.pending_grab);
                    (first, grab, s.selection)
                };
                if first {
                    say("READY");
                }
                if grab {
                    self.send(MSG_GRAB, &clipboard_payload(sel, &[TYPE_UTF8], &[]))?;
                }
            }
            MSG_GRAB => {
                let types: Vec<u32> = (0..body.len() / 4).filter_map(|i| le32(body, i * 4)).collect();
                let names: Vec<String> = types.iter().map(u32::to_string).collect();
                say(&format!("HOST-GRAB {}", names.join(" ")));
                self.lock().text = None;
                if self.fetch && types.contains(&TYPE_UTF8) {
                    self.request()?;
                }
            }
            MSG_REQUEST => {
                say("HOST-REQUEST");
                let text = self.lock().text.clone();
                let payload = match (&text, le32(body, 0)) {
                    (Some(t), Some(TYPE_UTF8)) => clipboard_payload(sel, &[TYPE_UTF8], t.as_bytes()),
                    _ => clipboard_payload(sel, &[TYPE_NONE], &[]),
                };
                self.send(MSG_CLIPBOARD, &payload)?;
                say(&format!("SENT {}", text.map_or(0, |t| t.len())));
            }
            MSG_CLIPBOARD => match le32(body, 0) {
                Some(TYPE_UTF8) => {
                    let text = String::from_utf8_lossy(&body[4..]);
                    say(&format!("HOST-CLIPBOARD {}", escape(&text)));
                }
                _ => say("HOST-CLIPBOARD-NONE"),
            },
            MSG_RELEASE => say("HOST-RELEASE"),
            MSG_MAX_CLIPBOARD => say(&format!("HOST-MAX {}", le32(p, 0).unwrap_or(0) as i32)),
            MSG_MONITORS_CONFIG => {
                let (h, w) = (le32(p, 8).unwrap_or(0), le32(p, 12).unwrap_or(0));
                say(&format!("HOST-MONITORS {w}x{h}"));
                let mut reply = MSG_MONITORS_CONFIG.to_le_bytes().to_vec();
                reply.extend_from_slice(&1u32.to_le_bytes());
                self.send(MSG_REPLY, &reply)?;
            }
            other => say(&format!("HOST-MESSAGE {other}")),
        }
        Ok(())
    }
}
