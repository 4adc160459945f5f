//! The guest agent (qemu-guest-agent in the guest) seen from the manager: what the guest
//! reports about itself, clock synchronisation after resume, and clean power-off.
//!
//! QEMU serves one client at a time on the agent socket, so every operation connects, does its
//! few commands and disconnects. A VM started without the agent channel (`channels.guest_agent`
//! off) has no socket and is never waited for.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{Event, Manager, ManagerError, Result, VmState};
use crate::qemu::process;
use crate::qga::cmd::GuestSetTime;
use crate::qga::{Qga, QgaError, QgaOptions, ShutdownMode};

/// Time a probe of the agent may take (connect + resync, then each command).
pub const GUEST_AGENT_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Time each query of [`Manager::guest_info`] (and the clock setting) may take once the agent
/// answered.
pub const GUEST_AGENT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the guest says about itself. Every part is best effort: an agent that refuses or lacks
/// a command leaves that part empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GuestInfo {
    pub hostname: Option<String>,
    /// e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os_pretty_name: Option<String>,
    /// os-release `ID`, e.g. `debian`.
    pub os_id: Option<String>,
    /// Kernel release, e.g. `6.1.0-13-amd64`.
    pub kernel: Option<String>,
    /// `(interface, address, prefix length)`; loopback addresses are left out.
    pub ip_addresses: Vec<(String, String, u8)>,
}

fn agent_error(name: &str) -> impl FnOnce(QgaError) -> ManagerError + '_ {
    move |e| ManagerError::Unsupported(format!("VM {name:?}: {e}"))
}

/// `Ok(Some)` answered; `Ok(None)` this query failed (logged); `Err` the agent is gone.
fn optional<T>(name: &str, what: &str, result: Result<T, QgaError>) -> Result<Option<T>, QgaError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_unavailable() => Err(e),
        Err(e) => {
            tracing::debug!(vm = name, "the guest agent gave no {what}: {e}");
            Ok(None)
        }
    }
}

impl Manager {
    /// A synchronised guest agent connection to running VM `name`. Drop it promptly: it blocks
    /// every other client of the agent.
    pub async fn guest_agent(&self, name: &str, options: QgaOptions) -> Result<Qga> {
        if self.pid(name).is_none() {
            return Err(ManagerError::NotRunning(name.into()));
        }
        let socket = self.runtime(name).guest_agent;
        if !socket.exists() {
            return Err(ManagerError::Unsupported(format!(
                "VM {name:?} runs without the guest agent channel: set `guest_agent = true` under \
                 [channels] in its vm.toml and restart it"
            )));
        }
        Qga::connect_with(&socket, options)
            .await
            .map_err(agent_error(name))
    }

    /// True when an agent answers a ping within about [`GUEST_AGENT_PROBE_TIMEOUT`] (twice that
    /// at worst: connect + resync, then the ping).
    pub async fn guest_agent_available(&self, name: &str) -> bool {
        match self
            .guest_agent(name, QgaOptions::uniform(GUEST_AGENT_PROBE_TIMEOUT))
            .await
        {
            Ok(qga) => qga.ping().await.is_ok(),
            Err(e) => {
                tracing::debug!(vm = name, "guest agent unavailable: {e}");
                false
            }
        }
    }

    /// Host name, OS, kernel and addresses as the guest agent reports them.
    pub async fn guest_info(&self, name: &str) -> Result<GuestInfo> {
        let options = QgaOptions {
            sync_timeout: GUEST_AGENT_PROBE_TIMEOUT,
            command_timeout: GUEST_AGENT_QUERY_TIMEOUT,
        };
        let qga = self.guest_agent(name, options).await?;
        let mut info = GuestInfo::default();
        match self.collect_guest_info(name, &qga, &mut info).await {
            Ok(()) => Ok(info),
            // The agent went away part-way: what was gathered is still true.
            Err(e) if info != GuestInfo::default() => {
                tracing::debug!(vm = name, "guest info incomplete: {e}");
                Ok(info)
            }
            Err(e) => Err(agent_error(name)(e)),
        }
    }

    async fn collect_guest_info(&self, name: &str, qga: &Qga, info: &mut GuestInfo) -> Result<(), QgaError> {
        info.hostname = optional(name, "host name", qga.host_name().await)?;
        if let Some(os) = optional(name, "OS information", qga.os_info().await)? {
            info.os_pretty_name = os.pretty_name.or(os.name);
            info.os_id = os.id;
            info.kernel = os.kernel_release;
        }
        let ifaces = optional(name, "network interfaces", qga.network_interfaces().await)?;
        for iface in ifaces.unwrap_or_default() {
            for addr in iface.ip_addresses {
                let loopback = addr.ip_address.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
                match u8::try_from(addr.prefix) {
                    Ok(prefix) if !loopback && prefix <= 128 => {
                        info.ip_addresses
                            .push((iface.name.clone(), addr.ip_address, prefix))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Set the guest's clock to the host's current time: `guest-set-time` with the host's
    /// nanoseconds since the Unix epoch. (The argument-less form, where the guest reads its RTC,
    /// is refused by Windows agents, needs `hwclock` in the guest, and has one-second
    /// resolution; the host clock is the reference either way.) A Linux agent also writes the
    /// time to the RTC with `hwclock -w`, and reports an error when that tool is missing even
    /// though the system clock was set.
    pub async fn sync_guest_clock(&self, name: &str) -> Result<()> {
        let qga = self
            .guest_agent(name, QgaOptions::uniform(GUEST_AGENT_PROBE_TIMEOUT))
            .await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
            .ok_or_else(|| {
                ManagerError::Unsupported("the host clock is before 1970: fix the host's time".into())
            })?;
        qga.execute_timeout(GuestSetTime { time: Some(now) }, GUEST_AGENT_QUERY_TIMEOUT)
            .await
            .map(drop)
            .map_err(agent_error(name))
    }

    /// [`Manager::sync_guest_clock`] where nobody needs to hear about failure (after resume
    /// and snapshot load): a missing channel or agent is normal, so it is only logged.
    pub(crate) async fn sync_guest_clock_quietly(&self, name: &str) {
        if !self.runtime(name).guest_agent.exists() {
            return;
        }
        match self.sync_guest_clock(name).await {
            Ok(()) => tracing::debug!(vm = name, "guest clock synchronised"),
            Err(e) => tracing::debug!(vm = name, "guest clock not synchronised: {e}"),
        }
    }

    /// First step of an ACPI stop: when the agent answers a ping, ask it to power the guest
    /// off and wait until `until` for QEMU (`pid`) to exit. True when QEMU exited; false when
    /// there is no agent, it refused, or the guest still runs (the caller falls back to ACPI).
    pub(crate) async fn power_off_via_agent(&self, name: &str, pid: i32, until: Instant) -> bool {
        if !self.runtime(name).guest_agent.exists() {
            return false;
        }
        let sent = async {
            let qga = self
                .guest_agent(name, QgaOptions::uniform(GUEST_AGENT_PROBE_TIMEOUT))
                .await?;
            qga.ping().await.map_err(agent_error(name))?;
            qga.shutdown(ShutdownMode::Powerdown)
                .await
                .map_err(agent_error(name))
            // The connection closes here, before the wait.
        }
        .await;
        if let Err(e) = sent {
            tracing::debug!(vm = name, "not powering off through the guest agent: {e}");
            return false;
        }
        tracing::info!(vm = name, "guest agent asked to power off");
        self.emit(Event::State {
            name: name.into(),
            state: VmState::ShuttingDown,
        });
        let exited = process::wait_exit(pid, until.saturating_duration_since(Instant::now())).await;
        if !exited {
            tracing::info!(
                vm = name,
                "guest still runs after the agent's power-off; trying ACPI"
            );
        }
        exited
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::VmConfig;
    use crate::host::{HostCaps, ACCEL_ENV};
    use crate::manager::{StartOptions, StopMode};
    use crate::paths::Paths;
    use crate::qga::fake::{listen, FakeAgent};
    use crate::store::Store;

    fn manager(t: &tempfile::TempDir) -> Manager {
        let paths = Paths::new(t.path().join("vms"), t.path().join("run"));
        // Tests always use TCG (KVM on these hosts cannot run guests).
        let host = HostCaps::probe_with(Path::new("/"), |k| {
            if k == ACCEL_ENV {
                Some("tcg".into())
            } else {
                std::env::var_os(k)
            }
        });
        Manager::new(Store::new(paths), host)
    }

    /// Kills the VM's QEMU if a test fails half-way.
    struct Reaper(i32);

    impl Drop for Reaper {
        fn drop(&mut self) {
            process::signal(self.0, libc::SIGKILL);
        }
    }

    /// A VM without disks, started paused (`-S`): no guest code runs.
    async fn start_paused(m: &Manager, name: &str, agent_channel: bool) -> (i32, Reaper) {
        let mut c = VmConfig::new(name);
        c.machine.memory_mib = 128;
        c.networks.clear();
        c.channels.guest_agent = agent_channel;
        m.store().create(&c).unwrap();
        let opts = StartOptions {
            paused: true,
            disposable: false,
        };
        let report = m.start(name, &opts).await.unwrap();
        (report.pid, Reaper(report.pid))
    }

    fn states(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<VmState> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|e| match e {
                Event::State { state, .. } => Some(state),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn guest_info_leaves_out_loopback_and_refused_parts() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        let sock = t.path().join("qga.sock");
        let _agent = FakeAgent::serve(listen(&sock), || {});
        let qga = Qga::connect(&sock).await.unwrap();
        let mut info = GuestInfo::default();
        m.collect_guest_info("vm", &qga, &mut info).await.unwrap();
        assert_eq!(
            info,
            GuestInfo {
                hostname: Some("fake-guest".into()),
                os_pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                os_id: Some("debian".into()),
                kernel: Some("6.1.0-13-amd64".into()),
                ip_addresses: vec![
                    ("enp0s2".into(), "10.0.2.15".into(), 24),
                    ("enp0s2".into(), "fec0::5054:ff:fe12:3456".into(), 64),
                ],
            }
        );
        drop(qga);

        let sock = t.path().join("qga2.sock");
        let _agent = FakeAgent::serve_refusing(
            listen(&sock),
            &["guest-get-osinfo", "guest-network-get-interfaces"],
            || {},
        );
        let qga = Qga::connect(&sock).await.unwrap();
        let mut info = GuestInfo::default();
        m.collect_guest_info("vm", &qga, &mut info).await.unwrap();
        assert_eq!(info.hostname.as_deref(), Some("fake-guest"));
        assert_eq!((info.os_id, info.kernel), (None, None));
        assert!(info.ip_addresses.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_an_agent_in_the_guest_stop_falls_back_to_acpi_then_force() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        let (pid, _reaper) = start_paused(&m, "noagent", true).await;
        let rt = m.runtime("noagent");
        assert!(rt.guest_agent.exists(), "QEMU serves the agent channel");

        let t0 = Instant::now();
        assert!(!m.guest_agent_available("noagent").await);
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
            "{took:?}"
        );
        let t0 = Instant::now();
        let err = m.guest_info("noagent").await.unwrap_err().to_string();
        assert!(err.contains("install qemu-guest-agent in the guest"), "{err}");
        assert!(t0.elapsed() < Duration::from_millis(2500), "{:?}", t0.elapsed());
        assert!(m.sync_guest_clock("noagent").await.is_err());

        // Resume is not held up for long by the clock sync that finds no agent.
        let t0 = Instant::now();
        m.resume("noagent").await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());

        // SeaBIOS without a boot disk ignores the power button: agent probe, ACPI, then force.
        let mut rx = m.subscribe();
        let t0 = Instant::now();
        m.stop(
            "noagent",
            StopMode::Acpi {
                timeout: Duration::from_secs(3),
            },
        )
        .await
        .unwrap();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(2900) && took < Duration::from_secs(20),
            "{took:?}"
        );
        assert!(!process::is_alive(pid));
        assert_eq!(m.pid("noagent"), None);
        assert_eq!(states(&mut rx), [VmState::ShuttingDown, VmState::Stopped]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answering_agent_powers_the_guest_off_reports_and_gets_the_clock() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        // Started without the channel; the fake agent takes its socket path.
        let (pid, _reaper) = start_paused(&m, "agent", false).await;
        let t0 = Instant::now();
        assert!(!m.guest_agent_available("agent").await);
        assert!(
            t0.elapsed() < Duration::from_millis(200),
            "no channel: no waiting"
        );
        let err = m.guest_info("agent").await.unwrap_err().to_string();
        assert!(err.contains("guest_agent = true"), "{err}");

        let rt = m.runtime("agent");
        let agent = FakeAgent::serve(listen(&rt.guest_agent), move || {
            // The guest powers off: QEMU exits.
            process::signal(pid, libc::SIGTERM);
        });
        assert!(m.guest_agent_available("agent").await);
        let info = m.guest_info("agent").await.unwrap();
        assert_eq!(info.hostname.as_deref(), Some("fake-guest"));
        assert_eq!(info.ip_addresses.len(), 2);

        m.resume("agent").await.unwrap();
        let set_time = agent
            .log
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r.execute == "guest-set-time")
            .map(|r| r.arguments["time"].as_i64().expect("time in ns"))
            .expect("resume sets the guest clock");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
        assert!((now - set_time).abs() < 10_000_000_000, "{set_time} vs {now}");

        let mut rx = m.subscribe();
        let t0 = Instant::now();
        m.stop(
            "agent",
            StopMode::Acpi {
                timeout: Duration::from_secs(30),
            },
        )
        .await
        .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        assert!(!process::is_alive(pid));
        let shutdowns: Vec<_> = agent
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.execute == "guest-shutdown")
            .map(|r| r.arguments.clone())
            .collect();
        assert_eq!(shutdowns, [serde_json::json!({"mode": "powerdown"})]);
        assert_eq!(states(&mut rx), [VmState::ShuttingDown, VmState::Stopped]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_guest_ignoring_the_agent_shutdown_gets_acpi_after_half_the_timeout() {
        let t = tempfile::tempdir().unwrap();
        let m = manager(&t);
        let (pid, _reaper) = start_paused(&m, "stubborn", false).await;
        let agent = FakeAgent::serve(listen(&m.runtime("stubborn").guest_agent), || {});
        let mut rx = m.subscribe();
        let t0 = Instant::now();
        m.stop(
            "stubborn",
            StopMode::Acpi {
                timeout: Duration::from_secs(4),
            },
        )
        .await
        .unwrap();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(3900) && took < Duration::from_secs(20),
            "{took:?}"
        );
        assert!(!process::is_alive(pid));
        assert!(agent.commands().contains(&"guest-shutdown".to_string()));
        // Once for the agent's power-off, once for the ACPI button.
        assert_eq!(
            states(&mut rx),
            [VmState::ShuttingDown, VmState::ShuttingDown, VmState::Stopped]
        );
    }
}
