//! QEMU processes: detached spawn, the per-VM start lock, pidfile checks for reattaching, exit
//! notification through a pidfd (no polling), and runtime-folder cleanup.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::paths::RuntimePaths;

/// Name of the lock file in a VM folder.
pub const LOCK_FILE: &str = ".hangar.lock";
/// Name of the QEMU log in a VM folder.
pub const LOG_FILE: &str = "qemu.log";

/// Why a process operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(
        "{0} was not found: install the qemu-system-x86 package (or set HANGAR_QEMU to the QEMU binary)"
    )]
    QemuMissing(PathBuf),
    #[error("another Hangar process has been starting or changing this VM for {0:?}; wait for it or check `hangarctl status`")]
    LockTimeout(Duration),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ProcessError {
    let path = path.to_path_buf();
    move |source| ProcessError::Io { action, path, source }
}

/// An exclusive advisory lock on a VM folder, held while a VM is started, stopped or changed.
/// Two starters (GUI and CLI, or two CLIs) serialise on it. Released on drop.
#[derive(Debug)]
pub struct VmLock {
    _file: File,
}

impl VmLock {
    /// Take the lock, waiting up to `timeout` for another holder.
    pub fn acquire(vm_dir: &Path, timeout: Duration) -> Result<VmLock, ProcessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(lock) = Self::try_acquire(vm_dir)? {
                return Ok(lock);
            }
            if Instant::now() >= deadline {
                return Err(ProcessError::LockTimeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Take the lock if nobody holds it.
    pub fn try_acquire(vm_dir: &Path) -> Result<Option<VmLock>, ProcessError> {
        let path = vm_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open the lock file", &path))?;
        // SAFETY: flock on a valid, owned descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(VmLock { _file: file }));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(io_err("lock", &path)(err))
        }
    }
}

/// The pid of the QEMU running VM `rt`, if its pidfile names a live process whose command line
/// really is that VM's QEMU (holds `-pidfile <rt.pidfile>`). A reused pid is not mistaken for it.
pub fn running_pid(rt: &RuntimePaths) -> Option<i32> {
    running_pid_in(Path::new("/proc"), rt)
}

/// [`running_pid`] with an injectable `/proc` root (for tests).
pub fn running_pid_in(proc_root: &Path, rt: &RuntimePaths) -> Option<i32> {
    let text = fs::read_to_string(&rt.pidfile).ok()?;
    let pid: i32 = text.trim().parse().ok().filter(|p| *p > 0)?;
    let cmdline = fs::read(proc_root.join(pid.to_string()).join("cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let want = rt.pidfile.as_os_str().as_encoded_bytes();
    let is_ours = args.windows(2).any(|w| w[0] == b"-pidfile" && w[1] == want);
    let zombie = fs::read_to_string(proc_root.join(pid.to_string()).join("stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false);
    (is_ours && !zombie).then_some(pid)
}

/// Create the runtime folder with mode 0700 and remove what a previous run left in it.
pub fn prepare_runtime_dir(rt: &RuntimePaths) -> Result<(), ProcessError> {
    if let Some(parent) = rt.dir.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io_err("create", parent))?;
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&rt.dir)
        .map_err(io_err("create", &rt.dir))?;
    fs::set_permissions(&rt.dir, fs::Permissions::from_mode(0o700)).map_err(io_err("protect", &rt.dir))?;
    remove_runtime_files(rt);
    Ok(())
}

/// Remove sockets, pidfile and overlays of a VM that is not running, then the folder itself.
pub fn cleanup_runtime_dir(rt: &RuntimePaths) {
    remove_runtime_files(rt);
    let _ = fs::remove_dir(&rt.dir);
}

fn remove_runtime_files(rt: &RuntimePaths) {
    for p in rt.sockets().into_iter().chain([rt.pidfile.as_path()]) {
        let _ = fs::remove_file(p);
    }
    let _ = fs::remove_dir_all(&rt.overlays);
}

/// A freshly spawned QEMU.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    /// Kept so a long-lived caller can reap it; dropping it does not kill QEMU.
    pub child: Child,
    /// Where this run's output starts in the log.
    pub log_offset: u64,
}

/// Start `program args` detached from the caller: own session, stdin from /dev/null,
/// stdout/stderr appended to `log`. The caller's death (even `kill -9`) does not stop it.
pub fn spawn_detached(program: &Path, args: &[OsString], log: &Path) -> Result<Spawned, ProcessError> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err("open the log", log))?;
    let header = format!(
        "=== hangar: starting {} ({} arguments) ===\n",
        program.display(),
        args.len()
    );
    file.write_all(header.as_bytes()).map_err(io_err("write", log))?;
    let log_offset = file.metadata().map_err(io_err("read", log))?.len();
    let err = file.try_clone().map_err(io_err("open the log", log))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err));
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ProcessError::QemuMissing(program.to_path_buf()),
        _ => io_err("start", program)(e),
    })?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    Ok(Spawned {
        pid,
        child,
        log_offset,
    })
}

/// What a process wrote to `log` since `offset` (its last 16 KiB), for error messages.
pub fn log_since(log: &Path, offset: u64) -> String {
    let read = || -> io::Result<String> {
        let mut f = File::open(log)?;
        let len = f.metadata()?.len();
        let start = offset.max(len.saturating_sub(16 * 1024));
        f.seek(SeekFrom::Start(start))?;
        let mut buf = vec![];
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).trim().to_string())
    };
    read().unwrap_or_default()
}

/// Whether `pid` is a live (non-zombie) process.
pub fn is_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let exists =
        unsafe { libc::kill(pid, 0) } == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists
        && !fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z')))
            .unwrap_or(false)
}

/// Send `signal` to `pid`; a vanished process is not an error.
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: plain kill(2).
    unsafe {
        libc::kill(pid, signal);
    }
}

/// A handle that becomes readable when a process exits, for any process (not only children).
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// Open a pidfd; `None` when the process is already gone.
    pub fn open(pid: i32) -> Option<PidFd> {
        // SAFETY: pidfd_open(2) returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is a fresh descriptor we own.
        Some(PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Wait until the process has exited.
    pub async fn exited(self) {
        // SAFETY: the descriptor is owned by the AsyncFd for its whole registration.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(self.0, tokio::io::Interest::READABLE)
        };
        match registered {
            Ok(afd) => {
                let _ = afd.readable().await;
            }
            Err(e) => tracing::warn!("cannot watch process exit: {e}"),
        }
    }
}

/// Wait for `pid` to exit, up to `timeout`. True when it exited.
pub async fn wait_exit(pid: i32, timeout: Duration) -> bool {
    match PidFd::open(pid) {
        None => true,
        Some(fd) => tokio::time::timeout(timeout, fd.exited()).await.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(dir: &Path) -> RuntimePaths {
        RuntimePaths::in_dir(dir.join("run/vm"))
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let a = VmLock::try_acquire(t.path()).unwrap();
        assert!(a.is_some());
        // flock locks belong to the open file description: a second open conflicts.
        assert!(VmLock::try_acquire(t.path()).unwrap().is_none());
        assert!(matches!(
            VmLock::acquire(t.path(), Duration::from_millis(60)),
            Err(ProcessError::LockTimeout(_))
        ));
        drop(a);
        assert!(VmLock::try_acquire(t.path()).unwrap().is_some());
    }

    #[test]
    fn pidfile_must_name_our_qemu() {
        let t = tempfile::tempdir().unwrap();
        let rt = rt(t.path());
        prepare_runtime_dir(&rt).unwrap();
        let proc_root = t.path().join("proc");
        let write_proc = |pid: i32, args: &[&str], state: &str| {
            let d = proc_root.join(pid.to_string());
            fs::create_dir_all(&d).unwrap();
            fs::write(
                d.join("cmdline"),
                args.iter().map(|a| format!("{a}\0")).collect::<String>(),
            )
            .unwrap();
            fs::write(d.join("stat"), format!("{pid} (qemu-system-x86) {state} 1 2 3")).unwrap();
        };
        let pidfile = rt.pidfile.to_string_lossy().to_string();
        write_proc(10, &["qemu-system-x86_64", "-pidfile", &pidfile], "S");
        write_proc(11, &["bash"], "S");
        write_proc(12, &["qemu-system-x86_64", "-pidfile", &pidfile], "Z");
        assert_eq!(running_pid_in(&proc_root, &rt), None, "no pidfile");
        fs::write(&rt.pidfile, "10\n").unwrap();
        assert_eq!(running_pid_in(&proc_root, &rt), Some(10));
        fs::write(&rt.pidfile, "11\n").unwrap();
        assert_eq!(
            running_pid_in(&proc_root, &rt),
            None,
            "pid reused by another program"
        );
        fs::write(&rt.pidfile, "12\n").unwrap();
        assert_eq!(running_pid_in(&proc_root, &rt), None, "zombie");
        fs::write(&rt.pidfile, "garbage").unwrap();
        assert_eq!(running_pid_in(&proc_root, &rt), None);
    }

    #[test]
    fn runtime_dir_is_private_and_cleaned() {
        let t = tempfile::tempdir().unwrap();
        let rt = rt(t.path());
        prepare_runtime_dir(&rt).unwrap();
        let mode = fs::metadata(&rt.dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::write(&rt.qmp, b"").unwrap();
        fs::write(&rt.pidfile, b"1").unwrap();
        prepare_runtime_dir(&rt).unwrap();
        assert!(!rt.qmp.exists() && !rt.pidfile.exists());
        cleanup_runtime_dir(&rt);
        assert!(!rt.dir.exists());
    }

    #[tokio::test]
    async fn detached_spawn_logs_and_exit_is_seen() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("qemu.log");
        let args: Vec<OsString> = vec!["-c".into(), "echo out; echo err >&2; sleep 0.2".into()];
        let mut s = spawn_detached(Path::new("/bin/sh"), &args, &log).unwrap();
        // Our own session: the child's session id is its own pid.
        assert_eq!(unsafe { libc::getsid(s.pid) }, s.pid);
        let reaper = std::thread::spawn(move || s.child.wait());
        assert!(wait_exit(s.pid, Duration::from_secs(5)).await);
        reaper.join().unwrap().unwrap();
        let out = log_since(&log, s.log_offset);
        assert!(out.contains("out") && out.contains("err"), "{out}");
        assert!(!is_alive(s.pid));
    }

    #[test]
    fn missing_binary_is_named() {
        let t = tempfile::tempdir().unwrap();
        let e = spawn_detached(Path::new("/nonexistent/qemu"), &[], &t.path().join("l")).unwrap_err();
        assert!(
            e.to_string().contains("install the qemu-system-x86 package"),
            "{e}"
        );
    }
}
