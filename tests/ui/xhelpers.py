"""Helpers for tests that drive a real X server (Xvfb): start it, find a window, press keys, close a
window the way a window manager does (WM_DELETE_WINDOW), take screenshots."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import time

import numpy as np


def start_xvfb(width=1024, height=768):
    """(process, ":N") of a fresh Xvfb, or None when Xvfb is not installed."""
    exe = shutil.which("Xvfb")
    if exe is None:
        return None
    r, w = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(w)
    buf = b""
    t0 = time.monotonic()
    while not buf.endswith(b"\n") and time.monotonic() - t0 < 30:
        chunk = os.read(r, 16)
        if not chunk:
            break
        buf += chunk
    os.close(r)
    if not buf.strip():
        proc.kill()
        return None
    return proc, ":" + buf.decode().strip()


def xdotool(display: str, *args, timeout=60) -> str:
    out = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True,
                         text=True, timeout=timeout)  # fmt: skip
    return out.stdout.strip()


def wait_window(display: str, pid: int, timeout=120) -> int:
    """The X window id of process ``pid`` (polls ``xdotool search --pid``), 0 if none appeared."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        out = xdotool(display, "search", "--pid", str(pid))
        if out:
            return int(out.split()[0])
        time.sleep(0.25)
    return 0


def close_window(display: str, window: int) -> None:
    """Send WM_PROTOCOLS / WM_DELETE_WINDOW to ``window``: what a window manager does when the user
    clicks the close button (libX11 through ctypes; Xvfb runs no window manager)."""
    lib = ctypes.util.find_library("X11")
    if lib is None:
        raise OSError("libX11 not found")
    x = ctypes.CDLL(lib)
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XInternAtom.restype = ctypes.c_ulong
    x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x.XFlush.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("l", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]  # fmt: skip

    d = x.XOpenDisplay(display.encode())
    if not d:
        raise OSError(f"cannot open X display {display}")
    try:
        ev = ClientMessage()
        ev.type = 33  # ClientMessage
        ev.window = window
        ev.message_type = x.XInternAtom(d, b"WM_PROTOCOLS", 0)
        ev.format = 32
        ev.l[0] = x.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
        ev.l[1] = 0  # CurrentTime
        x.XSendEvent(d, window, 0, 0, ctypes.byref(ev))
        x.XFlush(d)
    finally:
        x.XCloseDisplay(d)


def screenshot(display: str, path, size=(1024, 768)) -> np.ndarray | None:
    """Grab the whole screen with ``ffmpeg -f x11grab`` into ``path`` (PNG); the (H, W, 3) pixels, or
    None when ffmpeg is missing or cannot grab."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return None
    out = subprocess.run([exe, "-loglevel", "error", "-y", "-f", "x11grab", "-video_size", f"{size[0]}x{size[1]}",
                          "-i", display, "-frames:v", "1", str(path)], capture_output=True, timeout=60)  # fmt: skip
    if out.returncode != 0 or not os.path.exists(path):
        return None
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
