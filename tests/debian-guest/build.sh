#!/bin/sh
# Builds a real Debian 12 guest for the opt-in agent test (tests/agent_debian.rs): a minimal
# bookworm with systemd, qemu-guest-agent, spice-vdagent and an X server (Xvfb) for the agent's
# clipboard, as a raw ext4 disk plus the kernel and initrd to boot it with -kernel/-initrd.
#
#   sudo tests/debian-guest/build.sh OUTDIR
#
# Needs root (debootstrap), debootstrap, e2fsprogs and a Debian mirror (deb.debian.org or
# $HANGAR_DEBIAN_MIRROR). Takes ≈3 min and ≈1 GB. OUTDIR gets: root.img (raw ext4, 3 GiB sparse),
# vmlinuz, initrd.img, VERSION. Re-running with an up-to-date VERSION does nothing.
#
# Inside the guest:
# - ttyS0 is a root shell (serial getty with autologin): tests type commands and read answers.
# - hangar-x.service runs `Xvfb :0`; spice-vdagentd runs with -X (no session tracking: there is
#   no logind seat for Xvfb) and hangar-vdagent.service runs `spice-vdagent -x` on :0, so the
#   guest clipboard is :0's CLIPBOARD selection (read and set with xclip).
# - qemu-guest-agent answers on org.qemu.guest_agent.0.
set -eu

out=${1:?usage: build.sh OUTDIR}
mirror=${HANGAR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
key=$(sha256sum < "$0" | cut -d' ' -f1)

if [ -f "$out/VERSION" ] && [ "$(head -n1 "$out/VERSION")" = "key=$key" ] &&
    [ -f "$out/root.img" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
    echo "up to date: $out"
    exit 0
fi
for tool in debootstrap mkfs.ext4 chroot; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool is missing (apt-get install debootstrap e2fsprogs)" >&2
        exit 3
    }
done
[ "$(id -u)" = 0 ] || { echo "error: debootstrap needs root: run with sudo" >&2; exit 3; }

mkdir -p "$out"
root="$out/rootfs"
rm -rf "$root" "$out/VERSION"
packages=systemd-sysv,udev,initramfs-tools,linux-image-amd64,qemu-guest-agent,spice-vdagent,dbus,dbus-user-session,xvfb,xclip,xauth
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror"

echo hangar-debian > "$root/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\n' > "$root/etc/fstab"
passwd -R "$root" -d root >/dev/null

# Serial root shell.
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200 %I linux
EOF
# Quiet prompt without colours, so tests can match answers.
cat >> "$root/root/.profile" <<'EOF'
export PS1='# ' DISPLAY=:0
stty -echo 2>/dev/null
echo HANGAR-DEBIAN-SHELL
EOF

# X server and the session agent.
cat > "$root/etc/systemd/system/hangar-x.service" <<'EOF'
[Unit]
Description=Virtual X server for the clipboard agent
[Service]
ExecStart=/usr/bin/Xvfb :0 -screen 0 1024x768x24 -nolisten tcp
[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$root/etc/systemd/system/spice-vdagentd.service.d"
cat > "$root/etc/systemd/system/spice-vdagentd.service.d/no-session.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/usr/sbin/spice-vdagentd -x -X
EOF
cat > "$root/etc/systemd/system/hangar-vdagent.service" <<'EOF'
[Unit]
Description=spice-vdagent session agent on the virtual X server
After=hangar-x.service spice-vdagentd.service
Requires=hangar-x.service
[Service]
Environment=DISPLAY=:0
ExecStartPre=/bin/sh -c 'for i in $(seq 50); do [ -e /tmp/.X11-unix/X0 ] && exit 0; sleep 0.2; done; exit 1'
ExecStart=/usr/bin/spice-vdagent -x
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable hangar-x.service hangar-vdagent.service spice-vdagentd.service >/dev/null 2>&1 ||
    chroot "$root" systemctl enable hangar-x.service hangar-vdagent.service
# Boot faster: nothing waits for a network.
chroot "$root" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    >/dev/null 2>&1 || true

cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$root"/boot/initrd.img-* "$out/initrd.img"
chroot "$root" apt-get clean
rm -f "$out/root.img"
truncate -s 3G "$out/root.img"
mkfs.ext4 -q -F -L hangar-root -d "$root" "$out/root.img"
rm -rf "$root"
chmod a+r "$out"/*
{
    echo "key=$key"
    echo "built $(date -u +%FT%TZ) from $mirror"
} > "$out/VERSION"
echo "built: $out (root.img, vmlinuz, initrd.img)"
