//! "Open in New Window": the console (toolbar, screen, session) moves into its own window and
//! the VM page shows a placeholder; closing that window, or "Show Here", moves it back. The
//! display session is not interrupted.

use adw::prelude::*;
use gtk::glib;
use relm4::ComponentSender;

use super::{Console, ConsoleInput, ConsoleOutput};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

/// The separate window and its parts.
pub struct Detached {
    pub window: adw::Window,
    pub header: adw::HeaderBar,
    holder: gtk::Box,
}

impl Console {
    pub(super) fn detach(&mut self, root: &gtk::Stack, sender: &ComponentSender<Self>) {
        if self.detached.is_some() {
            return;
        }
        if self.fullscreen {
            let _ = sender.output(ConsoleOutput::SetFullscreen(false));
        }
        let content = &self.w.content;
        let width = content.width().max(640);
        let height = content.height().max(480);
        let application = content
            .root()
            .and_downcast::<gtk::Window>()
            .and_then(|w| w.application());
        self.w.slot.remove(content);

        let header = adw::HeaderBar::builder()
            .title_widget(&adw::WindowTitle::new(&self.name, &gettext("Console")))
            .build();
        let holder = gtk::Box::new(gtk::Orientation::Vertical, 0);
        holder.append(&header);
        holder.append(content);
        let window = adw::Window::builder()
            .title(i18n_f("{} — Console", &[&self.name]))
            .default_width(width)
            .default_height(height)
            .content(&holder)
            .build();
        window.set_application(application.as_ref());
        let input = sender.input_sender().clone();
        window.connect_close_request(move |_| {
            input.emit(ConsoleInput::Attach);
            glib::Propagation::Stop
        });
        root.set_visible_child_name("detached");
        self.set_detach_button(true);
        window.present();
        tracing::info!(vm = %self.name, "console detached");
        self.detached = Some(Detached {
            window,
            header,
            holder,
        });
    }

    pub(super) fn attach(&mut self, root: &gtk::Stack) {
        let Some(d) = self.detached.take() else {
            return;
        };
        // Leaving a fullscreen separate window ends its fullscreen with it.
        self.apply_fullscreen(false);
        d.holder.remove(&self.w.content);
        d.window.destroy();
        self.w.slot.append(&self.w.content);
        root.set_visible_child_name("attached");
        self.set_detach_button(false);
        tracing::info!(vm = %self.name, "console attached");
    }

    fn set_detach_button(&self, detached: bool) {
        let (icon, text) = if detached {
            ("view-restore-symbolic", gettext("Show in Main Window"))
        } else {
            ("window-new-symbolic", gettext("Open in New Window"))
        };
        let button = &self.w.detach_button;
        button.set_icon_name(icon);
        button.set_tooltip_text(Some(&text));
        button.set_accessible_label(&text);
    }
}
