"""AT-SPI and X helpers for tests/gui/flow.py (Debian's /usr/bin/python3 with pyatspi).

Everything looks only at the application whose process id is given, and only at widgets that
are shown (the widget and all its ancestors visible), unless told otherwise.
"""

import os
import re
import subprocess
import time

import pyatspi


class Failure(Exception):
    pass


def wait(what, probe, timeout, interval=0.2):
    """probe() until it returns something truthy; Failure naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = probe()
        except Exception as err:  # AT-SPI objects vanish while the UI changes
            last = None
            error = err
        else:
            error = None
        if last:
            return last
        if time.monotonic() > deadline:
            extra = f" ({error})" if error else ""
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def has(node, state):
    try:
        return node.getState().contains(state)
    except Exception:
        return False


def walk(node, prune_hidden=True):
    """Depth first; subtrees of invisible widgets are skipped with prune_hidden. The newest
    windows (dialogs) of an application come first."""
    # Popped from the end: an application's last (newest) window is walked first.
    stack = list(node) if node.getRoleName() == "application" else [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        if prune_hidden and not has(n, pyatspi.STATE_VISIBLE):
            continue
        yield n
        try:
            stack.extend(reversed([c for c in n]))
        except Exception:
            pass


def matches(node, name, role):
    try:
        got = node.name or ""
        if name.startswith("="):
            hit = got == name[1:]
        elif name.startswith("~"):
            hit = re.search(name[1:], got) is not None
        else:
            hit = got.startswith(name)
        return hit and (role is None or node.getRoleName() == role)
    except Exception:
        return False


class Ui:
    """The windows of one process, seen through AT-SPI and xdotool."""

    def __init__(self, pid):
        self.pid = pid

    def app(self):
        for a in pyatspi.Registry.getDesktop(0):
            try:
                if a is not None and a.get_process_id() == self.pid:
                    return a
            except Exception:
                continue
        return None

    def frame(self, title):
        """The top-level window titled `title` (same matching as `find`)."""
        a = self.app()
        if a is None:
            return None
        for f in a:
            if f is not None and matches(f, title, None) and has(f, pyatspi.STATE_VISIBLE):
                return f
        return None

    def find(self, name, role=None, scope=None, shown=True):
        """A widget whose accessible name is `name` (prefix; "=x" exact; "~re" regex)."""
        root = scope or self.app()
        if root is None:
            return None
        for n in walk(root, prune_hidden=shown):
            if matches(n, name, role):
                return n
        return None

    def need(self, name, role=None, scope=None, timeout=15):
        return wait(f"{role or 'widget'} {name!r}", lambda: self.find(name, role, scope), timeout)

    def dump(self, limit=400):
        """The shown widgets as "role 'name' [insensitive]" lines, for failure reports."""
        a = self.app()
        if a is None:
            return "(no application)"
        lines = []
        for n in walk(a):
            try:
                flag = "" if has(n, pyatspi.STATE_SENSITIVE) else " [insensitive]"
                lines.append(f"{n.getRoleName()} {n.name!r}{flag}")
            except Exception:
                continue
            if len(lines) >= limit:
                break
        return "\n".join(lines)

    def labels(self, scope=None):
        root = scope or self.app()
        if root is None:
            return []
        return [n.name for n in walk(root) if n.getRoleName() == "label" and n.name]

    def shows_label(self, text, scope=None):
        return any(text in label for label in self.labels(scope))

    def wait_label(self, text, timeout, scope=None):
        wait(f"a label with {text!r}", lambda: self.shows_label(text, scope), timeout)

    def click(self, node, window_title):
        """The widget's click/activate action, else a pointer click in its middle."""
        try:
            action = node.queryAction()
            names = [action.getName(i) for i in range(action.nActions)]
        except Exception:
            action, names = None, []
        for wanted in ("click", "activate", "press"):
            if wanted in names:
                action.doAction(names.index(wanted))
                return
        self.pointer_click(node, window_title)

    def pointer_click(self, node, window_title):
        box = node.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
        if box.width <= 0 or box.height <= 0:
            raise Failure(f"{node.getRoleName()} {node.name!r} has no place on screen")
        geometry = xdo("search", "--onlyvisible", "--name", f"^{re.escape(window_title)}$",
                       "getwindowgeometry", "--shell")
        place = dict(line.split("=", 1) for line in geometry.split() if "=" in line)
        x = int(place.get("X", 0)) + box.x + box.width // 2
        y = int(place.get("Y", 0)) + box.y + box.height // 2
        xdo("mousemove", str(x), str(y), "click", "1")

    def click_named(self, name, window_title, role="push button", timeout=15):
        node = wait(f"sensitive {role} {name!r}", lambda: (
            lambda n: n if n is not None and has(n, pyatspi.STATE_SENSITIVE) else None
        )(self.find(name, role)), timeout)
        self.click(node, window_title)

    def set_text(self, name, text, role="text"):
        node = self.need(name, role)
        editable = node.queryEditableText()
        editable.deleteText(0, node.queryText().characterCount)
        editable.insertText(0, text, len(text.encode()))
        return node

    def set_value(self, name, value, role="spin button"):
        node = self.need(name, role)
        node.queryValue().currentValue = float(value)
        wait(f"{name} = {value}", lambda: abs(node.queryValue().currentValue - float(value)) < 0.5, 5)
        return node


def xdo(*args):
    done = subprocess.run(["xdotool", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def keys(window_title, *names):
    """Activates the window titled exactly `window_title`, then types the key chords `names`
    (xdotool syntax: "ctrl+n", "alt+Left", "Return") into it, as a keyboard user would."""
    pattern = f"^{re.escape(window_title)}$"
    window = wait(f"visible window {window_title!r}",
                  lambda: xdo("search", "--onlyvisible", "--name", pattern).split()[:1], 15)[0]
    xdo("windowactivate", "--sync", window)
    for name in names:
        xdo("key", "--clearmodifiers", "--delay", "80", name)
        time.sleep(0.15)


def press(*names):
    """Types the key chords `names` into whatever window has the keyboard focus."""
    for name in names:
        xdo("key", "--clearmodifiers", "--delay", "80", name)
        time.sleep(0.15)


def screenshot(shots, name):
    if shots:
        os.makedirs(shots, exist_ok=True)
        subprocess.run(["import", "-window", "root", os.path.join(shots, f"flow-{name}.png")],
                       check=False, capture_output=True)
