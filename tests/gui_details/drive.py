"""Drives the Details/Snapshots example window through AT-SPI (run with /usr/bin/python3).

    drive.py COMMAND ARGS...   one command; exit 0 = done, else the reason on stderr
    drive.py serve             commands as JSON arrays, one per line on stdin; answers
                               "OK" or "ERR <reason>", one line each

Commands (NAME matches an accessible name by prefix; "=NAME" matches it exactly):
    wait-app SECONDS
    set-value NAME VALUE             Value interface of a spin button
    click NAME [ROLE]                first action ("click") of a button
    set-text NAME TEXT               replace the text of an entry
    activate NAME                    "activate" action of an entry (apply / Enter)
    select-section TITLE             select a row of the sections sidebar
    wait-shown SUBSTRING SECONDS     a label containing SUBSTRING is shown (it and its ancestors visible)
    wait-gone SUBSTRING SECONDS      no shown label contains SUBSTRING
    wait-sensitive NAME SECONDS      a widget named NAME is sensitive
"""
import sys
import time

import pyatspi

APP = "details"


def app():
    for a in pyatspi.Registry.getDesktop(0):
        if a is not None and a.name == APP:
            return a
    return None


def walk(node, prune_hidden=False):
    """Depth-first; with prune_hidden, subtrees of invisible widgets are skipped. The
    application's newest windows (dialogs) come first."""
    if node.getRoleName() == "application":
        stack = [c for c in node]
    else:
        stack = [node]
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


def has(node, state):
    try:
        return node.getState().contains(state)
    except Exception:
        return False


def shown(node):
    n = node
    while n is not None and n.getRoleName() != "application":
        if not has(n, pyatspi.STATE_VISIBLE):
            return False
        n = n.parent
    return True


def find(name, role=None, want_shown=True):
    a = app()
    if a is None:
        return None
    for n in walk(a, prune_hidden=want_shown):
        try:
            matches = n.name == name[1:] if name.startswith("=") else (n.name or "").startswith(name)
            if matches and (role is None or n.getRoleName() == role):
                return n
        except Exception:
            continue
    return None


def wait(seconds, probe):
    end = time.time() + seconds
    while True:
        result = probe()
        if result:
            return result
        if time.time() > end:
            return None
        time.sleep(0.2)


def need(node, what):
    if node is None:
        sys.exit(f"not found: {what}")
    return node


def do_action(node, names):
    action = node.queryAction()
    for i in range(action.nActions):
        if action.getName(i) in names:
            action.doAction(i)
            return
    if action.nActions:
        action.doAction(0)
        return
    sys.exit(f"{node.name!r} has no action")


def labels_with(text):
    a = app()
    if a is None:
        return []
    return [n for n in walk(a, prune_hidden=True) if n.getRoleName() == "label" and text in (n.name or "")]


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "wait-app":
        need(wait(float(args[0]), lambda: app() is not None and find("", "frame")), "the window")
    elif cmd == "set-value":
        node = need(wait(10, lambda: find(args[0], "spin button")), args[0])
        node.queryValue().currentValue = float(args[1])
    elif cmd == "click":
        role = args[1] if len(args) > 1 else "push button"
        node = need(wait(10, lambda: find(args[0], role)), args[0])
        do_action(node, ("click", "activate"))
    elif cmd == "set-text":
        node = need(wait(10, lambda: find(args[0], "text")), args[0])
        text = node.queryEditableText()
        text.deleteText(0, node.queryText().characterCount)
        text.insertText(0, args[1], len(args[1].encode()))
    elif cmd == "activate":
        node = need(wait(10, lambda: find(args[0], "text")), args[0])
        do_action(node, ("activate",))
    elif cmd == "select-section":
        sidebar = need(wait(10, lambda: find("Hardware Sections", "list", want_shown=False)), "sidebar")
        rows = [c for c in sidebar]
        for i, row in enumerate(rows):
            if row.name and row.name.startswith(args[0]):
                sidebar.querySelection().selectChild(i)
                return
        sys.exit(f"no section {args[0]!r} among {[r.name for r in rows]}")
    elif cmd == "wait-shown":
        need(wait(float(args[1]), lambda: labels_with(args[0])), f"shown label with {args[0]!r}")
    elif cmd == "wait-gone":
        if wait(float(args[1]), lambda: not labels_with(args[0])) is None:
            sys.exit(f"still shown: {args[0]!r}")
    elif cmd == "wait-sensitive":
        node = wait(float(args[1]), lambda: (lambda n: n if n is not None and has(n, pyatspi.STATE_SENSITIVE) else None)(find(args[0])))
        need(node, f"sensitive {args[0]!r}")
    else:
        sys.exit(f"unknown command {cmd!r}")


def serve():
    import json
    for line in sys.stdin:
        try:
            main(["drive.py"] + json.loads(line))
            answer = "OK"
        except SystemExit as e:
            answer = "OK" if e.code in (None, 0) else "ERR " + str(e.code).replace("\n", " ")
        except Exception as e:
            answer = "ERR " + repr(e).replace("\n", " ")
        print(answer, flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        main(sys.argv)
