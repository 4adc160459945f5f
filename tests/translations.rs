//! Every language in po/LINGUAS translates every message of po/hangar.pot, and the catalogs
//! pass `msgfmt --check` (format strings, headers, plural forms).

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn languages() -> Vec<String> {
    let linguas = std::fs::read_to_string(root().join("po/LINGUAS")).expect("po/LINGUAS");
    linguas
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn catalogs_are_complete_and_valid() {
    let langs = languages();
    assert!(!langs.is_empty(), "po/LINGUAS lists no language");
    for lang in langs {
        let po = root().join(format!("po/{lang}.po"));
        let check = Command::new("msgfmt")
            .args(["--check", "--statistics", "-o", "/dev/null"])
            .arg(&po)
            .output()
            .expect("run msgfmt (Debian package: gettext)");
        let report = String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success(),
            "{lang}.po fails msgfmt --check:\n{report}"
        );
        assert!(
            !report.contains("untranslated") && !report.contains("fuzzy"),
            "{lang}.po is incomplete: {report}"
        );
        // msgcmp fails when the template has a message the catalog lacks.
        let cmp = Command::new("msgcmp")
            .arg(&po)
            .arg(root().join("po/hangar.pot"))
            .output()
            .expect("run msgcmp (Debian package: gettext)");
        assert!(
            cmp.status.success(),
            "{lang}.po lacks messages of hangar.pot (run po/update.sh):\n{}",
            String::from_utf8_lossy(&cmp.stderr)
        );
    }
}
