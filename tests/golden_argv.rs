//! Golden tests of the QEMU command line (`tests/golden/<case>.toml` → `<case>.argv`), and a
//! check that the real `qemu-system-x86_64` (7.2) accepts every case.
//!
//! `UPDATE_GOLDEN=1 cargo test --test golden_argv` rewrites the `.argv` files.
//! `HANGAR_SKIP_QEMU_TESTS=1` skips the real-QEMU check (for hosts without QEMU).
//!
//! A case file may start with header comments:
//! - `# launch: disposable paused` — launch options (overlays at `<runtime>/overlays/<id>.qcow2`);
//! - `# host: kvm-denied` / `# host: kvm-missing` — the fake host's KVM state.
//!
//! The golden argv uses fixed, machine-independent paths: VMs in `/home/user/.local/share/hangar/vms`,
//! runtime in `/run/user/1000/hangar`, Debian's QEMU/OVMF/swtpm/bridge-helper locations.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hangar_core::config::{FirmwareKind, NetMode, VmConfig};
use hangar_core::host::{HostCaps, KvmStatus, Ovmf};
use hangar_core::paths::{Paths, RuntimePaths};
use hangar_core::qemu::argv::{self, qemu_opt_escape, Argv, LaunchOptions};

const GOLDEN_VMS: &str = "/home/user/.local/share/hangar/vms";
const GOLDEN_RUNTIME: &str = "/run/user/1000/hangar";

struct Case {
    name: String,
    dir: PathBuf,
    config: VmConfig,
    disposable: bool,
    paused: bool,
    kvm: KvmStatus,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn cases() -> Vec<Case> {
    let dir = golden_dir();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some(OsStr::new("toml")))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            let config = VmConfig::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            let header = |key: &str| -> Vec<String> {
                text.lines()
                    .filter_map(|l| l.strip_prefix(&format!("# {key}:")))
                    .flat_map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
                    .collect()
            };
            let launch = header("launch");
            let host = header("host");
            for word in launch.iter().chain(&host) {
                assert!(
                    ["disposable", "paused", "kvm-denied", "kvm-missing"].contains(&word.as_str()),
                    "{}: unknown header word {word:?}",
                    path.display()
                );
            }
            let kvm = if host.iter().any(|w| w == "kvm-denied") {
                KvmStatus::NotAccessible {
                    reason: "permission denied (owner root:kvm, mode 0660): add yourself to the kvm group \
                             (sudo usermod -aG kvm $USER) and log in again"
                        .into(),
                }
            } else if host.iter().any(|w| w == "kvm-missing") {
                KvmStatus::Missing
            } else {
                KvmStatus::Usable
            };
            Case {
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                dir: dir.clone(),
                config,
                disposable: launch.iter().any(|w| w == "disposable"),
                paused: launch.iter().any(|w| w == "paused"),
                kvm,
            }
        })
        .collect()
}

fn fake_host(kvm: KvmStatus) -> HostCaps {
    let ovmf = |f: &str| PathBuf::from("/usr/share/OVMF").join(f);
    HostCaps {
        kvm,
        accel_override: None,
        qemu_binary: Some("/usr/bin/qemu-system-x86_64".into()),
        qemu_override: None,
        ovmf: Some(Ovmf {
            code: ovmf("OVMF_CODE_4M.fd"),
            vars: ovmf("OVMF_VARS_4M.fd"),
            secure_code: Some(ovmf("OVMF_CODE_4M.secboot.fd")),
            secure_vars: Some(ovmf("OVMF_VARS_4M.ms.fd")),
        }),
        swtpm: Some("/usr/bin/swtpm".into()),
        bridge_helper: Some("/usr/lib/qemu/qemu-bridge-helper".into()),
        cpus: 8,
        memory_mib: 16384,
    }
}

fn launch_options(case: &Case, config: &VmConfig, rt: &RuntimePaths) -> LaunchOptions {
    LaunchOptions {
        disposable_overlays: case.disposable.then(|| {
            config
                .disks
                .iter()
                .map(|d| rt.overlays.join(format!("{}.qcow2", d.id)))
                .collect()
        }),
        paused: case.paused,
    }
}

fn golden_build(case: &Case) -> (Argv, PathBuf, RuntimePaths) {
    let paths = Paths::new(GOLDEN_VMS, GOLDEN_RUNTIME);
    let vm_dir = paths.vm_dir(&case.config.name);
    let rt = paths.runtime_for(&case.config.name);
    let opts = launch_options(case, &case.config, &rt);
    let argv = argv::build(&case.config, &vm_dir, &fake_host(case.kvm.clone()), &rt, &opts)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    (argv, vm_dir, rt)
}

fn render(argv: &Argv) -> String {
    let mut out = format!("# accel: {}\n", argv.accel.accel.as_str());
    for w in &argv.warnings {
        out.push_str(&format!("# warning: {w}\n"));
    }
    out.push_str(&format!("{}\n", argv.program.display()));
    for a in &argv.args {
        let a = a.to_str().expect("golden args are UTF-8");
        assert!(
            !a.contains('\n'),
            "an argument with a newline cannot be a golden line: {a:?}"
        );
        out.push_str(a);
        out.push('\n');
    }
    out
}

#[test]
fn golden_argv_files_match() {
    let cases = cases();
    assert!(
        cases.len() >= 12,
        "expected at least 12 golden cases, found {}",
        cases.len()
    );
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = vec![];
    for case in &cases {
        let actual = render(&golden_build(case).0);
        let file = case.dir.join(format!("{}.argv", case.name));
        if update {
            fs::write(&file, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&file).unwrap_or_default();
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(e, a)| e != a)
                .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
            failures.push(format!(
                "{}: differs at line {}: expected {:?}, got {:?}",
                file.display(),
                line + 1,
                expected.lines().nth(line),
                actual.lines().nth(line)
            ));
        }
    }
    // No stale expectations without a case.
    for entry in fs::read_dir(golden_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension() == Some(OsStr::new("argv")) {
            assert!(
                path.with_extension("toml").exists(),
                "{} has no .toml",
                path.display()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (rerun with UPDATE_GOLDEN=1 after checking them):\n{}",
        failures.join("\n")
    );
}

/// No TCP listener except loopback NAT forwards; names and paths with commas always escaped.
#[test]
fn golden_variants_listen_on_unix_sockets_only_and_escape_commas() {
    let mut saw_comma = false;
    for case in cases() {
        let (argv, vm_dir, rt) = golden_build(&case);
        let args: Vec<String> = argv
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let is_extra = |i: usize| i >= args.len() - case.config.advanced.extra_args.len();
        for (i, arg) in args.iter().enumerate() {
            assert!(
                !arg.contains("0.0.0.0") && !arg.contains(":59"),
                "{}: {arg}",
                case.name
            );
            for part in arg.split(',') {
                assert!(
                    !part.starts_with("port=") && !part.starts_with("tls-port="),
                    "{}: {arg}",
                    case.name
                );
                if part.contains("tcp:") {
                    assert!(part.starts_with("hostfwd=tcp:127.0.0.1:"), "{}: {arg}", case.name);
                }
            }
            if (i > 0 && args[i - 1] == "-pidfile") || is_extra(i) {
                continue;
            }
            for dir in [vm_dir.as_os_str(), rt.dir.as_os_str()] {
                let raw = dir.to_string_lossy();
                if raw.contains(',') {
                    saw_comma = true;
                    let escaped = qemu_opt_escape(dir).to_string_lossy().into_owned();
                    assert!(
                        !arg.replace(&escaped, "").contains(raw.as_ref()),
                        "{}: unescaped comma in {arg}",
                        case.name
                    );
                }
            }
        }
        let name_opt = &args[args.iter().position(|a| a == "-name").unwrap() + 1];
        let escaped = qemu_opt_escape(&case.config.name).to_string_lossy().into_owned();
        assert!(name_opt.starts_with(&format!("guest={escaped},")), "{name_opt}");
    }
    assert!(saw_comma, "one golden case must have a comma in its name");
}

/// Kills a child process when dropped (also when an assertion fails).
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait (at most 10 s) for QEMU to exit.
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let mut exit = None;
    wait_for("QEMU to exit", Duration::from_secs(10), || {
        exit = child.try_wait().unwrap();
        exit.is_some()
    });
    exit.unwrap()
}

/// Send one QMP command and return the `return` value (skipping events).
fn qmp(reader: &mut BufReader<UnixStream>, cmd: &str) -> Result<serde_json::Value, String> {
    let request = format!("{{\"execute\":\"{cmd}\"}}\n");
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| format!("{cmd}: {e}"))?;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Err(format!("QMP closed during {cmd}")),
            Ok(_) => {}
            Err(e) => return Err(format!("{cmd}: {e}")),
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("{line:?}: {e}"))?;
        if let Some(r) = v.get("return") {
            return Ok(r.clone());
        }
        if v.get("error").is_some() {
            return Err(format!("{cmd}: {v}"));
        }
    }
}

/// Greeting, capabilities, `query-status` (must be `prelaunch`), `quit`.
fn qmp_session(stream: UnixStream) -> Result<(), String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut greeting = String::new();
    reader
        .read_line(&mut greeting)
        .map_err(|e| format!("greeting: {e}"))?;
    if !greeting.contains("\"QMP\"") {
        return Err(format!("no QMP greeting: {greeting:?}"));
    }
    qmp(&mut reader, "qmp_capabilities")?;
    let status = qmp(&mut reader, "query-status")?;
    if status["status"] != "prelaunch" {
        return Err(format!("unexpected status {status}"));
    }
    qmp(&mut reader, "quit").map(drop)
}

/// Prepare everything the argv refers to in a temporary folder, start QEMU paused with TCG and
/// check that it comes up (QMP answers `query-status` with `prelaunch`) without any message.
fn real_run(case: &Case, tmp: &Path) {
    let paths = Paths::new(tmp.join("vms"), tmp.join("run"));
    let mut config = case.config.clone();
    let relocate = |p: &mut PathBuf| {
        if p.is_absolute() {
            *p = tmp.join("abs").join(p.strip_prefix("/").unwrap());
        }
    };
    config.disks.iter_mut().for_each(|d| relocate(&mut d.path));
    if let Some(iso) = config.cdrom.as_mut().and_then(|c| c.path.as_mut()) {
        relocate(iso);
    }
    let vm_dir = paths.vm_dir(&config.name);
    let rt = paths.runtime_for(&config.name);
    fs::create_dir_all(&vm_dir).unwrap();
    fs::create_dir_all(&rt.overlays).unwrap();
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            vm_dir.join(p)
        }
    };

    let mut host = HostCaps::probe_with(Path::new("/"), |k| match k {
        "HANGAR_ACCEL" => Some("tcg".into()),
        _ => std::env::var_os(k),
    });
    let helper_log = tmp.join("helper.log");
    if config.networks.iter().any(|n| n.mode == NetMode::Bridge) {
        // No bridge exists here: a helper that records its arguments and fails proves QEMU
        // parsed the netdev and ran the helper for the right bridge.
        let helper = tmp.join("fake-bridge-helper");
        fs::write(
            &helper,
            format!("#!/bin/sh\necho \"$@\" > '{}'\nexit 1\n", helper_log.display()),
        )
        .unwrap();
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
        host.bridge_helper = Some(helper);
    }
    for disk in &config.disks {
        let path = resolve(&disk.path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        run_ok(
            Command::new("qemu-img")
                .args(["create", "-q", "-f", &disk.format])
                .arg(&path)
                .arg("16M"),
        );
    }
    if let Some(iso) = config.cdrom.as_ref().and_then(|c| c.path.as_ref()) {
        let path = resolve(iso);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, vec![0u8; 1 << 20]).unwrap();
    }
    let fw = config.firmware;
    if fw.kind == FirmwareKind::Uefi {
        let ovmf = host.ovmf.as_ref().expect("OVMF installed (package ovmf)");
        fs::copy(
            ovmf.vars_template_for(fw.secure_boot).unwrap(),
            argv::uefi_vars_path(&vm_dir),
        )
        .unwrap();
    }
    let _swtpm = fw.tpm.then(|| {
        let state = argv::tpm_state_dir(&vm_dir);
        fs::create_dir_all(&state).unwrap();
        let child = Command::new(host.swtpm.as_ref().expect("swtpm installed"))
            .args(["socket", "--tpm2", "--terminate", "--tpmstate"])
            .arg(OsString::from(format!("dir={}", state.display())))
            .arg("--ctrl")
            .arg(OsString::from(format!("type=unixio,path={}", rt.tpm.display())))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("swtpm socket", Duration::from_secs(5), || rt.tpm.exists());
        Reaper(child)
    });
    let mut opts = launch_options(case, &config, &rt);
    opts.paused = true;
    if let Some(overlays) = &opts.disposable_overlays {
        for (disk, overlay) in config.disks.iter().zip(overlays) {
            run_ok(
                Command::new("qemu-img")
                    .args(["create", "-q", "-f", "qcow2", "-F", &disk.format, "-b"])
                    .arg(resolve(&disk.path))
                    .arg(overlay),
            );
        }
    }

    let argv = argv::build(&config, &vm_dir, &host, &rt, &opts).unwrap_or_else(|e| panic!("{e}"));
    let stderr_path = tmp.join("qemu.stderr");
    let mut qemu = Reaper(
        Command::new(&argv.program)
            .args(&argv.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || fs::read_to_string(&stderr_path).unwrap_or_default();

    if let Some(net) = config.networks.iter().find(|n| n.mode == NetMode::Bridge) {
        assert!(!wait_exit(&mut qemu.0).success());
        assert!(stderr().contains("bridge helper failed"), "{}", stderr());
        let log = fs::read_to_string(&helper_log).unwrap();
        assert!(
            log.contains(&format!("--br={}", net.bridge.as_deref().unwrap())),
            "{log}"
        );
        return;
    }

    let start = Instant::now();
    let stream = loop {
        if let Some(status) = qemu.0.try_wait().unwrap() {
            panic!(
                "QEMU exited ({status}) at startup:\n{}\nargv: {:?}",
                stderr(),
                argv.args
            );
        }
        if let Ok(s) = UnixStream::connect(&rt.qmp) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "QMP socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Err(e) = qmp_session(stream) {
        let _ = wait_exit(&mut qemu.0);
        panic!("{e}\nQEMU said: {}\nargv: {:?}", stderr(), argv.args);
    }
    let exit = wait_exit(&mut qemu.0);
    assert!(exit.success(), "{}", stderr());
    assert_eq!(stderr(), "", "QEMU printed warnings for this argv");
}

#[test]
fn real_qemu_accepts_every_golden_variant() {
    if std::env::var_os("HANGAR_SKIP_QEMU_TESTS").is_some_and(|v| v == "1") {
        eprintln!("HANGAR_SKIP_QEMU_TESTS=1: not starting QEMU");
        return;
    }
    let mut failures = vec![];
    for case in cases() {
        let tmp = tempfile::Builder::new().prefix("hg").tempdir_in("/tmp").unwrap();
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| real_run(&case, tmp.path())));
        eprintln!("{}: {:?}", case.name, started.elapsed());
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", case.name));
        }
    }
    assert!(failures.is_empty(), "QEMU refused:\n{}", failures.join("\n\n"));
}
