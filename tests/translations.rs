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

/// Every Rust source that calls a gettext function is listed in po/POTFILES.in, or its strings
/// would never reach the template (and stay English in every language).
#[test]
fn every_translated_source_is_in_potfiles() {
    let listed = std::fs::read_to_string(root().join("po/POTFILES.in")).expect("po/POTFILES.in");
    let listed: Vec<&str> = listed.lines().map(str::trim).collect();
    let mut missing = vec![];
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let translated = ["gettext(\"", "i18n_f(\"", "ngettext(\"", "ni18n_f(\""]
                .iter()
                .any(|call| text.contains(call));
            let rel = path.strip_prefix(root()).expect("under the root");
            let rel = rel.to_str().expect("utf-8 path");
            if translated && !listed.contains(&rel) {
                missing.push(rel.to_string());
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "add these to po/POTFILES.in, then run po/update.sh: {missing:?}"
    );
}
