//! Helpers of the real-QEMU console tests: Xvfb, QEMU with the test guest, QMP, the serial log,
//! xdotool, and pixel comparison.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gtk::glib;

/// Why the tests cannot run on this machine (they are skipped, not failed).
pub struct Skip(pub String);

/// A failed step.
pub type TestResult = Result<(), String>;

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// Kills and reaps a child process when dropped.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Xvfb server on a free display number.
pub struct Xvfb {
    _child: Reaped,
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Result<Xvfb, String> {
        // `-displayfd 1`: Xvfb picks a free display and writes its number on stdout.
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting Xvfb: {e}"))?;
        let stdout = child.stdout.take();
        let child = Reaped(child);
        let mut number = String::new();
        if let Some(out) = stdout {
            BufReader::new(out)
                .read_line(&mut number)
                .map_err(|e| format!("reading Xvfb display: {e}"))?;
        }
        if number.trim().is_empty() {
            return Err("Xvfb did not report a display number".into());
        }
        Ok(Xvfb {
            _child: child,
            display: format!(":{}", number.trim()),
        })
    }
}

/// Where the test guest is: `HANGAR_TEST_GUEST_DIR`, or built by `tests/guest/build.sh`.
pub fn guest_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("HANGAR_TEST_GUEST_DIR") {
        return Ok(dir.into());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-guest");
    let status = Command::new("bash")
        .arg(root.join("tests/guest/build.sh"))
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("running tests/guest/build.sh: {e}"))?;
    if !status.success() {
        return Err(format!(
            "tests/guest/build.sh failed ({status}); see its message above"
        ));
    }
    Ok(out)
}

/// QEMU running the test guest with VNC and SPICE on unix sockets.
pub struct Qemu {
    _child: Reaped,
    pub dir: tempfile::TempDir,
}

impl Qemu {
    pub fn start(guest: &Path) -> Result<Qemu, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let accel = std::env::var("HANGAR_ACCEL").unwrap_or_else(|_| "tcg".into());
        let child = Command::new("qemu-system-x86_64")
            .args([
                "-machine",
                "q35",
                "-accel",
                &accel,
                "-m",
                "256",
                "-nodefaults",
                "-vga",
                "std",
            ])
            .args([
                "-display",
                "none",
                "-device",
                "qemu-xhci",
                "-device",
                "usb-tablet,id=tablet",
            ])
            // Two SPICE USB redirection channels, as Hangar gives a SPICE VM.
            .args(["-chardev", "spicevmc,id=usbredir0,name=usbredir"])
            .args(["-device", "usb-redir,chardev=usbredir0,id=redir0"])
            .args(["-chardev", "spicevmc,id=usbredir1,name=usbredir"])
            .args(["-device", "usb-redir,chardev=usbredir1,id=redir1"])
            .arg("-kernel")
            .arg(guest.join("vmlinuz"))
            .arg("-initrd")
            .arg(guest.join("initrd.gz"))
            .args(["-append", "console=ttyS0 console=tty0"])
            .args(["-vnc", &format!("unix:{}", p("vnc.sock"))])
            .args([
                "-spice",
                &format!("unix=on,addr={},disable-ticketing=on", p("spice.sock")),
            ])
            .args(["-serial", &format!("file:{}", p("serial.log"))])
            .args(["-qmp", &format!("unix:{},server=on,wait=off", p("qmp.sock"))])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("qemu.err")).map_err(|e| format!("qemu.err: {e}"))?)
            .spawn()
            .map_err(|e| format!("starting qemu-system-x86_64: {e}"))?;
        Ok(Qemu {
            _child: Reaped(child),
            dir,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn serial(&self) -> String {
        let bytes = std::fs::read(self.path("serial.log")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }

    /// Serial lines starting with `prefix`.
    pub fn serial_lines(&self, prefix: &str) -> Vec<String> {
        self.serial()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    /// Runs one QMP command (JSON text) and returns the reply line.
    pub fn qmp(&self, command: &str) -> Result<String, String> {
        let stream = UnixStream::connect(self.path("qmp.sock")).map_err(|e| format!("QMP connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let reply = |reader: &mut BufReader<UnixStream>, line: &mut String| -> Result<String, String> {
            loop {
                line.clear();
                if reader.read_line(line).map_err(|e| format!("QMP read: {e}"))? == 0 {
                    return Err("QMP closed".into());
                }
                if line.contains("\"return\"") || line.contains("\"error\"") {
                    return Ok(line.trim().to_owned());
                }
            }
        };
        reader
            .read_line(&mut line)
            .map_err(|e| format!("QMP greeting: {e}"))?;
        writer
            .write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
            .map_err(|e| e.to_string())?;
        reply(&mut reader, &mut line)?;
        writer.write_all(command.as_bytes()).map_err(|e| e.to_string())?;
        writer.write_all(b"\n").map_err(|e| e.to_string())?;
        let r = reply(&mut reader, &mut line)?;
        if r.contains("\"error\"") {
            return Err(format!("QMP error: {r}"));
        }
        Ok(r)
    }
}

/// Iterates the GTK main context until `cond` holds or `timeout` passes.
pub fn pump_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let ctx = glib::MainContext::default();
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        if !ctx.iteration(false) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    cond()
}

/// Runs a command while the GTK main loop keeps running (xdotool talks to our own window).
pub fn run_pumping(program: &str, args: &[&str]) -> TestResult {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let mut status = None;
    pump_until(Duration::from_secs(30), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{program} {args:?} failed: {s}")),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{program} {args:?} did not finish"))
        }
    }
}

/// Output of a command (for `xdotool search`).
pub fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An image as tightly packed RGBA bytes.
pub struct Rgba {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgba {
    pub fn from_texture(t: &gtk::gdk::Texture) -> Rgba {
        use gtk::prelude::*;
        let (width, height) = (t.width() as usize, t.height() as usize);
        // `download` writes premultiplied native-endian ARGB32, i.e. B, G, R, A bytes.
        let mut data = vec![0u8; width * height * 4];
        t.download(&mut data, width * 4);
        for px in data.chunks_exact_mut(4) {
            px.swap(0, 2);
        }
        Rgba { width, height, data }
    }

    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 4;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Number of distinct gray levels, to check that an image shows something.
    pub fn distinct_levels(&self) -> usize {
        let mut seen = [false; 256];
        for px in self.data.chunks_exact(4) {
            seen[usize::from(px[1])] = true;
        }
        seen.iter().filter(|s| **s).count()
    }
}

/// Fraction of pixels whose channels differ by more than `tolerance`.
pub fn diff_fraction(a: &Rgba, b: &Rgba, tolerance: u8) -> Result<f64, String> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(format!(
            "sizes differ: {}x{} vs {}x{}",
            a.width, a.height, b.width, b.height
        ));
    }
    let mut bad = 0usize;
    for y in 0..a.height {
        for x in 0..a.width {
            let (p, q) = (a.pixel(x, y), b.pixel(x, y));
            if p.iter().zip(q.iter()).any(|(u, v)| u.abs_diff(*v) > tolerance) {
                bad += 1;
            }
        }
    }
    Ok(bad as f64 / (a.width * a.height).max(1) as f64)
}
