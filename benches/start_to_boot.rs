//! What Hangar adds to a VM start, and how long a linked clone of a big disk takes.
//!
//! `cargo bench --bench start_to_boot` (no assertions; prints figures):
//! - time from running `hangarctl start` to the test guest's `HANGAR-BOOT-OK` on serial, against
//!   the same QEMU command line (`hangarctl argv`) launched directly, N runs each, interleaved;
//! - `hangarctl clone --linked` of a VM with a 20 GiB qcow2 disk.
//!
//! `HANGAR_BENCH_RUNS` sets N (default 3). The accelerator is `HANGAR_ACCEL` (default tcg).

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("start_to_boot: skipped (run it with `cargo bench --bench start_to_boot`)");
        return;
    }
    let runs: usize = std::env::var("HANGAR_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let env = TestEnv::new();
    let name = "bench";
    env.create_iso_vm(name);
    let argv = env.ctl_json(&["argv", name]);
    let argv: Vec<String> = argv["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|a| a.as_str().expect("string").to_string())
        .collect();
    let rt = env.runtime(name);
    println!(
        "start_to_boot: ISO guest, 256 MiB, 1 vCPU, accel {}, {runs} runs each (interleaved)",
        accel()
    );

    // One untimed boot first: the first QEMU start pays for cold caches (binary, ROMs, ISO).
    let mark = env.serial_mark(name);
    env.ctl_ok(&["start", name]);
    env.wait_serial(name, BOOT_MARKER, mark, BOOT_TIMEOUT);
    env.ctl_ok(&["stop", name, "--force"]);

    let mut via_ctl = vec![];
    let mut ctl_return = vec![];
    let mut by_hand = vec![];
    for run in 0..runs {
        // hangarctl start → marker.
        let mark = env.serial_mark(name);
        let t = Instant::now();
        env.ctl_ok(&["start", name]);
        let returned = t.elapsed();
        env.wait_serial(name, BOOT_MARKER, mark, BOOT_TIMEOUT);
        let boot = t.elapsed();
        env.ctl_ok(&["stop", name, "--force"]);
        println!(
            "  run {run}: hangarctl start -> boot {}   (command returned after {})",
            secs(boot),
            secs(returned)
        );
        via_ctl.push(boot);
        ctl_return.push(returned);

        // The same command line by hand → marker.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&rt.dir)
            .expect("runtime folder");
        let mark = env.serial_mark(name);
        let t = Instant::now();
        let mut qemu = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn QEMU");
        env.wait_serial(name, BOOT_MARKER, mark, BOOT_TIMEOUT);
        let boot = t.elapsed();
        let _ = qemu.kill();
        let _ = qemu.wait();
        let _ = fs::remove_dir_all(&rt.dir);
        println!("  run {run}: QEMU by hand     -> boot {}", secs(boot));
        by_hand.push(boot);
    }
    let mut diffs: Vec<f64> = via_ctl
        .iter()
        .zip(&by_hand)
        .map(|(c, h)| c.as_secs_f64() - h.as_secs_f64())
        .collect();
    diffs.sort_by(f64::total_cmp);
    let (c, h) = (median(&mut via_ctl), median(&mut by_hand));
    println!("median hangarctl start -> HANGAR-BOOT-OK: {}", secs(c));
    println!("median QEMU by hand    -> HANGAR-BOOT-OK: {}", secs(h));
    println!(
        "overhead of hangarctl: {:+.2} s ({:+.1} %); `hangarctl start` itself returns after {} (median)",
        c.as_secs_f64() - h.as_secs_f64(),
        (c.as_secs_f64() / h.as_secs_f64() - 1.0) * 100.0,
        secs(median(&mut ctl_return))
    );
    println!(
        "median of the paired differences (run i hangarctl - run i by hand): {:+.2} s",
        diffs[diffs.len() / 2]
    );

    // Linked clone of a VM with a 20 GiB qcow2 disk.
    env.ctl_ok(&[
        "create",
        "big",
        "--memory",
        "1G",
        "--cpus",
        "1",
        "--disk",
        "20G",
        "--display",
        "none",
    ]);
    let t = Instant::now();
    env.ctl_ok(&["clone", "big", "big-linked", "--linked"]);
    let linked = t.elapsed();
    let t = Instant::now();
    env.ctl_ok(&["clone", "big-linked", "big-full"]);
    let full = t.elapsed();
    let size = |vm: &str| {
        fs::metadata(env.vm_dir(vm).join("disk0.qcow2"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    println!(
        "hangarctl clone --linked (20 GiB qcow2): {} (new overlay {} KiB)",
        secs(linked),
        size("big-linked") / 1024
    );
    println!(
        "hangarctl clone (full copy of that linked clone, flattened): {} ({} KiB)",
        secs(full),
        size("big-full") / 1024
    );
}
