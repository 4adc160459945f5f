#!/bin/sh
# shellcheck shell=sh disable=SC3060,SC3045 # busybox ash: ${var//x/y} and read -n exist
# /init of the Hangar test guest. Runs as PID 1 under busybox sh; packed into
# initrd.gz by tests/guest/build.sh. The serial protocol is described in README.md.
#
# PID 1 must never exit (the kernel would panic), so every loop below restarts
# itself and no command is allowed to end the shell.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run

SERIAL=/dev/ttyS0
VT=/dev/tty1
COUNTER_FILE=/run/counter
CR=$(printf '\r')
# Clipboard test agent (in builds made with --with-agent): its commands go through a FIFO,
# the last text it received from the host is kept in CLIP_FILE (escaped, one line).
AGENT=/bin/hangar-test-agent
AGENT_IN=/run/agent.in
AGENT_LOG=/run/agent.log
CLIP_FILE=/run/clip

# One reply line on the serial console.
say() {
    echo "$1" >"$SERIAL"
}

# One line on the serial console and on the screen.
tell() {
    echo "$1" >"$SERIAL"
    echo "$1" >/dev/tty0
}

load_modules() {
    while read -r mod; do
        [ -n "$mod" ] || continue
        insmod "/lib/modules/$mod" || say "HANGAR-MODFAIL:$mod"
    done </lib/modules/load-order
}

# busybox acpid opens /dev/input/event0, event1, ... once at start-up and stops
# at the first missing node, so wait until devtmpfs has a node for every event
# device the kernel registered (the power button among them).
wait_input_nodes() {
    tries=0
    while [ "$tries" -lt 50 ]; do
        want=0
        have=0
        for e in /sys/class/input/event*; do
            [ -e "$e" ] || continue
            want=$((want + 1))
            [ -c "/dev/input/${e##*/}" ] && have=$((have + 1))
        done
        if [ "$want" -gt 0 ] && [ "$want" -eq "$have" ]; then
            return 0
        fi
        sleep 0.1
        tries=$((tries + 1))
    done
    say "HANGAR-WARN:input event nodes missing"
}

counter() {
    cat "$COUNTER_FILE"
}

# Accepts an optional '-' then 1..18 digits; prints the normalised number.
parse_int() {
    sign=
    v=$1
    case "$v" in
        -*) sign=-; v=${v#-} ;;
    esac
    case "$v" in
        '' | *[!0-9]*) return 1 ;;
    esac
    [ "${#v}" -le 18 ] || return 1
    # Leading zeros would make shell arithmetic read the number as octal.
    while [ "${v#0}" != "$v" ] && [ "${#v}" -gt 1 ]; do
        v=${v#0}
    done
    echo "$sign$v"
}

list_usb() {
    for d in /sys/bus/usb/devices/*; do
        [ -r "$d/idVendor" ] || continue
        say "USB:${d##*/} $(cat "$d/idVendor"):$(cat "$d/idProduct")"
    done
    say "USB-END"
}

list_blk() {
    for d in /sys/block/*; do
        [ -r "$d/size" ] || continue
        case "${d##*/}" in
            loop* | ram*) continue ;;
        esac
        say "BLK:${d##*/} $(cat "$d/size")"
    done
    say "BLK-END"
}

# Runs the clipboard agent on the com.redhat.spice.0 port once its node exists (up to 10 s),
# in the background. Not when a test added its own copy at /hangar-test-agent.
start_agent() {
    [ -x "$AGENT" ] && [ ! -e /hangar-test-agent ] || return 0
    mkfifo "$AGENT_IN" || return 0
    # Read-write: opening does not block, and the agent never sees end-of-file.
    exec 4<>"$AGENT_IN"
    (
        port=
        tries=0
        while [ -z "$port" ] && [ "$tries" -lt 50 ]; do
            for p in /sys/class/virtio-ports/*; do
                [ -r "$p/name" ] && [ "$(cat "$p/name")" = com.redhat.spice.0 ] &&
                    [ -c "/dev/${p##*/}" ] && port=/dev/${p##*/}
            done
            [ -n "$port" ] || sleep 0.2
            tries=$((tries + 1))
        done
        if [ -z "$port" ]; then
            echo "no com.redhat.spice.0 port" >"$AGENT_LOG"
            exit 0
        fi
        "$AGENT" --port "$port" <"$AGENT_IN" 2>&1 | while IFS= read -r aline; do
            printf '%s\n' "$aline" >>"$AGENT_LOG"
            case "$aline" in
                "HOST-CLIPBOARD "*)
                    printf '%s\n' "${aline#HOST-CLIPBOARD }" >"$CLIP_FILE.new"
                    mv -f "$CLIP_FILE.new" "$CLIP_FILE"
                    ;;
            esac
        done
        echo "agent exited" >>"$AGENT_LOG"
    ) </dev/null >/dev/null 2>&1 &
}

power_off() {
    tell "HANGAR-POWEROFF"
    sync
    poweroff -f
}

handle() {
    line=$1
    cmd=${line%% *}
    arg=
    [ "$cmd" = "$line" ] || arg=${line#* }
    case "$cmd" in
        get)
            say "COUNTER=$(counter)"
            ;;
        inc)
            n=$(($(counter) + 1))
            echo "$n" >"$COUNTER_FILE"
            say "COUNTER=$n"
            ;;
        set)
            if n=$(parse_int "$arg"); then
                echo "$n" >"$COUNTER_FILE"
                say "COUNTER=$n"
            else
                say "ERR usage: set INTEGER"
            fi
            ;;
        echo)
            say "ECHO:$arg"
            ;;
        usb)
            list_usb
            ;;
        blk)
            list_blk
            ;;
        clipget)
            if [ -f "$CLIP_FILE" ]; then
                say "CLIP:$(cat "$CLIP_FILE")"
            else
                say "CLIP-NONE"
            fi
            ;;
        clipset)
            if [ -p "$AGENT_IN" ]; then
                echo "grab $arg" >&4
                say "CLIPSET:$arg"
            else
                say "ERR no clipboard agent"
            fi
            ;;
        agentlog)
            if [ -f "$AGENT_LOG" ]; then
                while IFS= read -r aline; do
                    say "AGENTLOG:$aline"
                done <"$AGENT_LOG"
            fi
            say "AGENTLOG-END"
            ;;
        poweroff)
            power_off
            ;;
        *)
            say "ERR unknown"
            ;;
    esac
}

serial_loop() {
    while IFS= read -r line; do
        line=${line//$CR/}
        [ -n "$line" ] || continue
        handle "$line"
    done
}

# Keyboard on the text console: every byte is reported as KEYHEX:xx, and each
# completed line (Enter) as KEYLINE:<text>. Backspace/DEL removes a character.
keyboard_loop() {
    stty -icanon -echo icrnl
    printf '\nHangar test guest. Keys typed here are reported on ttyS0.\n> '
    typed=
    while :; do
        c=
        if ! IFS= read -r -n 1 c; then
            sleep 1
            continue
        fi
        if [ -z "$c" ]; then
            say "KEYHEX:0a"
            say "KEYLINE:$typed"
            typed=
            printf '\n> '
            continue
        fi
        hex=$(printf '%02x' "'$c")
        say "KEYHEX:$hex"
        case "$hex" in
            7f | 08)
                typed=${typed%?}
                printf '\b \b'
                ;;
            *)
                typed="$typed$c"
                printf '%s' "$c"
                ;;
        esac
    done
}

load_modules
wait_input_nodes
# From here on only emergencies reach the consoles, so late kernel messages
# (USB enumeration, ...) cannot split protocol lines.
dmesg -n 1

echo 0 >"$COUNTER_FILE"
# Keep ttyS0 open for good: on its last close the port shuts down and drops any
# input that arrives until the next open (e.g. right after the boot marker).
exec 3<>"$SERIAL"
acpid -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid
start_agent
stty -F "$SERIAL" 115200 raw -echo icrnl opost onlcr
(
    while :; do
        # shellcheck disable=SC2094 # a terminal: read keys, write the echo
        keyboard_loop <"$VT" >"$VT" 2>&1
        sleep 1
    done
) &

tell "HANGAR-BOOT-OK"

while :; do
    serial_loop <&3
    sleep 1
done
