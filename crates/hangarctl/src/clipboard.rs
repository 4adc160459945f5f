//! `hangarctl clipboard …`, `hangarctl type` and `hangarctl agent`: the clipboard of VNC and
//! headless VMs, typing text as key presses, and the state of the guest's agents.
//!
//! QEMU serves a VM's clipboard channel to one program at a time: while a Hangar window shares
//! the VM's clipboard, these commands say so instead of waiting. `clipboard send` offers the
//! text only while it runs: it waits (`--wait`, 30 s) until something in the guest pastes it.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use clap::Subcommand;
use hangar_core::agent::protocol::Cap;
use hangar_core::agent::{AgentError, AgentEvent, AgentHandle};
use hangar_core::config::{ClipboardConfig, DisplayKind};
use hangar_core::manager::{
    agent_install_hint, ClipboardError, Manager, ManagerError, TYPE_CONFIRM_CHARS, TYPE_MAX_CHARS,
};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::output::emit;

type CmdResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Subcommand)]
pub enum ClipboardCmd {
    /// Offer TEXT to the VM (host → guest; "-" reads it from stdin). The guest gets it when
    /// something there pastes, while this command waits.
    Send {
        text: String,
        /// Seconds to wait for the guest to paste (the text is offered only meanwhile).
        #[arg(long, default_value_t = 30)]
        wait: u64,
    },
    /// Print the text the VM copied last (guest → host).
    Get {
        /// Seconds to wait for the guest's clipboard agent.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Show or change what may cross between this computer and the VM.
    Policy {
        #[arg(long, value_enum)]
        host_to_guest: Option<OnOff>,
        #[arg(long, value_enum)]
        guest_to_host: Option<OnOff>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

pub async fn run(m: &Manager, json: bool, vm: &str, action: ClipboardCmd) -> CmdResult {
    let result = clipboard(m, json, vm, action).await;
    // Hands over what is still queued for the guest and frees the channel.
    m.close_clipboard(vm).await;
    result
}

async fn clipboard(m: &Manager, json: bool, vm: &str, action: ClipboardCmd) -> CmdResult {
    match action {
        ClipboardCmd::Send { text, wait } => {
            let text = if text == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| format!("cannot read the text from stdin: {e}"))?;
                s
            } else {
                text
            };
            let bytes = send(m, vm, text, Duration::from_secs(wait)).await?;
            emit(json, &json!({"vm": vm, "sent_bytes": bytes}), || {
                format!("the VM pasted the text ({bytes} bytes)")
            });
        }
        ClipboardCmd::Get { wait } => {
            let handle = m.clipboard(vm).await?;
            if !handle.status().policy.guest_to_host {
                return Err(AgentError::GuestToHostOff.into());
            }
            wait_for_agent(m, vm, &handle, Duration::from_secs(wait)).await?;
            let text = handle.ask_guest_text().await?;
            emit(json, &json!({"vm": vm, "text": text}), || text.clone());
        }
        ClipboardCmd::Policy {
            host_to_guest,
            guest_to_host,
        } => {
            let mut config = m.store().load(vm)?;
            if host_to_guest.is_some() || guest_to_host.is_some() {
                let policy = ClipboardConfig {
                    host_to_guest: host_to_guest.map_or(config.clipboard.host_to_guest, |v| v == OnOff::On),
                    guest_to_host: guest_to_host.map_or(config.clipboard.guest_to_host, |v| v == OnOff::On),
                };
                config = m.set_clipboard_policy(vm, policy).await?;
            }
            let effective = config.effective_clipboard();
            let value = json!({
                "vm": vm,
                "host_to_guest": config.clipboard.host_to_guest,
                "guest_to_host": config.clipboard.guest_to_host,
                "untrusted": config.untrusted,
                "effective": {"host_to_guest": effective.host_to_guest, "guest_to_host": effective.guest_to_host},
            });
            emit(json, &value, || {
                let mut s = format!(
                    "host to guest: {}\nguest to host: {}",
                    on_off(config.clipboard.host_to_guest),
                    on_off(config.clipboard.guest_to_host)
                );
                if config.untrusted {
                    s.push_str("\n(the VM is untrusted: nothing is shared either way)");
                }
                s
            });
        }
    }
    Ok(())
}

/// Offer `text` and wait until the guest pasted it; returns its size.
async fn send(
    m: &Manager,
    vm: &str,
    text: String,
    wait: Duration,
) -> Result<usize, Box<dyn std::error::Error>> {
    let handle = m.clipboard(vm).await?;
    let mut events = handle.subscribe();
    let deadline = Instant::now() + wait;
    // Refused at once when the policy forbids it or the text is over the limit.
    handle.offer_text(text)?;
    wait_for_agent(m, vm, &handle, wait).await?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(AgentEvent::HostTextSent { bytes })) => return Ok(bytes),
            Ok(Ok(AgentEvent::Error(e))) => return Err(e.into()),
            Ok(Ok(AgentEvent::GuestAgentGone | AgentEvent::Disconnected)) => {
                return Err(format!(
                    "VM {vm:?}'s clipboard agent went away before the guest pasted the text; retry"
                )
                .into())
            }
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) => return Err(AgentError::Stopped.into()),
            Err(_) => {
                return Err(format!(
                    "nothing in VM {vm:?} pasted the text within {} s; the text is offered only \
                     while this command runs: paste in the VM while it waits (raise --wait)",
                    wait.as_secs()
                )
                .into())
            }
        }
    }
}

/// Wait until the guest's spice-vdagent is there, or explain how to install it.
async fn wait_for_agent(
    m: &Manager,
    vm: &str,
    handle: &AgentHandle,
    wait: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut status = handle.watch_status();
    let active = tokio::time::timeout(wait, status.wait_for(|s| s.guest_caps.is_some())).await;
    if matches!(active, Ok(Ok(_))) {
        return Ok(());
    }
    let os = m.store().load(vm).ok().and_then(|c| c.os);
    Err(format!(
        "{} (waited {} s). {}",
        AgentError::NoGuestAgent,
        wait.as_secs(),
        agent_install_hint(os.as_deref())
    )
    .into())
}

/// `hangarctl type VM TEXT`.
pub async fn type_text(m: &Manager, json: bool, vm: &str, text: &str, yes: bool) -> CmdResult {
    let chars = text.chars().count();
    let mut questions = vec![];
    if chars <= TYPE_MAX_CHARS {
        let plan = m.plan_typing(vm, text)?;
        if chars > TYPE_CONFIRM_CHARS {
            questions.push(format!(
                "Type {chars} characters into {vm} as key presses (about {} s)?",
                (plan.stroke_count() as u64 * 30).div_ceil(1000)
            ));
        }
        if !plan.skipped.is_empty() {
            let list: String = plan.skipped.iter().map(|s| s.ch).collect();
            questions.push(format!(
                "{} characters cannot be typed with the {} keyboard layout ([input] keyboard_layout \
                 in vm.toml) and will be left out: {list}",
                plan.skipped.len(),
                plan.layout
            ));
        }
    }
    if !questions.is_empty() && !yes {
        confirm(&questions.join("\n"))?;
    }
    let report = m.type_text(vm, text).await?;
    emit(json, &report, || {
        let mut s = format!(
            "typed {} characters into {vm} ({} layout, {:.1} s)",
            report.typed, report.layout, report.seconds
        );
        if !report.skipped.is_empty() {
            let list: String = report.skipped.iter().map(|s| s.ch).collect();
            s.push_str(&format!("; left out: {list}"));
        }
        s
    });
    Ok(())
}

/// Ask on the terminal; refuse without one.
fn confirm(question: &str) -> Result<(), Box<dyn std::error::Error>> {
    if !std::io::stdin().is_terminal() {
        return Err(format!("{question}\nnot typing without confirmation: pass --yes").into());
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err("not typed".into())
    }
}

/// `hangarctl agent VM`: the clipboard agent, qemu-guest-agent, and how to install them.
pub async fn agent(m: &Manager, json: bool, vm: &str, wait: u64) -> CmdResult {
    let result = agent_status(m, json, vm, wait).await;
    m.close_clipboard(vm).await;
    result
}

async fn agent_status(m: &Manager, json: bool, vm: &str, wait: u64) -> CmdResult {
    let config = m.store().load(vm)?;
    if m.pid(vm).is_none() {
        return Err(ManagerError::NotRunning(vm.into()).into());
    }
    let guest = m.guest_info(vm).await;
    let mut lines = vec![];
    let mut vdagent = json!({});
    let active;
    if config.display.kind == DisplayKind::Spice {
        lines.push("clipboard agent: served by SPICE; the SPICE viewer shows its state".to_string());
        vdagent["spice"] = json!(true);
        active = true;
    } else {
        match m.clipboard(vm).await {
            Ok(handle) => {
                let mut status = handle.watch_status();
                let _ = tokio::time::timeout(
                    Duration::from_secs(wait),
                    status.wait_for(|s| s.guest_caps.is_some()),
                )
                .await;
                let state = m.agent_state(vm).unwrap_or_default();
                let caps = handle.status().guest_caps;
                active = caps.is_some();
                let can = |cap| caps.as_ref().is_some_and(|c| c.has(cap));
                lines.push(format!(
                    "clipboard channel: {}",
                    if state.channel_open || active {
                        "open in the guest"
                    } else {
                        "not opened by the guest"
                    }
                ));
                lines.push(format!(
                    "spice-vdagent: {}",
                    if active {
                        format!(
                            "running (clipboard: {}, display resize: {})",
                            if can(Cap::CLIPBOARD_BY_DEMAND) {
                                "yes"
                            } else {
                                "no"
                            },
                            if can(Cap::MONITORS_CONFIG) { "yes" } else { "no" }
                        )
                    } else {
                        format!("not running (waited {wait} s)")
                    }
                ));
                vdagent = json!({
                    "channel_open": state.channel_open || active,
                    "agent_active": active,
                    "clipboard": can(Cap::CLIPBOARD_BY_DEMAND),
                    "display_resize": can(Cap::MONITORS_CONFIG),
                });
            }
            Err(e @ ClipboardError::Busy { .. }) => {
                lines.push("clipboard channel: in use by another Hangar program".into());
                vdagent["error"] = json!(e.to_string());
                active = true; // unknown; no hint
            }
            Err(e) => return Err(e.into()),
        }
    }
    let qga = match &guest {
        Ok(info) => {
            lines.push(format!(
                "qemu-guest-agent: running ({}{})",
                info.os_pretty_name.as_deref().unwrap_or("unknown OS"),
                info.hostname
                    .as_deref()
                    .map(|h| format!(", host name {h}"))
                    .unwrap_or_default()
            ));
            json!(info)
        }
        Err(e) => {
            lines.push(format!("qemu-guest-agent: {e}"));
            json!({"error": e.to_string()})
        }
    };
    let os_id = guest
        .as_ref()
        .ok()
        .and_then(|i| i.os_id.clone())
        .or(config.os.clone());
    let hint = (!active).then(|| agent_install_hint(os_id.as_deref()));
    if let Some(h) = &hint {
        lines.push(h.clone());
    }
    let value = json!({"vm": vm, "vdagent": vdagent, "guest_agent": qga, "install_hint": hint});
    emit(json, &value, || lines.join("\n"));
    Ok(())
}
