//! A VM's "attach automatically" rules ([`UsbRule`]) against the plugged-in devices.

use crate::config::UsbRule;

use super::device::{PortPath, UsbDevice};
use super::select::Selector;

/// What a rule pins a device by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleBy {
    /// `vendor:product`: this model in any port.
    Id,
    /// The physical port: whatever is plugged into that socket.
    Port,
}

/// A rule for `dev`. `None` for a root hub asked by port (it has none).
pub fn rule_for(dev: &UsbDevice, by: RuleBy) -> Option<UsbRule> {
    match by {
        RuleBy::Id => Some(UsbRule {
            device: dev.id(),
            port: String::new(),
        }),
        RuleBy::Port => dev.port.as_ref().map(|p| UsbRule {
            device: String::new(),
            port: p.to_string(),
        }),
    }
}

/// Whether `rule` selects `dev`. Malformed rules (which `UsbConfig::validate` rejects) match nothing,
/// and neither do hubs, which cannot be passed through.
pub fn rule_matches(rule: &UsbRule, dev: &UsbDevice) -> bool {
    if dev.is_hub() {
        return false;
    }
    match (rule.device.is_empty(), rule.port.is_empty()) {
        (false, true) => matches!(
            rule.device.parse::<Selector>(),
            Ok(sel @ Selector::Id { .. }) if sel.matches(dev)
        ),
        (true, false) => PortPath::parse(&rule.port).is_some_and(|p| dev.port.as_ref() == Some(&p)),
        _ => false,
    }
}

/// A device one of the rules selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMatch<'a> {
    /// Index of the first rule that selects the device.
    pub rule: usize,
    pub device: &'a UsbDevice,
}

/// Devices selected by any of `rules`, each once, ordered by bus then port (whatever order
/// `devices` came in).
pub fn matching<'a>(rules: &[UsbRule], devices: &'a [UsbDevice]) -> Vec<RuleMatch<'a>> {
    let mut out: Vec<RuleMatch<'a>> = devices
        .iter()
        .filter_map(|device| {
            rules
                .iter()
                .position(|r| rule_matches(r, device))
                .map(|rule| RuleMatch { rule, device })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.device.bus, &a.device.port, a.device.devnum).cmp(&(b.device.bus, &b.device.port, b.device.devnum))
    });
    out
}

/// The rules that select `dev` (indices), to show "attached automatically by rule …" or to remove them.
pub fn rules_for_device(rules: &[UsbRule], dev: &UsbDevice) -> Vec<usize> {
    (0..rules.len())
        .filter(|&i| rule_matches(&rules[i], dev))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UsbConfig;
    use crate::usb::testutil::{by_name, fixture_devices};

    fn by_id(s: &str) -> UsbRule {
        UsbRule {
            device: s.into(),
            port: String::new(),
        }
    }

    fn by_port(s: &str) -> UsbRule {
        UsbRule {
            device: String::new(),
            port: s.into(),
        }
    }

    fn names(m: &[RuleMatch<'_>]) -> Vec<(usize, String)> {
        m.iter().map(|m| (m.rule, m.device.sysname.clone())).collect()
    }

    #[test]
    fn rules_built_from_devices_validate_and_match_them() {
        let devices = fixture_devices("desk");
        let stick = by_name(&devices, "1-2.4");
        let id = rule_for(stick, RuleBy::Id).unwrap();
        let port = rule_for(stick, RuleBy::Port).unwrap();
        assert_eq!(id, by_id("0781:5567"));
        assert_eq!(port, by_port("1-2.4"));
        let cfg = UsbConfig {
            rules: vec![id.clone(), port.clone()],
            ..Default::default()
        };
        cfg.validate().unwrap();
        assert!(rule_matches(&id, stick) && rule_matches(&port, stick));
        assert_eq!(rule_for(by_name(&devices, "usb1"), RuleBy::Port), None);
    }

    #[test]
    fn matching_is_deterministic_and_each_device_once() {
        let devices = fixture_devices("desk");
        let rules = vec![
            by_port("1-6"),
            by_id("046D:C52B"),
            by_port("2-1"),
            by_id("0781:5567"),
        ];
        let expected = vec![
            (1, "1-2.1".to_string()),
            (3, "1-2.4".to_string()),
            (0, "1-6".to_string()),
            (2, "2-1".to_string()),
        ];
        assert_eq!(names(&matching(&rules, &devices)), expected);
        let mut reversed = devices.clone();
        reversed.reverse();
        assert_eq!(names(&matching(&rules, &reversed)), expected);
        assert_eq!(rules_for_device(&rules, by_name(&devices, "1-6")), vec![0, 1]);
    }

    #[test]
    fn hubs_empty_and_malformed_rules_match_nothing() {
        let devices = fixture_devices("desk");
        let rules = vec![
            by_port("1-2"),
            by_id("1d6b:0002"),
            by_id("1:5"),
            by_port("1-2.9"),
            UsbRule {
                device: String::new(),
                port: String::new(),
            },
            UsbRule {
                device: "0781:5567".into(),
                port: "1-2.4".into(),
            },
        ];
        assert!(matching(&rules, &devices).is_empty());
    }
}
