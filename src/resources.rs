//! The GResource bundle compiled by `build.rs` (icons, style sheet, shortcuts window).

use gtk::{gio, glib};

static BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hangar.gresource"));

/// Registers the bundle under `/org/hangar/Hangar`. Must run before the application starts so
/// that AdwApplication picks up `style.css`, the icons and `gtk/help-overlay.ui`.
pub fn register() -> Result<(), glib::Error> {
    let resource = gio::Resource::from_data(&glib::Bytes::from_static(BUNDLE))?;
    gio::resources_register(&resource);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RESOURCE_BASE;

    #[test]
    fn bundle_holds_icons_css_and_shortcuts() {
        let resource = gio::Resource::from_data(&glib::Bytes::from_static(BUNDLE)).expect("valid bundle");
        for path in [
            "style.css",
            "gtk/help-overlay.ui",
            "icons/scalable/apps/org.hangar.Hangar.svg",
            "icons/scalable/apps/org.hangar.Hangar-symbolic.svg",
        ] {
            let full = format!("{RESOURCE_BASE}/{path}");
            let data = resource.lookup_data(&full, gio::ResourceLookupFlags::NONE);
            assert!(
                data.is_ok_and(|d| !d.is_empty()),
                "{full} missing from the bundle"
            );
        }
    }
}
