//! Step 4: firmware (automatic from the system, or BIOS / UEFI / UEFI with Secure Boot, and a
//! TPM) with warnings when the host lacks OVMF or swtpm, and the network (NAT or a bridge).

use super::Input;
use adw::prelude::*;
use hangar_core::config::{FirmwareConfig, FirmwareKind, NetMode};
use hangar_core::host::HostCaps;

use super::model::{valid_bridge, FirmwareChoice, PageProblem, WizardState, UEFI_MIN_MEMORY_MIB};
use super::rows::{set_status, set_text, status_label, Note, NoteList};
use super::{Wizard, WizardInput};
use crate::i18n::{gettext, i18n_f};

pub struct SystemPage {
    pub root: adw::PreferencesPage,
    firmware: adw::ComboRow,
    tpm_row: adw::ActionRow,
    tpm: gtk::Switch,
    firmware_notes: NoteList,
    network: adw::ComboRow,
    bridge: adw::EntryRow,
    bridge_status: gtk::Label,
    network_notes: NoteList,
}

impl SystemPage {
    pub fn new(input: &Input) -> Self {
        let root = adw::PreferencesPage::new();

        let firmware_group = adw::PreferencesGroup::builder()
            .title(gettext("Firmware"))
            .build();
        let firmware_names = [
            gettext("Automatic"),
            gettext("BIOS"),
            gettext("UEFI"),
            gettext("UEFI with Secure Boot"),
        ];
        let names: Vec<&str> = firmware_names.iter().map(String::as_str).collect();
        let firmware = adw::ComboRow::builder()
            .title(gettext("Firmware"))
            .model(&gtk::StringList::new(&names))
            .build();
        let tpm = gtk::Switch::builder().valign(gtk::Align::Center).build();
        let tpm_row = adw::ActionRow::builder()
            .title(gettext("TPM 2.0"))
            .subtitle(gettext("An emulated security chip, kept in the VM folder"))
            .activatable_widget(&tpm)
            .build();
        tpm_row.add_suffix(&tpm);
        firmware_group.add(&firmware);
        firmware_group.add(&tpm_row);
        let firmware_notes = NoteList::new();
        firmware_group.add(&firmware_notes.root);
        root.add(&firmware_group);

        let network_group = adw::PreferencesGroup::builder().title(gettext("Network")).build();
        let network_names = [gettext("NAT"), gettext("Bridge")];
        let names: Vec<&str> = network_names.iter().map(String::as_str).collect();
        let network = adw::ComboRow::builder()
            .title(gettext("Connection"))
            .model(&gtk::StringList::new(&names))
            .build();
        let bridge = adw::EntryRow::builder()
            .title(gettext("Bridge name"))
            .activates_default(true)
            .input_hints(gtk::InputHints::NO_SPELLCHECK)
            .build();
        let bridge_status = status_label();
        network_group.add(&network);
        network_group.add(&bridge);
        network_group.add(&bridge_status);
        let network_notes = NoteList::new();
        network_group.add(&network_notes.root);
        root.add(&network_group);

        {
            let input = input.clone();
            firmware.connect_selected_notify(move |row| {
                let choice = usize::try_from(row.selected())
                    .ok()
                    .and_then(|i| FirmwareChoice::ALL.get(i).copied())
                    .unwrap_or(FirmwareChoice::Automatic);
                input.emit(WizardInput::Firmware(choice));
            });
        }
        {
            let input = input.clone();
            tpm.connect_active_notify(move |switch| input.emit(WizardInput::Tpm(switch.is_active())));
        }
        {
            let input = input.clone();
            network.connect_selected_notify(move |row| {
                let mode = if row.selected() == 1 {
                    NetMode::Bridge
                } else {
                    NetMode::Nat
                };
                input.emit(WizardInput::Network(mode));
            });
        }
        {
            let input = input.clone();
            bridge.connect_changed(move |entry| input.emit(WizardInput::Bridge(entry.text().into())));
        }

        SystemPage {
            root,
            firmware,
            tpm_row,
            tpm,
            firmware_notes,
            network,
            bridge,
            bridge_status,
            network_notes,
        }
    }

    pub fn refresh(&self, wizard: &Wizard) {
        let state = &wizard.state;
        let host = wizard.manager.host();
        let index = FirmwareChoice::ALL
            .iter()
            .position(|c| *c == state.firmware)
            .unwrap_or(0) as u32;
        if self.firmware.selected() != index {
            self.firmware.set_selected(index);
        }
        let effective = state.effective_firmware();
        let automatic = state.firmware == FirmwareChoice::Automatic;
        if self.tpm.is_active() != effective.tpm {
            self.tpm.set_active(effective.tpm);
        }
        self.tpm_row.set_sensitive(!automatic);
        let mut notes = vec![];
        if automatic {
            notes.push(Note::info(automatic_reason(state)));
        }
        notes.extend(firmware_warnings(effective, host, state.memory_mib));
        self.firmware_notes.set(notes);

        let bridged = state.network == NetMode::Bridge;
        let index = u32::from(bridged);
        if self.network.selected() != index {
            self.network.set_selected(index);
        }
        self.bridge.set_visible(bridged);
        set_text(&self.bridge, &state.bridge);
        let problem = if bridged && !state.bridge.trim().is_empty() && !valid_bridge(&state.bridge) {
            PageProblem::Bridge.message()
        } else {
            String::new()
        };
        set_status(&self.bridge_status, &problem, true);
        if problem.is_empty() {
            self.bridge.remove_css_class("error");
        } else {
            self.bridge.add_css_class("error");
        }
        self.network_notes.set(network_notes(state, host));
    }

    pub fn focus(&self) -> bool {
        self.firmware.grab_focus()
    }
}

/// What "Automatic" chose and why.
fn automatic_reason(state: &WizardState) -> String {
    let fw = state.recommendation.firmware;
    let Some(os) = &state.os else {
        return gettext("Automatic chose BIOS, which suits most systems and installers.");
    };
    match (fw.kind, fw.secure_boot, fw.tpm) {
        (FirmwareKind::Uefi, true, true) => i18n_f(
            "Automatic chose UEFI with Secure Boot and a TPM 2.0: {} requires them.",
            &[&os.name],
        ),
        (FirmwareKind::Uefi, _, _) => i18n_f("Automatic chose UEFI: {} only starts with UEFI.", &[&os.name]),
        (FirmwareKind::Bios, _, _) => i18n_f(
            "Automatic chose BIOS: {} starts with it, and so do most installers.",
            &[&os.name],
        ),
    }
}

/// Problems of `fw` on this host.
fn firmware_warnings(fw: FirmwareConfig, host: &HostCaps, memory_mib: u64) -> Vec<Note> {
    let mut notes = vec![];
    if fw.kind == FirmwareKind::Uefi {
        match &host.ovmf {
            None => notes.push(Note::warning(gettext(
                "UEFI firmware (OVMF) is not installed, so this virtual machine will not start. Install the ovmf package (sudo apt install ovmf) or choose BIOS.",
            ))),
            Some(ovmf)
                if fw.secure_boot
                    && (ovmf.code_for(true).is_none() || ovmf.vars_template_for(true).is_none()) =>
            {
                notes.push(Note::warning(gettext(
                    "The Secure Boot build of OVMF is not installed. Install the ovmf package from your distribution, or choose UEFI without Secure Boot.",
                )))
            }
            Some(_) => {}
        }
        if memory_mib < UEFI_MIN_MEMORY_MIB {
            notes.push(Note::warning(i18n_f(
                "UEFI needs at least {} MiB of memory to start a boot loader; give the virtual machine more on the previous page.",
                &[&UEFI_MIN_MEMORY_MIB.to_string()],
            )));
        }
    }
    if fw.tpm && host.swtpm.is_none() {
        notes.push(Note::warning(gettext(
            "swtpm is not installed, so the TPM cannot be emulated and the virtual machine will not start. Install swtpm (sudo apt install swtpm swtpm-tools) or turn the TPM off.",
        )));
    }
    notes
}

fn network_notes(state: &WizardState, host: &HostCaps) -> Vec<Note> {
    if state.network != NetMode::Bridge {
        return vec![Note::info(gettext(
            "The virtual machine reaches the network through this computer; other computers cannot reach it.",
        ))];
    }
    let bridge = if valid_bridge(&state.bridge) {
        state.bridge.trim().to_owned()
    } else {
        "br0".to_owned()
    };
    let mut notes = vec![Note::info(i18n_f(
        "The virtual machine joins the network of the host bridge. qemu-bridge-helper must allow it: add the line “allow {}” to /etc/qemu/bridge.conf.",
        &[&bridge],
    ))];
    if host.bridge_helper.is_none() {
        notes.push(Note::warning(gettext(
            "qemu-bridge-helper is not installed; install the qemu-system-common package, or use NAT.",
        )));
    }
    notes
}

#[cfg(test)]
mod tests {
    use hangar_core::host::Ovmf;
    use hangar_core::osinfo::HostLimits;

    use super::*;

    /// A host whose file system is an empty folder: no OVMF, no swtpm, no bridge helper.
    fn bare_host() -> (tempfile::TempDir, HostCaps) {
        let root = tempfile::tempdir().unwrap();
        let caps = HostCaps::probe_with(root.path(), |_| None);
        (root, caps)
    }

    const UEFI_SB_TPM: FirmwareConfig = FirmwareConfig {
        kind: FirmwareKind::Uefi,
        secure_boot: true,
        tpm: true,
    };

    #[test]
    fn missing_ovmf_and_swtpm_are_warned_about() {
        let (_root, mut host) = bare_host();
        let notes = firmware_warnings(UEFI_SB_TPM, &host, 4096);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().all(|n| n.warning));
        assert!(notes[0].text.contains("ovmf"), "{notes:?}");
        assert!(notes[1].text.contains("swtpm"), "{notes:?}");
        // OVMF without the Secure Boot build.
        host.ovmf = Some(Ovmf {
            code: "/ovmf/CODE.fd".into(),
            vars: "/ovmf/VARS.fd".into(),
            secure_code: None,
            secure_vars: None,
        });
        host.swtpm = Some("/usr/bin/swtpm".into());
        let notes = firmware_warnings(UEFI_SB_TPM, &host, 4096);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].text.contains("Secure Boot"));
        // Plain UEFI is fine, but not with too little memory; BIOS needs nothing.
        let uefi = FirmwareConfig {
            kind: FirmwareKind::Uefi,
            secure_boot: false,
            tpm: false,
        };
        assert!(firmware_warnings(uefi, &host, 1024).is_empty());
        assert_eq!(firmware_warnings(uefi, &host, 256).len(), 1);
        let (_root, bare) = bare_host();
        assert!(firmware_warnings(FirmwareConfig::default(), &bare, 64).is_empty());
    }

    #[test]
    fn bridge_notes_name_the_bridge_and_the_missing_helper() {
        let (_root, mut host) = bare_host();
        let mut state = WizardState::new(HostLimits::from_caps(&host, None));
        let nat = network_notes(&state, &host);
        assert_eq!(nat.len(), 1);
        assert!(!nat[0].warning);
        state.network = NetMode::Bridge;
        state.bridge = "virbr1".into();
        let notes = network_notes(&state, &host);
        assert!(notes[0].text.contains("allow virbr1"), "{notes:?}");
        assert!(notes[1].warning && notes[1].text.contains("qemu-bridge-helper"));
        host.bridge_helper = Some("/usr/lib/qemu/qemu-bridge-helper".into());
        assert_eq!(network_notes(&state, &host).len(), 1);
    }

    #[test]
    fn automatic_explains_its_choice() {
        let (_root, host) = bare_host();
        let mut state = WizardState::new(HostLimits::from_caps(&host, None));
        assert!(automatic_reason(&state).contains("BIOS"));
        let win11 = hangar_core::osinfo::OsEntry {
            id: "http://microsoft.com/win/11".into(),
            short_ids: vec!["win11".into()],
            name: "Microsoft Windows 11".into(),
            family: "winnt".into(),
            needs_tpm_and_secure_boot: true,
            ..Default::default()
        };
        state.set_os(Some(win11));
        let reason = automatic_reason(&state);
        assert!(
            reason.contains("Secure Boot") && reason.contains("Windows 11"),
            "{reason}"
        );
    }
}
