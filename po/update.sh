#!/bin/sh
# Regenerates po/hangar.pot from the files listed in po/POTFILES.in, then merges it into
# every po/<lang>.po listed in po/LINGUAS. Run from anywhere; needs GNU gettext >= 0.19.8.
set -eu

cd "$(dirname "$0")/.."
POT=po/hangar.pot
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

files() {
    grep -v '^[[:space:]]*\(#\|$\)' po/POTFILES.in | grep -E "$1" || true
}

COMMON="--from-code=UTF-8 --add-comments=Translators --package-name=hangar --package-version=$VERSION --msgid-bugs-address=https://example.invalid/hangar/issues --sort-by-file"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Rust: xgettext has no Rust parser before 0.24; its C parser reads string literals fine.
# Keywords: gettext("…"), ngettext("one", "many", n), i18n_f("… {} …", &[…]), ni18n_f(…).
# shellcheck disable=SC2086
xgettext $COMMON --language=C --keyword= --keyword=gettext --keyword=ngettext:1,2 \
    --keyword=i18n_f --keyword=ni18n_f:1,2 -o "$tmp/rust.pot" $(files '\.rs$')
# shellcheck disable=SC2086
xgettext $COMMON --language=Desktop -o "$tmp/desktop.pot" $(files '\.desktop\.in$')
# GtkBuilder, GSettings schema and AppStream metainfo use the ITS rules shipped with
# gettext, glib and appstream; the .in suffix is dropped so the rules match.
for f in $(files '\.(ui|gschema\.xml|metainfo\.xml\.in)$'); do
    base=$(basename "$f" .in)
    cp "$f" "$tmp/$base"
    # shellcheck disable=SC2086
    xgettext $COMMON -o "$tmp/$base.pot" "$tmp/$base"
    # Point references back at the real file.
    sed -i "s|#: $tmp/$base|#: $f|" "$tmp/$base.pot"
done

# Pure-ASCII parts come out with charset=CHARSET; everything here is UTF-8.
sed -i 's/charset=CHARSET/charset=UTF-8/' "$tmp"/*.pot
msgcat --use-first --sort-by-file -o "$POT" "$tmp"/*.pot
# msgcat drops the header's package fields; restore them from the Rust part.
sed -i "s|^\"Project-Id-Version: .*|\"Project-Id-Version: hangar $VERSION\\\\n\"|" "$POT"
# The C parser skips lines starting with "#" (attributes) and can stumble on lifetimes: make
# sure every literal passed to a gettext function in the Rust sources made it into the .pot.
msgcat --no-wrap "$POT" > "$tmp/all.pot"
for f in $(files '\.rs$'); do
    grep -o '\(gettext\|i18n_f\|ngettext\|ni18n_f\)("[^"]*"' "$f" | sed 's/^[a-z0-9_]*("//; s/"$//' |
        while IFS= read -r msg; do
            grep -qF "msgid \"$msg\"" "$tmp/all.pot" || { echo "$f: not extracted: $msg" >&2; echo x; }
        done
done > "$tmp/missing"
missing=$(wc -l < "$tmp/missing")
[ "$missing" -eq 0 ] || { echo "error: $missing string(s) not extracted; move them out of attributes" >&2; exit 1; }

echo "wrote $POT ($(grep -c '^msgid ' "$POT") entries)"

for lang in $(grep -v '^#' po/LINGUAS); do
    if [ ! -s "po/$lang.po" ]; then
        msginit --no-translator --locale="$lang" --input="$POT" --output-file="po/$lang.po"
    fi
    msgmerge --quiet --update --backup=none "po/$lang.po" "$POT"
    msgfmt --check --statistics -o /dev/null "po/$lang.po"
done
