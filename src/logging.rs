//! Log setup: `tracing` to stderr, at `info` by default and at `debug` for Hangar's own crates
//! when `G_MESSAGES_DEBUG` names `hangar` or `all` (the GLib convention). `RUST_LOG`, when
//! set, wins and is used as is.

use std::cell::RefCell;
use std::rc::Rc;

use gtk::glib::SignalHandlerId;
use gtk::prelude::*;
use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is not set.
pub fn default_directives(g_messages_debug: Option<&str>) -> &'static str {
    let wants_debug = g_messages_debug.is_some_and(|value| {
        value
            .split([' ', ',', ':', ';'])
            .any(|domain| domain.eq_ignore_ascii_case("hangar") || domain.eq_ignore_ascii_case("all"))
    });
    if wants_debug {
        "info,hangar=debug,hangar_core=debug"
    } else {
        "info"
    }
}

/// Installs the global subscriber. Calling it twice only logs that the second call did nothing.
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let filter = match rust_log {
        Some(spec) => EnvFilter::try_new(&spec).unwrap_or_else(|err| {
            eprintln!("hangar: ignoring RUST_LOG={spec:?} ({err}); using the default log level");
            EnvFilter::new("info")
        }),
        None => {
            let g_debug = std::env::var("G_MESSAGES_DEBUG").ok();
            EnvFilter::new(default_directives(g_debug.as_deref()))
        }
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if let Err(err) = installed {
        tracing::debug!("log subscriber already installed: {err}");
    }
}

/// Logs "first frame painted" (debug level) once, when the frame clock of `window` has
/// painted its first frame, with the milliseconds since [`crate::run`] began. This is the
/// moment `benches/launch.rs` measures.
pub fn log_first_frame(window: &impl IsA<gtk::Widget>) {
    window.connect_realize(|widget| {
        let Some(clock) = widget.frame_clock() else {
            tracing::debug!("the window has no frame clock; no first-frame time");
            return;
        };
        let slot: Rc<RefCell<Option<SignalHandlerId>>> = Rc::default();
        let handler = slot.clone();
        let id = clock.connect_after_paint(move |clock| {
            let ms = crate::started().elapsed().as_millis();
            tracing::debug!(since_start_ms = ms as u64, "first frame painted");
            if let Some(id) = handler.borrow_mut().take() {
                clock.disconnect(id);
            }
        });
        slot.borrow_mut().replace(id);
    });
}

#[cfg(test)]
mod tests {
    use super::default_directives;

    #[test]
    fn info_unless_glib_debug_names_us() {
        assert_eq!(default_directives(None), "info");
        assert_eq!(default_directives(Some("")), "info");
        assert_eq!(default_directives(Some("Gtk GLib-GIO")), "info");
        assert_eq!(default_directives(Some("hangarctl")), "info");
    }

    #[test]
    fn debug_for_hangar_or_all() {
        let debug = "info,hangar=debug,hangar_core=debug";
        assert_eq!(default_directives(Some("hangar")), debug);
        assert_eq!(default_directives(Some("Gtk hangar")), debug);
        assert_eq!(default_directives(Some("Gtk,Hangar")), debug);
        assert_eq!(default_directives(Some("all")), debug);
    }
}
