//! Message dialogs for errors whose details do not fit in a toast.

use adw::prelude::*;

use crate::a11y::AccessibleLabelExt;

use crate::i18n::gettext;

/// Shows `heading`, an optional `intro` sentence, and `details` in a scrollable, selectable,
/// monospace area (error texts often quote files and line numbers).
pub fn show_details(parent: &impl IsA<gtk::Window>, heading: &str, intro: &str, details: &str) {
    let body = (!intro.is_empty()).then_some(intro);
    let dialog = adw::MessageDialog::new(Some(parent), Some(heading), body);
    dialog.add_response("close", &gettext("_Close"));
    dialog.set_default_response(Some("close"));
    dialog.set_close_response("close");

    if !details.is_empty() {
        let label = gtk::Label::builder()
            .label(details)
            .selectable(true)
            .wrap(true)
            .wrap_mode(gtk::pango::WrapMode::WordChar)
            .xalign(0.0)
            .yalign(0.0)
            .css_classes(["error-details"])
            .build();
        label.set_accessible_label(&gettext("Error details"));
        let scrolled = gtk::ScrolledWindow::builder()
            .child(&label)
            .hscrollbar_policy(gtk::PolicyType::Never)
            .propagate_natural_height(true)
            .max_content_height(260)
            .min_content_height(estimated_height(details))
            .css_classes(["card"])
            .build();
        label.set_margin_top(8);
        label.set_margin_bottom(8);
        label.set_margin_start(10);
        label.set_margin_end(10);
        dialog.set_extra_child(Some(&scrolled));
    }
    dialog.present();
}

/// Height, in pixels, the details need in a message dialog: a wrapped label in a scrolled
/// window is measured at its unwrapped width, so its natural height alone is too small.
fn estimated_height(details: &str) -> i32 {
    // Small monospace text in a message dialog: about 28 characters and 16 px a line.
    const CHARS_PER_LINE: usize = 28;
    const LINE_PX: usize = 16;
    let lines: usize = details
        .lines()
        .map(|line| line.chars().count().div_ceil(CHARS_PER_LINE).max(1))
        .sum();
    let px = lines * LINE_PX + 16;
    i32::try_from(px.min(260)).unwrap_or(260)
}

#[cfg(test)]
mod tests {
    use super::estimated_height;

    #[test]
    fn long_details_get_room_up_to_a_limit() {
        let short = estimated_height("one line");
        let wrapped = estimated_height(&"x".repeat(100));
        assert!(short < wrapped, "{short} < {wrapped}");
        assert_eq!(estimated_height(&"line\n".repeat(100)), 260);
    }
}
