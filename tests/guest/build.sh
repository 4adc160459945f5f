#!/usr/bin/env bash
# Builds the tiny real guest used by Hangar's real-QEMU tests, from Debian packages:
#   OUTDIR/vmlinuz      Debian's stock kernel (bzImage)
#   OUTDIR/initrd.gz    busybox-static + kernel modules + tests/guest/init.sh as /init
#   OUTDIR/guest.iso    hybrid BIOS+UEFI boot image (grub-mkrescue)
#   OUTDIR/guest.qcow2  the same image as a qcow2 disk
#   OUTDIR/VERSION      stamp; first line "key=<hash of all inputs>"
# With --with-agent, the initramfs also holds the static crates/hangar-test-agent as
# /bin/hangar-test-agent (built with cargo into OUTDIR/cache/agent-target); /init starts it on
# the com.redhat.spice.0 port.
# Packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`;
# nothing is installed into the system. The downloaded .debs stay in OUTDIR/cache.
#
# Exit status: 0 built or already up to date, 1 build failure, 2 usage,
# 3 a required tool (or cargo, with --with-agent) is missing or apt has no package lists
# (the message says what to run).
#
# Environment: HANGAR_GUEST_KERNEL_PKG pins the kernel package (default: what
# linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64).

set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C
export PATH="$PATH:/usr/sbin:/sbin"

REQUIRED_MODULES=(button evdev virtio_pci virtio_blk virtio_console ata_piix ahci sr_mod sd_mod
    isofs xhci_pci usbhid hid_generic usb_storage)
OPTIONAL_MODULES=(virtio_net virtio_scsi virtio_input ehci_pci uhci_hcd)
KERNEL_CMDLINE="console=ttyS0,115200 console=tty0"

prog=${0##*/}
die() {
    echo "$prog: error: $*" >&2
    exit 1
}
note() {
    echo "$prog: $*" >&2
}

with_agent=no
if [ "${1-}" = --with-agent ]; then
    with_agent=yes
    shift
fi
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $prog [--with-agent] OUTDIR" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
init_script="$here/init.sh"
[ -r "$init_script" ] || die "$init_script is missing; run the script from a complete checkout"
agent_dir="$here/../../crates/hangar-test-agent"
agent_inputs=()
if [ "$with_agent" = yes ]; then
    [ -r "$agent_dir/Cargo.toml" ] || die "$agent_dir is missing; run the script from a complete checkout"
    agent_dir=$(cd "$agent_dir" && pwd)
    mapfile -t agent_inputs < <(cd "$agent_dir" &&
        find Cargo.toml Cargo.lock .cargo src -type f 2>/dev/null | LC_ALL=C sort)
fi

# Each argument is "TOOL=PACKAGE" (TOOL is a command, or an absolute path that must exist).
# Prints every missing tool with its Debian package and exits 3.
require_tools() {
    local spec tool pkg missing=() pkgs=()
    for spec in "$@"; do
        tool=${spec%%=*}
        pkg=${spec#*=}
        if [[ "$tool" == /* ]]; then
            [ -e "$tool" ] && continue
        else
            command -v "$tool" >/dev/null 2>&1 && continue
        fi
        missing+=("$tool ($pkg)")
        [[ " ${pkgs[*]-} " == *" $pkg "* ]] || pkgs+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "$prog: missing tools: ${missing[*]}" >&2
        echo "$prog: install them with: apt-get install -y ${pkgs[*]}" >&2
        exit 3
    fi
}

require_tools flock=util-linux sha256sum=coreutils

mkdir -p "$1" 2>/dev/null || die "cannot create output directory $1"
OUTDIR=$(cd "$1" && pwd)
exec 9>>"$OUTDIR/.lock"
if ! flock -w 1800 9; then
    die "another build holds $OUTDIR/.lock for over 30 min; stop it or remove that build"
fi

# "Up to date" means: built by this very script + init.sh (+ the agent's sources with
# --with-agent). A newer Debian kernel alone does not trigger a rebuild (tests want a stable
# guest); delete OUTDIR/VERSION to force one.
key=$({
    cat "${BASH_SOURCE[0]}" "$init_script"
    echo "agent=$with_agent"
    for f in "${agent_inputs[@]}"; do
        echo "== $f"
        cat "$agent_dir/$f"
    done
} | sha256sum | cut -d' ' -f1)
outputs=(vmlinuz initrd.gz guest.iso guest.qcow2 VERSION)
up_to_date() {
    local f
    for f in "${outputs[@]}"; do
        [ -s "$OUTDIR/$f" ] || return 1
    done
    [ "$(head -n1 "$OUTDIR/VERSION")" = "key=$key" ]
}
if up_to_date; then
    note "up to date: $OUTDIR ($(sed -n 's/^kernel_package=//p' "$OUTDIR/VERSION"))"
    exit 0
fi

require_tools apt-get=apt apt-cache=apt dpkg-deb=dpkg depmod=kmod modprobe=kmod cpio=cpio \
    gzip=gzip xz=xz-utils awk=mawk find=findutils grub-mkrescue=grub-common \
    /usr/lib/grub/i386-pc/boot_hybrid.img=grub-pc-bin /usr/lib/grub/x86_64-efi/linux.mod=grub-efi-amd64-bin \
    xorriso=xorriso mformat=mtools qemu-img=qemu-utils

# Builds the static test agent; prints its path.
build_agent() {
    local cargo=${CARGO:-cargo} target="$OUTDIR/cache/agent-target" bin
    if ! command -v "$cargo" >/dev/null 2>&1; then
        echo "$prog: --with-agent needs cargo (Rust); install it (https://rustup.rs) or build without --with-agent" >&2
        exit 3
    fi
    # From the crate's folder, in a target dir of its own; RUSTFLAGS pins static linking
    # whatever the caller's environment says (its .cargo/config.toml says the same).
    (cd "$agent_dir" && CARGO_TARGET_DIR="$target" RUSTFLAGS="-C target-feature=+crt-static" \
        "$cargo" build --quiet --release --locked --target x86_64-unknown-linux-gnu) >&2 ||
        die "building $agent_dir failed (cargo output above)"
    bin="$target/x86_64-unknown-linux-gnu/release/hangar-test-agent"
    [ -x "$bin" ] || die "cargo left no $bin"
    if command -v readelf >/dev/null 2>&1 && readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
        die "$bin is dynamically linked; the busybox guest has no C library"
    fi
    echo "$bin"
}

start=$(date +%s)
agent_bin=
if [ "$with_agent" = yes ]; then
    agent_bin=$(build_agent)
fi
kernel_pkg=${HANGAR_GUEST_KERNEL_PKG:-}
if [ -z "$kernel_pkg" ]; then
    kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1 || true)
fi
# "PACKAGE VERSION SHA256" of the candidate versions, one line each.
pkg_info=$(apt-cache show --no-all-versions "${kernel_pkg:-linux-image-amd64}" busybox-static 2>/dev/null |
    awk '/^Package: /{p=$2} /^Version: /{v=$2} /^SHA256: /{print p, v, $2}' || true)
read -r _ kernel_version kernel_sha <<<"$(grep "^$kernel_pkg " <<<"$pkg_info" || true)"
read -r _ bb_version bb_sha <<<"$(grep '^busybox-static ' <<<"$pkg_info" || true)"
if [ -z "$kernel_pkg" ] || [ -z "$kernel_sha" ] || [ -z "$bb_sha" ]; then
    echo "$prog: apt-cache does not know ${kernel_pkg:-linux-image-amd64} or busybox-static;" \
        "run 'apt-get update' (package lists are missing or stale)" >&2
    exit 3
fi

note "building into $OUTDIR ($kernel_pkg $kernel_version, busybox-static $bb_version)"
rm -rf "$OUTDIR"/.build.* # left by a killed build; we hold the lock
work=$(mktemp -d "$OUTDIR/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work" # apt-get download runs as _apt and must reach dl dirs below
mkdir -p "$OUTDIR/cache" "$work/empty.d"

# Prints the path of a cached, hash-checked .deb of package $1 (version $2, sha256 $3),
# downloading it first when needed.
fetch_deb() {
    local pkg=$1 version=$2 sha=$3 cached dl deb
    cached="$OUTDIR/cache/${pkg}_${sha:0:16}.deb"
    if [ -f "$cached" ] && [ "$(sha256sum <"$cached" | cut -d' ' -f1)" = "$sha" ]; then
        echo "$cached"
        return 0
    fi
    dl=$(mktemp -d "$work/dl.XXXXXX")
    # apt drops root to _apt for downloads; let it write here.
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$dl"
    fi
    if ! (cd "$dl" && apt-get -q download "$pkg=$version" >&2); then
        die "apt-get download $pkg=$version failed; check the apt sources and network, then 'apt-get update'"
    fi
    deb=$(find "$dl" -maxdepth 1 -name '*.deb' | head -n1)
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb behind"
    [ "$(sha256sum <"$deb" | cut -d' ' -f1)" = "$sha" ] ||
        die "$pkg: downloaded file does not match the SHA256 in apt's lists; run 'apt-get update'"
    rm -f "$OUTDIR/cache/${pkg}_"*.deb
    mv "$deb" "$cached"
    echo "$cached"
}

kernel_deb=$(fetch_deb "$kernel_pkg" "$kernel_version" "$kernel_sha")
bb_deb=$(fetch_deb busybox-static "$bb_version" "$bb_sha")

# --- kernel -----------------------------------------------------------------
kroot="$work/kernel"
dpkg-deb -x "$kernel_deb" "$kroot"
shopt -s nullglob
vmlinuz_candidates=("$kroot"/boot/vmlinuz-*)
shopt -u nullglob
[ ${#vmlinuz_candidates[@]} -eq 1 ] || die "$kernel_pkg does not contain exactly one boot/vmlinuz-*"
kver=${vmlinuz_candidates[0]##*/vmlinuz-}
if [ ! -d "$kroot/lib/modules/$kver" ] && [ -d "$kroot/usr/lib/modules/$kver" ]; then
    ln -s usr/lib "$kroot/lib"
fi
[ -d "$kroot/lib/modules/$kver" ] || die "$kernel_pkg has no modules for $kver"
depmod -C "$work/empty.d" -b "$kroot" "$kver"

# --- initramfs --------------------------------------------------------------
iroot="$work/initramfs"
mkdir -p "$iroot"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc/acpi/PWRF,lib/modules}

bbroot="$work/busybox"
dpkg-deb -x "$bb_deb" "$bbroot"
bb=$(find "$bbroot" -type f -name busybox -path '*bin/busybox' | head -n1)
[ -n "$bb" ] || die "busybox-static package has no bin/busybox"
install -m 0755 "$bb" "$iroot/bin/busybox"
while read -r applet; do
    if [ -z "$applet" ] || [ "$applet" = bin/busybox ]; then
        continue
    fi
    ln -sf /bin/busybox "$iroot/$applet"
done < <("$iroot/bin/busybox" --list-full)
for applet in bin/sh sbin/acpid bin/stty sbin/insmod; do
    [ -L "$iroot/$applet" ] || die "busybox-static lacks the ${applet##*/} applet"
done

install -m 0755 "$init_script" "$iroot/init"
if [ -n "$agent_bin" ]; then
    install -m 0755 "$agent_bin" "$iroot/bin/hangar-test-agent"
fi
cat >"$iroot/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# busybox acpid runs this on the ACPI power button (QMP system_powerdown).
echo HANGAR-POWEROFF >/dev/ttyS0
echo HANGAR-POWEROFF >/dev/tty0
sync
poweroff -f
EOF
chmod 0755 "$iroot/etc/acpi/PWRF/00000080"

declare -A seen_module=()
module_count=0
: >"$iroot/lib/modules/load-order"
# Prints the files module $1 needs, in load order ("insmod PATH" / "builtin NAME" lines);
# fails if the kernel lacks the module.
module_deps() {
    modprobe -C "$work/empty.d" -d "$kroot" -S "$kver" --show-depends "$1" 2>/dev/null
}
# Copies the modules listed by module_deps output $1 (uncompressed) and appends them to load-order.
add_modules() {
    local kind path name
    while read -r kind path _; do
        case "$kind" in
            builtin) continue ;;
            insmod) ;;
            *) die "unexpected modprobe output: $kind $path" ;;
        esac
        [ -z "${seen_module[$path]-}" ] || continue
        # CPU-specific crypto speed-ups (softdeps) fail on CPUs without the
        # instructions, e.g. under TCG; the generic versions do the same job.
        [[ "$path" != */arch/x86/crypto/* ]] || continue
        seen_module[$path]=1
        name=${path##*/}
        name=${name%%.ko*}.ko
        case "$path" in
            *.ko) cp "$path" "$iroot/lib/modules/$name" ;;
            *.ko.xz) xz -dc "$path" >"$iroot/lib/modules/$name" ;;
            *.ko.gz) gzip -dc "$path" >"$iroot/lib/modules/$name" ;;
            *.ko.zst)
                require_tools zstd=zstd
                zstd -q -dc "$path" >"$iroot/lib/modules/$name"
                ;;
            *) die "unknown module file type: $path" ;;
        esac
        echo "$name" >>"$iroot/lib/modules/load-order"
        module_count=$((module_count + 1))
    done <<<"$1"
}
for m in "${REQUIRED_MODULES[@]}"; do
    deps=$(module_deps "$m") || die "kernel $kver has no module $m (needed by the test guest)"
    add_modules "$deps"
done
for m in "${OPTIONAL_MODULES[@]}"; do
    if deps=$(module_deps "$m"); then
        add_modules "$deps"
    else
        note "kernel $kver has no module $m; leaving it out"
    fi
done
echo "$key" >"$iroot/etc/hangar-guest-version"

(cd "$iroot" && find . -print0 | sort -z | cpio --null -o -H newc -R 0:0 --quiet) |
    gzip -9n >"$work/initrd.gz"
cp "${vmlinuz_candidates[0]}" "$work/vmlinuz"

# --- bootable image ------------------------------------------------------------
isodir="$work/iso"
mkdir -p "$isodir/boot/grub"
cp "$work/vmlinuz" "$work/initrd.gz" "$isodir/"
cat >"$isodir/boot/grub/grub.cfg" <<EOF
set timeout=0
set timeout_style=hidden
set default=0
insmod all_video
menuentry "Hangar test guest ($kver)" {
    linux /vmlinuz $KERNEL_CMDLINE
    initrd /initrd.gz
}
EOF
if ! grub-mkrescue -o "$work/guest.iso" --fonts= --locales= --themes= "$isodir" -- -volid HANGAR_GUEST >"$work/mkrescue.log" 2>&1; then
    cat "$work/mkrescue.log" >&2
    die "grub-mkrescue failed (log above)"
fi
qemu-img convert -f raw -O qcow2 "$work/guest.iso" "$work/guest.qcow2"

# --- install the outputs ----------------------------------------------------------
rm -f "$OUTDIR/VERSION"
for f in vmlinuz initrd.gz guest.iso guest.qcow2; do
    mv -f "$work/$f" "$OUTDIR/$f"
done
for old in "$OUTDIR"/cache/*.deb; do
    [ "$old" = "$kernel_deb" ] || [ "$old" = "$bb_deb" ] || rm -f "$old"
done
elapsed=$(($(date +%s) - start))
cat >"$work/VERSION" <<EOF
key=$key
kernel_package=$kernel_pkg
kernel_version=$kernel_version
kernel_release=$kver
busybox_version=$bb_version
agent=$with_agent
modules=$module_count
cmdline=$KERNEL_CMDLINE
built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$elapsed
EOF
mv -f "$work/VERSION" "$OUTDIR/VERSION"
note "done in ${elapsed}s: $OUTDIR/{vmlinuz,initrd.gz,guest.iso,guest.qcow2} ($module_count modules)"
