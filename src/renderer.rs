//! GTK's renderer on machines without a GPU.
//!
//! GTK 4.8 uses its GL renderer whenever GL exists, also when that GL is Mesa's software
//! rasteriser (llvmpipe): in virtual machines, remote desktops without a GPU, Xvfb. There the
//! cairo renderer is much cheaper for what Hangar draws: a 1920x1080 guest frame costs ≈33 ms of
//! CPU with GL and ≈22 ms with cairo (`cargo bench -p hangar-display --bench
//! console_vs_gvncviewer`), and the first window frame comes ≈4× sooner (`cargo bench --bench
//! launch`). Without a DRM render node (`/dev/dri/renderD*`) GL can only be software, so Hangar
//! asks for cairo then. A `GSK_RENDERER` the user set always wins.

use std::ffi::OsString;
use std::path::Path;

/// The renderer to ask GTK for, if any: `cairo` when `env` (the current `GSK_RENDERER`) is
/// unset and `dri` has no render node.
pub fn choose(dri: &Path, env: Option<OsString>) -> Option<&'static str> {
    if env.is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let has_render_node = std::fs::read_dir(dri)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false);
    (!has_render_node).then_some("cairo")
}

/// Sets `GSK_RENDERER` per [`choose`]. Call it first thing in `main`, while the process has a
/// single thread (the environment is not safe to change later), and before GTK starts.
pub fn apply() -> Option<&'static str> {
    let chosen = choose(Path::new("/dev/dri"), std::env::var_os("GSK_RENDERER"))?;
    std::env::set_var("GSK_RENDERER", chosen);
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cairo_without_a_render_node_unless_the_user_chose() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(choose(&dir.path().join("absent"), None), Some("cairo"));
        std::fs::write(dir.path().join("card0"), "").unwrap();
        assert_eq!(choose(dir.path(), None), Some("cairo"));
        assert_eq!(choose(dir.path(), Some("".into())), Some("cairo"));
        std::fs::write(dir.path().join("renderD128"), "").unwrap();
        assert_eq!(choose(dir.path(), None), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(choose(dir.path(), Some("gl".into())), None);
    }
}
