#!/usr/bin/python3
"""AT-SPI helper for tests/gui_console_usb.rs (Debian's /usr/bin/python3, which has pyatspi).

usage: atspi.py APP COMMAND NAME
  has       exit 0 when a widget is named exactly NAME (hidden widgets are not in the tree)
  has-sub   exit 0 when a widget's name contains NAME (prints that name)
  activate  run the first action of the widget named NAME; exit 3 if it has none
  press     click the first push button whose name contains NAME
  checked   print "on" or "off" for the widget named NAME (switches)
Exit 1: not found. Searches every window of the application (popovers and dialogs too).
"""
import sys

import pyatspi


def walk(node):
    yield node
    for child in node:
        if child is not None:
            yield from walk(child)


def main():
    app_name, command, name = sys.argv[1:4]
    desktop = pyatspi.Registry.getDesktop(0)
    apps = [a for a in desktop if a is not None and a.name == app_name]
    if not apps:
        print("no application " + app_name)
        return 1
    if command == "dump":
        def dump(node, depth):
            try:
                print("  " * depth + f"{node.getRoleName()} {node.name!r}")
            except Exception:
                return
            for child in node:
                if child is not None:
                    dump(child, depth + 1)
        for app in apps:
            dump(app, 0)
        return 0
    for app in apps:
        for top in app:
            if top is None:
                continue
            for node in walk(top):
                try:
                    n = node.name or ""
                except Exception:
                    continue
                if command == "press" and name in n and node.getRoleName() == "push button":
                    node.queryAction().doAction(0)
                    print("done")
                    return 0
                if command == "has-sub" and name in n:
                    print(n)
                    return 0
                if n != name:
                    continue
                if command == "has":
                    print(node.getRoleName())
                    return 0
                if command == "checked":
                    print("on" if node.getState().contains(pyatspi.STATE_CHECKED) else "off")
                    return 0
                if command == "activate":
                    action = node.queryAction()
                    if action.nActions == 0:
                        print("no action")
                        return 3
                    action.doAction(0)
                    print("done")
                    return 0
    print("not found")
    return 1


if __name__ == "__main__":
    sys.exit(main())
