//! QMP framing on a unix stream: newline-delimited JSON in, JSON lines (optionally carrying one
//! file descriptor as SCM_RIGHTS ancillary data) out.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::UnixStream;

/// Largest QMP message accepted from QEMU (without its newline).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

pub(crate) use crate::lines::{LineReader, ReadError};

/// Serialises one command as a QMP line with our `id`.
pub(crate) fn encode_command(
    name: &str,
    arguments: Option<Value>,
    id: u64,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut msg = serde_json::Map::new();
    msg.insert("execute".into(), Value::String(name.to_owned()));
    if let Some(args) = arguments {
        msg.insert("arguments".into(), args);
    }
    msg.insert("id".into(), Value::from(id));
    let mut bytes = serde_json::to_vec(&Value::Object(msg))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A failed write; `partial` tells whether some bytes already reached the socket (which leaves
/// the stream in an unknown framing state).
#[derive(Debug)]
pub(crate) struct WriteError {
    pub(crate) partial: bool,
    pub(crate) source: io::Error,
}

/// Writes `frame` to the stream; when `fd` is given it travels as SCM_RIGHTS with the first
/// bytes of the frame, which is how QEMU's `getfd` / `add-fd` expect it.
pub(crate) async fn write_frame<W>(
    w: &mut W,
    frame: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), WriteError>
where
    W: AsyncWrite + AsRef<UnixStream> + Unpin,
{
    let mut sent = 0;
    if let Some(fd) = fd {
        sent = send_with_fd(w.as_ref(), frame, fd)
            .await
            .map_err(|source| WriteError {
                partial: false,
                source,
            })?;
    }
    // Once `write_all` fails, some bytes may have gone out: the framing state is unknown.
    w.write_all(&frame[sent..]).await.map_err(|source| WriteError {
        partial: true,
        source,
    })?;
    w.flush().await.map_err(|source| WriteError {
        partial: true,
        source,
    })
}

/// One `sendmsg` carrying `fd`; returns how many bytes of `frame` went out (at least one).
async fn send_with_fd(stream: &UnixStream, frame: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    let raw_sock = stream.as_raw_fd();
    let fds = [fd.as_raw_fd()];
    loop {
        stream.writable().await?;
        let res = stream.try_io(Interest::WRITABLE, || {
            let iov = [IoSlice::new(frame)];
            let cmsg = [ControlMessage::ScmRights(&fds)];
            sendmsg::<UnixAddr>(raw_sock, &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).map_err(io::Error::from)
        });
        match res {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "sendmsg sent nothing")),
            Ok(n) => return Ok(n),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn encodes_command_with_id() {
        let bytes = encode_command("getfd", Some(serde_json::json!({"fdname": "x"})), 7).unwrap();
        assert_eq!(bytes.last(), Some(&b'\n'));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"execute": "getfd", "arguments": {"fdname": "x"}, "id": 7})
        );
        let bytes = encode_command("stop", None, 1).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v.get("arguments").is_none());
    }

    #[tokio::test]
    async fn fd_travels_with_the_frame() {
        use nix::sys::socket::{recvmsg, ControlMessageOwned};
        use std::io::{IoSliceMut, Read, Seek, Write};

        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, mut wa) = a.into_split();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"payload").unwrap();
        write_frame(&mut wa, b"{\"execute\":\"getfd\"}\n", Some(file.as_fd()))
            .await
            .unwrap();

        b.readable().await.unwrap();
        let mut buf = [0u8; 64];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (n, fds) = b
            .try_io(Interest::READABLE, || {
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg = recvmsg::<UnixAddr>(b.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
                    .map_err(io::Error::from)?;
                let mut fds = Vec::new();
                for c in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(f) = c {
                        fds.extend(f);
                    }
                }
                Ok((msg.bytes, fds))
            })
            .unwrap();
        assert_eq!(&buf[..n], b"{\"execute\":\"getfd\"}\n");
        assert_eq!(fds.len(), 1);
        // SAFETY: the fd was just received and is owned by nobody else.
        let mut got = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
        got.rewind().unwrap();
        let mut s = String::new();
        got.read_to_string(&mut s).unwrap();
        assert_eq!(s, "payload");
    }
}
