#!/usr/bin/python3
"""The whole life of a VM in the real Hangar, as a person would live it (run by tests/gui_flow.rs).

Usage: flow.py HANGAR LOGFILE ISO SHOTS
The environment holds DISPLAY (with a window manager), a D-Bus session, HANGAR_HOME,
HANGAR_RUNTIME_DIR and HANGAR_ACCEL=tcg. Prints one "ok: …" line per step; exits 0 when every
step passed, 1 with "FAILED: …" otherwise.

Steps ([K] = keyboard only, through xdotool into the focused window):
   1. the empty library shows;                              [K] Ctrl+N opens the wizard
   2. wizard: the test ISO, Generic Linux, 256 MiB / 1 CPU / 1 GiB, name "flow", Create;
   3. the VM page opens on the console: state "Running", the console connects, the guest
      prints HANGAR-BOOT-OK on serial;
   4. Shut Down (header button): the guest powers off on ACPI, the page says "Stopped";
   5. [K] Alt+2 shows the details; memory 256 → 512 MiB: vm.toml says so;
   6. Disks → Add Disk (32M): disk1.qcow2 exists and vm.toml lists it;
   7. Start; [K] Alt+3 shows the snapshots; Take Snapshot "first" ([K] name typed, Return);
      the guest's counter changes 41 → 99; Revert (confirmed) → the counter is 41 again;
   8. [K] Shut Down again (ACPI), then [K] Alt+Left back to the library, the row focused;
      [K] Menu opens the row's action menu, Delete…, [K] Alt+D confirms → the folder is gone.
Screenshots of each screen: SHOTS/flow-*.png.
"""

import os
import re
import socket
import subprocess
import sys
import time

import pyatspi

from atspi_ui import Failure, Ui, has, keys, press, screenshot, wait

VM = "flow"
LIBRARY = "Hangar"
PAGE = f"{VM} — Hangar"
WIZARD = "New Virtual Machine"
BOOT_MARKER = "HANGAR-BOOT-OK"


class Flow:
    def __init__(self, proc, logfile, iso, shots):
        self.ui = Ui(proc.pid)
        self.proc = proc
        self.logfile = logfile
        self.iso = iso
        self.shots = shots
        self.home = os.environ["HANGAR_HOME"]
        self.vm_dir = os.path.join(self.home, VM)
        self.runtime = os.path.join(os.environ["HANGAR_RUNTIME_DIR"], VM)
        self.started = time.monotonic()

    # ------------------------------------------------------------------ reading state

    def ok(self, text):
        print(f"ok: {text} ({time.monotonic() - self.started:.1f} s)", flush=True)

    def alive(self):
        if self.proc.poll() is not None:
            raise Failure(f"Hangar exited ({self.proc.returncode})")

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def log_mark(self):
        return len(self.log())

    def wait_log(self, pattern, since, timeout):
        wait(f"{pattern!r} in Hangar's log", lambda: self.alive() or re.search(pattern, self.log()[since:]), timeout)

    def config(self):
        with open(os.path.join(self.vm_dir, "vm.toml")) as f:
            return f.read()

    def serial_log(self):
        try:
            with open(os.path.join(self.vm_dir, "serial.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def counter(self, command):
        """Sends `command` to the guest's serial protocol; returns the COUNTER it answers."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(20)
            s.connect(os.path.join(self.runtime, "serial.sock"))
            s.sendall(f"{command}\n".encode())
            data = b""
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                data += s.recv(4096)
                found = re.search(rb"COUNTER=(-?\d+)\r?\n", data)
                if found:
                    return int(found.group(1))
        raise Failure(f"the guest did not answer {command!r} on serial (got {data[-200:]!r})")

    def page_state(self):
        """The state the VM page shows under its name (the header's subtitle)."""
        frame = self.ui.frame(f"={PAGE}")
        if frame is None:
            return None
        states = ("Stopped", "Starting", "Running", "Paused", "Shutting Down", "Not Running Normally")
        for label in self.ui.labels(frame):
            if label in states:
                return label
        return None

    def wait_page_state(self, state, timeout):
        wait(f"the VM page to say {state!r} (it says {self.page_state()!r})",
             lambda: self.alive() or self.page_state() == state, timeout)

    def shot(self, name):
        time.sleep(0.5)  # transitions end
        screenshot(self.shots, name)

    # ------------------------------------------------------------------ steps

    def library(self):
        wait("the Hangar window", lambda: self.alive() or self.ui.frame(f"={LIBRARY}"), 60)
        self.ui.wait_label("No Virtual Machines", 30)
        self.shot("1-library-empty")
        keys(LIBRARY, "ctrl+question")
        self.ui.wait_label("Show the snapshots", 15)
        self.shot("1-shortcuts")
        press("Escape")
        wait("the shortcuts window to close", lambda: not self.ui.shows_label("Show the snapshots"), 15)
        keys(LIBRARY, "ctrl+n")
        wait("the wizard", lambda: self.ui.frame(f"={WIZARD}"), 20)
        self.ok("empty library; Ctrl+? showed the shortcuts, Escape closed them; Ctrl+N opened the wizard")

    def step_title(self, wizard):
        for label in self.ui.labels(wizard):
            if label.startswith("Step "):
                return label
        return ""

    def next_page(self, wizard, step):
        self.ui.click_named("=Next", WIZARD)
        wait(f"wizard step {step}", lambda: self.step_title(wizard).startswith(f"Step {step} of"), 20)
        time.sleep(0.5)

    def wizard(self):
        wizard = self.ui.frame(f"={WIZARD}")
        wait("wizard step 1", lambda: self.step_title(wizard).startswith("Step 1 of"), 20)
        self.ui.set_text("=ISO image file", self.iso)
        wait("the ISO to be accepted", lambda: has(self.ui.find("=Next", "push button"), pyatspi.STATE_SENSITIVE), 30)
        self.shot("2-wizard-source")
        self.next_page(wizard, 2)
        self.ui.wait_label("Generic Linux / Other", 20, wizard)
        self.next_page(wizard, 3)
        self.ui.set_value("=Memory", 256)
        self.ui.set_value("=Processors", 1)
        self.ui.set_value("=Disk size", 1)
        self.shot("3-wizard-resources")
        self.next_page(wizard, 4)
        self.next_page(wizard, 5)
        self.ui.set_text("=Name", VM)
        self.next_page(wizard, 6)
        self.ui.wait_label(VM, 10, wizard)
        self.shot("4-wizard-summary")
        mark = self.log_mark()
        self.ui.click_named("=Create", WIZARD)
        wait("the wizard to close", lambda: self.ui.frame(f"={WIZARD}") is None, 60)
        config = self.config()
        for needle in ("memory_mib = 256", "cpus = 1", 'path = "disk0.qcow2"', os.path.basename(self.iso)):
            if needle not in config:
                raise Failure(f"vm.toml lacks {needle!r}:\n{config}")
        if not os.path.isfile(os.path.join(self.vm_dir, "disk0.qcow2")):
            raise Failure("the wizard made no disk0.qcow2")
        self.ok("wizard: created from the test ISO (vm.toml and disk0.qcow2 as chosen)")
        return mark

    def boots(self, mark):
        wait("the VM page", lambda: self.ui.frame(f"={PAGE}"), 20)
        self.wait_page_state("Running", 60)
        self.wait_log(r'phase="connected"', mark, 120)
        self.ok("the VM page shows Running and the console connected")
        wait("HANGAR-BOOT-OK on the guest's serial", lambda: self.alive() or BOOT_MARKER in self.serial_log(), 150)
        time.sleep(2)  # the text reaches the console's picture
        self.shot("5-console-running")
        self.ok("the guest booted from the CD-ROM (HANGAR-BOOT-OK on serial)")

    def shut_down(self, name):
        button = self.ui.need("=Shut Down", None, self.ui.frame(f"={PAGE}"))
        self.ui.click(button, PAGE)
        wait("the guest's power-off", lambda: "HANGAR-POWEROFF" in self.serial_log()[self.serial_before:], 60)
        self.wait_page_state("Stopped", 60)
        self.shot(name)

    def shut_down_first(self):
        self.serial_before = len(self.serial_log())
        self.shut_down("6-stopped")
        self.ok("Shut Down: the guest powered off on ACPI, the page says Stopped")

    def memory(self):
        keys(PAGE, "alt+2")
        sidebar = self.ui.need("=Hardware Sections", "list")
        rows = [c for c in sidebar]
        index = next((i for i, r in enumerate(rows) if (r.name or "").startswith("Memory")), None)
        if index is None:
            raise Failure(f"no Memory section among {[r.name for r in rows]}")
        sidebar.querySelection().selectChild(index)
        self.ui.set_value("Memory", 512)
        wait("memory_mib = 512 in vm.toml", lambda: "memory_mib = 512" in self.config(), 10)
        self.shot("7-details-memory")
        self.ok("Alt+2 → details; memory 256 → 512 MiB saved in vm.toml")

    def add_disk(self):
        sidebar = self.ui.need("=Hardware Sections", "list")
        rows = [c for c in sidebar]
        index = next((i for i, r in enumerate(rows) if (r.name or "").startswith("Disks")), None)
        if index is None:
            raise Failure(f"no Disks section among {[r.name for r in rows]}")
        sidebar.querySelection().selectChild(index)
        self.ui.click_named("Add Disk", PAGE)
        self.ui.set_text("=Size of the new disk", "32M")
        self.shot("8-add-disk-dialog")
        self.ui.click_named("~^(_Add|Add$)", PAGE)
        image = os.path.join(self.vm_dir, "disk1.qcow2")
        wait("disk1.qcow2 and its vm.toml entry",
             lambda: os.path.isfile(image) and 'path = "disk1.qcow2"' in self.config(), 20)
        self.ui.wait_label("32 MiB", 10)
        self.shot("9-details-disks")
        self.ok("Add Disk: disk1.qcow2 (32M) exists and vm.toml lists it")

    def snapshots(self):
        mark = self.log_mark()
        self.ui.click_named("Start", PAGE)
        self.wait_page_state("Running", 60)
        before = len(self.serial_log())
        wait("the guest to boot again", lambda: self.alive() or BOOT_MARKER in self.serial_log()[before:], 150)
        self.wait_log(r'phase="connected"', mark, 30)
        if self.counter("set 41") != 41:
            raise Failure("the guest's counter did not take 41")
        keys(PAGE, "alt+3")
        self.ui.click_named("Take Snapshot", PAGE, timeout=30)
        name = self.ui.need("Snapshot Name", "text")
        self.ui.set_text("Snapshot Name", "first")
        if (name.queryText().characterCount != len("first")):
            raise Failure("the snapshot name was not typed")
        self.shot("10-snapshot-name")
        keys(PAGE, "Return")
        wait("the snapshot 'first' in the list", lambda: self.ui.find("Revert to first", "push button")
             and has(self.ui.find("Revert to first", "push button"), pyatspi.STATE_SENSITIVE), 90)
        self.shot("11-snapshots")
        self.ok("Start; Alt+3 → snapshots; Take Snapshot 'first' (name confirmed with Return)")

        if self.counter("set 99") != 99:
            raise Failure("the guest's counter did not take 99")
        mark = self.log_mark()
        self.ui.click_named("Revert to first", PAGE)
        self.ui.need("~^Revert to .first.\\?$")
        self.shot("12-revert-confirm")
        self.ui.click_named("~^(_Revert|Revert$)", PAGE)
        self.wait_log(r"snapshot operation done.*op=Revert", mark, 90)
        got = self.counter("get")
        if got != 41:
            raise Failure(f"after the revert the guest's counter is {got}, not 41")
        self.ok("guest changed (counter 99), Revert confirmed → counter back at 41")

    def delete(self):
        self.serial_before = len(self.serial_log())
        self.shut_down("13-stopped-again")
        keys(PAGE, "alt+Left")
        wait("the library", lambda: self.ui.frame(f"={LIBRARY}"), 20)
        row = self.ui.need(f"={VM}", "list item")
        wait("the VM's row to have the focus", lambda: has(row, pyatspi.STATE_FOCUSED), 10)
        self.shot("14-library")
        keys(LIBRARY, "Menu")
        item = self.ui.need("~^Delete", "menu item", timeout=10)
        self.shot("15-row-menu")
        self.ui.click(item, LIBRARY)
        self.ui.need(f"~^Delete .{VM}.\\?$", None, timeout=20)
        self.shot("16-delete-confirm")
        keys(LIBRARY, "alt+d")
        wait("the VM folder to be gone", lambda: not os.path.exists(self.vm_dir), 30)
        self.ui.wait_label("No Virtual Machines", 20)
        self.shot("17-library-after-delete")
        self.ok("Shut Down; Alt+Left → library; Menu → Delete…; Alt+D confirmed → folder gone")


def main():
    hangar, logfile, iso, shots = sys.argv[1:5]
    pyatspi.Registry.getDesktop(0)  # the registry first, so that the app registers at once
    with open(logfile, "w") as log:
        proc = subprocess.Popen([hangar], stdout=log, stderr=subprocess.STDOUT)
    flow = Flow(proc, logfile, iso, shots)
    try:
        flow.library()
        mark = flow.wizard()
        flow.boots(mark)
        flow.shut_down_first()
        flow.memory()
        flow.add_disk()
        flow.snapshots()
        flow.delete()
        return 0
    except Failure as err:
        screenshot(shots, "failure")
        print(f"FAILED: {err}", flush=True)
        print("shown widgets:\n" + flow.ui.dump(), flush=True)
        return 1
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
