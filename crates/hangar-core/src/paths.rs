//! Where Hangar keeps things: the VM store (`$HANGAR_HOME`) and the per-VM runtime
//! directories (sockets, pidfile) under `$HANGAR_RUNTIME_DIR` or `$XDG_RUNTIME_DIR/hangar`.

use std::path::{Path, PathBuf};

/// Longest path a unix socket address can hold (`sun_path` is 108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// The two roots every Hangar process agrees on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Folder holding one sub-folder per VM.
    pub vms: PathBuf,
    /// Folder holding one runtime sub-folder per running VM.
    pub runtime: PathBuf,
}

impl Paths {
    /// Resolve from the environment: `HANGAR_HOME` (else `$XDG_DATA_HOME/hangar/vms`, else
    /// `~/.local/share/hangar/vms`) and `HANGAR_RUNTIME_DIR` (else `$XDG_RUNTIME_DIR/hangar`,
    /// else `/tmp/hangar-<uid>`).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var_os(k))
    }

    /// Same as [`Paths::from_env`] with an injectable environment (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        let nonempty = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let vms = nonempty("HANGAR_HOME").unwrap_or_else(|| {
            let data = nonempty("XDG_DATA_HOME").unwrap_or_else(|| {
                nonempty("HOME")
                    .unwrap_or_else(|| PathBuf::from("/"))
                    .join(".local/share")
            });
            data.join("hangar/vms")
        });
        let runtime = nonempty("HANGAR_RUNTIME_DIR").unwrap_or_else(|| match nonempty("XDG_RUNTIME_DIR") {
            Some(dir) => dir.join("hangar"),
            None => PathBuf::from(format!("/tmp/hangar-{}", nix::unistd::getuid())),
        });
        Paths { vms, runtime }
    }

    /// Explicit roots.
    pub fn new(vms: impl Into<PathBuf>, runtime: impl Into<PathBuf>) -> Self {
        Paths {
            vms: vms.into(),
            runtime: runtime.into(),
        }
    }

    /// The folder of VM `name`.
    pub fn vm_dir(&self, name: &str) -> PathBuf {
        self.vms.join(name)
    }

    /// The runtime paths of VM `name`. The folder is named after the VM unless that would make
    /// a socket path too long for `sun_path`; then a stable hash of the name is used.
    pub fn runtime_for(&self, name: &str) -> RuntimePaths {
        let plain = RuntimePaths::in_dir(self.runtime.join(name));
        if plain.longest_socket_len() <= MAX_SOCKET_PATH {
            return plain;
        }
        RuntimePaths::in_dir(self.runtime.join(format!("vm-{:016x}", fnv1a(name.as_bytes()))))
    }
}

/// Files of one running VM. Everything QEMU listens on is a unix socket here; nothing on TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePaths {
    /// The folder itself (mode 0700).
    pub dir: PathBuf,
    /// QMP socket kept by the one long-lived watcher (the manager of the GUI or of a CLI `start`).
    pub qmp: PathBuf,
    /// Second QMP socket for one-shot commands (`hangarctl qmp`, `status`, …).
    pub qmp_ctl: PathBuf,
    /// QEMU's `-pidfile`.
    pub pidfile: PathBuf,
    /// VNC server socket.
    pub vnc: PathBuf,
    /// SPICE server socket.
    pub spice: PathBuf,
    /// Serial console (ttyS0) socket.
    pub serial: PathBuf,
    /// Backing of the `com.redhat.spice.0` port when the display is VNC (served by Hangar).
    pub vdagent: PathBuf,
    /// Backing of the `org.qemu.guest_agent.0` port.
    pub guest_agent: PathBuf,
    /// swtpm's control socket when the VM has a TPM.
    pub tpm: PathBuf,
    /// Folder of overlays for disposable runs (deleted when the VM stops).
    pub overlays: PathBuf,
}

impl RuntimePaths {
    /// The standard layout inside `dir`.
    pub fn in_dir(dir: PathBuf) -> Self {
        RuntimePaths {
            qmp: dir.join("qmp.sock"),
            qmp_ctl: dir.join("qmp-ctl.sock"),
            pidfile: dir.join("qemu.pid"),
            vnc: dir.join("vnc.sock"),
            spice: dir.join("spice.sock"),
            serial: dir.join("serial.sock"),
            vdagent: dir.join("vdagent.sock"),
            guest_agent: dir.join("qga.sock"),
            tpm: dir.join("swtpm.sock"),
            overlays: dir.join("overlays"),
            dir,
        }
    }

    /// Every socket path, for cleanup and length checks.
    pub fn sockets(&self) -> [&Path; 8] {
        [
            &self.qmp,
            &self.qmp_ctl,
            &self.vnc,
            &self.spice,
            &self.serial,
            &self.vdagent,
            &self.guest_agent,
            &self.tpm,
        ]
    }

    fn longest_socket_len(&self) -> usize {
        self.sockets()
            .iter()
            .map(|p| p.as_os_str().len())
            .max()
            .unwrap_or(0)
    }
}

/// 64-bit FNV-1a: tiny, stable across releases (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn paths(env: &[(&str, &str)]) -> Paths {
        let map: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Paths::from_lookup(|k| map.get(k).map(Into::into))
    }

    #[test]
    fn hangar_home_wins_over_xdg() {
        let p = paths(&[
            ("HANGAR_HOME", "/h"),
            ("XDG_DATA_HOME", "/x"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
        ]);
        assert_eq!(p.vms, PathBuf::from("/h"));
        assert_eq!(p.runtime, PathBuf::from("/run/user/7/hangar"));
    }

    #[test]
    fn xdg_then_home_fallbacks() {
        assert_eq!(
            paths(&[("XDG_DATA_HOME", "/x")]).vms,
            PathBuf::from("/x/hangar/vms")
        );
        assert_eq!(
            paths(&[("HOME", "/home/a")]).vms,
            PathBuf::from("/home/a/.local/share/hangar/vms")
        );
        assert!(paths(&[]).runtime.to_string_lossy().starts_with("/tmp/hangar-"));
    }

    #[test]
    fn long_names_get_a_hashed_runtime_dir_that_fits() {
        let p = Paths::new("/v", "/run/user/1000/hangar");
        assert_eq!(
            p.runtime_for("demo").dir,
            PathBuf::from("/run/user/1000/hangar/demo")
        );
        let long = "é".repeat(60);
        let rt = p.runtime_for(&long);
        assert!(rt
            .dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("vm-")));
        assert!(rt
            .sockets()
            .iter()
            .all(|s| s.as_os_str().len() <= MAX_SOCKET_PATH));
        assert_eq!(rt, p.runtime_for(&long), "hash must be stable");
    }
}
