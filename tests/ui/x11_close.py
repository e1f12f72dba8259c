#!/usr/bin/env python3
"""Close a window the way a window manager's close button does: send WM_DELETE_WINDOW to the
top-level X11 windows whose title starts with a prefix (default "Sockeye"). Xvfb runs no
window manager, so this is how the UI tests close the window without WebDriver (which ends the
app when its last window goes). Needs only libX11 (ctypes). Prints how many windows were
asked; exit 1 when none matched.

Usage: x11_close.py [TITLE_PREFIX]    (uses $DISPLAY)
"""
import ctypes
import ctypes.util
import sys

x = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
Window = ctypes.c_ulong
Atom = ctypes.c_ulong


class ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("message_type", Atom),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]


x.XOpenDisplay.restype = ctypes.c_void_p
x.XOpenDisplay.argtypes = [ctypes.c_char_p]
x.XDefaultRootWindow.restype = Window
x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x.XInternAtom.restype = Atom
x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x.XQueryTree.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
                         ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint)]
x.XGetWindowProperty.argtypes = [ctypes.c_void_p, Window, Atom, ctypes.c_long, ctypes.c_long, ctypes.c_int,
                                 Atom, ctypes.POINTER(Atom), ctypes.POINTER(ctypes.c_int),
                                 ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong),
                                 ctypes.POINTER(ctypes.c_char_p)]
x.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
x.XFlush.argtypes = [ctypes.c_void_p]
x.XCloseDisplay.argtypes = [ctypes.c_void_p]


def title(d, w, net_wm_name):
    """The window's _NET_WM_NAME (UTF-8; GTK writes WM_NAME as compound text for non-Latin-1)."""
    typ, fmt, n, after, data = Atom(), ctypes.c_int(), ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_char_p()
    ok = x.XGetWindowProperty(d, w, net_wm_name, 0, 1024, 0, 0, ctypes.byref(typ), ctypes.byref(fmt),
                              ctypes.byref(n), ctypes.byref(after), ctypes.byref(data))
    return data.value or b"" if ok == 0 else b""


def main():
    prefix = (sys.argv[1] if len(sys.argv) > 1 else "Sockeye").encode()
    d = x.XOpenDisplay(None)
    if not d:
        print("cannot open $DISPLAY", file=sys.stderr)
        return 2
    root = x.XDefaultRootWindow(d)
    r, p, kids, n = Window(), Window(), ctypes.POINTER(Window)(), ctypes.c_uint()
    x.XQueryTree(d, root, ctypes.byref(r), ctypes.byref(p), ctypes.byref(kids), ctypes.byref(n))
    protocols = x.XInternAtom(d, b"WM_PROTOCOLS", 0)
    delete = x.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
    net_wm_name = x.XInternAtom(d, b"_NET_WM_NAME", 0)
    asked = 0
    for i in range(n.value):
        w = kids[i]
        if not title(d, kids[i], net_wm_name).startswith(prefix):
            continue
        ev = XEvent()
        ev.xclient.type = 33  # ClientMessage
        ev.xclient.window = w
        ev.xclient.message_type = protocols
        ev.xclient.format = 32
        ev.xclient.data[0] = delete
        ev.xclient.data[1] = 0  # CurrentTime
        x.XSendEvent(d, w, 0, 0, ctypes.byref(ev))
        asked += 1
    x.XFlush(d)
    x.XCloseDisplay(d)
    print(asked)
    return 0 if asked else 1


if __name__ == "__main__":
    sys.exit(main())
