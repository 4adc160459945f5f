//! Build-time constants. Packagers set the `HANGAR_*` variables when running `cargo build`
//! (the Makefile does); a plain `cargo build` gets the defaults below.

/// Application id: D-Bus name, desktop file, icon, GSettings schema and resource prefix.
pub const APP_ID: &str = "org.hangar.Hangar";

/// Root of the embedded GResource bundle (`/org/hangar/Hangar`).
pub const RESOURCE_BASE: &str = "/org/hangar/Hangar";

/// gettext domain of every translatable string (code, `.ui`, desktop file, metainfo).
pub const GETTEXT_PACKAGE: &str = "hangar";

/// Version shown in the About window.
pub const VERSION: &str = match option_env!("HANGAR_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// Where the `.mo` files are installed.
pub const LOCALEDIR: &str = match option_env!("HANGAR_LOCALEDIR") {
    Some(v) => v,
    None => "/usr/share/locale",
};

/// Where Hangar's architecture-independent data is installed (`$datadir/hangar`).
pub const PKGDATADIR: &str = match option_env!("HANGAR_PKGDATADIR") {
    Some(v) => v,
    None => "/usr/share/hangar",
};

/// Translations compiled by `build.rs` into `OUT_DIR`; set in debug builds only, so a release
/// binary never looks into a build tree.
pub const DEV_LOCALEDIR: Option<&str> = option_env!("HANGAR_DEV_LOCALEDIR");

/// Project home page, shown in the About window.
pub const WEBSITE: &str = "https://example.invalid/hangar";

/// Where to report problems, shown in the About window.
pub const ISSUE_URL: &str = "https://example.invalid/hangar/issues";
