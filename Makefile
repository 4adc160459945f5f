# Hangar — build, install and data checks.
#
#   make                     release build of hangar and hangarctl, plus translated data files
#   make install             install under $(DESTDIR)$(PREFIX)   (PREFIX defaults to /usr/local)
#   make uninstall           remove what install put there
#   make check-data          validate desktop file, metainfo, GSettings schema, translations, flatpak manifest
#   make run / make test     the README's two commands (build-aux/dev.sh run|test)
#
# Translations: po/update.sh regenerates po/hangar.pot and merges it into po/*.po.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
LOCALEDIR ?= $(DATADIR)/locale
PKGDATADIR ?= $(DATADIR)/hangar

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
CARGO_FLAGS ?=
BUILD_DIR ?= _build

APP_ID := org.hangar.Hangar
LINGUAS := $(shell grep -v '^\#' po/LINGUAS)
PO_FILES := $(addprefix po/,$(addsuffix .po,$(LINGUAS)))
MO_FILES := $(foreach lang,$(LINGUAS),$(BUILD_DIR)/locale/$(lang)/LC_MESSAGES/hangar.mo)
DESKTOP := $(BUILD_DIR)/$(APP_ID).desktop
METAINFO := $(BUILD_DIR)/$(APP_ID).metainfo.xml
RELEASE := $(CARGO_TARGET_DIR)/release

INSTALL ?= install
INSTALL_DATA := $(INSTALL) -m 0644
INSTALL_PROGRAM := $(INSTALL) -m 0755

.PHONY: all build data install uninstall check-data clean-data run test

all: build data

# The install locations are compiled into the binary (see src/config.rs).
build:
	HANGAR_LOCALEDIR='$(LOCALEDIR)' HANGAR_PKGDATADIR='$(PKGDATADIR)' \
		$(CARGO) build --release --locked $(CARGO_FLAGS) -p hangar -p hangarctl

data: $(DESKTOP) $(METAINFO) $(MO_FILES)

$(DESKTOP): data/$(APP_ID).desktop.in $(PO_FILES) po/LINGUAS
	@mkdir -p $(@D)
	msgfmt --desktop --template=$< -d po -o $@

$(METAINFO): data/$(APP_ID).metainfo.xml.in $(PO_FILES) po/LINGUAS
	@mkdir -p $(@D)
	msgfmt --xml --template=$< -d po -o $@

$(BUILD_DIR)/locale/%/LC_MESSAGES/hangar.mo: po/%.po
	@mkdir -p $(@D)
	msgfmt --check -o $@ $<

install: data
	$(INSTALL_PROGRAM) -D $(RELEASE)/hangar $(DESTDIR)$(BINDIR)/hangar
	$(INSTALL_PROGRAM) -D $(RELEASE)/hangarctl $(DESTDIR)$(BINDIR)/hangarctl
	$(INSTALL_DATA) -D $(DESKTOP) $(DESTDIR)$(DATADIR)/applications/$(APP_ID).desktop
	$(INSTALL_DATA) -D $(METAINFO) $(DESTDIR)$(DATADIR)/metainfo/$(APP_ID).metainfo.xml
	$(INSTALL_DATA) -D data/icons/hicolor/scalable/apps/$(APP_ID).svg \
		$(DESTDIR)$(DATADIR)/icons/hicolor/scalable/apps/$(APP_ID).svg
	$(INSTALL_DATA) -D data/icons/hicolor/symbolic/apps/$(APP_ID)-symbolic.svg \
		$(DESTDIR)$(DATADIR)/icons/hicolor/symbolic/apps/$(APP_ID)-symbolic.svg
	$(INSTALL_DATA) -D data/$(APP_ID).gschema.xml $(DESTDIR)$(DATADIR)/glib-2.0/schemas/$(APP_ID).gschema.xml
	@for lang in $(LINGUAS); do \
		echo "$(INSTALL_DATA) -D $(BUILD_DIR)/locale/$$lang/LC_MESSAGES/hangar.mo $(DESTDIR)$(LOCALEDIR)/$$lang/LC_MESSAGES/hangar.mo"; \
		$(INSTALL_DATA) -D $(BUILD_DIR)/locale/$$lang/LC_MESSAGES/hangar.mo \
			$(DESTDIR)$(LOCALEDIR)/$$lang/LC_MESSAGES/hangar.mo || exit 1; \
	done
	@if [ -z "$(DESTDIR)" ]; then \
		echo "glib-compile-schemas $(DATADIR)/glib-2.0/schemas"; \
		glib-compile-schemas $(DATADIR)/glib-2.0/schemas; \
		gtk4-update-icon-cache -q -t -f $(DATADIR)/icons/hicolor 2>/dev/null || true; \
	else \
		echo "Staged in $(DESTDIR). After copying to the target system, run:"; \
		echo "  glib-compile-schemas $(DATADIR)/glib-2.0/schemas"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hangar $(DESTDIR)$(BINDIR)/hangarctl
	rm -f $(DESTDIR)$(DATADIR)/applications/$(APP_ID).desktop
	rm -f $(DESTDIR)$(DATADIR)/metainfo/$(APP_ID).metainfo.xml
	rm -f $(DESTDIR)$(DATADIR)/icons/hicolor/scalable/apps/$(APP_ID).svg
	rm -f $(DESTDIR)$(DATADIR)/icons/hicolor/symbolic/apps/$(APP_ID)-symbolic.svg
	rm -f $(DESTDIR)$(DATADIR)/glib-2.0/schemas/$(APP_ID).gschema.xml
	@for lang in $(LINGUAS); do \
		echo "rm -f $(DESTDIR)$(LOCALEDIR)/$$lang/LC_MESSAGES/hangar.mo"; \
		rm -f $(DESTDIR)$(LOCALEDIR)/$$lang/LC_MESSAGES/hangar.mo; \
	done
	@if [ -z "$(DESTDIR)" ] && [ -d $(DATADIR)/glib-2.0/schemas ]; then \
		glib-compile-schemas $(DATADIR)/glib-2.0/schemas; \
	fi

check-data: $(DESKTOP) $(METAINFO)
	desktop-file-validate $(DESKTOP)
	appstreamcli validate --no-net $(METAINFO)
	glib-compile-schemas --strict --dry-run data
	@for po in $(PO_FILES); do \
		echo "msgfmt --check $$po"; \
		msgfmt --check --statistics -o /dev/null $$po || exit 1; \
	done
	python3 -m json.tool flatpak/$(APP_ID).json > /dev/null
	@echo "flatpak/$(APP_ID).json parses"

run:
	build-aux/dev.sh run

test:
	build-aux/dev.sh test

clean-data:
	rm -rf $(BUILD_DIR)
