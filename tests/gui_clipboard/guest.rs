//! Plumbing of tests/gui_clipboard.rs: VMs of the test guest with the clipboard agent, the
//! guest's serial protocol (`clipget`, `clipset`, `KEYLINE:`) and the host's X clipboard
//! through xclip.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{repo, wait_for, Reaped, Session};

/// The guest with the agent (`$HANGAR_TEST_GUEST_AGENT`, else `target/test-guest-agent`),
/// built when out of date.
fn agent_guest() -> PathBuf {
    let dir = std::env::var_os("HANGAR_TEST_GUEST_AGENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-guest-agent"));
    let status = Command::new("bash")
        .arg(repo().join("tests/guest/build.sh"))
        .arg("--with-agent")
        .arg(&dir)
        .status()
        .expect("cannot run tests/guest/build.sh");
    assert!(
        status.success(),
        "tests/guest/build.sh --with-agent failed: {status}"
    );
    dir
}

fn vm_dir(s: &Session, vm: &str) -> PathBuf {
    s.tmp.path().join("vms").join(vm)
}

pub fn vm_toml(s: &Session, vm: &str) -> String {
    std::fs::read_to_string(vm_dir(s, vm).join("vm.toml")).expect("read vm.toml")
}

/// A VM with `display` (vnc, spice) booting the agent guest's kernel directly.
pub fn create_agent_vm(s: &Session, vm: &str, display: &str) {
    let g = agent_guest();
    s.ctl(&[
        "create",
        vm,
        "--disk",
        "0",
        "--memory",
        "256M",
        "--cpus",
        "1",
        "--display",
        display,
    ]);
    let toml = vm_dir(s, vm).join("vm.toml");
    let text = vm_toml(s, vm);
    let extra = format!(
        "[advanced]\nextra_args = [\"-kernel\", {:?}, \"-initrd\", {:?}, \"-append\", \
         \"console=ttyS0,115200 console=tty0\"]",
        g.join("vmlinuz"),
        g.join("initrd.gz")
    );
    assert!(text.contains("[advanced]"), "vm.toml without [advanced]:\n{text}");
    std::fs::write(&toml, text.replacen("[advanced]", &extra, 1)).expect("write vm.toml");
}

/// The guest's serial line protocol on `<runtime>/<vm>/serial.sock`.
pub struct GuestSerial {
    stream: UnixStream,
    pending: Vec<u8>,
}

impl GuestSerial {
    pub fn connect(s: &Session, vm: &str) -> GuestSerial {
        let path = s.tmp.path().join("run").join(vm).join("serial.sock");
        let stream = UnixStream::connect(&path)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", path.display()));
        GuestSerial {
            stream,
            pending: Vec::new(),
        }
    }

    /// Sends `command`, returns the first reply line starting with `prefix`.
    pub fn ask(&mut self, command: &str, prefix: &str) -> String {
        self.stream
            .write_all(format!("{command}\n").as_bytes())
            .unwrap_or_else(|e| panic!("serial write of {command:?} failed: {e}"));
        self.line(prefix, Duration::from_secs(20))
    }

    /// The next line starting with `prefix` (earlier lines are skipped).
    pub fn line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.pending.drain(..=i).collect();
                let line = String::from_utf8_lossy(&raw).replace(['\r', '\n'], "");
                if line.starts_with(prefix) {
                    return line;
                }
                seen.push(line);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no serial line {prefix:?} within {timeout:?}; got {seen:?}"
            );
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("serial closed while waiting for {prefix:?}; got {seen:?}"),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("serial read failed: {e}"),
            }
        }
    }

    pub fn wait_line(&mut self, line: &str) {
        let got = self.line(line, Duration::from_secs(30));
        assert_eq!(got, line);
    }

    /// Polls `clipget` until the guest's agent holds `want` (`CLIP:<text>`).
    pub fn wait_clip(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.ask("clipget", "CLIP");
            if got == want {
                return;
            }
            if Instant::now() > deadline {
                let log = self.agent_log();
                panic!("guest clipboard is {got:?}, not {want:?}; agent log: {log:#?}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn agent_log(&mut self) -> Vec<String> {
        let mut out = vec![self.ask("agentlog", "AGENTLOG")];
        while out.last().is_some_and(|l| l != "AGENTLOG-END") {
            out.push(self.line("AGENTLOG", Duration::from_secs(10)));
        }
        out
    }
}

/// The host's X CLIPBOARD selection, through xclip.
pub struct Clip {
    display: String,
    /// The xclip that owns the selection (it serves it until another program takes it).
    owner: std::cell::RefCell<Option<Reaped>>,
}

impl Clip {
    pub fn new(s: &Session) -> Clip {
        let found = Command::new("xclip").arg("-version").output().is_ok();
        assert!(found, "xclip is needed for this test (Debian package: xclip)");
        Clip {
            display: s.display.clone(),
            owner: std::cell::RefCell::new(None),
        }
    }

    /// Copies `text` on the host, as an application would.
    pub fn copy(&self, text: &str) {
        self.owner.replace(None);
        let mut child = Command::new("xclip")
            .args(["-quiet", "-selection", "clipboard", "-i"])
            .env("DISPLAY", &self.display)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run xclip");
        let mut stdin = child.stdin.take().expect("xclip stdin");
        stdin.write_all(text.as_bytes()).expect("write to xclip");
        drop(stdin);
        self.owner.replace(Some(Reaped(child)));
        let owned = wait_for(Duration::from_secs(5), || {
            (self.host_text() == text).then_some(())
        });
        assert!(owned.is_some(), "xclip did not take the clipboard with {text:?}");
    }

    /// What the host clipboard holds ("" when nothing).
    pub fn host_text(&self) -> String {
        let out = Command::new("timeout")
            .args(["5", "xclip", "-o", "-selection", "clipboard"])
            .env("DISPLAY", &self.display)
            .output()
            .expect("run xclip -o");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the host clipboard holds `want`.
    pub fn wait_host(&self, want: &str) {
        let got = wait_for(Duration::from_secs(20), || {
            (self.host_text() == want).then_some(())
        });
        assert!(
            got.is_some(),
            "the host clipboard holds {:?}, not {want:?}",
            self.host_text()
        );
    }
}
