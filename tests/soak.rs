//! Many start/stop cycles leak nothing: no QEMU, no sockets, pidfiles or runtime folders, and
//! no file descriptors in the process that runs the cycles (the in-process manager).
//!
//! The VM has no disk and no CD-ROM, so QEMU starts in a fraction of a second and the guest
//! never boots: stops are forced, or ACPI requests that time out (nobody presses the button)
//! and fall back to forcing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hangar_core::manager::{Event, StartOptions, StopMode, VmState};
use hangar_core::qmp::QmpEvent;

/// Cycles through the in-process manager.
const MANAGER_CYCLES: usize = 50;
/// Cycles through `hangarctl` processes.
const CLI_CYCLES: usize = 10;

/// Wait until the fd count drops back to `baseline` (tasks finish a moment after a stop).
fn settled_fd_count(baseline: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n = fd_count();
        if n <= baseline || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn start_stop_cycles_leave_nothing_behind() {
    let env = TestEnv::new();
    let name = "soak";
    env.create_empty_vm(name);
    let rt = env.runtime(name);
    let started = Instant::now();

    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let m = env.manager();
    let other = env.manager();
    let mut events = m.subscribe();
    let mut cycle = |i: usize| {
        tokio_rt.block_on(async {
            let opts = StartOptions {
                disposable: i % 4 == 1,
                paused: i % 2 == 0,
            };
            let report = m
                .start(name, &opts)
                .await
                .unwrap_or_else(|e| panic!("cycle {i}: start: {e}"));
            assert!(!report.already_running, "cycle {i}: a QEMU was left running");
            assert_eq!(env.qemu_pids(name), vec![report.pid], "cycle {i}");
            // A watcher must really be attached to this QEMU (not to the previous one):
            // what another manager does shows up as a QMP event here.
            let want = if opts.paused {
                VmState::Paused
            } else {
                VmState::Running
            };
            assert_eq!(m.watch(name).await.expect("watch"), want, "cycle {i}");
            let (what, expect): (&str, fn(&Event) -> bool) = if opts.paused {
                other.resume(name).await.expect("resume");
                ("RESUME", |e| {
                    matches!(
                        e,
                        Event::Qmp {
                            event: QmpEvent::Resume,
                            ..
                        }
                    )
                })
            } else {
                other.pause(name).await.expect("pause");
                ("STOP", |e| {
                    matches!(
                        e,
                        Event::Qmp {
                            event: QmpEvent::Stop,
                            ..
                        }
                    )
                })
            };
            let seen = wait_event(&mut events, Duration::from_secs(10), what, expect).await;
            assert!(
                !seen.iter().any(|e| matches!(e, Event::Warning { .. })),
                "cycle {i}: {seen:?}"
            );
            let mode = if i % 10 == 9 {
                StopMode::Acpi {
                    timeout: Duration::from_millis(300),
                }
            } else {
                StopMode::Force
            };
            m.stop(name, mode)
                .await
                .unwrap_or_else(|e| panic!("cycle {i}: stop: {e}"));
            assert!(!rt.dir.exists(), "cycle {i}: runtime folder left");
            assert!(env.qemu_pids(name).is_empty(), "cycle {i}: QEMU left");
            assert!(m.pid(name).is_none());
        });
    };

    // Warm up (runtime threads, lazily opened files), then count.
    cycle(0);
    cycle(1);
    let baseline = settled_fd_count(0).max(fd_count());
    for i in 2..MANAGER_CYCLES {
        cycle(i);
    }
    let after = settled_fd_count(baseline);
    eprintln!(
        "{MANAGER_CYCLES} manager cycles in {:?}; fds {baseline} -> {after}",
        started.elapsed()
    );
    assert!(
        after <= baseline,
        "file descriptors leaked: {baseline} before, {after} after"
    );

    let cli_started = Instant::now();
    for i in 0..CLI_CYCLES {
        let out = if i % 2 == 0 {
            env.ctl_ok(&["start", name, "--paused"])
        } else {
            env.ctl_ok(&["start", name])
        };
        assert!(out.contains("started"), "cli cycle {i}: {out}");
        assert_eq!(env.qemu_pids(name).len(), 1, "cli cycle {i}");
        if i % 5 == 4 {
            env.ctl_ok(&["stop", name, "--timeout", "1"]);
        } else {
            env.ctl_ok(&["stop", name, "--force"]);
        }
        assert!(!rt.dir.exists(), "cli cycle {i}: runtime folder left");
    }
    eprintln!("{CLI_CYCLES} hangarctl cycles in {:?}", cli_started.elapsed());

    env.assert_stopped_clean(name);
    let left: Vec<_> = std::fs::read_dir(env.rt_root())
        .expect("runtime root")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in the runtime root: {left:?}");
    let vm_files: Vec<String> = std::fs::read_dir(env.vm_dir(name))
        .expect("VM folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !matches!(n.as_str(), "vm.toml" | "qemu.log" | "serial.log" | ".hangar.lock"))
        .collect();
    assert!(
        vm_files.is_empty(),
        "unexpected files in the VM folder: {vm_files:?}"
    );
    drop(tokio_rt);
}
