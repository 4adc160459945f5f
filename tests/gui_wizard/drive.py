"""Drives the New Virtual Machine wizard through AT-SPI, as a user with a screen reader would.

Run with Debian's /usr/bin/python3 (pyatspi) inside a D-Bus session, on an X display:

    drive.py --iso PATH --name NAME [--memory MIB] [--cpus N] [--disk GIB] [--customize]
             [--shots DIR] -- HOST-COMMAND...

HOST-COMMAND shows the wizard over a main window and exits once the wizard reports its outcome.
Exit status 0 when every step behaved; otherwise a message on stderr says which did not.
"""

import argparse
import os
import subprocess
import sys
import time

import pyatspi

WINDOW = "New Virtual Machine"


class Failure(Exception):
    pass


def wait_for(what, probe, timeout=20.0, interval=0.1):
    """probe() until it returns something truthy; fail with `what` after `timeout` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            value = probe()
        except Exception:  # objects vanish while the UI changes
            value = None
        if value:
            return value
        time.sleep(interval)
    raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")


def children(acc):
    for i in range(acc.childCount):
        child = acc.getChildAtIndex(i)
        if child is not None:
            yield child


def walk(acc):
    yield acc
    for child in children(acc):
        yield from walk(child)


def sensitive(acc):
    return acc.getState().contains(pyatspi.STATE_SENSITIVE)


def find_window(app_pid):
    desktop = pyatspi.Registry.getDesktop(0)
    for app in children(desktop):
        try:
            if app.get_process_id() != app_pid:
                continue
        except Exception:
            continue
        for frame in children(app):
            if frame.name == WINDOW:
                return frame
    return None


class Page:
    """The visible page of the wizard's stack."""

    def __init__(self, window):
        self.window = window

    def stack_page(self):
        # GTK 4.8 reports no "showing" state, so the step number in the title picks the page.
        words = self.subtitle().split()
        step = int(words[1]) if len(words) > 1 and words[1].isdigit() else 1
        pages = [a for a in walk(self.window) if a.name == "GtkStackPage"]
        if len(pages) < step:
            raise Failure(f"the wizard has {len(pages)} pages, step {step} is missing")
        return pages[step - 1]

    def find(self, role, name, scope=None):
        for acc in walk(scope or self.stack_page()):
            if acc.getRoleName() == role and acc.name == name:
                return acc
        return None

    def need(self, role, name, scope=None, timeout=10.0):
        return wait_for(f"{role} {name!r}", lambda: self.find(role, name, scope), timeout)

    def header_button(self, name):
        for acc in walk(self.window):
            if acc.name == "GtkStackPage":
                continue
            if acc.getRoleName() == "push button" and acc.name == name:
                return acc
        return None

    def labels(self, scope=None):
        return [a.name for a in walk(scope or self.stack_page()) if a.getRoleName() == "label"]

    def subtitle(self):
        for acc in walk(self.window):
            if acc.getRoleName() == "label" and acc.name.startswith("Step "):
                return acc.name
        return ""


def click(acc):
    action = acc.queryAction()
    for i in range(action.nActions):
        if action.getName(i) in ("click", "activate", "press"):
            action.doAction(i)
            return
    if action.nActions:
        action.doAction(0)
        return
    # GTK 4.8 gives check buttons no action: click their middle with the pointer.
    # GTK knows positions only within its window; xdotool adds where the window is.
    box = acc.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
    if box.width <= 0 or box.height <= 0:
        raise Failure(f"{acc.getRoleName()} {acc.name!r} has no action and no place on screen")
    geometry = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", f"^{WINDOW}$", "getwindowgeometry", "--shell"],
        capture_output=True, text=True, check=True,
    ).stdout
    place = dict(line.split("=", 1) for line in geometry.split() if "=" in line)
    x = int(place.get("X", 0)) + box.x + box.width // 2
    y = int(place.get("Y", 0)) + box.y + box.height // 2
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True)


def set_text(acc, text):
    acc.queryEditableText().setTextContents(text)


def screenshot(shots, name):
    if shots:
        os.makedirs(shots, exist_ok=True)
        subprocess.run(["import", "-window", "root", os.path.join(shots, f"wizard-{name}.png")], check=False)


def set_spin(page, row_title, value):
    """Types `value` into the spin button of the row titled `row_title`."""
    row = page.need("list item", row_title)
    spin = wait_for(
        f"spin button in {row_title!r}",
        lambda: next((a for a in walk(row) if a.getRoleName() == "spin button"), None),
    )
    try:
        spin.queryValue().currentValue = float(value)
    except Exception:
        set_text(spin, str(value))
        spin.queryAction().doAction(0)
    wait_for(
        f"{row_title} = {value}",
        lambda: abs(spin.queryValue().currentValue - float(value)) < 0.5,
    )


def go_next(page, expected_step):
    wait_for("Next to be enabled", lambda: sensitive(page.header_button("Next")))
    click(page.header_button("Next"))
    wait_for(f"step {expected_step}", lambda: page.subtitle().startswith(f"Step {expected_step} of"))
    time.sleep(0.4)  # let the slide transition finish before reading or screenshotting


def drive(args, app):
    window = wait_for("the wizard window on AT-SPI", lambda: find_window(app.pid), timeout=40)
    page = Page(window)
    wait_for("step 1", lambda: page.subtitle().startswith("Step 1 of 6"))

    # 1. Source: an ISO typed into the path field; Next waits for it to be read.
    next_button = page.header_button("Next")
    if sensitive(next_button):
        raise Failure("Next is enabled before an ISO was given")
    page.need("check box", "Install from an ISO image")
    field = page.need("text", "ISO image file")
    set_text(field, "/nonexistent/missing.iso")
    wait_for("the error about the missing ISO", lambda: any("does not exist" in l for l in page.labels()))
    if sensitive(next_button):
        raise Failure("Next is enabled for a missing ISO")
    set_text(field, args.iso)
    wait_for("the ISO to be accepted", lambda: sensitive(page.header_button("Next")))
    screenshot(args.shots, "1-source")
    go_next(page, 2)

    # 2. Operating system: the test ISO is not in osinfo-db, so "Generic Linux / Other".
    page.need("label", "Generic Linux / Other")
    search = page.need("entry", "Search operating systems")
    screenshot(args.shots, "2-os")
    if args.search:
        set_text(search, args.search)
        time.sleep(1.0)
        screenshot(args.shots, "2-os-search")
        set_text(search, "")
        time.sleep(0.5)
    go_next(page, 3)

    # 3. Resources.
    set_spin(page, "Memory", args.memory)
    set_spin(page, "Processors", args.cpus)
    set_spin(page, "Disk size", args.disk)
    screenshot(args.shots, "3-resources")
    go_next(page, 4)

    # 4. Firmware and network: defaults.
    page.need("combo box", "Firmware")
    screenshot(args.shots, "4-system")
    go_next(page, 5)

    # 5. Name: an invalid name blocks Next and says why; then the chosen one.
    name = page.need("text", "Name")
    set_text(name, "bad/name")
    wait_for("the name error", lambda: any("cannot contain" in l for l in page.labels()))
    if sensitive(page.header_button("Next")):
        raise Failure("Next is enabled for an invalid name")
    screenshot(args.shots, "5-name-invalid")
    set_text(name, args.name)
    wait_for("the name to be accepted", lambda: sensitive(page.header_button("Next")))
    screenshot(args.shots, "5-name")
    go_next(page, 6)

    # 6. Summary, then Create.
    page.need("label", args.name)
    if args.customize:
        check = page.need("check box", "Customize configuration before install")
        click(check)
        wait_for("the check box to be checked", lambda: check.getState().contains(pyatspi.STATE_CHECKED))
    screenshot(args.shots, "6-summary")
    click(page.header_button("Create"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iso", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--memory", type=int, default=512)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--disk", type=int, default=2)
    parser.add_argument("--customize", action="store_true")
    parser.add_argument("--search", default="")
    parser.add_argument("--shots", default="")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()

    # Start the AT-SPI registry before the application, so that it registers at once.
    pyatspi.Registry.getDesktop(0)
    app = subprocess.Popen(args.command, stdout=subprocess.PIPE, text=True)
    try:
        drive(args, app)
        out, _ = app.communicate(timeout=60)
    except Failure as failure:
        app.kill()
        out, _ = app.communicate()
        sys.stdout.write(out)
        sys.exit(f"wizard test: {failure}")
    except subprocess.TimeoutExpired:
        app.kill()
        out, _ = app.communicate()
        sys.stdout.write(out)
        sys.exit("wizard test: the host did not exit within 60 s after Create")
    sys.stdout.write(out)
    if app.returncode != 0:
        sys.exit(f"wizard test: the host exited with status {app.returncode}")


if __name__ == "__main__":
    main()
