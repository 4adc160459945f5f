//! Bad input never panics and never leaves anything behind: every case below exits with 1
//! (failure, with a message that says what happened and what to do) or 2 (usage), and
//! afterwards there is no new VM folder, no runtime folder and no QEMU.
//!
//! Root cannot test a disk without read permission (root ignores file modes): the unreadable-
//! disk cases use a directory and a dangling symlink instead; the chmod-000 case runs only for
//! other users.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// One bad invocation and what must come out of it.
struct Case {
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    code: i32,
    /// Every one must appear in stderr.
    words: Vec<String>,
}

fn case(args: &[&str], code: i32, words: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        code,
        words: words.iter().map(|s| s.to_string()).collect(),
    }
}

impl Case {
    fn env(mut self, key: &'static str, value: &str) -> Case {
        self.env.push((key, value.to_string()));
        self
    }
}

/// Names in a folder.
fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Run every case; report all failures at once. Afterwards the store and the runtime folder
/// must look exactly as before and no process may use the runtime folder.
fn run_table(env: &TestEnv, cases: &[Case]) {
    let home_before = entries(env.home());
    let rt_before = entries(env.rt_root());
    let mut failures = vec![];
    for c in cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = c.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = env.ctl_with(&args, &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut problems = vec![];
        if out.status.code() != Some(c.code) {
            problems.push(format!("exit {} instead of {}", out.status, c.code));
        }
        for w in &c.words {
            if !stderr.contains(w.as_str()) {
                problems.push(format!("no {w:?} in stderr"));
            }
        }
        if c.code == 1 && !stderr.starts_with("hangarctl: ") {
            problems.push("stderr does not start with `hangarctl: `".into());
        }
        if !stdout.trim().is_empty() {
            problems.push(format!("stdout not empty: {stdout:?}"));
        }
        if entries(env.home()) != home_before {
            problems.push(format!(
                "store changed: {:?} -> {:?}",
                home_before,
                entries(env.home())
            ));
        }
        if entries(env.rt_root()) != rt_before {
            problems.push(format!("runtime folder left: {:?}", entries(env.rt_root())));
        }
        let mut needle = env.rt_root().as_os_str().to_owned();
        needle.push("/");
        let procs = pids_with_arg_containing(&needle);
        if !procs.is_empty() {
            problems.push(format!("processes left: {procs:?}"));
            env.kill_all();
        }
        if !problems.is_empty() {
            failures.push(format!(
                "hangarctl {args:?} {vars:?}:\n  {}\n  stderr: {stderr}",
                problems.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    run_table(
        &env,
        &[
            case(&[], 2, &["Usage: hangarctl"]),
            case(&["frobnicate"], 2, &["unrecognized subcommand", "Usage:"]),
            case(&["create"], 2, &["required", "<NAME>"]),
            case(
                &["create", "x", "--cpus", "abc"],
                2,
                &["invalid value 'abc'", "--cpus"],
            ),
            case(&["create", "x", "--cpus", "-1"], 2, &["unexpected argument '-1'"]),
            case(
                &["create", "x", "--firmware", "coreboot"],
                2,
                &["invalid value 'coreboot'", "bios, uefi"],
            ),
            case(
                &["create", "x", "--iso", "a.iso", "--import", "b.qcow2"],
                2,
                &["cannot be used with"],
            ),
            case(&["stop", "x", "--timeout", "soon"], 2, &["invalid value 'soon'"]),
            case(&["snapshot", "save", "x"], 2, &["<TAG>"]),
            case(&["start", "x", "--bogus"], 2, &["unexpected argument '--bogus'"]),
        ],
    );
}

#[test]
fn create_rejects_bad_names_sizes_and_files() {
    let env = TestEnv::new();
    env.create_empty_vm("taken");
    let long = "n".repeat(65);
    let missing_iso = env.home().join("nowhere/x.iso");
    let missing_iso = missing_iso.to_str().expect("utf-8");
    let mut cases = vec![];
    for (name, why) in [
        ("", "a name cannot be empty"),
        ("a/b", "a name cannot contain '/'"),
        (".x", "a name cannot start with '.'"),
        (long.as_str(), "a name has at most 64 characters"),
        (" x", "a name cannot start or end with spaces"),
        ("tab\there", "control characters"),
    ] {
        cases.push(case(
            &["create", name, "--disk", "0"],
            1,
            &["invalid VM name", why],
        ));
    }
    let range = "is out of range: use a value from";
    cases.extend([
        case(
            &["create", "m0", "--memory", "0"],
            1,
            &["machine.memory_mib = 0", range, "16 to"],
        ),
        case(
            &["create", "m1", "--memory", "100T"],
            1,
            &["--memory 100T is too much", "at most 4194304 MiB"],
        ),
        case(
            &["create", "m2", "--memory", "5T"],
            1,
            &["machine.memory_mib = 5242880", range],
        ),
        case(
            &["create", "m3", "--memory", "8"],
            1,
            &["machine.memory_mib = 8", range],
        ),
        case(
            &["create", "m4", "--memory", "lots"],
            1,
            &["--memory \"lots\" is not a memory size", "e.g. 2G"],
        ),
        case(
            &["create", "c0", "--cpus", "0"],
            1,
            &["machine.cpus = 0", range, "1 to 288"],
        ),
        case(
            &["create", "c1", "--cpus", "100000"],
            1,
            &["machine.cpus = 100000", range],
        ),
        case(
            &["create", "d0", "--disk", "999P"],
            1,
            &["--disk", "999P is too large", "64 TiB"],
        ),
        case(
            &["create", "d1", "--disk=-5G"],
            1,
            &["--disk", "\"-5G\" is not a disk size"],
        ),
        case(
            &["create", "d2", "--disk", "5 parsecs"],
            1,
            &["--disk", "is not a disk size", "e.g. 20G"],
        ),
        case(
            &["create", "i0", "--iso", missing_iso],
            1,
            &["ISO image", missing_iso, "does not exist", "choose another file"],
        ),
        case(
            &["create", "i1", "--import", "/nonexistent/disk.qcow2"],
            1,
            &["disk image", "does not exist"],
        ),
        case(
            &["create", "taken", "--disk", "0"],
            1,
            &["a VM named \"taken\" already exists", "choose another name"],
        ),
    ]);
    run_table(&env, &cases);
}

/// A VM folder with this exact vm.toml.
fn write_vm(env: &TestEnv, name: &str, toml: &str) -> PathBuf {
    let dir = env.vm_dir(name);
    fs::create_dir_all(&dir).expect("VM folder");
    fs::write(dir.join("vm.toml"), toml).expect("vm.toml");
    dir
}

const SMALL: &str = "[machine]\ncpus = 1\nmemory_mib = 64\n\n[display]\nkind = \"none\"\n";

#[test]
fn start_refuses_broken_vms_with_a_reason() {
    let env = TestEnv::new();
    // A deleted ISO.
    let iso = env.home().join("gone.iso");
    fs::copy(guest().iso(), &iso).expect("copy ISO");
    env.ctl_ok(&[
        "create",
        "noiso",
        "--iso",
        iso.to_str().expect("utf-8"),
        "--disk",
        "0",
    ]);
    fs::remove_file(&iso).expect("rm ISO");
    // Disks that cannot be opened: a directory, a dangling symlink.
    let dir_disk = write_vm(
        &env,
        "dirdisk",
        &format!("name = \"dirdisk\"\n{SMALL}\n[[disk]]\nid = \"disk0\"\npath = \"disk0.qcow2\"\n"),
    );
    fs::create_dir(dir_disk.join("disk0.qcow2")).expect("directory as disk");
    let dangling = write_vm(
        &env,
        "dangling",
        &format!("name = \"dangling\"\n{SMALL}\n[[disk]]\nid = \"disk0\"\npath = \"disk0.qcow2\"\n"),
    );
    std::os::unix::fs::symlink("/nonexistent/hangar/disk.qcow2", dangling.join("disk0.qcow2"))
        .expect("symlink");
    // A vm.toml that does not parse (line 4) and one that parses but is out of range.
    write_vm(
        &env,
        "broken",
        "name = \"broken\"\n\n[machine]\ncpus = \"many\"\n",
    );
    write_vm(
        &env,
        "huge",
        "name = \"huge\"\n[machine]\nmemory_mib = 99999999999\n",
    );
    // QEMU itself refuses the command line.
    write_vm(
        &env,
        "bogus",
        &format!(
            "name = \"bogus\"\n{SMALL}\n[advanced]\nextra_args = [\"-device\", \"hangar-bogus-device\"]\n"
        ),
    );
    env.create_empty_vm("fine");

    // `list` shows broken VMs with file:line instead of failing.
    let list = env.ctl_json(&["list"]);
    let broken = list
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["name"] == "broken")
        .expect("broken VM listed");
    assert_eq!(broken["state"], "broken");
    let broken_file = env.vm_dir("broken").join("vm.toml");
    let at = format!("{}:4:", broken_file.display());
    assert!(broken["error"].as_str().expect("error").contains(&at), "{broken}");
    assert!(env.ctl_ok(&["list"]).contains(&at));

    let iso = iso.to_str().expect("utf-8");
    let disk_path = |vm: &str| {
        env.vm_dir(vm)
            .join("disk0.qcow2")
            .to_str()
            .expect("utf-8")
            .to_string()
    };
    let dir_disk = disk_path("dirdisk");
    let dangling = disk_path("dangling");
    let mut cases = vec![
        case(
            &["start", "nosuch"],
            1,
            &["there is no VM named \"nosuch\"", "hangarctl list"],
        ),
        case(&["start", "a/b"], 1, &["invalid VM name"]),
        case(
            &["start", "noiso"],
            1,
            &["the ISO image", iso, "does not exist", "fix the path in vm.toml"],
        ),
        case(
            &["start", "dirdisk"],
            1,
            &["the disk image", &dir_disk, "cannot be opened", "Is a directory"],
        ),
        case(
            &["start", "dangling"],
            1,
            &["the disk image", &dangling, "does not exist"],
        ),
        case(&["start", "broken"], 1, &[&at, "invalid type", "hangarctl edit"]),
        case(&["status", "broken"], 1, &[&at]),
        case(
            &["start", "huge"],
            1,
            &["machine.memory_mib = 99999999999 is out of range"],
        ),
        case(
            &["start", "bogus"],
            1,
            &[
                "QEMU could not start VM \"bogus\"",
                "-device hangar-bogus-device: 'hangar-bogus-device' is not a valid device model name",
            ],
        ),
        case(
            &["start", "fine"],
            1,
            &["HANGAR_QEMU=\"/nonexistent/qemu\"", "fix or unset HANGAR_QEMU"],
        )
        .env("HANGAR_QEMU", "/nonexistent/qemu"),
        case(
            &["start", "fine"],
            1,
            &[
                "qemu-system-x86_64 was not found",
                "install the qemu-system-x86 package",
            ],
        )
        .env("PATH", "/nonexistent"),
        case(
            &["start", "fine"],
            1,
            &["HANGAR_ACCEL=\"warp\"", "set it to tcg, kvm or auto"],
        )
        .env("HANGAR_ACCEL", "warp"),
        case(&["start", "fine", "--disposable"], 1, &["HANGAR_QEMU"]).env("HANGAR_QEMU", "/nonexistent/qemu"),
    ];
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let locked = disk_path("dirdisk");
        fs::remove_dir(&locked).expect("rmdir");
        fs::write(&locked, b"").expect("disk file");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod 000");
        cases.push(case(
            &["start", "dirdisk"],
            1,
            &["cannot be opened", "Permission denied", "check its permissions"],
        ));
    } else {
        eprintln!("running as root: the chmod-000 disk case is skipped (root ignores file modes)");
    }
    run_table(&env, &cases);
    // The QEMU log keeps what QEMU said.
    let log = fs::read_to_string(env.vm_dir("bogus").join("qemu.log")).expect("qemu.log");
    assert!(log.contains("hangar-bogus-device"), "{log}");
}

#[test]
fn commands_that_need_another_state() {
    let env = TestEnv::new();
    env.create_empty_vm("idle");
    env.create_empty_vm("busy");
    env.ctl_ok(&[
        "create",
        "withdisk",
        "--memory",
        "64M",
        "--cpus",
        "1",
        "--disk",
        "64M",
        "--display",
        "none",
    ]);
    let not_running = |cmd: &[&str]| case(cmd, 1, &["VM \"idle\" is not running", "hangarctl start idle"]);
    let shot = env.home().join("x.png");
    let shot = shot.to_str().expect("utf-8").to_string();
    run_table(
        &env,
        &[
            not_running(&["stop", "idle"]),
            not_running(&["stop", "idle", "--force"]),
            not_running(&["pause", "idle"]),
            not_running(&["resume", "idle"]),
            not_running(&["reset", "idle"]),
            not_running(&["qmp", "idle", r#"{"execute":"query-status"}"#]),
            not_running(&["monitor", "idle", "info status"]),
            not_running(&["console", "idle"]),
            not_running(&["screenshot", "idle", &shot]),
            case(&["console", "nosuch"], 1, &["no VM named \"nosuch\""]),
            case(&["qmp", "idle", "query-status"], 1, &["not JSON", "example"]),
            case(
                &["snapshot", "save", "idle", "s"],
                1,
                &["has no disk to store snapshots", "add a qcow2 disk"],
            ),
            case(
                &["snapshot", "save", "withdisk", ""],
                1,
                &["is not a snapshot name", "1-128 printable"],
            ),
            case(
                &["snapshot", "delete", "withdisk", "never"],
                1,
                &["has no snapshot \"never\"", "snapshot list"],
            ),
            case(&["clone", "idle", "a/b"], 1, &["invalid VM name"]),
            case(&["clone", "nosuch", "copy"], 1, &["no VM named \"nosuch\""]),
            case(
                &["clone", "idle", "busy"],
                1,
                &["a VM named \"busy\" already exists"],
            ),
            case(&["rename", "idle", ".hidden"], 1, &["invalid VM name"]),
            case(&["rename", "idle", "busy"], 1, &["already exists"]),
            case(&["delete", "nosuch"], 1, &["no VM named \"nosuch\""]),
            case(&["delete", "../idle"], 1, &["invalid VM name"]),
            case(&["edit", "nosuch"], 1, &["no VM named \"nosuch\""]),
            case(&["archive", "nosuch"], 1, &["no VM named \"nosuch\""]),
        ],
    );

    // While a VM runs, what would pull its files away is refused.
    env.ctl_ok(&["start", "busy", "--paused"]);
    let pid = env.pid("busy").expect("busy runs");
    let home_before = entries(env.home());
    let running = |cmd: &[&str]| case(cmd, 1, &["VM \"busy\" is running", "hangarctl stop busy"]);
    let cases = [
        running(&["delete", "busy"]),
        running(&["delete", "busy", "--keep-disks"]),
        running(&["clone", "busy", "copy"]),
        running(&["clone", "busy", "copy", "--linked"]),
        running(&["archive", "busy"]),
        running(&["rename", "busy", "other"]),
    ];
    for c in &cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let err = env.ctl_err(1, &args);
        for w in &c.words {
            assert!(err.contains(w.as_str()), "hangarctl {args:?}: no {w:?} in {err}");
        }
    }
    assert_eq!(entries(env.home()), home_before);
    assert_eq!(env.pid("busy"), Some(pid));
    // Starting a running VM is not an error.
    assert!(env.ctl_ok(&["start", "busy"]).contains("already running"));
    env.ctl_ok(&["stop", "busy", "--force"]);
    env.assert_stopped_clean("busy");
}

/// A fake "QEMU" that owns the VM's pidfile and QMP sockets but answers garbage.
const FAKE_QEMU: &str = r#"
import os, select, socket, sys
pidfile = sys.argv[sys.argv.index("-pidfile") + 1]
folder = os.path.dirname(pidfile)
os.makedirs(folder, mode=0o700, exist_ok=True)
listeners = []
for name in ("qmp.sock", "qmp-ctl.sock"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.path.join(folder, name))
    s.listen(16)
    listeners.append(s)
with open(pidfile + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(pidfile + ".tmp", pidfile)
clients = []
while True:
    ready, _, _ = select.select(listeners + clients, [], [])
    for s in ready:
        if s in listeners:
            c, _ = s.accept()
            try:
                c.sendall(b"this is not QMP \x00\xff {\"QMP\": garbage\n")
            except OSError:
                pass
            clients.append(c)
        else:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                clients.remove(s)
                s.close()
            else:
                try:
                    s.sendall(b"\xff\xfe more garbage\n")
                except OSError:
                    pass
"#;

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

#[test]
fn garbage_on_the_qmp_socket() {
    let env = TestEnv::new();
    let name = "liar";
    env.create_empty_vm(name);
    let rt = env.runtime(name);
    let script = env.home().join("fake-qemu.py");
    fs::write(&script, FAKE_QEMU).expect("fake script");
    let mut fake: Child = Command::new(python())
        .arg(&script)
        .arg("-pidfile")
        .arg(&rt.pidfile)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3");
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.pid(name).is_none() {
        assert!(Instant::now() < deadline, "the fake QEMU did not start");
        assert!(fake.try_wait().expect("try_wait").is_none(), "the fake QEMU died");
        std::thread::sleep(Duration::from_millis(50));
    }
    let handshake = ["QMP handshake on", "qmp-ctl.sock failed", "not JSON"];
    for args in [
        &["status", name][..],
        &["pause", name],
        &["resume", name],
        &["monitor", name, "info status"],
        &["qmp", name, r#"{"execute":"query-status"}"#],
        &["screenshot", name, "/tmp/never.png"],
    ] {
        let err = env.ctl_err(1, args);
        for w in handshake {
            assert!(err.contains(w), "hangarctl {args:?}: no {w:?} in {err}");
        }
    }
    // The power button cannot be pressed; the message says how to force it off.
    let err = env.ctl_err(1, &["stop", name, "--timeout", "5"]);
    assert!(
        err.contains("cannot press the power button")
            && err.contains(&format!("hangarctl stop --force {name}")),
        "{err}"
    );
    assert!(is_alive(fake.id() as i32));
    // `list` does not fail on it.
    let list = env.ctl_json(&["list"]);
    assert_eq!(list[0]["state"], "other", "{list}");
    // A forced stop ends it and cleans up.
    assert!(env.ctl_ok(&["stop", name, "--force"]).contains("stopped"));
    let status = fake.wait().expect("reap the fake");
    assert!(!status.success(), "the fake was not killed: {status}");
    env.assert_stopped_clean(name);
}
