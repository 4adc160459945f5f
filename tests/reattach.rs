//! VMs outlive the Hangar process that started them, and any Hangar process finds them again;
//! concurrent starts (two CLIs, or two in-process managers) start exactly one QEMU.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use hangar_core::manager::{Event, StartOptions, StopMode, VmState};
use hangar_core::qmp::QmpEvent;

/// Lines a child prints on stdout, read on a thread.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, want: &str, timeout: Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = vec![];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.trim() == want;
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(e) => panic!("no line {want:?} from `start --watch` ({e}); got {seen:?}"),
        }
    }
}

#[test]
fn vm_survives_a_killed_watcher_and_is_found_again() {
    let env = TestEnv::new();
    let name = "sturdy";
    env.create_iso_vm(name);
    let _slot = guest_slot();
    let mark = env.serial_mark(name);
    // In its own process group, like a shell job: killing the group below is what a closed
    // terminal or Ctrl-C does to it. QEMU must not be in that group.
    let mut watcher = env
        .command(&["start", name, "--watch"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start --watch");
    let lines = stdout_lines(&mut watcher);
    let started = wait_line(&lines, &format!("{name}: running"), Duration::from_secs(60));
    assert!(
        started[0].starts_with(&format!("{name} started (pid ")),
        "{started:?}"
    );
    let pid = env.pid(name).expect("running");
    env.wait_serial(name, BOOT_MARKER, mark, BOOT_TIMEOUT);

    // The attached `start --watch` reports what another hangarctl does.
    env.ctl_ok(&["pause", name]);
    // The state line comes first, then the QMP event.
    let seen = wait_line(&lines, &format!("{name}: event STOP"), Duration::from_secs(10));
    assert!(seen.contains(&format!("{name}: paused")), "{seen:?}");
    env.ctl_ok(&["resume", name]);
    let seen = wait_line(&lines, &format!("{name}: event RESUME"), Duration::from_secs(10));
    assert!(seen.contains(&format!("{name}: running")), "{seen:?}");

    // kill -9 the starter's whole process group: QEMU lives on in its own session.
    let group = watcher.id() as i32;
    // SAFETY: kill(2) on a process group we created.
    assert_eq!(
        unsafe { libc::kill(-group, libc::SIGKILL) },
        0,
        "kill the watcher's group"
    );
    let status = watcher.wait().expect("reap the watcher");
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_alive(pid), "QEMU died with its starter");
    assert_eq!(env.pid(name), Some(pid));
    let mut serial = env.serial(name);
    assert_eq!(serial.set(11), 11);
    drop(serial);
    let status = env.ctl_json(&["status", name]);
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["pid"], pid);
    let out = env.ctl_ok(&["start", name]);
    assert!(
        out.contains(&format!("{name} is already running (pid {pid})")),
        "{out}"
    );

    // A new process attaches a watcher on the primary QMP socket the killed one held.
    let tokio_rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let m = env.manager();
    let mut rx = m.subscribe();
    assert_eq!(tokio_rt.block_on(m.watch(name)).expect("watch"), VmState::Running);
    env.ctl_ok(&["pause", name]);
    tokio_rt.block_on(wait_event(
        &mut rx,
        Duration::from_secs(10),
        "STOP event",
        |e| matches!(e, Event::Qmp { name: n, event: QmpEvent::Stop } if n == name),
    ));
    env.ctl_ok(&["resume", name]);
    let mut serial = env.serial(name);
    assert_eq!(serial.get(), 11, "the guest kept its state through all this");
    drop(serial);

    env.ctl_ok(&["stop", name]);
    tokio_rt.block_on(wait_event(
        &mut rx,
        Duration::from_secs(20),
        "stopped state",
        |e| matches!(e, Event::State { name: n, state: VmState::Stopped } if n == name),
    ));
    assert!(!is_alive(pid));
    env.assert_stopped_clean(name);
}

#[test]
fn two_cli_starts_at_once_start_one_qemu() {
    let env = TestEnv::new();
    let name = "race";
    env.create_empty_vm(name);
    for round in 0..3 {
        let children: Vec<Child> = (0..2)
            .map(|_| {
                env.command(&["start", name, "--paused"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn hangarctl start")
            })
            .collect();
        let outputs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait hangarctl"))
            .collect();
        for out in &outputs {
            expect_code(&["start", name], out, 0);
        }
        let texts: Vec<String> = outputs
            .iter()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .collect();
        let already = texts.iter().filter(|t| t.contains("is already running")).count();
        let started = texts.iter().filter(|t| t.contains(" started (pid ")).count();
        assert_eq!((already, started), (1, 1), "round {round}: {texts:?}");
        let pids = env.qemu_pids(name);
        assert_eq!(pids.len(), 1, "round {round}: QEMUs {pids:?}");
        assert_eq!(env.pid(name), Some(pids[0]));
        assert!(
            texts.iter().all(|t| t.contains(&format!("pid {}", pids[0]))),
            "{texts:?}"
        );
        assert_eq!(env.ctl_json(&["status", name])["state"], "paused");
        env.ctl_ok(&["stop", name, "--force"]);
        env.assert_stopped_clean(name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_starting_at_once_start_one_qemu() {
    let env = TestEnv::new();
    let name = "race2";
    env.create_empty_vm(name);
    let (a, b) = (env.manager(), env.manager());
    let opts = StartOptions {
        disposable: false,
        paused: true,
    };
    for round in 0..3 {
        let (ra, rb) = tokio::join!(a.start(name, &opts), b.start(name, &opts));
        let (ra, rb) = (ra.expect("start a"), rb.expect("start b"));
        assert_eq!(ra.pid, rb.pid, "round {round}");
        assert!(
            ra.already_running != rb.already_running,
            "round {round}: {ra:?} {rb:?}"
        );
        assert_eq!(env.qemu_pids(name), vec![ra.pid], "round {round}");
        assert_eq!(b.state(name).await.expect("state"), VmState::Paused);
        // Both stop at once too: one does it, the other finds nothing to stop or waits it out.
        let (sa, sb) = tokio::join!(a.stop(name, StopMode::Force), b.stop(name, StopMode::Force));
        assert!(sa.is_ok() || sb.is_ok(), "round {round}: {sa:?} {sb:?}");
        for r in [sa, sb] {
            if let Err(e) = r {
                assert!(e.to_string().contains("is not running"), "round {round}: {e}");
            }
        }
        env.assert_stopped_clean(name);
    }
}
