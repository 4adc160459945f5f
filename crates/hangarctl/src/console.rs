//! `hangarctl console`: the serial console over the VM's unix socket. Ctrl-] detaches.

use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Ctrl-], as in telnet and virsh.
const DETACH: u8 = 0x1d;

/// Puts a terminal in raw mode and restores it on drop.
struct RawTerminal {
    fd: i32,
    saved: libc::termios,
}

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let fd = stdin.as_raw_fd();
        // SAFETY: tcgetattr/tcsetattr on a terminal descriptor with a properly sized struct.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawTerminal { fd, saved })
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes read in `enter`.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Connect stdin/stdout to the serial socket until Ctrl-], end of input or the VM going away.
pub async fn attach(name: &str, socket: &Path) -> Result<(), String> {
    let stream = UnixStream::connect(socket).await.map_err(|e| {
        format!(
            "cannot open the serial console of {name:?} ({}): {e}; is another console attached?",
            socket.display()
        )
    })?;
    let raw = RawTerminal::enter();
    if raw.is_some() {
        eprint!("Connected to {name} (serial console). Press Ctrl-] to detach.\r\n");
    }
    let interactive = raw.is_some();
    let (mut rd, mut wr) = stream.into_split();
    // Ends with true on Ctrl-], false at the end of input.
    let to_vm = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            let n = match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let (data, detach) = match chunk.iter().position(|b| *b == DETACH) {
                Some(i) => (&chunk[..i], true),
                None => (chunk, false),
            };
            if wr.write_all(data).await.is_err() {
                return false;
            }
            if detach {
                return true;
            }
        }
    };
    // With piped input (scripts), the console stays until the guest is quiet for a moment.
    let idle = if interactive {
        None
    } else {
        Some(std::time::Duration::from_secs(2))
    };
    let mut stdout = tokio::io::stdout();
    let mut buf = [0u8; 4096];
    tokio::pin!(to_vm);
    let mut input_done = false;
    loop {
        let read = rd.read(&mut buf);
        tokio::select! {
            detached = &mut to_vm, if !input_done => {
                if detached || interactive {
                    break;
                }
                input_done = true;
            }
            n = async {
                match (input_done, idle) {
                    (true, Some(t)) => tokio::time::timeout(t, read).await.unwrap_or(Ok(0)),
                    _ => read.await,
                }
            } => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stdout.write_all(&buf[..n]).await.is_err() || stdout.flush().await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
    }
    drop(raw);
    Ok(())
}
