#!/usr/bin/env bash
# Hangar developer entry point for a Debian 12 machine.
#   build-aux/dev.sh deps   install the system packages Hangar needs to build, run and test
#   build-aux/dev.sh run    deps, then build and start the app
#   build-aux/dev.sh test   deps, then build everything and run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: GTK 4, libadwaita, gtk-vnc (gvnc), spice-gtk (glib part), gettext, GLib tools.
BUILD_PKGS="build-essential pkg-config libgtk-4-dev libadwaita-1-dev libgvnc-1.0-dev
  libspice-client-glib-2.0-dev libspice-protocol-dev gettext libglib2.0-dev-bin"
# Run: QEMU 7.2 and qemu-img from Debian 12, UEFI firmware, TPM emulator, OS database.
RUN_PKGS="qemu-system-x86 ovmf swtpm swtpm-tools osinfo-db"
# Test: the tiny guest's ingredients, a virtual X server and GUI automation, data validators.
TEST_PKGS="xvfb xauth xdotool imagemagick busybox-static grub-common grub-pc-bin grub-efi-amd64-bin
  xorriso mtools cpio kmod xz-utils socat dbus at-spi2-core desktop-file-utils appstream
  x11-xkb-utils x11-utils gvncviewer python3 python3-pyatspi gir1.2-atspi-2.0 openbox xclip"

need_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

qemu_img_ok() {
    # qemu-system-x86 7.2 needs the qemu-utils of the same release (a backported qemu-utils
    # conflicts), hence the explicit bookworm version and --allow-downgrades.
    command -v qemu-img >/dev/null && qemu-img --version | grep -q "version 7\."
}

deps() {
    # shellcheck disable=SC2086
    local missing
    missing=$(missing_pkgs $BUILD_PKGS $RUN_PKGS $TEST_PKGS)
    if [ -n "$missing" ] || ! qemu_img_ok; then
        echo "Installing system packages: $(echo $missing) qemu-utils/bookworm"
        need_root apt-get update -q
        # shellcheck disable=SC2086
        need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades \
            $missing qemu-utils/bookworm
    fi
    if ! command -v cargo >/dev/null; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            echo "Rust is not installed: installing the stable toolchain with rustup"
            need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl
            curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
    fi
}

case "${1:-}" in
deps) deps ;;
run)
    deps
    shift
    cargo build --workspace
    exec cargo run --bin hangar -- "$@"
    ;;
test)
    deps
    shift
    cargo build --workspace --all-targets
    exec cargo test --workspace "$@"
    ;;
*)
    echo "usage: $0 deps|run|test" >&2
    exit 2
    ;;
esac
