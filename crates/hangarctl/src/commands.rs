//! One function per subcommand, all on `hangar_core::manager::Manager`.

use std::time::Duration;

use hangar_core::config::{DisplayKind, FirmwareKind, Update, VmConfig};
use hangar_core::manager::{CreateRequest, DiskSource, Event, Manager, StartOptions, StopMode, VmState};
use hangar_core::qemu::argv::{self, LaunchOptions};
use hangar_core::storage::{format_size, parse_size};
use serde_json::json;

use crate::cli::{Cli, Command, CreateArgs, Display, Firmware, SnapshotCmd};
use crate::output::{emit, table};

type CmdResult = Result<(), Box<dyn std::error::Error>>;

/// Run one command.
pub async fn run(cli: Cli) -> CmdResult {
    let m = Manager::from_env();
    let json = cli.json;
    match cli.command {
        Command::List => list(&m, json).await,
        Command::Create(args) => create(&m, json, args).await,
        Command::Start {
            name,
            disposable,
            paused,
            watch,
        } => start(&m, json, &name, disposable, paused, watch).await,
        Command::Stop { name, force, timeout } => {
            let mode = if force {
                StopMode::Force
            } else {
                StopMode::Acpi {
                    timeout: Duration::from_secs(timeout),
                }
            };
            m.stop(&name, mode).await?;
            emit(json, &json!({"name": name, "state": "stopped"}), || {
                format!("{name} stopped")
            });
            Ok(())
        }
        Command::Pause { name } => simple(json, &name, "paused", m.pause(&name).await),
        Command::Resume { name } => simple(json, &name, "running", m.resume(&name).await),
        Command::Reset { name } => simple(json, &name, "reset", m.reset(&name).await),
        Command::Status { name } => status(&m, json, &name).await,
        Command::Snapshot { action } => snapshot(&m, json, action).await,
        Command::Clone {
            source,
            target,
            linked,
        } => {
            let mut shown = false;
            let config = m
                .clone_vm(&source, &target, linked, |p| {
                    if !json {
                        shown = true;
                        eprint!("\rcloning… {p:5.1}%");
                    }
                })
                .await;
            if shown {
                eprintln!();
            }
            let config = config?;
            emit(json, &json!({"name": config.name, "linked": linked}), || {
                format!(
                    "{} cloned as {}{}",
                    source,
                    config.name,
                    if linked { " (linked)" } else { "" }
                )
            });
            Ok(())
        }
        Command::Rename { name, new_name } => {
            m.update(&name, &Update::Rename(new_name.clone()))?;
            emit(json, &json!({"name": new_name}), || {
                format!("{name} renamed to {new_name}")
            });
            Ok(())
        }
        Command::Delete { name, keep_disks } => {
            let plan = m.delete(&name, keep_disks)?;
            let removed: Vec<String> = plan.remove.iter().map(|p| p.display().to_string()).collect();
            let kept: Vec<String> = plan.keep.iter().map(|p| p.display().to_string()).collect();
            emit(
                json,
                &json!({"name": name, "removed": removed, "kept": kept}),
                || {
                    let mut s = format!("{name} deleted");
                    for k in &kept {
                        s.push_str(&format!("\nkept {k}"));
                    }
                    s
                },
            );
            Ok(())
        }
        Command::Argv { name } => {
            let config = m.store().load(&name)?;
            let dir = m.store().dir(&name);
            let a = argv::build(
                &config,
                &dir,
                m.host(),
                &m.runtime(&name),
                &LaunchOptions::default(),
            )?;
            let args: Vec<String> = std::iter::once(a.program.to_string_lossy().into_owned())
                .chain(a.args.iter().map(|s| s.to_string_lossy().into_owned()))
                .collect();
            emit(json, &json!({"argv": args, "warnings": a.warnings}), || {
                args.iter().map(|s| shell_quote(s)).collect::<Vec<_>>().join(" ")
            });
            Ok(())
        }
        Command::Qmp { name, command: text } => {
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                format!("the QMP command is not JSON ({e}); example: '{{\"execute\":\"query-status\"}}'")
            })?;
            let reply = m.qmp_raw(&name, value).await?;
            crate::output::out(&serde_json::to_string_pretty(&reply)?);
            Ok(())
        }
        Command::Monitor { name, command } => {
            let out = m.hmp(&name, &command).await?;
            emit(json, &json!({"output": out}), || out.trim_end().to_string());
            Ok(())
        }
        Command::Console { name } => {
            if m.pid(&name).is_none() {
                m.store().load(&name)?;
                return Err(hangar_core::manager::ManagerError::NotRunning(name).into());
            }
            crate::console::attach(&name, &m.runtime(&name).serial).await?;
            Ok(())
        }
        Command::Screenshot { name, file } => {
            m.screendump(&name, &file).await?;
            emit(json, &json!({"file": file}), || {
                format!("saved {}", file.display())
            });
            Ok(())
        }
        Command::Archive { name } => {
            let mut shown = false;
            let folder = m
                .archive(&name, |p| {
                    if !json {
                        shown = true;
                        eprint!("\rarchiving… {p:5.1}%");
                    }
                })
                .await;
            if shown {
                eprintln!();
            }
            let folder = folder?;
            emit(json, &json!({"folder": folder}), || {
                format!("archived to {}", folder.display())
            });
            Ok(())
        }
        Command::Edit { name } => edit(&m, &name),
        Command::Usb { action } => crate::usb::run(&m, json, action).await,
        Command::Clipboard { vm, action } => crate::clipboard::run(&m, json, &vm, action).await,
        Command::Type { vm, text, yes } => crate::clipboard::type_text(&m, json, &vm, &text, yes).await,
        Command::Agent { vm, wait } => crate::clipboard::agent(&m, json, &vm, wait).await,
    }
}

fn simple(json: bool, name: &str, what: &str, r: hangar_core::manager::Result<()>) -> CmdResult {
    r?;
    emit(json, &json!({"name": name, "state": what}), || {
        format!("{name} {what}")
    });
    Ok(())
}

async fn list(m: &Manager, json: bool) -> CmdResult {
    let vms = m.list().await?;
    let rows: Vec<serde_json::Value> = vms
        .iter()
        .map(|v| match &v.entry.config {
            Ok(c) => json!({"name": v.entry.name, "state": v.state, "pid": v.pid, "os": c.os, "memory_mib": c.machine.memory_mib, "cpus": c.machine.cpus}),
            Err(e) => json!({"name": v.entry.name, "state": "broken", "error": e.to_string()}),
        })
        .collect();
    emit(json, &rows, || {
        if vms.is_empty() {
            return "No VMs yet. Create one with `hangarctl create NAME --iso FILE.iso`.".into();
        }
        let cells: Vec<Vec<String>> = vms
            .iter()
            .map(|v| match &v.entry.config {
                Ok(c) => vec![
                    v.entry.name.clone(),
                    v.state.label().into(),
                    format!("{}", c.machine.cpus),
                    format_size(c.machine.memory_mib * 1024 * 1024),
                    c.os.clone().unwrap_or_default(),
                ],
                Err(e) => vec![
                    v.entry.name.clone(),
                    "broken".into(),
                    String::new(),
                    String::new(),
                    e.to_string(),
                ],
            })
            .collect();
        table(&["NAME", "STATE", "CPUS", "MEMORY", "OS"], &cells)
    });
    Ok(())
}

async fn create(m: &Manager, json: bool, a: CreateArgs) -> CmdResult {
    let mut config = VmConfig::new(a.name.clone());
    config.machine.memory_mib = parse_memory_mib(&a.memory)?;
    config.machine.cpus = a.cpus;
    config.os = a.os;
    config.firmware.kind = match a.firmware {
        Firmware::Bios => FirmwareKind::Bios,
        Firmware::Uefi => FirmwareKind::Uefi,
    };
    config.display.kind = match a.display {
        Display::Vnc => DisplayKind::Vnc,
        Display::Spice => DisplayKind::Spice,
        Display::None => DisplayKind::None,
    };
    if a.iso.is_some() {
        config.cdrom = Some(Default::default());
    }
    let disk = match (&a.import, a.disk.trim()) {
        (Some(path), _) => DiskSource::Import { path: path.clone() },
        (None, "0") => DiskSource::None,
        (None, size) => DiskSource::New {
            size_bytes: parse_size(size).map_err(|e| format!("--disk: {e}"))?,
        },
    };
    let config = m
        .create(CreateRequest {
            config,
            iso: a.iso,
            disk,
        })
        .await?;
    let dir = m.store().dir(&config.name);
    emit(json, &json!({"name": config.name, "folder": dir}), || {
        format!(
            "created {} in {}\nstart it with: hangarctl start {}",
            config.name,
            dir.display(),
            shell_quote(&config.name)
        )
    });
    Ok(())
}

async fn start(
    m: &Manager,
    json: bool,
    name: &str,
    disposable: bool,
    paused: bool,
    watch: bool,
) -> CmdResult {
    let mut events = m.subscribe();
    let report = m.start(name, &StartOptions { disposable, paused }).await?;
    for w in &report.warnings {
        eprintln!("hangarctl: warning: {w}");
    }
    emit(json, &report, || {
        if report.already_running {
            format!("{name} is already running (pid {})", report.pid)
        } else {
            format!("{name} started (pid {}, {})", report.pid, report.accelerator)
        }
    });
    if !watch {
        return Ok(());
    }
    m.watch(name).await?;
    while let Ok(event) = events.recv().await {
        match event {
            Event::State { name: n, state } if n == name => {
                emit(json, &json!({"name": n, "state": state}), || {
                    format!("{n}: {}", state.label())
                });
                if state == VmState::Stopped {
                    break;
                }
            }
            Event::Qmp { name: n, event } if n == name => {
                emit(json, &json!({"name": n, "event": event.name()}), || {
                    format!("{n}: event {}", event.name())
                });
            }
            _ => {}
        }
    }
    Ok(())
}

async fn status(m: &Manager, json: bool, name: &str) -> CmdResult {
    let config = m.store().load(name)?;
    let state = m.state(name).await?;
    let pid = m.pid(name);
    let rt = m.runtime(name);
    let disks: Vec<String> = config
        .disks
        .iter()
        .map(|d| format!("{} {} ({}, {:?})", d.id, d.path.display(), d.format, d.bus))
        .collect();
    let value = json!({
        "name": name, "state": state, "pid": pid, "cpus": config.machine.cpus,
        "memory_mib": config.machine.memory_mib, "firmware": config.firmware.kind, "display": config.display.kind,
        "disks": disks, "cdrom": config.cdrom.as_ref().and_then(|c| c.path.clone()),
        "vnc_socket": (pid.is_some() && config.display.kind == DisplayKind::Vnc).then(|| rt.vnc.clone()),
        "spice_socket": (pid.is_some() && config.display.kind == DisplayKind::Spice).then(|| rt.spice.clone()),
        "serial_log": m.serial_log_path(name),
        "console_last_line": last_console_line(&m.serial_log_path(name)),
    });
    emit(json, &value, || {
        let mut s = format!("{name}: {}", state.label());
        if let Some(pid) = pid {
            s.push_str(&format!(" (pid {pid})"));
        }
        s.push_str(&format!(
            "\n  cpus {}  memory {}  firmware {:?}  display {:?}",
            config.machine.cpus,
            format_size(config.machine.memory_mib * 1024 * 1024),
            config.firmware.kind,
            config.display.kind
        ));
        for d in &disks {
            s.push_str(&format!("\n  disk {d}"));
        }
        if let Some(p) = config.cdrom.as_ref().and_then(|c| c.path.as_ref()) {
            s.push_str(&format!("\n  cdrom {}", p.display()));
        }
        if let Some(line) = last_console_line(&m.serial_log_path(name)) {
            s.push_str(&format!("\n  console: {line}"));
        }
        s
    });
    Ok(())
}

async fn snapshot(m: &Manager, json: bool, action: SnapshotCmd) -> CmdResult {
    match action {
        SnapshotCmd::Save { name, tag } => {
            m.snapshot_save(&name, &tag).await?;
            emit(json, &json!({"name": name, "snapshot": tag}), || {
                format!("saved snapshot {tag} of {name}")
            });
        }
        SnapshotCmd::Load { name, tag } => {
            m.snapshot_load(&name, &tag).await?;
            emit(json, &json!({"name": name, "snapshot": tag}), || {
                format!("{name} is back at snapshot {tag}")
            });
        }
        SnapshotCmd::Delete { name, tag } => {
            m.snapshot_delete(&name, &tag).await?;
            emit(json, &json!({"name": name, "deleted": tag}), || {
                format!("deleted snapshot {tag} of {name}")
            });
        }
        SnapshotCmd::List { name } => {
            let list = m.snapshot_list(&name).await?;
            emit(json, &list, || {
                if list.is_empty() {
                    return format!("{name} has no snapshots");
                }
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            format_date(s.date),
                            if s.has_ram { "yes".into() } else { "no".into() },
                        ]
                    })
                    .collect();
                table(&["NAME", "DATE (UTC)", "RAM"], &rows)
            });
        }
    }
    Ok(())
}

fn edit(m: &Manager, name: &str) -> CmdResult {
    let file = m.store().dir(name).join(hangar_core::config::CONFIG_FILE);
    m.store().load(name).or_else(|e| match e {
        hangar_core::store::StoreError::Config(_) => Ok(VmConfig::new(name)),
        other => Err(other),
    })?;
    let original = std::fs::read_to_string(&file)?;
    let tmp = std::env::temp_dir().join(format!(
        "hangar-{}-{}.toml",
        std::process::id(),
        name.replace(' ', "_")
    ));
    std::fs::write(&tmp, &original)?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let result = loop {
        let mut parts = editor.split_whitespace();
        let program = parts.next().unwrap_or("vi");
        let status = std::process::Command::new(program).args(parts).arg(&tmp).status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => break Err(format!("{editor} exited with {s}; vm.toml is unchanged").into()),
            Err(e) => break Err(format!("cannot run the editor {editor:?} ({e}); set $EDITOR").into()),
        }
        let text = std::fs::read_to_string(&tmp)?;
        if text == original {
            break Ok(());
        }
        match m.store().save_text(name, &text) {
            Ok(_) => {
                crate::output::out(&format!("saved {}", file.display()));
                break Ok(());
            }
            Err(e) => {
                eprintln!("hangarctl: {e}");
                if !std::io::IsTerminal::is_terminal(&std::io::stdin()) || !ask("Edit again? [Y/n] ") {
                    break Err("vm.toml is unchanged".into());
                }
            }
        }
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// The last non-empty line the guest wrote on its serial console (from the end of the log).
fn last_console_line(log: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(log).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut buf = vec![];
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().rev().map(|l| l.trim()).find(|l| !l.is_empty())?;
    Some(line.chars().filter(|c| !c.is_control()).take(200).collect())
}

fn ask(prompt: &str) -> bool {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && !line.trim().to_lowercase().starts_with('n')
}

/// `--memory`: a size with a unit (`2G`, `512M`) or, as with QEMU's `-m`, a plain number of MiB.
/// Out-of-range values are left to the config's validation, which names the allowed range.
fn parse_memory_mib(text: &str) -> Result<u64, String> {
    const MIB: u64 = 1024 * 1024;
    let t = text.trim();
    let too_large = || {
        format!(
            "--memory {t} is too much: Hangar gives a VM at most {} MiB (4 TiB); try e.g. 4G",
            hangar_core::config::MAX_MEMORY_MIB
        )
    };
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return t.parse::<u64>().map_err(|_| too_large());
    }
    match parse_size(t) {
        Ok(bytes) => Ok(bytes / MIB),
        // 0: validation reports the memory range (parse_size's message is about disks).
        Err(hangar_core::storage::SizeError::Zero) => Ok(0),
        Err(hangar_core::storage::SizeError::TooLarge { .. }) => Err(too_large()),
        Err(_) => Err(format!(
            "--memory {t:?} is not a memory size: write a number with a unit, e.g. 2G or 512M (a plain number means MiB)"
        )),
    }
}

/// Quote an argument for copy-pasting into a POSIX shell (display only; nothing runs it).
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `YYYY-MM-DD HH:MM` in UTC from Unix seconds (civil-from-days, no extra crates).
fn format_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_mib("2G"), Ok(2048));
        assert_eq!(parse_memory_mib("512M"), Ok(512));
        assert_eq!(
            parse_memory_mib("512"),
            Ok(512),
            "plain numbers are MiB, like qemu -m"
        );
        assert_eq!(parse_memory_mib("0"), Ok(0));
        for huge in ["100T", "99999999999999999999999"] {
            let e = parse_memory_mib(huge).unwrap_err();
            assert!(e.contains("at most 4194304 MiB") && !e.contains("disk"), "{e}");
        }
        let e = parse_memory_mib("lots").unwrap_err();
        assert!(e.contains("not a memory size") && !e.contains("disk"), "{e}");
        // Other out-of-range values are refused by validation, which names the memory range.
        let mut c = VmConfig::new("m");
        c.machine.memory_mib = parse_memory_mib("5T").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("machine.memory_mib = 5242880 is out of range"), "{e}");
    }

    #[test]
    fn dates() {
        assert_eq!(format_date(0), "1970-01-01 00:00");
        assert_eq!(format_date(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(format_date(951_782_400), "2000-02-29 00:00");
    }
}
