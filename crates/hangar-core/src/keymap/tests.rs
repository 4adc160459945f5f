use qapi_qmp::QKeyCode as K;

use super::*;

fn one(layout: Layout, ch: char) -> Stroke {
    match strokes_for(layout, ch).as_deref() {
        Some([stroke]) => *stroke,
        other => panic!("{layout}: {ch:?} is {other:?}, not one stroke"),
    }
}

fn plain(key: K) -> Stroke {
    Stroke::plain(key)
}

fn shift(key: K) -> Stroke {
    Stroke {
        key,
        shift: true,
        altgr: false,
    }
}

fn altgr(key: K) -> Stroke {
    Stroke {
        key,
        shift: false,
        altgr: true,
    }
}

#[test]
fn rows_cover_every_key_on_every_level() {
    for layout in Layout::ALL {
        let rows = layout.rows();
        for level in [rows.plain, rows.shift, rows.altgr] {
            let lengths: Vec<usize> = level.iter().map(|r| r.chars().count()).collect();
            assert_eq!(lengths, tables::ROW_LENGTHS, "{layout}: {level:?}");
        }
    }
    assert_eq!(tables::ROW_LENGTHS.iter().sum::<usize>(), tables::KEYS.len());
}

#[test]
fn every_printable_ascii_character_is_typeable_in_every_layout() {
    for layout in Layout::ALL {
        let missing: String = (' '..='~')
            .filter(|c| strokes_for(layout, *c).is_none())
            .collect();
        assert_eq!(missing, "", "{layout} cannot type these");
    }
}

#[test]
fn us_positions() {
    assert_eq!(one(Layout::Us, 'h'), plain(K::h));
    assert_eq!(one(Layout::Us, 'H'), shift(K::h));
    assert_eq!(one(Layout::Us, '!'), shift(K::_1));
    assert_eq!(one(Layout::Us, ','), plain(K::comma));
    assert_eq!(one(Layout::Us, '"'), shift(K::apostrophe));
    assert_eq!(one(Layout::Us, '|'), shift(K::backslash));
    assert_eq!(one(Layout::Us, '~'), shift(K::grave_accent));
    assert_eq!(one(Layout::Us, '\n'), plain(K::ret));
    assert_eq!(one(Layout::Us, '\t'), plain(K::tab));
    assert_eq!(one(Layout::Us, ' '), plain(K::spc));
    assert!(strokes_for(Layout::Us, 'é').is_none());
    assert!(strokes_for(Layout::Us, '€').is_none());
}

#[test]
fn gb_differs_from_us_where_it_should() {
    assert_eq!(one(Layout::Gb, '"'), shift(K::_2));
    assert_eq!(one(Layout::Gb, '@'), shift(K::apostrophe));
    assert_eq!(one(Layout::Gb, '£'), shift(K::_3));
    assert_eq!(one(Layout::Gb, '#'), plain(K::backslash));
    assert_eq!(one(Layout::Gb, '~'), shift(K::backslash));
    assert_eq!(one(Layout::Gb, '\\'), plain(K::less));
    assert_eq!(one(Layout::Gb, '|'), shift(K::less));
    assert_eq!(one(Layout::Gb, '€'), altgr(K::_4));
    assert_eq!(one(Layout::Gb, '¬'), shift(K::grave_accent));
}

#[test]
fn german_qwertz_altgr_and_dead_keys() {
    assert_eq!(one(Layout::De, 'z'), plain(K::y));
    assert_eq!(one(Layout::De, 'y'), plain(K::z));
    assert_eq!(one(Layout::De, 'ß'), plain(K::minus));
    assert_eq!(one(Layout::De, 'ü'), plain(K::bracket_left));
    assert_eq!(one(Layout::De, 'Ö'), shift(K::semicolon));
    assert_eq!(one(Layout::De, '"'), shift(K::_2));
    assert_eq!(one(Layout::De, '/'), shift(K::_7));
    assert_eq!(one(Layout::De, '-'), plain(K::slash));
    assert_eq!(one(Layout::De, '@'), altgr(K::q));
    assert_eq!(one(Layout::De, '{'), altgr(K::_7));
    assert_eq!(one(Layout::De, '\\'), altgr(K::minus));
    assert_eq!(one(Layout::De, '~'), altgr(K::bracket_right));
    assert_eq!(one(Layout::De, '|'), altgr(K::less));
    assert_eq!(one(Layout::De, '€'), altgr(K::e));
    // Dead keys: alone (then Space) and composed.
    assert_eq!(
        strokes_for(Layout::De, '^').unwrap(),
        [plain(K::grave_accent), plain(K::spc)]
    );
    assert_eq!(
        strokes_for(Layout::De, '`').unwrap(),
        [shift(K::equal), plain(K::spc)]
    );
    assert_eq!(
        strokes_for(Layout::De, 'é').unwrap(),
        [plain(K::equal), plain(K::e)]
    );
    assert_eq!(
        strokes_for(Layout::De, 'È').unwrap(),
        [shift(K::equal), shift(K::e)]
    );
    assert_eq!(
        strokes_for(Layout::De, 'ô').unwrap(),
        [plain(K::grave_accent), plain(K::o)]
    );
    assert!(strokes_for(Layout::De, 'ç').is_none());
}

#[test]
fn french_azerty_letters_digits_and_accents() {
    assert_eq!(one(Layout::Fr, 'a'), plain(K::q));
    assert_eq!(one(Layout::Fr, 'q'), plain(K::a));
    assert_eq!(one(Layout::Fr, 'z'), plain(K::w));
    assert_eq!(one(Layout::Fr, 'w'), plain(K::z));
    assert_eq!(one(Layout::Fr, 'm'), plain(K::semicolon));
    assert_eq!(one(Layout::Fr, 'M'), shift(K::semicolon));
    assert_eq!(one(Layout::Fr, '1'), shift(K::_1));
    assert_eq!(one(Layout::Fr, '&'), plain(K::_1));
    assert_eq!(one(Layout::Fr, 'é'), plain(K::_2));
    assert_eq!(one(Layout::Fr, 'ç'), plain(K::_9));
    assert_eq!(one(Layout::Fr, 'ù'), plain(K::apostrophe));
    assert_eq!(one(Layout::Fr, ','), plain(K::m));
    assert_eq!(one(Layout::Fr, '.'), shift(K::comma));
    assert_eq!(one(Layout::Fr, '!'), plain(K::slash));
    assert_eq!(one(Layout::Fr, '@'), altgr(K::_0));
    assert_eq!(one(Layout::Fr, '^'), altgr(K::_9), "AltGr+9 beats the dead key");
    assert_eq!(one(Layout::Fr, '€'), altgr(K::e));
    assert_eq!(
        strokes_for(Layout::Fr, 'ê').unwrap(),
        [plain(K::bracket_left), plain(K::e)]
    );
    assert_eq!(
        strokes_for(Layout::Fr, 'Ï').unwrap(),
        [shift(K::bracket_left), shift(K::i)]
    );
    assert_eq!(
        strokes_for(Layout::Fr, '¨').unwrap(),
        [shift(K::bracket_left), plain(K::spc)]
    );
    // No dead acute on AZERTY: a capital É cannot be typed.
    assert!(strokes_for(Layout::Fr, 'É').is_none());
}

#[test]
fn modifiers_come_first() {
    assert_eq!(shift(K::a).keys(), [K::shift, K::a]);
    assert_eq!(altgr(K::_0).keys(), [K::alt_r, K::_0]);
    assert_eq!(plain(K::a).keys(), [K::a]);
}

#[test]
fn plan_reports_what_it_cannot_type_and_folds_crlf() {
    let p = plan(Layout::Us, "a\r\nb\rc✓d");
    let indexes: Vec<usize> = p.chars.iter().map(|c| c.index).collect();
    assert_eq!(indexes, [0, 2, 3, 4, 5, 7]);
    assert_eq!(p.chars[1].strokes, [plain(K::ret)]);
    assert_eq!(p.chars[3].strokes, [plain(K::ret)], "a lone CR is Return");
    assert_eq!(p.skipped, [Skipped { index: 6, ch: '✓' }]);
    assert_eq!(p.stroke_count(), 6);
    let p = plan(Layout::Fr, "ê!");
    assert_eq!(p.stroke_count(), 3);
    assert!(p.skipped.is_empty());
}

#[test]
fn names_round_trip() {
    for layout in Layout::ALL {
        assert_eq!(Layout::from_name(layout.name()), Some(layout));
        assert!(!layout.label().is_empty());
    }
    assert_eq!(Layout::from_name("azerty"), None);
    assert_eq!(Layout::names(), "us, gb, de, fr");
    assert_eq!(Layout::default(), Layout::Us);
}
