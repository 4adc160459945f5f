//! The frame around the sections: the two bars on top, and the sidebar + content leaflet that
//! folds into one column on narrow windows.

use std::cell::Cell;
use std::rc::Rc;

use adw::prelude::*;

use super::form::Ctx;
use super::{DetailsInput, Page};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

pub(super) struct Shell {
    install_bar: gtk::InfoBar,
    pending_bar: gtk::InfoBar,
    pending_label: gtk::Label,
    leaflet: adw::Leaflet,
    content: gtk::Box,
    sidebar: gtk::ListBox,
    stack: gtk::Stack,
    note: gtk::Label,
    /// (id, title, note) of every page, in sidebar order.
    pages: Rc<Vec<(&'static str, String, String)>>,
    /// The VM runs: notes on when edits apply are shown.
    running: Rc<Cell<bool>>,
}

/// Shows `text` (when edits of the page apply) while the VM runs.
fn show_note(note: &gtk::Label, text: &str, running: bool) {
    note.set_label(text);
    note.set_visible(running && !text.is_empty());
}

fn bar(kind: gtk::MessageType, text: &str) -> (gtk::InfoBar, gtk::Label) {
    let label = gtk::Label::builder()
        .label(text)
        .wrap(true)
        .xalign(0.0)
        .hexpand(true)
        .build();
    let bar = gtk::InfoBar::builder().message_type(kind).revealed(false).build();
    bar.add_child(&label);
    (bar, label)
}

impl Shell {
    pub(super) fn new(root: &gtk::Box, pages: &[Page], ctx: &Ctx, pending_install: bool) -> Shell {
        root.add_css_class("vm-details");
        let (install_bar, _) = bar(
            gtk::MessageType::Info,
            &gettext("Check the hardware, then begin the installation."),
        );
        let begin = gtk::Button::with_mnemonic(&gettext("_Begin Installation"));
        begin.add_css_class("suggested-action");
        begin.set_accessible_label(&gettext("Begin Installation"));
        install_bar.add_action_widget(&begin, gtk::ResponseType::Accept);
        install_bar.set_revealed(pending_install);
        {
            let ctx = ctx.clone();
            begin.connect_clicked(move |_| ctx.send(DetailsInput::BeginInstall));
        }
        let (pending_bar, pending_label) = bar(gtk::MessageType::Info, "");
        pending_bar.set_show_close_button(true);
        pending_bar.connect_response(|bar, response| {
            if response == gtk::ResponseType::Close {
                bar.set_revealed(false);
            }
        });
        root.append(&install_bar);
        root.append(&pending_bar);

        let sidebar = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::Single)
            .css_classes(["navigation-sidebar"])
            .build();
        sidebar.set_accessible_label(&gettext("Hardware Sections"));
        let stack = gtk::Stack::builder()
            .transition_type(gtk::StackTransitionType::Crossfade)
            .vexpand(true)
            .hexpand(true)
            .build();
        for page in pages {
            stack.add_named(&page.widget, Some(page.id));
            sidebar.append(&sidebar_row(page));
        }
        let sidebar_scroll = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .width_request(200)
            .child(&sidebar)
            .build();

        let back = gtk::Button::builder()
            .icon_name("go-previous-symbolic")
            .tooltip_text(gettext("Back to the Sections"))
            .valign(gtk::Align::Center)
            .css_classes(["flat"])
            .visible(false)
            .build();
        back.set_accessible_label(&gettext("Back to the Sections"));
        let title = gtk::Label::builder().xalign(0.0).css_classes(["title-3"]).build();
        let note = gtk::Label::builder()
            .xalign(0.0)
            .wrap(true)
            .css_classes(["dim-label", "caption"])
            .visible(false)
            .build();
        let titles = gtk::Box::new(gtk::Orientation::Vertical, 2);
        titles.set_hexpand(true);
        titles.append(&title);
        titles.append(&note);
        let header = gtk::Box::builder()
            .orientation(gtk::Orientation::Horizontal)
            .spacing(6)
            .margin_top(18)
            .margin_start(12)
            .margin_end(12)
            .build();
        header.append(&back);
        header.append(&titles);
        let header_clamp = adw::Clamp::builder()
            .maximum_size(720)
            .tightening_threshold(480)
            .child(&header)
            .build();
        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        // Below sidebar + this width the leaflet folds into one column with a back button.
        content.set_width_request(360);
        content.append(&header_clamp);
        content.append(&stack);

        let leaflet = adw::Leaflet::builder()
            .can_navigate_back(true)
            .vexpand(true)
            .build();
        leaflet.append(&sidebar_scroll);
        let separator = gtk::Separator::new(gtk::Orientation::Vertical);
        leaflet.append(&separator).set_navigatable(false);
        leaflet.append(&content);
        root.append(&leaflet);

        let shell = Shell {
            install_bar,
            pending_bar,
            pending_label,
            leaflet: leaflet.clone(),
            content: content.clone(),
            sidebar: sidebar.clone(),
            stack: stack.clone(),
            note: note.clone(),
            pages: Rc::new(
                pages
                    .iter()
                    .map(|p| (p.id, p.title.clone(), p.note.clone()))
                    .collect(),
            ),
            running: Rc::default(),
        };
        {
            let back_button = back.clone();
            leaflet.connect_folded_notify(move |l| back_button.set_visible(l.is_folded()));
            let sidebar_scroll = sidebar_scroll.clone();
            let leaflet = leaflet.clone();
            back.connect_clicked(move |_| leaflet.set_visible_child(&sidebar_scroll));
        }
        {
            let (infos, running) = (shell.pages.clone(), shell.running.clone());
            let (stack, title, note, leaflet, content) = (stack, title, note, leaflet, content);
            sidebar.connect_row_selected(move |_, row| {
                let Some(row) = row else { return };
                let Some((id, text, note_text)) =
                    usize::try_from(row.index()).ok().and_then(|i| infos.get(i))
                else {
                    return;
                };
                stack.set_visible_child_name(id);
                title.set_label(text);
                show_note(&note, note_text, running.get());
                leaflet.set_visible_child(&content);
            });
            // Touch and keyboard activation on an already selected row still navigates.
            let leaflet2 = shell.leaflet.clone();
            let content2 = shell.content.clone();
            sidebar.connect_row_activated(move |_, _| leaflet2.set_visible_child(&content2));
        }
        shell.show_page("overview");
        shell
    }

    /// Selects the section `id` (ignored when unknown).
    pub(super) fn show_page(&self, id: &str) {
        if let Some(index) = self.pages.iter().position(|(p, _, _)| *p == id) {
            if let Some(row) = self.sidebar.row_at_index(index as i32) {
                self.sidebar.select_row(Some(&row));
            }
        }
    }

    /// Shows when edits apply (while the VM runs) and the pending-changes bar.
    pub(super) fn show_state(&self, running: bool, pending: &[String]) {
        self.running.set(running);
        let visible = self.stack.visible_child_name();
        if let Some((_, _, text)) = self
            .pages
            .iter()
            .find(|(id, _, _)| visible.as_deref() == Some(*id))
        {
            show_note(&self.note, text, running);
        }
        if running && !pending.is_empty() {
            self.pending_label.set_label(&i18n_f(
                "Some changes take effect after the virtual machine restarts: {}.",
                &[&pending.join(", ")],
            ));
            self.pending_bar.set_revealed(true);
        } else {
            self.pending_bar.set_revealed(false);
        }
    }

    pub(super) fn hide_install_bar(&self) {
        self.install_bar.set_revealed(false);
    }
}

fn sidebar_row(page: &Page) -> gtk::ListBoxRow {
    let icon = gtk::Image::from_icon_name(page.icon);
    let label = gtk::Label::builder().label(&page.title).xalign(0.0).build();
    let line = gtk::Box::builder()
        .orientation(gtk::Orientation::Horizontal)
        .spacing(12)
        .margin_start(6)
        .margin_end(6)
        .margin_top(2)
        .margin_bottom(2)
        .build();
    line.append(&icon);
    line.append(&label);
    let row = gtk::ListBoxRow::builder().child(&line).build();
    row.set_accessible_label(&page.title);
    row.set_widget_name(page.id);
    row
}
