//! Device areas beyond the machine itself: USB, clipboard, agent channels, expert options.

use serde::{Deserialize, Serialize};

use super::devices::range;
use super::error::ConfigError;

/// An "attach automatically" rule for a host USB device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbRule {
    /// `vendor:product` in hex (`046d:c52b`), or empty when matching by port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
    /// Physical port `bus-port.port` (`1-2.4`), or empty when matching by id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub port: String,
}

/// USB controller and devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsbConfig {
    /// `qemu-xhci` controller present.
    pub controller: bool,
    /// Absolute pointer (`usb-tablet`): the cursor follows the host pointer without grabbing.
    pub tablet: bool,
    /// SPICE USB redirection channels (SPICE displays only).
    pub redirect_channels: u8,
    #[serde(rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<UsbRule>,
}

impl Default for UsbConfig {
    fn default() -> Self {
        UsbConfig {
            controller: true,
            tablet: true,
            redirect_channels: 2,
            rules: vec![],
        }
    }
}

impl UsbConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tablet && !self.controller {
            return Err(ConfigError::invalid(
                "usb.tablet",
                "the USB tablet needs usb.controller = true",
            ));
        }
        range(
            "usb.redirect_channels",
            u64::from(self.redirect_channels),
            0,
            8,
            "",
        )?;
        for (i, r) in self.rules.iter().enumerate() {
            let field = format!("usb.rule[{i}]");
            match (r.device.is_empty(), r.port.is_empty()) {
                (false, true) if is_vid_pid(&r.device) => {}
                (true, false) if is_port(&r.port) => {}
                _ => {
                    return Err(ConfigError::invalid(
                        field,
                        "a rule needs either device = \"vendor:product\" (hex, e.g. \"046d:c52b\") or port = \"bus-port\" (e.g. \"1-2.4\")",
                    ))
                }
            }
        }
        Ok(())
    }
}

fn is_vid_pid(s: &str) -> bool {
    s.split_once(':').is_some_and(|(v, p)| {
        [v, p]
            .iter()
            .all(|x| x.len() == 4 && x.chars().all(|c| c.is_ascii_hexdigit()))
    })
}

fn is_port(s: &str) -> bool {
    s.split_once('-').is_some_and(|(bus, path)| {
        !bus.is_empty()
            && bus.chars().all(|c| c.is_ascii_digit())
            && !path.is_empty()
            && path
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    })
}

/// Clipboard sharing policy, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClipboardConfig {
    pub host_to_guest: bool,
    pub guest_to_host: bool,
}

impl Default for ClipboardConfig {
    fn default() -> Self {
        ClipboardConfig {
            host_to_guest: true,
            guest_to_host: true,
        }
    }
}

/// Keyboard input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputConfig {
    /// The keyboard layout the guest uses, for typing text into it (`us`, `gb`, `de`, `fr`).
    pub keyboard_layout: String,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            keyboard_layout: crate::keymap::Layout::default().name().into(),
        }
    }
}

impl InputConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if crate::keymap::Layout::from_name(&self.keyboard_layout).is_none() {
            return Err(ConfigError::invalid(
                "input.keyboard_layout",
                format!(
                    "{:?} is not a known keyboard layout; use one of {}",
                    self.keyboard_layout,
                    crate::keymap::Layout::names()
                ),
            ));
        }
        Ok(())
    }

    /// The layout (US when the name is unknown; `validate` refuses those).
    pub fn layout(&self) -> crate::keymap::Layout {
        crate::keymap::Layout::from_name(&self.keyboard_layout).unwrap_or_default()
    }

    pub(super) fn is_default(&self) -> bool {
        *self == InputConfig::default()
    }
}

/// Guest agent channels and serial console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// `org.qemu.guest_agent.0` port for qemu-guest-agent.
    pub guest_agent: bool,
    /// Serial console (ttyS0) on a socket, logged to `serial.log`.
    pub serial: bool,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig {
            guest_agent: true,
            serial: true,
        }
    }
}

/// Things for experts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdvancedConfig {
    /// Extra QEMU arguments, appended last, one argv element each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyboard_layouts_are_checked() {
        assert_eq!(InputConfig::default().keyboard_layout, "us");
        let fr = InputConfig {
            keyboard_layout: "fr".into(),
        };
        assert!(fr.validate().is_ok());
        assert_eq!(fr.layout(), crate::keymap::Layout::Fr);
        let bad = InputConfig {
            keyboard_layout: "azerty".into(),
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.field(), Some("input.keyboard_layout"));
        assert!(e.to_string().contains("use one of us, gb, de, fr"), "{e}");
    }

    #[test]
    fn vid_pid_and_port_shapes() {
        assert!(is_vid_pid("046d:c52b"));
        assert!(!is_vid_pid("46d:c52b"));
        assert!(!is_vid_pid("046d-c52b"));
        assert!(is_port("1-2.4"));
        assert!(is_port("3-1"));
        assert!(!is_port("1-"));
        assert!(!is_port("1-2..4"));
        assert!(!is_port("x-2"));
    }
}
