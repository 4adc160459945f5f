//! The Preferences window. Every row is bound to a GSettings key, so changes apply at once and
//! the rest of the application reacts through `changed::` signals.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use adw::prelude::*;

use crate::a11y::AccessibleLabelExt;
use gtk::{gdk, gio, glib};

use crate::bridge;
use crate::i18n::{gettext, i18n_f};
use crate::settings::keys;

/// Values of the `default-accel` key, in the order of the combo row.
const ACCELERATORS: [&str; 3] = ["auto", "kvm", "tcg"];

/// Modifier names accepted inside `<…>` in an accelerator.
const MODIFIERS: [&str; 9] = [
    "primary", "control", "ctrl", "ctl", "shift", "alt", "super", "meta", "hyper",
];

/// A key setting that cannot be used. Messages are translated: they are shown in a toast.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum KeyError {
    Empty,
    UnknownKey(String),
    Duplicate,
    TooMany,
    UnknownModifier(String),
}

impl KeyError {
    /// What is wrong and how to fix it, translated.
    pub fn message(&self) -> String {
        match self {
            KeyError::Empty => gettext("Type at least one key name, for example Control_L+Alt_L."),
            KeyError::UnknownKey(name) => i18n_f(
                "“{}” is not a key name. Use names such as Control_L, Alt_L or F11.",
                &[name],
            ),
            KeyError::Duplicate => gettext("A key appears twice. Name each key once."),
            KeyError::TooMany => gettext("Use at most four keys."),
            KeyError::UnknownModifier(name) => i18n_f(
                "“{}” is not a modifier. Use <Control>, <Shift>, <Alt> or <Super>.",
                &[name],
            ),
        }
    }
}

/// Checks a release chord ("Control_L+Alt_L") and returns it without stray spaces.
pub fn validate_chord(text: &str) -> Result<String, KeyError> {
    let parts: Vec<&str> = text.split('+').map(str::trim).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Err(KeyError::Empty);
    }
    if parts.len() > 4 {
        return Err(KeyError::TooMany);
    }
    let mut seen = Vec::new();
    for part in &parts {
        let key = gdk::Key::from_name(*part).ok_or_else(|| KeyError::UnknownKey((*part).to_owned()))?;
        if seen.contains(&key) {
            return Err(KeyError::Duplicate);
        }
        seen.push(key);
    }
    Ok(parts.join("+"))
}

/// Checks an accelerator in GTK syntax ("F11", "<Control><Alt>f") and returns it trimmed.
pub fn validate_accel(text: &str) -> Result<String, KeyError> {
    let text = text.trim();
    let mut rest = text;
    while let Some(after) = rest.strip_prefix('<') {
        let Some(end) = after.find('>') else {
            return Err(KeyError::UnknownKey(rest.to_owned()));
        };
        let modifier = &after[..end];
        if !MODIFIERS.contains(&modifier.to_ascii_lowercase().as_str()) {
            return Err(KeyError::UnknownModifier(modifier.to_owned()));
        }
        rest = &after[end + 1..];
    }
    if rest.is_empty() {
        return Err(KeyError::Empty);
    }
    gdk::Key::from_name(rest).ok_or_else(|| KeyError::UnknownKey(rest.to_owned()))?;
    Ok(text.to_owned())
}

/// Opens the Preferences window for `settings`.
pub fn present(parent: &impl IsA<gtk::Window>, settings: &gio::Settings) {
    let window = adw::PreferencesWindow::builder()
        .transient_for(parent)
        .modal(true)
        .search_enabled(false)
        .default_width(600)
        .default_height(640)
        .build();
    let page = adw::PreferencesPage::builder()
        .title(gettext("General"))
        .icon_name("preferences-system-symbolic")
        .build();
    page.add(&library_group(&window, settings));
    page.add(&machines_group(settings));
    page.add(&keyboard_group(&window, settings));
    window.add(&page);
    window.present();
}

fn library_group(window: &adw::PreferencesWindow, settings: &gio::Settings) -> adw::PreferencesGroup {
    let group = adw::PreferencesGroup::builder().title(gettext("Library")).build();
    let row = adw::ActionRow::builder()
        .title(gettext("Virtual Machine Folder"))
        .use_markup(false)
        .build();
    let choose = icon_button("folder-open-symbolic", &gettext("Choose Folder"));
    let reset = icon_button("edit-undo-symbolic", &gettext("Use Default Folder"));
    row.add_suffix(&reset);
    row.add_suffix(&choose);
    group.add(&row);

    let from_env = bridge::folder_from_environment();
    choose.set_sensitive(!from_env);
    let refresh = {
        let (row, reset) = (row.clone(), reset.clone());
        move |settings: &gio::Settings| {
            let setting = settings.string(keys::VM_FOLDER).to_string();
            let folder = bridge::resolve_paths(&setting).vms.display().to_string();
            let subtitle = if from_env {
                i18n_f("{} (set by the HANGAR_HOME environment variable)", &[&folder])
            } else if setting.trim().is_empty() {
                i18n_f("{} (default)", &[&folder])
            } else {
                folder
            };
            row.set_subtitle(&subtitle);
            reset.set_visible(!from_env && !setting.trim().is_empty());
        }
    };
    refresh(settings);
    let handler = settings.connect_changed(Some(keys::VM_FOLDER), move |s, _| refresh(s));
    disconnect_on_destroy(window, settings, handler);

    reset.connect_clicked({
        let settings = settings.clone();
        move |_| settings.reset(keys::VM_FOLDER)
    });

    // The native chooser must stay referenced while it is open.
    let chooser: Rc<RefCell<Option<gtk::FileChooserNative>>> = Rc::default();
    let weak_window = window.downgrade();
    let settings = settings.clone();
    choose.connect_clicked(move |_| {
        let Some(window) = weak_window.upgrade() else {
            return;
        };
        let native = gtk::FileChooserNative::new(
            Some(&gettext("Virtual Machine Folder")),
            Some(&window),
            gtk::FileChooserAction::SelectFolder,
            Some(&gettext("_Select")),
            Some(&gettext("_Cancel")),
        );
        native.set_modal(true);
        let (settings, window, slot) = (settings.clone(), window.clone(), chooser.clone());
        native.connect_response(move |native, response| {
            if response == gtk::ResponseType::Accept {
                match native.file().and_then(|f| f.path()) {
                    Some(path) => {
                        if let Err(err) = settings.set_string(keys::VM_FOLDER, &path.to_string_lossy()) {
                            window.add_toast(adw::Toast::new(&i18n_f(
                                "Cannot save the folder: {}",
                                &[&err.to_string()],
                            )));
                        }
                    }
                    None => window.add_toast(adw::Toast::new(&gettext(
                        "That folder is not on this computer. Choose a local folder.",
                    ))),
                }
            }
            slot.replace(None);
        });
        native.show();
        chooser.replace(Some(native));
    });
    group
}

fn machines_group(settings: &gio::Settings) -> adw::PreferencesGroup {
    let group = adw::PreferencesGroup::builder()
        .title(gettext("Virtual Machines"))
        .build();

    let labels = [gettext("Automatic"), gettext("KVM"), gettext("Emulation (TCG)")];
    let model = gtk::StringList::new(&labels.iter().map(String::as_str).collect::<Vec<_>>());
    let accel = adw::ComboRow::builder()
        .title(gettext("Default Accelerator"))
        .subtitle(gettext("For virtual machines that do not choose one. Automatic uses KVM when it works and emulates otherwise."))
        .model(&model)
        .build();
    settings
        .bind(keys::DEFAULT_ACCEL, &accel, "selected")
        .mapping(|variant, _| {
            let id = variant.str()?;
            let index = ACCELERATORS.iter().position(|a| *a == id).unwrap_or(0);
            Some(u32::try_from(index).unwrap_or(0).to_value())
        })
        .set_mapping(|value, _| {
            let index = usize::try_from(value.get::<u32>().ok()?).ok()?;
            ACCELERATORS.get(index).map(|id| id.to_variant())
        })
        .build();
    group.add(&accel);

    let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
    let confirm = adw::ActionRow::builder()
        .title(gettext("Confirm Force Off"))
        .subtitle(gettext(
            "Ask before forcing a virtual machine off, which can lose unsaved work in it",
        ))
        .activatable_widget(&switch)
        .build();
    confirm.add_suffix(&switch);
    settings.bind(keys::CONFIRM_FORCE_OFF, &switch, "active").build();
    group.add(&confirm);
    group
}

fn keyboard_group(window: &adw::PreferencesWindow, settings: &gio::Settings) -> adw::PreferencesGroup {
    let group = adw::PreferencesGroup::builder()
        .title(gettext("Keyboard"))
        .description(gettext("Keys that work while a virtual machine display has the keyboard. Press Enter or the apply button to save."))
        .build();
    group.add(&key_row(
        window,
        settings,
        keys::RELEASE_CHORD,
        &gettext("Release Keyboard and Pointer"),
        validate_chord,
    ));
    group.add(&key_row(
        window,
        settings,
        keys::FULLSCREEN_KEY,
        &gettext("Toggle Fullscreen"),
        validate_accel,
    ));
    group
}

/// An entry row editing a key setting; the value is validated before it is saved.
fn key_row(
    window: &adw::PreferencesWindow,
    settings: &gio::Settings,
    key: &'static str,
    title: &str,
    validate: fn(&str) -> Result<String, KeyError>,
) -> adw::EntryRow {
    let row = adw::EntryRow::builder()
        .title(title)
        .show_apply_button(true)
        .use_markup(false)
        .build();
    row.set_text(&settings.string(key));
    row.connect_changed(|row| row.remove_css_class("error"));
    let weak_window = window.downgrade();
    let settings_for_apply = settings.clone();
    row.connect_apply(move |row| {
        let Some(window) = weak_window.upgrade() else {
            return;
        };
        match validate(&row.text()) {
            Ok(value) => {
                if let Err(err) = settings_for_apply.set_string(key, &value) {
                    window.add_toast(adw::Toast::new(&i18n_f(
                        "Cannot save the setting: {}",
                        &[&err.to_string()],
                    )));
                    return;
                }
                if row.text() != value {
                    row.set_text(&value);
                }
            }
            Err(err) => {
                row.add_css_class("error");
                window.add_toast(adw::Toast::new(&err.to_string()));
            }
        }
    });
    let weak_row = row.downgrade();
    let handler = settings.connect_changed(Some(key), move |settings, key| {
        if let Some(row) = weak_row.upgrade() {
            let value = settings.string(key);
            if row.text() != value {
                row.set_text(&value);
            }
        }
    });
    disconnect_on_destroy(window, settings, handler);
    row
}

fn icon_button(icon: &str, label: &str) -> gtk::Button {
    let button = gtk::Button::builder()
        .icon_name(icon)
        .tooltip_text(label)
        .valign(gtk::Align::Center)
        .css_classes(["flat"])
        .build();
    button.set_accessible_label(label);
    button
}

/// Settings outlive the window: drop the window's `changed` handlers when it goes away.
fn disconnect_on_destroy(
    window: &adw::PreferencesWindow,
    settings: &gio::Settings,
    handler: glib::SignalHandlerId,
) {
    let handler = Cell::new(Some(handler));
    let settings = settings.clone();
    window.connect_destroy(move |_| {
        if let Some(id) = handler.take() {
            settings.disconnect(id);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_name_real_distinct_keys() {
        assert_eq!(
            validate_chord("Control_L+Alt_L"),
            Ok("Control_L+Alt_L".to_owned())
        );
        assert_eq!(
            validate_chord(" Control_L + Alt_L "),
            Ok("Control_L+Alt_L".to_owned())
        );
        assert_eq!(validate_chord("Super_L"), Ok("Super_L".to_owned()));
        assert_eq!(validate_chord(""), Err(KeyError::Empty));
        assert_eq!(
            validate_chord("Control_L+Banana"),
            Err(KeyError::UnknownKey("Banana".into()))
        );
        assert_eq!(
            validate_chord("Control_L+"),
            Err(KeyError::UnknownKey(String::new()))
        );
        assert_eq!(validate_chord("Alt_L+Alt_L"), Err(KeyError::Duplicate));
        assert_eq!(validate_chord("a+b+c+d+e"), Err(KeyError::TooMany));
    }

    #[test]
    fn accelerators_use_gtk_syntax() {
        assert_eq!(validate_accel("F11"), Ok("F11".to_owned()));
        assert_eq!(
            validate_accel(" <Control><Alt>f "),
            Ok("<Control><Alt>f".to_owned())
        );
        assert_eq!(
            validate_accel("<primary>Return"),
            Ok("<primary>Return".to_owned())
        );
        assert_eq!(validate_accel("<Control>"), Err(KeyError::Empty));
        assert_eq!(
            validate_accel("<Hyperdrive>F1"),
            Err(KeyError::UnknownModifier("Hyperdrive".into()))
        );
        assert_eq!(validate_accel("F99x"), Err(KeyError::UnknownKey("F99x".into())));
        assert!(validate_accel("<Control").is_err());
    }
}
