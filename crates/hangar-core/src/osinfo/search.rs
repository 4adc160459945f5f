//! The New VM wizard's searchable list of systems.

use super::db::OsDb;
use super::entry::OsEntry;

/// Systems matching `query`, case-insensitively, over name, short ids, vendor, distribution,
/// codename and version. Best first:
/// 1. a short id or the name equals the query (`win11`, `debian 11` for `debian11`);
/// 2. the name or a short id starts with it;
/// 3. every word of the query starts a word of the entry (`win 11`);
/// 4. every word of the query appears somewhere in it;
///
/// then the newest release first (undated last), then by name. An empty query lists all.
/// End-of-life, prerelease and non-x86 entries are kept: mark them with
/// [`OsEntry::is_eol`], [`OsEntry::is_prerelease`] and [`OsEntry::runs_on_x86`].
pub fn search<'a>(db: &'a OsDb, query: &str) -> Vec<&'a OsEntry> {
    let q = query.trim().to_lowercase();
    let words: Vec<&str> = q.split_whitespace().collect();
    let compact: String = words.concat();
    let mut hits: Vec<(u8, &OsEntry)> = db
        .entries()
        .iter()
        .filter_map(|e| tier(e, &q, &compact, &words).map(|t| (t, e)))
        .collect();
    hits.sort_by(|(ta, a), (tb, b)| {
        ta.cmp(tb)
            .then_with(|| b.release_date.cmp(&a.release_date))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    hits.into_iter().map(|(_, e)| e).collect()
}

fn tier(e: &OsEntry, q: &str, compact: &str, words: &[&str]) -> Option<u8> {
    if words.is_empty() {
        return Some(0);
    }
    let name = e.name.to_lowercase();
    let shorts: Vec<String> = e.short_ids.iter().map(|s| s.to_lowercase()).collect();
    if name == q || shorts.iter().any(|s| s == compact) {
        return Some(0);
    }
    if name.starts_with(q) || shorts.iter().any(|s| s.starts_with(compact)) {
        return Some(1);
    }
    let mut hay = vec![name, e.vendor.to_lowercase(), e.distro.to_lowercase()];
    hay.extend(shorts);
    hay.extend(e.codename.as_deref().map(str::to_lowercase));
    hay.extend(e.version.as_deref().map(str::to_lowercase));
    let hay_words: Vec<&str> = hay
        .iter()
        .flat_map(|h| h.split(|c: char| c.is_whitespace() || "()/,".contains(c)))
        .filter(|w| !w.is_empty())
        .collect();
    if words.iter().all(|w| hay_words.iter().any(|h| h.starts_with(w))) {
        return Some(2);
    }
    if words.iter().all(|w| hay.iter().any(|h| h.contains(w))) {
        return Some(3);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::db::fixture;
    use super::*;

    fn ids<'a>(hits: &[&'a OsEntry]) -> Vec<&'a str> {
        hits.iter().map(|e| e.short_id().unwrap_or("")).collect()
    }

    #[test]
    fn ranks_exact_then_prefix_then_words_then_newest() {
        let db = OsDb::load(&[fixture("system")]).unwrap();
        // Exact short id first, then other name-prefix hits by release date.
        let hits = search(&db, "WIN11");
        assert_eq!(ids(&hits)[0], "win11");
        let hits = search(&db, "demo debian");
        assert_eq!(ids(&hits), ["demodeb13", "demodeb12", "demodeb-unknown"]);
        // Words anywhere: vendor + version.
        let hits = search(&db, "microsoft 10");
        assert_eq!(ids(&hits), ["demowin10"]);
        // Codename (word prefix).
        assert_eq!(ids(&search(&db, "bookw")), ["demodeb12"]);
        // Substring inside a word.
        assert_eq!(ids(&search(&db, "ycle")), ["cyclea", "cycleb"]);
        assert!(search(&db, "plan9").is_empty());
        assert_eq!(search(&db, "  ").len(), db.len());
    }

    #[test]
    fn exact_name_and_compact_short_id() {
        let db = OsDb::load(&[fixture("system")]).unwrap();
        assert_eq!(ids(&search(&db, "demo windows xp"))[0], "demowinxp");
        assert_eq!(ids(&search(&db, "demodeb 13"))[0], "demodeb13");
    }
}
