#!/usr/bin/python3
"""Drives the library of a running Hangar through AT-SPI (run by tests/gui_library.rs).

Usage: library.py HANGAR HANGARCTL LOGFILE
The environment holds DISPLAY, a D-Bus session, HANGAR_HOME, HANGAR_RUNTIME_DIR and
HANGAR_ACCEL=tcg. Exits 0 when every check passed, 1 with a message otherwise.

Checks, each against what the row shows (its state icon's accessible name):
  1. a VM created by hangarctl while the window is open shows up;
  2. starting it from the row's action menu (the row.start action) shows "Running";
  3. `hangarctl stop --force` shows "Stopped";
  4. `hangarctl start` shows "Running";
  5. Ctrl+Q closes the window, the VM keeps running and its thumbnail was saved.
"""

import os
import subprocess
import sys
import time

import pyatspi

VM = "t"
STATES = {"Stopped", "Starting", "Running", "Paused", "Shutting Down", "Not Running Normally"}


class Failure(Exception):
    pass


def walk(acc):
    yield acc
    for child in acc:
        if child is not None:
            yield from walk(child)


def app():
    desktop = pyatspi.Registry.getDesktop(0)
    for candidate in desktop:
        if candidate is not None and candidate.name == "hangar":
            return candidate
    return None


def row(name):
    a = app()
    if a is None:
        return None
    for acc in walk(a):
        if acc.getRoleName() == "list item" and acc.name == name:
            return acc
    return None


def row_state(name):
    r = row(name)
    if r is None:
        return None
    for acc in walk(r):
        if acc.getRoleName() == "image" and acc.name in STATES:
            return acc.name
    return None


def wait(what, probe, timeout, proc=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise Failure(f"Hangar exited ({proc.returncode}) while waiting for {what}")
        try:
            last = probe()
        except Exception as err:  # AT-SPI objects go away while the UI changes
            last = f"error: {err}"
        if last is True:
            return
        time.sleep(0.25)
    raise Failure(f"timed out after {timeout} s waiting for {what} (last seen: {last!r})")


def wait_state(state, timeout):
    wait(f"row {VM!r} to show {state!r}", lambda: row_state(VM) == state or row_state(VM), timeout)


def row_action(name, action):
    r = row(name)
    if r is None:
        raise Failure(f"no row {name!r}")
    actions = r.queryAction()
    names = [actions.getName(i) for i in range(actions.nActions)]
    if action not in names:
        raise Failure(f"row {name!r} offers {names}, not {action!r}")
    actions.doAction(names.index(action))


def ctl(hangarctl, *args):
    done = subprocess.run([hangarctl, *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise Failure(f"hangarctl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def main():
    hangar, hangarctl, logfile = sys.argv[1:4]
    with open(logfile, "w") as log:
        proc = subprocess.Popen([hangar], stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    try:
        wait("the Hangar window", lambda: app() is not None and any(
            acc.getRoleName() == "frame" for acc in app()), 40, proc)
        # The empty library is listed first; the VM appears when hangarctl creates it.
        wait("the empty library", lambda: any(
            acc.name == "No Virtual Machines" for acc in walk(app())), 20)
        ctl(hangarctl, "create", VM, "--memory", "128M", "--cpus", "1", "--disk", "0")
        wait_state("Stopped", 20)
        print(f"ok: created by hangarctl, shown ({time.monotonic() - started:.1f} s)")

        row_action(VM, "row.start")
        wait_state("Running", 40)
        print(f"ok: started from the row menu ({time.monotonic() - started:.1f} s)")

        ctl(hangarctl, "stop", VM, "--force")
        wait_state("Stopped", 20)
        print(f"ok: hangarctl stop shown ({time.monotonic() - started:.1f} s)")

        ctl(hangarctl, "start", VM)
        wait_state("Running", 20)
        print(f"ok: hangarctl start shown ({time.monotonic() - started:.1f} s)")

        # Quit (app.quit, as Ctrl+Q does): the thumbnail is saved, the VM keeps running.
        frame = next(acc for acc in app() if acc.getRoleName() == "frame")
        actions = frame.queryAction()
        names = [actions.getName(i) for i in range(actions.nActions)]
        if "window.close" not in names:
            raise Failure(f"the window offers {names}, not window.close")
        actions.doAction(names.index("window.close"))
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise Failure("Hangar did not exit within 20 s of closing its window")
        if code != 0:
            raise Failure(f"Hangar exited with {code}")
        listing = ctl(hangarctl, "list")
        if not any(line.split()[:2] == [VM, "running"] for line in listing.splitlines()):
            raise Failure(f"the VM did not keep running after the window closed:\n{listing}")
        thumbnail = os.path.join(os.environ["HANGAR_HOME"], VM, "thumbnail.png")
        if not os.path.isfile(thumbnail):
            raise Failure(f"no thumbnail saved at quit ({thumbnail})")
        print(f"ok: closed, VM still running, thumbnail saved ({time.monotonic() - started:.1f} s)")
        return 0
    except Failure as err:
        print(f"FAILED: {err}")
        return 1
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run([hangarctl, "stop", VM, "--force"], capture_output=True, timeout=60)


if __name__ == "__main__":
    sys.exit(main())
