//! "Type Clipboard Text": the host clipboard's text typed into the guest as key presses
//! ([`Manager::type_text`](hangar_core::manager::Manager::type_text)), for guests without a
//! clipboard agent (installers, text consoles). Long texts are confirmed first.

use adw::prelude::*;
use hangar_core::manager::{TypeError, TypeReport, TYPE_CONFIRM_CHARS};
use relm4::ComponentSender;

use super::{read_text, ClipCmd, ClipInput};
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f, ni18n_f};
use crate::ui::console::{Console, ConsoleCmd, ConsoleInput, ConsoleOutput};

/// About how many characters Hangar types per second (see `hangar_core::manager::typing`).
const CHARS_PER_SECOND: usize = 50;

/// Whether typing `chars` characters needs the user's yes.
pub fn needs_confirmation(chars: usize) -> bool {
    chars > TYPE_CONFIRM_CHARS
}

/// Rounded-up seconds typing `chars` characters takes.
pub fn typing_seconds(chars: usize) -> usize {
    chars.div_ceil(CHARS_PER_SECOND).max(1)
}

impl Console {
    pub(super) fn clip_type_clipboard(&mut self, sender: &ComponentSender<Self>) {
        if self.clip.typing {
            return;
        }
        read_text(&self.clip.clipboard, sender, ClipInput::TypeRead);
    }

    pub(super) fn clip_type_read(&mut self, text: Option<String>, sender: &ComponentSender<Self>) {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            let _ = sender.output(ConsoleOutput::Error(UserError::new(
                gettext("The clipboard holds no text"),
                gettext("Copy some text on this computer first, then choose Type Clipboard Text again."),
            )));
            return;
        };
        let chars = text.chars().count();
        if !needs_confirmation(chars) {
            self.clip_type(text, sender);
            return;
        }
        let Some(window) = self.w.content.root().and_downcast::<gtk::Window>() else {
            return;
        };
        let count = chars.to_string();
        let seconds = typing_seconds(chars).to_string();
        let body = ni18n_f(
            "The clipboard holds {} character. Typing it takes about {} seconds; do not type in the virtual machine meanwhile.",
            "The clipboard holds {} characters. Typing them takes about {} seconds; do not type in the virtual machine meanwhile.",
            u32::try_from(chars).unwrap_or(u32::MAX),
            &[&count, &seconds],
        );
        let dialog = adw::MessageDialog::new(
            Some(&window),
            Some(&gettext("Type the Clipboard Text?")),
            Some(&body),
        );
        dialog.add_response("cancel", &gettext("_Cancel"));
        dialog.add_response("type", &gettext("_Type"));
        dialog.set_response_appearance("type", adw::ResponseAppearance::Suggested);
        dialog.set_default_response(Some("type"));
        dialog.set_close_response("cancel");
        let tx = sender.input_sender().clone();
        dialog.connect_response(None, move |_, response| {
            if response == "type" {
                tx.emit(ConsoleInput::Clip(ClipInput::TypeConfirmed(text.clone())));
            }
        });
        dialog.present();
    }

    pub(super) fn clip_type(&mut self, text: String, sender: &ComponentSender<Self>) {
        if std::mem::replace(&mut self.clip.typing, true) {
            return;
        }
        self.clip_refresh();
        tracing::info!(vm = %self.name, chars = text.chars().count(), "typing the clipboard text");
        let (manager, name) = (self.manager.clone(), self.name.clone());
        sender.oneshot_command(async move {
            ConsoleCmd::Clip(Box::new(ClipCmd::Typed(manager.type_text(&name, &text).await)))
        });
    }

    pub(super) fn clip_typed(
        &mut self,
        result: Result<TypeReport, TypeError>,
        sender: &ComponentSender<Self>,
    ) {
        self.clip.typing = false;
        self.clip_refresh();
        match result {
            Ok(report) => {
                tracing::info!(vm = %self.name, typed = report.typed, skipped = report.skipped.len(), "typed the clipboard text");
                if !report.skipped.is_empty() {
                    let missing: String = report.skipped.iter().map(|s| s.ch).collect();
                    let text = i18n_f(
                        "Some characters cannot be typed with the {} keyboard layout and were left out: {}",
                        &[report.layout.label(), &missing],
                    );
                    let _ = sender.output(ConsoleOutput::Notify(text));
                }
            }
            Err(err) => {
                let _ = sender.output(ConsoleOutput::Error(UserError::from_error(
                    gettext("Could not type the clipboard text"),
                    &err,
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_confirmed_with_a_duration() {
        assert!(!needs_confirmation(TYPE_CONFIRM_CHARS));
        assert!(needs_confirmation(TYPE_CONFIRM_CHARS + 1));
        assert_eq!(typing_seconds(1), 1);
        assert_eq!(typing_seconds(201), 5);
        assert_eq!(typing_seconds(10_000), 200);
    }
}
