//! Display (remote display protocol, video card) and Sound pages.

use std::rc::Rc;

use adw::prelude::*;
use hangar_core::config::{DisplayConfig, DisplayKind, SoundConfig, SoundModel, Update, VideoModel};

use super::form::{choice_row, page as page_body, Ctx, Group};
use super::{Facts, Page, Section};
use crate::i18n::gettext;

const KINDS: [DisplayKind; 3] = [DisplayKind::Vnc, DisplayKind::Spice, DisplayKind::None];
const VIDEOS: [VideoModel; 6] = [
    VideoModel::Virtio,
    VideoModel::Std,
    VideoModel::Qxl,
    VideoModel::Bochs,
    VideoModel::Cirrus,
    VideoModel::Ramfb,
];
const SOUNDS: [SoundModel; 3] = [SoundModel::None, SoundModel::Hda, SoundModel::Ac97];

fn index<T: PartialEq>(all: &[T], value: &T) -> u32 {
    all.iter().position(|v| v == value).unwrap_or(0) as u32
}

fn set_display(ctx: &Ctx, change: impl FnOnce(&mut DisplayConfig)) {
    let mut display = ctx.config().display;
    change(&mut display);
    ctx.apply("display", Update::SetDisplay(display));
}

struct Display {
    kind: adw::ComboRow,
    video: adw::ComboRow,
}

pub(super) fn display_page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Remote Display"), "");
    let kind = choice_row(
        ctx,
        &gettext("Protocol"),
        &gettext(
            "SPICE adds clipboard sharing, USB redirection and dynamic resolution; VNC works everywhere.",
        ),
        &[
            gettext("VNC"),
            gettext("SPICE"),
            gettext("None (serial console only)"),
        ],
        |ctx, i| {
            if let Some(k) = KINDS.get(i) {
                set_display(ctx, |d| d.kind = *k);
            }
        },
    );
    group.add(&kind);
    let video = choice_row(
        ctx,
        &gettext("Video Card"),
        "",
        &[
            gettext("VirtIO (recommended)"),
            gettext("Standard VGA"),
            gettext("QXL"),
            gettext("Bochs"),
            gettext("Cirrus (very old guests)"),
            gettext("ramfb (framebuffer only)"),
        ],
        |ctx, i| {
            if let Some(v) = VIDEOS.get(i) {
                set_display(ctx, |d| d.video = *v);
            }
        },
    );
    group.add(&video);
    group.add_error_row(ctx, "display");
    body.append(&group.root);
    Page {
        id: "display",
        title: gettext("Display"),
        icon: "video-display-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Display { kind, video }),
    }
}

impl Section for Display {
    fn refresh(&self, facts: &Facts) {
        let d = &facts.config.display;
        self.kind.set_selected(index(&KINDS, &d.kind));
        self.video.set_selected(index(&VIDEOS, &d.video));
        self.video.set_sensitive(d.kind != DisplayKind::None);
    }
}

struct Sound {
    model: adw::ComboRow,
}

pub(super) fn sound_page(ctx: &Ctx) -> Page {
    let (widget, body) = page_body();
    let group = Group::new(&gettext("Audio"), "");
    let model = choice_row(
        ctx,
        &gettext("Sound Card"),
        "",
        &[
            gettext("None"),
            gettext("Intel HD Audio"),
            gettext("AC97 (old guests)"),
        ],
        |ctx, i| {
            if let Some(m) = SOUNDS.get(i) {
                ctx.apply("sound", Update::SetSound(SoundConfig { model: *m }));
            }
        },
    );
    group.add(&model);
    group.add_error_row(ctx, "sound");
    body.append(&group.root);
    Page {
        id: "sound",
        title: gettext("Sound"),
        icon: "audio-speakers-symbolic",
        widget: widget.upcast(),
        note: gettext("Changes here take effect at the next start."),
        section: Rc::new(Sound { model }),
    }
}

impl Section for Sound {
    fn refresh(&self, facts: &Facts) {
        self.model.set_selected(index(&SOUNDS, &facts.config.sound.model));
    }
}
