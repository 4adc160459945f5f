//! The test guest's serial line protocol (see tests/guest/README.md) on `<rt>/serial.sock`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::SERIAL_TIMEOUT;

/// A client of the test guest's serial protocol (see tests/guest/README.md).
pub struct SerialClient {
    stream: UnixStream,
    pending: Vec<u8>,
}

impl SerialClient {
    /// Connect (QEMU's serial socket takes one client at a time).
    pub fn connect(path: &Path) -> SerialClient {
        let stream =
            UnixStream::connect(path).unwrap_or_else(|e| panic!("cannot connect to {}: {e}", path.display()));
        SerialClient {
            stream,
            pending: vec![],
        }
    }

    /// Send one command line.
    pub fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("serial write of {line:?} failed: {e}"));
    }

    /// The next line (without `\r\n`) that starts with `prefix`; earlier lines are skipped.
    pub fn read_line_starting(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = vec![];
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
            if left.is_zero() {
                panic!("no serial line starting with {prefix:?} within {timeout:?}; got {seen:?}");
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("serial socket closed while waiting for {prefix:?}; got {seen:?}"),
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

    /// Send `cmd` and return the counter of its `COUNTER=n` reply.
    pub fn counter_cmd(&mut self, cmd: &str) -> i64 {
        self.send(cmd);
        let line = self.read_line_starting("COUNTER=", SERIAL_TIMEOUT);
        line["COUNTER=".len()..]
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("bad counter line {line:?}: {e}"))
    }

    pub fn get(&mut self) -> i64 {
        self.counter_cmd("get")
    }

    pub fn set(&mut self, n: i64) -> i64 {
        self.counter_cmd(&format!("set {n}"))
    }

    pub fn inc(&mut self) -> i64 {
        self.counter_cmd("inc")
    }

    /// Forget what arrived so far (e.g. output from before a snapshot load).
    pub fn drain(&mut self) {
        self.pending.clear();
        let _ = self.stream.set_nonblocking(true);
        let mut buf = [0u8; 4096];
        while matches!(self.stream.read(&mut buf), Ok(n) if n > 0) {}
        let _ = self.stream.set_nonblocking(false);
    }
}
