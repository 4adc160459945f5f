#!/usr/bin/env python3
"""Boots the guest built by tests/guest/build.sh and checks its whole serial protocol.

usage: smoke.py OUTDIR [--variant NAME ...] [--timeout SECONDS] [--logdir DIR]

Variants: iso-bios, iso-uefi, qcow2-bios, qcow2-uefi (full protocol check, then QMP
system_powerdown) and poweroff-cmd (BIOS ISO, serial `poweroff`). Default: all five.
The accelerator comes from $HANGAR_ACCEL (default tcg). Standard library only.
Exit status 0 when every variant passed, 1 otherwise.
"""

import argparse
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
VARIANTS = ("iso-bios", "iso-uefi", "qcow2-bios", "qcow2-uefi")
REPLY = re.compile(r"^(COUNTER=|ERR |ECHO:)")


class CheckFailed(Exception):
    pass


class Serial:
    """Line reader/writer on QEMU's serial unix socket; keeps a copy of all output."""

    def __init__(self, path, log_path, deadline):
        self.sock = connect_unix(path, deadline)
        self.lines = queue.Queue()
        self.log = open(log_path, "wb")
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.lines.put(None)
                return
            self.log.write(data)
            self.log.flush()
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.put(line.replace(b"\r", b"").decode("utf-8", "replace"))

    def send(self, text):
        self.sock.sendall(text.encode())

    def expect(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"timed out after {timeout}s waiting for {what}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise CheckFailed(f"serial closed while waiting for {what}")
            if pred(line):
                return line

    def command(self, cmd, timeout=10, end=None):
        """Sends one command line; returns its reply line, or all lines up to `end`."""
        self.send(cmd + "\n")
        if end is None:
            return self.expect(lambda l: REPLY.match(l) is not None, timeout, f"reply to {cmd!r}")
        out = []
        while True:
            line = self.expect(lambda l: True, timeout, f"{end} after {cmd!r}")
            if line == end:
                return out
            out.append(line)

    def close(self):
        self.sock.close()
        self.log.close()


class Qmp:
    def __init__(self, path, deadline):
        self.sock = connect_unix(path, deadline)
        self.file = self.sock.makefile("rb")
        self.events = []
        self._read()  # greeting
        self.call("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise CheckFailed("QMP connection closed")
        return json.loads(line)

    def call(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            resp = self._read()
            if "event" in resp:
                self.events.append(resp)
                continue
            if "error" in resp:
                raise CheckFailed(f"QMP {name} failed: {resp['error']}")
            return resp.get("return")

    def close(self):
        self.sock.close()


def connect_unix(path, deadline):
    while True:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise CheckFailed(f"cannot connect to {path}")
            time.sleep(0.02)


def qemu_argv(outdir, variant, tmp):
    accel = os.environ.get("HANGAR_ACCEL", "tcg")
    uefi = variant.endswith("-uefi")
    argv = [
        "qemu-system-x86_64", "-machine", "q35", "-accel", accel, "-m", "512" if uefi else "256",
        "-nodefaults", "-display", "none", "-vga", "std",
        "-serial", f"unix:{tmp}/serial.sock,server=on,wait=off",
        "-qmp", f"unix:{tmp}/qmp.sock,server=on,wait=off",
        "-device", "qemu-xhci,id=xhci", "-device", "usb-tablet,bus=xhci.0",
    ]
    if uefi:
        shutil.copyfile(OVMF_VARS, f"{tmp}/vars.fd")
        argv += ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                 "-drive", f"if=pflash,format=raw,file={tmp}/vars.fd"]
    if variant.startswith("iso"):
        argv += ["-cdrom", f"{outdir}/guest.iso"]
    else:
        # snapshot=on: the shared base image is only read, so parallel runs do not collide.
        argv += ["-drive", f"file={outdir}/guest.qcow2,format=qcow2,if=virtio,snapshot=on"]
    return argv


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def exercise(serial, qmp, variant, timings):
    t0 = time.monotonic()
    check(serial.command("get") == "COUNTER=0", "counter does not start at 0")
    check(serial.command("inc") == "COUNTER=1", "inc")
    check(serial.command("inc\r") == "COUNTER=2", "inc with CR")
    check(serial.command("set 41") == "COUNTER=41", "set 41")
    check(serial.command("inc") == "COUNTER=42", "inc after set")
    check(serial.command("set 007") == "COUNTER=7", "set with leading zeros")
    check(serial.command("set -3") == "COUNTER=-3", "set negative")
    check(serial.command("set x").startswith("ERR "), "set with a bad number")
    check(serial.command("get") == "COUNTER=-3", "get after a rejected set")
    check(serial.command("echo hello  world") == "ECHO:hello  world", "echo")
    check(serial.command("bogus") == "ERR unknown", "unknown command")
    timings["protocol_s"] = round(time.monotonic() - t0, 2)

    t0 = time.monotonic()
    while True:
        usb = serial.command("usb", end="USB-END")
        if any(l.startswith("USB:") and l.endswith(" 0627:0001") for l in usb):
            break
        check(time.monotonic() - t0 < 20, f"usb-tablet not listed: {usb}")
        time.sleep(0.5)
    timings["usb_tablet_visible_s"] = round(time.monotonic() - t0, 2)

    want = "sr0" if variant.startswith("iso") else "vda"
    blk = serial.command("blk", end="BLK-END")
    check(any(l.startswith(f"BLK:{want} ") for l in blk), f"{want} not in blk output {blk}")

    t0 = time.monotonic()
    for key in ("h", "i", "spc", "x", "backspace", "1", "ret"):
        qmp.call("send-key", keys=[{"type": "qcode", "data": key}])
    serial.expect(lambda l: l == "KEYHEX:68", 10, "KEYHEX:68 for 'h'")
    line = serial.expect(lambda l: l.startswith("KEYLINE:"), 10, "KEYLINE")
    check(line == "KEYLINE:hi 1", f"keyboard line was {line!r}")
    timings["keyboard_s"] = round(time.monotonic() - t0, 2)


def boot(outdir, variant, tmp, logdir, timeout, timings):
    """Starts QEMU, connects serial + QMP and waits for the boot marker."""
    argv = qemu_argv(outdir, variant, tmp)
    start = time.monotonic()
    with open(os.path.join(logdir, f"qemu-{variant}.err"), "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    parts = [proc]
    try:
        parts.append(Serial(f"{tmp}/serial.sock", os.path.join(logdir, f"serial-{variant}.log"), start + 10))
        parts.append(Qmp(f"{tmp}/qmp.sock", start + 10))
        parts[1].expect(lambda l: l == "HANGAR-BOOT-OK", timeout, "HANGAR-BOOT-OK")
    except BaseException:
        shutdown(parts)
        raise
    timings["boot_to_marker_s"] = round(time.monotonic() - start, 2)
    return parts


def shutdown(parts):
    proc = parts[0]
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for c in parts[1:]:
        c.close()


def wait_exit(proc, why):
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"QEMU still running 30 s after {why}")
    check(proc.returncode == 0, f"QEMU exited with {proc.returncode} after {why}")


def run_variant(outdir, variant, timeout, logdir):
    """Returns (passed, timings, error message or None)."""
    timings = {}
    tmp = tempfile.mkdtemp(prefix=f"hangar-guest-{variant}-")
    parts = []
    try:
        if variant == "poweroff-cmd":
            parts = boot(outdir, "iso-bios", tmp, logdir, timeout, timings)
            proc, serial, _ = parts
            t0 = time.monotonic()
            serial.send("poweroff\n")
            serial.expect(lambda l: l == "HANGAR-POWEROFF", 10, "HANGAR-POWEROFF")
            wait_exit(proc, "`poweroff`")
        else:
            parts = boot(outdir, variant, tmp, logdir, timeout, timings)
            proc, serial, qmp = parts
            exercise(serial, qmp, variant, timings)
            t0 = time.monotonic()
            qmp.call("system_powerdown")
            serial.expect(lambda l: l == "HANGAR-POWEROFF", 30, "HANGAR-POWEROFF after system_powerdown")
            wait_exit(proc, "system_powerdown")
        timings["poweroff_to_exit_s"] = round(time.monotonic() - t0, 2)
        return True, timings, None
    except CheckFailed as err:
        return False, timings, f"{err} (logs in {logdir})"
    finally:
        if parts:
            shutdown(parts)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--variant", action="append", choices=VARIANTS + ("poweroff-cmd",))
    ap.add_argument("--timeout", type=float, default=240, help="boot timeout per variant (s)")
    ap.add_argument("--logdir", help="where serial logs and QEMU stderr go (default: a new temp dir)")
    args = ap.parse_args()
    outdir = os.path.abspath(args.outdir)
    logdir = args.logdir or tempfile.mkdtemp(prefix="hangar-guest-logs-")
    os.makedirs(logdir, exist_ok=True)
    ok_all = True
    for variant in args.variant or VARIANTS + ("poweroff-cmd",):
        ok, timings, err = run_variant(outdir, variant, args.timeout, logdir)
        ok_all &= ok
        print(f"{variant}: {'PASS' if ok else 'FAIL'} {json.dumps(timings)}" + (f"\n  {err}" if err else ""),
              flush=True)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
