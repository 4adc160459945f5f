//! Human and JSON output.

use std::io::Write;

use serde::Serialize;

/// Print a line on stdout; a closed pipe (`hangarctl list | head -1`) is not an error.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// Print `value` as JSON when asked, else the human text.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(s) => out(&s),
            Err(e) => eprintln!("hangarctl: cannot format JSON: {e}"),
        }
    } else {
        let text = human();
        if !text.is_empty() {
            out(&text);
        }
    }
}

/// A plain table: columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|s| s.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_pads_columns() {
        let t = super::table(
            &["NAME", "STATE"],
            &[
                vec!["a-long-name".into(), "running".into()],
                vec!["b".into(), "stopped".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME         STATE\na-long-name  running\nb            stopped"
        );
    }
}
