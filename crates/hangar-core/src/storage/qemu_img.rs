//! A small async wrapper around the `qemu-img` tool. Every call builds an argv vector (never a
//! shell string), passes image paths as absolute paths, and maps failures to [`StorageError`]
//! carrying qemu-img's stderr verbatim plus a hint.
//!
//! Operations that create files (`create`, `create_overlay`, `convert`) never overwrite: they
//! write a hidden temporary sibling and move it into place only if the destination is still free.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::error::{FailureKind, Result, StorageError};
use super::fsutil::{absolute, check_format, discard, ensure_absent, rename_no_clobber, temp_sibling};
use super::info::{parse_check, parse_info, CheckReport, ImageInfo, SnapshotInfo};
use super::progress::ProgressParser;
use super::size::validate_size;

/// Exit status of `qemu-img check` when the format has no checks.
const CHECK_UNSUPPORTED: i32 = 63;

/// Handle on a qemu-img binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuImg {
    /// Path of the binary, or a bare name looked up in `PATH`.
    pub bin: PathBuf,
}

impl Default for QemuImg {
    /// `qemu-img` from `PATH`.
    fn default() -> Self {
        QemuImg {
            bin: PathBuf::from("qemu-img"),
        }
    }
}

impl QemuImg {
    /// Use the binary at `bin`.
    pub fn new(bin: impl Into<PathBuf>) -> Self {
        QemuImg { bin: bin.into() }
    }

    /// First line of `qemu-img --version`, e.g. `qemu-img version 7.2.22 (…)`.
    pub async fn version(&self) -> Result<String> {
        let out = self
            .run("--version", Path::new(""), vec!["--version".into()])
            .await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string())
    }

    /// Create an empty image of `format` with `size_bytes` at `path` (which must not exist).
    pub async fn create(&self, path: &Path, format: &str, size_bytes: u64) -> Result<()> {
        check_format(format)?;
        validate_size(size_bytes)?;
        let path = absolute(path)?;
        let size = size_bytes.to_string();
        self.publish("create", &path, |tmp| {
            args(["create", "-q", "-f", format]).with(tmp).with(&size).0
        })
        .await
    }

    /// Create a qcow2 overlay at `path` (which must not exist) on top of `backing`. The backing
    /// file is recorded as an absolute path together with its format (`-F`), so qemu never
    /// probes it. The overlay gets the backing file's virtual size.
    pub async fn create_overlay(&self, path: &Path, backing: &Path, backing_format: &str) -> Result<()> {
        check_format(backing_format)?;
        let path = absolute(path)?;
        let backing = absolute(backing)?;
        self.publish("create", &path, |tmp| {
            args(["create", "-q", "-f", "qcow2", "-b"])
                .with(&backing)
                .with("-F")
                .with(backing_format)
                .with(tmp)
                .0
        })
        .await
    }

    /// `qemu-img info` with format probing. Uses force-share (`-U`), so it also works on the
    /// disk of a running VM (the figures may then be slightly stale).
    pub async fn info(&self, path: &Path) -> Result<ImageInfo> {
        self.info_inner(path, None, true).await
    }

    /// Like [`QemuImg::info`] but opens the image as `format` (no probing: safer for raw disks
    /// whose content a guest controls). Fails with [`FailureKind::NotAnImage`] on a mismatch.
    pub async fn info_as(&self, path: &Path, format: &str) -> Result<ImageInfo> {
        self.info_inner(path, Some(format), true).await
    }

    /// Like [`QemuImg::info_as`] without force-share: fails with [`FailureKind::Locked`] when a
    /// running VM has the image open for writing. Use before copying an image.
    pub async fn ensure_not_in_use(&self, path: &Path, format: &str) -> Result<ImageInfo> {
        self.info_inner(path, Some(format), false).await
    }

    async fn info_inner(&self, path: &Path, format: Option<&str>, force_share: bool) -> Result<ImageInfo> {
        let path = absolute(path)?;
        let mut argv = args(["info", "--output=json"]);
        if force_share {
            argv = argv.with("-U");
        }
        if let Some(format) = format {
            check_format(format)?;
            argv = argv.with("-f").with(format);
        }
        let out = self.run("info", &path, argv.with(&path).0).await?;
        parse_info(&String::from_utf8_lossy(&out)).map_err(|e| StorageError::BadOutput {
            op: "info",
            path: path.clone(),
            detail: e.to_string(),
        })
    }

    /// Set the virtual size of `path` to `new_size` bytes. Growing is always allowed; shrinking
    /// only with `allow_shrink` (otherwise [`StorageError::ShrinkRefused`]), because everything
    /// past the new end is lost. `format` `None` probes it.
    pub async fn resize(
        &self,
        path: &Path,
        format: Option<&str>,
        new_size: u64,
        allow_shrink: bool,
    ) -> Result<()> {
        validate_size(new_size)?;
        let path = absolute(path)?;
        let info = self.info_inner(&path, format, true).await?;
        if new_size == info.virtual_size {
            return Ok(());
        }
        let shrinking = new_size < info.virtual_size;
        if shrinking && !allow_shrink {
            return Err(StorageError::ShrinkRefused {
                path,
                current: info.virtual_size,
                requested: new_size,
            });
        }
        let mut argv = args(["resize", "-q", "-f"]).with(&info.format);
        if shrinking {
            argv = argv.with("--shrink");
        }
        let argv = argv.with(&path).with(new_size.to_string()).0;
        self.run("resize", &path, argv).await?;
        tracing::info!(path = %path.display(), from = info.virtual_size, to = new_size, "resized disk image");
        Ok(())
    }

    /// Convert `src` into a new image `dst` (which must not exist) of `out_format`, optionally
    /// compressed (qcow2). Backing chains are flattened; sparseness is kept. `progress` receives
    /// strictly increasing percentages and finally 100. The source must not be in use.
    pub async fn convert(
        &self,
        src: &Path,
        src_format: Option<&str>,
        dst: &Path,
        out_format: &str,
        compress: bool,
        mut progress: impl FnMut(f64),
    ) -> Result<()> {
        check_format(out_format)?;
        let src = absolute(src)?;
        let dst = absolute(dst)?;
        ensure_absent(&dst)?;
        let tmp = temp_sibling(&dst)?;
        let mut argv = args(["convert", "-p"]);
        if let Some(format) = src_format {
            check_format(format)?;
            argv = argv.with("-f").with(format);
        }
        argv = argv.with("-O").with(out_format);
        if compress {
            argv = argv.with("-c");
        }
        let argv = argv.with(&src).with(&tmp).0;
        let mut parser = ProgressParser::default();
        let result = match self
            .run_streaming("convert", &src, argv, &mut parser, &mut progress)
            .await
        {
            Ok(()) => rename_no_clobber(&tmp, &dst),
            Err(e) => Err(e),
        };
        if result.is_err() {
            discard(&tmp);
        } else {
            parser.complete(&mut progress);
        }
        result
    }

    /// Internal snapshots of a qcow2 image, read offline from `info` (works while the VM runs,
    /// but a snapshot being taken right now may be missing).
    pub async fn snapshot_list(&self, path: &Path) -> Result<Vec<SnapshotInfo>> {
        Ok(self.info(path).await?.snapshots)
    }

    /// Take a disk-only internal snapshot `name` of a stopped VM's qcow2 image.
    pub async fn snapshot_create(&self, path: &Path, name: &str) -> Result<()> {
        self.snapshot_op("-c", path, name).await
    }

    /// Revert a stopped VM's qcow2 image to internal snapshot `name`.
    pub async fn snapshot_apply(&self, path: &Path, name: &str) -> Result<()> {
        self.snapshot_op("-a", path, name).await
    }

    /// Delete internal snapshot `name` from a stopped VM's qcow2 image.
    pub async fn snapshot_delete(&self, path: &Path, name: &str) -> Result<()> {
        self.snapshot_op("-d", path, name).await
    }

    async fn snapshot_op(&self, flag: &str, path: &Path, name: &str) -> Result<()> {
        let path = absolute(path)?;
        if name.trim().is_empty() {
            return Err(StorageError::InvalidSnapshotName {
                name: name.to_string(),
            });
        }
        // `snapshot` has no `-f`: name the format through --image-opts so nothing is probed.
        let argv = args(["snapshot", "-q", "--image-opts", flag])
            .with(name)
            .with(qcow2_image_opts(&path))
            .0;
        self.run("snapshot", &path, argv).await.map(drop)
    }

    /// `qemu-img check` of a stopped VM's image. Formats without checks (raw) give a report
    /// with `supported == false`.
    pub async fn check(&self, path: &Path, format: Option<&str>) -> Result<CheckReport> {
        let path = absolute(path)?;
        let mut argv = args(["check", "--output=json"]);
        if let Some(format) = format {
            check_format(format)?;
            argv = argv.with("-f").with(format);
        }
        let output = self.spawn_output(argv.with(&path).0).await?;
        match output.status.code() {
            Some(0 | 2 | 3) => {
                parse_check(&String::from_utf8_lossy(&output.stdout)).map_err(|e| StorageError::BadOutput {
                    op: "check",
                    path: path.clone(),
                    detail: e.to_string(),
                })
            }
            Some(CHECK_UNSUPPORTED) => {
                let info = self.info_inner(&path, format, false).await?;
                Ok(CheckReport {
                    supported: false,
                    format: info.format,
                    ..CheckReport::default()
                })
            }
            _ => Err(failure("check", &path, output.status, &output.stderr)),
        }
    }

    /// Create a file through a temporary sibling, then move it to `dest` without clobbering.
    async fn publish(
        &self,
        op: &'static str,
        dest: &Path,
        build: impl FnOnce(&Path) -> Vec<OsString>,
    ) -> Result<()> {
        ensure_absent(dest)?;
        let tmp = temp_sibling(dest)?;
        let result = match self.run(op, dest, build(&tmp)).await {
            Ok(_) => rename_no_clobber(&tmp, dest),
            Err(e) => Err(e),
        };
        if result.is_err() {
            discard(&tmp);
        }
        result
    }

    fn command(&self, argv: &[OsString]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn spawn_error(&self, e: io::Error) -> StorageError {
        if e.kind() == io::ErrorKind::NotFound {
            StorageError::QemuImgMissing {
                bin: self.bin.clone(),
            }
        } else {
            StorageError::Spawn {
                bin: self.bin.clone(),
                source: e,
            }
        }
    }

    async fn spawn_output(&self, argv: Vec<OsString>) -> Result<std::process::Output> {
        tracing::debug!(bin = %self.bin.display(), ?argv, "running qemu-img");
        self.command(&argv)
            .output()
            .await
            .map_err(|e| self.spawn_error(e))
    }

    /// Run to completion; stdout on success.
    async fn run(&self, op: &'static str, subject: &Path, argv: Vec<OsString>) -> Result<Vec<u8>> {
        let output = self.spawn_output(argv).await?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(failure(op, subject, output.status, &output.stderr))
        }
    }

    /// Run while feeding stdout to a progress parser.
    async fn run_streaming(
        &self,
        op: &'static str,
        subject: &Path,
        argv: Vec<OsString>,
        parser: &mut ProgressParser,
        report: &mut impl FnMut(f64),
    ) -> Result<()> {
        tracing::debug!(bin = %self.bin.display(), ?argv, "running qemu-img");
        let mut child = self.command(&argv).spawn().map_err(|e| self.spawn_error(e))?;
        let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(StorageError::Spawn {
                bin: self.bin.clone(),
                source: io::Error::other("qemu-img's output pipes were not set up"),
            });
        };
        let read_stdout = async {
            let mut buf = [0u8; 4096];
            loop {
                match stdout.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => parser.feed(&buf[..n], report),
                    Err(e) => {
                        tracing::warn!(error = %e, "reading qemu-img progress failed");
                        break;
                    }
                }
            }
            parser.finish(report);
        };
        let read_stderr = async {
            let mut text = Vec::new();
            if let Err(e) = stderr.read_to_end(&mut text).await {
                tracing::warn!(error = %e, "reading qemu-img stderr failed");
            }
            text
        };
        let ((), stderr_text) = tokio::join!(read_stdout, read_stderr);
        let status = child.wait().await.map_err(|e| self.spawn_error(e))?;
        if status.success() {
            Ok(())
        } else {
            Err(failure(op, subject, status, &stderr_text))
        }
    }
}

/// Build the error for a failed qemu-img run.
fn failure(op: &'static str, path: &Path, status: ExitStatus, stderr: &[u8]) -> StorageError {
    let stderr = String::from_utf8_lossy(stderr).into_owned();
    let kind = FailureKind::classify(&stderr);
    let hint = match status.signal() {
        Some(signal) => format!("qemu-img was stopped by signal {signal}; try again"),
        None => kind.hint().to_string(),
    };
    StorageError::QemuImg {
        op,
        path: path.to_path_buf(),
        kind,
        stderr,
        hint,
    }
}

/// `driver=qcow2,file.filename=PATH` with commas in the path doubled (QemuOpts escaping).
fn qcow2_image_opts(path: &Path) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut bytes = b"driver=qcow2,file.filename=".to_vec();
    for &b in path.as_os_str().as_bytes() {
        bytes.push(b);
        if b == b',' {
            bytes.push(b',');
        }
    }
    OsString::from_vec(bytes)
}

/// Tiny argv builder.
struct Args(Vec<OsString>);

fn args<const N: usize>(fixed: [&str; N]) -> Args {
    Args(fixed.iter().map(OsString::from).collect())
}

impl Args {
    fn with(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.0.push(arg.as_ref().to_os_string());
        self
    }
}

#[cfg(test)]
#[path = "qemu_img_tests.rs"]
mod tests;
