//! Advanced: extra QEMU arguments (one per line) and a read-only preview of the exact QEMU
//! command line Hangar would run.

use std::cell::Cell;
use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{AdvancedConfig, Update};
use hangar_core::qemu::argv;

use super::form::{icon_button, page as page_body, text_button, Ctx, Group};
use super::parse::{extra_args_text, format_command_line, parse_extra_args};
use super::{DetailsInput, Facts, Page, Section};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::gettext;

struct Advanced {
    extra: gtk::TextView,
    /// The editor holds text not yet applied.
    dirty: Rc<Cell<bool>>,
    preview: gtk::TextView,
}

fn text_of(view: &gtk::TextView) -> String {
    let buffer = view.buffer();
    buffer
        .text(&buffer.start_iter(), &buffer.end_iter(), false)
        .to_string()
}

fn code_view(editable: bool, label: &str) -> (gtk::TextView, gtk::Widget) {
    let view = gtk::TextView::builder()
        .monospace(true)
        .editable(editable)
        .cursor_visible(editable)
        .wrap_mode(gtk::WrapMode::WordChar)
        .top_margin(8)
        .bottom_margin(8)
        .left_margin(10)
        .right_margin(10)
        .build();
    view.set_accessible_label(label);
    // The editor scrolls on its own; the preview grows with its text and the page scrolls.
    let frame: gtk::Widget = if editable {
        gtk::ScrolledWindow::builder()
            .child(&view)
            .hscrollbar_policy(gtk::PolicyType::Never)
            .min_content_height(120)
            .css_classes(["card"])
            .build()
            .upcast()
    } else {
        let card = gtk::Box::builder().css_classes(["card"]).build();
        view.set_hexpand(true);
        card.append(&view);
        card.upcast()
    };
    (view, frame)
}

pub(super) fn page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(
        &gettext("Extra QEMU Arguments"),
        &gettext("Added at the end of the command line, one argument per line: put an option and its value on separate lines."),
    );
    group.root.remove(&group.list);
    let (extra, extra_scroll) = code_view(true, &gettext("Extra QEMU Arguments"));
    group.root.append(&extra_scroll);
    let apply = text_button(&gettext("_Apply Arguments"));
    apply.set_halign(gtk::Align::End);
    group.root.append(&apply);
    group.add_error_below(ctx, "advanced");
    body.append(&group.root);

    let dirty: Rc<Cell<bool>> = Rc::default();
    {
        let (ctx, dirty) = (ctx.clone(), dirty.clone());
        extra.buffer().connect_changed(move |_| {
            if !ctx.syncing() {
                dirty.set(true);
            }
        });
    }
    {
        let (ctx, extra) = (ctx.clone(), extra.clone());
        apply.connect_clicked(move |_| match parse_extra_args(&text_of(&extra)) {
            Ok(extra_args) => ctx.apply("advanced", Update::SetAdvanced(AdvancedConfig { extra_args })),
            Err(e) => {
                ctx.show_error("advanced", &e.message());
            }
        });
    }

    let preview_group = Group::new(
        &gettext("Command Line"),
        &gettext("What Hangar runs at the next start (without disposable overlays)."),
    );
    let copy = icon_button("edit-copy-symbolic", &gettext("Copy the Command Line"));
    preview_group.add_header_suffix(&copy);
    preview_group.root.remove(&preview_group.list);
    let (preview, preview_scroll) = code_view(false, &gettext("QEMU Command Line"));
    preview_group.root.append(&preview_scroll);
    body.append(&preview_group.root);
    {
        let (ctx, preview) = (ctx.clone(), preview.clone());
        copy.connect_clicked(move |b| {
            b.clipboard().set_text(&text_of(&preview));
            ctx.send(DetailsInput::Copied);
        });
    }
    Page {
        id: "advanced",
        title: gettext("Advanced"),
        icon: "emblem-system-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Advanced {
            extra,
            dirty,
            preview,
        }),
    }
}

impl Section for Advanced {
    fn refresh(&self, facts: &Facts) {
        let args = &facts.config.advanced.extra_args;
        if parse_extra_args(&text_of(&self.extra)).as_ref() == Ok(args) {
            self.dirty.set(false);
        } else if !self.dirty.get() {
            self.extra.buffer().set_text(&extra_args_text(args));
        }
        let m = &facts.manager;
        let text = match argv::build(
            &facts.config,
            &facts.vm_dir,
            m.host(),
            &m.runtime(&facts.config.name),
            &Default::default(),
        ) {
            Ok(argv) => format_command_line(argv.program.as_os_str(), &argv.args),
            Err(e) => format!("{}\n\n{e}", gettext("No command line can be built:")),
        };
        if text_of(&self.preview) != text {
            self.preview.buffer().set_text(&text);
        }
    }
}
