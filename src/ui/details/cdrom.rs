//! CD-ROM: whether the VM has a drive (next boot), and the disc in it: choose an ISO or eject,
//! applied at once on a running VM.

use std::cell::RefCell;
use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::Update;

use super::form::{action_row, page as page_body, switch_row, text_button, window_of, Ctx, Group};
use super::jobs::Job;
use super::{Facts, Page, Section};
use crate::a11y::AccessibleLabelExt;
use crate::i18n::gettext;

struct Cdrom {
    drive: gtk::Switch,
    disc_group: Group,
    disc: adw::ActionRow,
    choose: gtk::Button,
    eject: gtk::Button,
    spinner: gtk::Spinner,
}

fn choose_iso(button: &gtk::Button, ctx: &Ctx, keep: &Rc<RefCell<Option<gtk::FileChooserNative>>>) {
    let Some(window) = window_of(button) else {
        return;
    };
    let native = gtk::FileChooserNative::new(
        Some(&gettext("Choose a Disc Image")),
        Some(&window),
        gtk::FileChooserAction::Open,
        Some(&gettext("_Insert")),
        Some(&gettext("_Cancel")),
    );
    native.set_modal(true);
    let isos = gtk::FileFilter::new();
    isos.set_name(Some(&gettext("Disc Images")));
    isos.add_pattern("*.iso");
    isos.add_pattern("*.ISO");
    isos.add_mime_type("application/x-cd-image");
    native.add_filter(&isos);
    let all = gtk::FileFilter::new();
    all.set_name(Some(&gettext("All Files")));
    all.add_pattern("*");
    native.add_filter(&all);
    let (ctx, slot) = (ctx.clone(), keep.clone());
    native.connect_response(move |native, response| {
        if response == gtk::ResponseType::Accept {
            if let Some(path) = native.file().and_then(|f| f.path()) {
                ctx.run("cdrom.disc", Job::Cdrom(Some(path)));
            }
        }
        slot.replace(None);
    });
    native.show();
    keep.replace(Some(native));
}

pub(super) fn page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Drive"), "");
    let (drive_row, drive) = switch_row(
        ctx,
        &gettext("CD-ROM Drive"),
        &gettext("A SATA drive for installation discs and driver ISOs."),
        |ctx, on| ctx.apply("cdrom.drive", Update::SetCdromDrive(on)),
    );
    group.add(&drive_row);
    group.add_error_row(ctx, "cdrom.drive");
    body.append(&group.root);

    let disc_group = Group::new(&gettext("Disc"), "");
    let spinner = gtk::Spinner::builder()
        .valign(gtk::Align::Center)
        .visible(false)
        .build();
    spinner.set_accessible_label(&gettext("Changing the disc"));
    disc_group.add_header_suffix(&spinner);
    let disc = action_row(&gettext("Disc Image"), "");
    let choose = text_button(&gettext("_Choose ISO…"));
    let eject = text_button(&gettext("_Eject"));
    disc.add_suffix(&choose);
    disc.add_suffix(&eject);
    disc_group.add(&disc);
    disc_group.add_error_row(ctx, "cdrom.disc");
    body.append(&disc_group.root);

    let keep: Rc<RefCell<Option<gtk::FileChooserNative>>> = Rc::default();
    {
        let ctx2 = ctx.clone();
        let ctx = ctx.clone();
        choose.connect_clicked(move |b| choose_iso(b, &ctx, &keep));
        eject.connect_clicked(move |_| ctx2.run("cdrom.disc", Job::Cdrom(None)));
    }
    Page {
        id: "cdrom",
        title: gettext("CD-ROM"),
        icon: "drive-optical-symbolic",
        widget: widget.upcast(),
        note: gettext("Discs are inserted and ejected at once. Adding or removing the drive takes effect at the next start."),
        section: Rc::new(Cdrom {
            drive,
            disc_group,
            disc,
            choose,
            eject,
            spinner,
        }),
    }
}

impl Section for Cdrom {
    fn refresh(&self, facts: &Facts) {
        let cdrom = &facts.config.cdrom;
        self.drive.set_active(cdrom.is_some());
        self.disc_group.root.set_visible(cdrom.is_some());
        let path = cdrom.as_ref().and_then(|c| c.path.as_ref());
        self.disc.set_subtitle(&match path {
            Some(p) => p.display().to_string(),
            None => gettext("Empty"),
        });
        let busy = facts.busy.contains("cdrom.disc");
        self.spinner.set_visible(busy);
        self.spinner.set_spinning(busy);
        self.choose.set_sensitive(!busy);
        self.eject.set_sensitive(!busy && path.is_some());
    }
}
