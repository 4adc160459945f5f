//! Translations. Strings are marked with [`gettext`], [`ngettext`] or, when they contain
//! values, [`i18n_f`] (a translatable format string with `{}` placeholders) so that
//! `po/update.sh` finds them all.

use std::path::Path;

use gettextrs::LocaleCategory;
pub use gettextrs::{gettext, ngettext};

use crate::config;

/// Selects the user's locale and binds the `hangar` domain. Failures only cost translations,
/// so they are logged and the program goes on in English.
pub fn init() {
    if gettextrs::setlocale(LocaleCategory::LcAll, "").is_none() {
        tracing::warn!("the locale set in the environment is not available; messages stay in English");
    }
    let dir = locale_dir();
    let bound = gettextrs::bindtextdomain(config::GETTEXT_PACKAGE, dir)
        .and_then(|_| gettextrs::bind_textdomain_codeset(config::GETTEXT_PACKAGE, "UTF-8"))
        .and_then(|_| gettextrs::textdomain(config::GETTEXT_PACKAGE));
    match bound {
        Ok(_) => tracing::debug!(dir, "translations bound"),
        Err(err) => tracing::warn!(
            dir,
            "cannot set up translations ({err}); messages stay in English"
        ),
    }
}

/// The installed locale folder, or in debug builds the one `build.rs` compiled from `po/`.
fn locale_dir() -> &'static str {
    match config::DEV_LOCALEDIR {
        Some(dev) if Path::new(dev).is_dir() => dev,
        _ => config::LOCALEDIR,
    }
}

/// Translates `format` and replaces its `{}` placeholders, in order, with `args`.
/// Translators may not reorder placeholders; extra placeholders stay as they are.
pub fn i18n_f(format: &str, args: &[&str]) -> String {
    fill(&gettext(format), args)
}

/// Same as [`i18n_f`] with a plural form chosen by `n`.
pub fn ni18n_f(singular: &str, plural: &str, n: u32, args: &[&str]) -> String {
    fill(&ngettext(singular, plural, n), args)
}

fn fill(template: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut args = args.iter();
    let mut rest = template;
    while let Some(pos) = rest.find("{}") {
        out.push_str(&rest[..pos]);
        match args.next() {
            Some(arg) => out.push_str(arg),
            None => out.push_str("{}"),
        }
        rest = &rest[pos + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn placeholders_are_filled_in_order() {
        assert_eq!(fill("{} of {}", &["1", "2"]), "1 of 2");
        assert_eq!(fill("“{}” is broken", &["a{}b"]), "“a{}b” is broken");
    }

    #[test]
    fn missing_or_extra_arguments_do_not_panic() {
        assert_eq!(fill("{} and {}", &["x"]), "x and {}");
        assert_eq!(fill("none", &["x"]), "none");
        assert_eq!(fill("", &[]), "");
    }
}
