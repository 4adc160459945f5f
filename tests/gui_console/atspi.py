#!/usr/bin/python3
"""AT-SPI helper for tests/gui_console.rs (run with Debian's /usr/bin/python3, which has pyatspi).

usage: atspi.py APP COMMAND FRAME NAME
  APP      accessible application name (the program name)
  FRAME    title of the top-level window to search in, or "-" for all of them
  NAME     accessible name of the widget
commands:
  has      exit 0 when a widget with that name exists (hidden widgets are not in the tree)
  extents  print "x y width height" of the widget, relative to its window
  activate run the widget's first action (buttons, menu items); exit 3 if it has none
Exit 1: not found. Output is one line.
"""
import sys

import pyatspi


def find(node, pred):
    try:
        if pred(node):
            return node
    except Exception:  # nodes can vanish while we walk
        return None
    for child in node:
        if child is None:
            continue
        hit = find(child, pred)
        if hit is not None:
            return hit
    return None


def main():
    app_name, command, frame, name = sys.argv[1:5]
    desktop = pyatspi.Registry.getDesktop(0)
    apps = [a for a in desktop if a is not None and a.name == app_name]
    if not apps:
        print("no application " + app_name)
        return 1
    roots = apps
    if frame != "-":
        roots = [f for a in apps for f in a if f is not None and f.name == frame]
    for root in roots:
        node = find(root, lambda n: n.name == name)
        if node is None:
            continue
        if command == "has":
            print(node.getRoleName())
            return 0
        if command == "extents":
            x, y, w, h = node.queryComponent().getExtents(pyatspi.WINDOW_COORDS)
            print(f"{x} {y} {w} {h}")
            return 0
        if command == "activate":
            action = node.queryAction()
            if action.nActions == 0:
                print("no action")
                return 3
            action.doAction(0)
            print("done")
            return 0
        print("unknown command " + command)
        return 2
    print("not found")
    return 1


if __name__ == "__main__":
    sys.exit(main())
