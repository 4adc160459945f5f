//! The guest agent commands Hangar uses, with their reply types (from QEMU's
//! `qga/qapi-schema.json`; optional fields are `Option`s and unknown fields are ignored, so
//! older and newer agents, Linux or Windows, decode).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A guest agent command: its arguments serialise to the `arguments` object.
pub trait QgaCommand: Serialize + Send + Sync {
    /// Decoded `return` value.
    type Ok: DeserializeOwned;
    /// Wire name, e.g. `guest-ping`.
    const NAME: &'static str;
}

/// A `return` that carries nothing (`{}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Empty {}

macro_rules! command {
    ($ty:ident, $name:literal, $ok:ty) => {
        impl QgaCommand for $ty {
            type Ok = $ok;
            const NAME: &'static str = $name;
        }
    };
}

/// Resynchronise: the reply is `0xFF` followed by `{"return": id}`.
#[derive(Debug, Clone, Serialize)]
pub struct GuestSyncDelimited {
    pub id: i64,
}
command!(GuestSyncDelimited, "guest-sync-delimited", i64);

/// Is the agent alive?
#[derive(Debug, Clone, Serialize)]
pub struct GuestPing {}
command!(GuestPing, "guest-ping", Empty);

/// How `guest-shutdown` shuts the guest down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShutdownMode {
    /// Power off (the agent's default).
    Powerdown,
    Halt,
    Reboot,
}

/// Shut the guest down. On success there is NO reply: the guest goes away.
#[derive(Debug, Clone, Serialize)]
pub struct GuestShutdown {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ShutdownMode>,
}
command!(GuestShutdown, "guest-shutdown", Empty);

/// The guest's host name.
#[derive(Debug, Clone, Serialize)]
pub struct GuestGetHostName {}
command!(GuestGetHostName, "guest-get-host-name", GuestHostName);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GuestHostName {
    #[serde(rename = "host-name")]
    pub host_name: String,
}

/// The guest's OS (os-release on Linux, the registry on Windows).
#[derive(Debug, Clone, Serialize)]
pub struct GuestGetOsinfo {}
command!(GuestGetOsinfo, "guest-get-osinfo", GuestOsInfo);

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GuestOsInfo {
    pub kernel_release: Option<String>,
    pub kernel_version: Option<String>,
    pub machine: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub pretty_name: Option<String>,
    pub version: Option<String>,
    pub version_id: Option<String>,
    pub variant: Option<String>,
    pub variant_id: Option<String>,
}

/// The guest's network interfaces and addresses.
#[derive(Debug, Clone, Serialize)]
pub struct GuestNetworkGetInterfaces {}
command!(
    GuestNetworkGetInterfaces,
    "guest-network-get-interfaces",
    Vec<GuestNetworkInterface>
);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GuestNetworkInterface {
    pub name: String,
    pub hardware_address: Option<String>,
    #[serde(default)]
    pub ip_addresses: Vec<GuestIpAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GuestIpAddress {
    pub ip_address: String,
    pub ip_address_type: GuestIpAddressType,
    pub prefix: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestIpAddressType {
    Ipv4,
    Ipv6,
    #[serde(other)]
    Other,
}

/// Set the guest's clock: to `time` (nanoseconds since the Unix epoch, UTC), or, without it,
/// from the guest's RTC (Linux agents only; Windows agents require `time`).
#[derive(Debug, Clone, Serialize)]
pub struct GuestSetTime {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}
command!(GuestSetTime, "guest-set-time", Empty);

/// The agent's version and commands.
#[derive(Debug, Clone, Serialize)]
pub struct GuestInfo {}
command!(GuestInfo, "guest-info", GuestAgentInfo);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GuestAgentInfo {
    pub version: String,
    #[serde(default)]
    pub supported_commands: Vec<GuestAgentCommandInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GuestAgentCommandInfo {
    pub name: String,
    pub enabled: bool,
    #[serde(rename = "success-response", default = "yes")]
    pub success_response: bool,
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_encode_like_the_schema() {
        let v = serde_json::to_value(GuestShutdown {
            mode: Some(ShutdownMode::Powerdown),
        })
        .unwrap();
        assert_eq!(v, json!({"mode": "powerdown"}));
        assert_eq!(
            serde_json::to_value(GuestShutdown { mode: None }).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::to_value(GuestSetTime { time: None }).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::to_value(GuestSetTime { time: Some(5) }).unwrap(),
            json!({"time": 5})
        );
    }

    #[test]
    fn replies_decode_with_missing_and_unknown_fields() {
        let ifaces: Vec<GuestNetworkInterface> = serde_json::from_value(json!([
            {"name": "lo", "ip-addresses": [
                {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}],
             "statistics": {"rx-bytes": 1}},
            {"name": "eth0", "hardware-address": "52:54:00:12:34:56", "ip-addresses": [
                {"ip-address": "fe80::1", "ip-address-type": "ipv6", "prefix": 64},
                {"ip-address": "x", "ip-address-type": "ipx", "prefix": 1}]},
            {"name": "dummy0"}
        ]))
        .unwrap();
        assert_eq!(ifaces.len(), 3);
        assert_eq!(
            ifaces[1].ip_addresses[0].ip_address_type,
            GuestIpAddressType::Ipv6
        );
        assert_eq!(
            ifaces[1].ip_addresses[1].ip_address_type,
            GuestIpAddressType::Other
        );
        assert!(ifaces[2].ip_addresses.is_empty());

        let os: GuestOsInfo =
            serde_json::from_value(json!({"id": "debian", "pretty-name": "Debian GNU/Linux 12", "extra": 1}))
                .unwrap();
        assert_eq!(os.id.as_deref(), Some("debian"));
        assert_eq!(os.pretty_name.as_deref(), Some("Debian GNU/Linux 12"));
        assert_eq!(os.kernel_release, None);

        let info: GuestAgentInfo = serde_json::from_value(json!({"version": "7.2.0",
            "supported_commands": [{"name": "guest-ping", "enabled": true, "success-response": true}]}))
        .unwrap();
        assert_eq!(info.supported_commands[0].name, "guest-ping");
        let _: Empty = serde_json::from_value(json!({})).unwrap();
    }
}
