"""The X server's mouse and keyboard, driven through XTest, for the editor's click tests."""

import ctypes
import ctypes.util
import time


class Pointer:
    """The X server's mouse and keyboard, driven through XTest."""

    def __init__(self, frames):
        self.x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
        self.xtst = ctypes.CDLL(ctypes.util.find_library("Xtst"))
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XFlush.argtypes = [ctypes.c_void_p]
        self.x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.x11.XStringToKeysym.restype = ctypes.c_ulong
        for name in ("XTestFakeMotionEvent", "XTestFakeButtonEvent", "XTestFakeKeyEvent"):
            getattr(self.xtst, name).argtypes = [ctypes.c_void_p] + [ctypes.c_int] * (4 if "Motion" in name else 3)
        self.display = self.x11.XOpenDisplay(None)
        self.frames = frames

    def _send(self) -> None:
        self.x11.XFlush(self.display)
        time.sleep(0.05)
        self.frames(3)

    def click(self, rect, button: int = 1) -> None:
        """A click at the middle of ((x0, y0), (x1, y1)); button 3 is the right one."""
        (x0, y0), (x1, y1) = rect
        self.xtst.XTestFakeMotionEvent(self.display, -1, int((x0 + x1) / 2), int((y0 + y1) / 2), 0)
        self._send()
        for pressed in (1, 0):
            self.xtst.XTestFakeButtonEvent(self.display, button, pressed, 0)
            self._send()

    def double_click(self, at) -> None:
        """Two left clicks at (x, y), close enough together to count as one double-click."""
        self.xtst.XTestFakeMotionEvent(self.display, -1, int(at[0]), int(at[1]), 0)
        self._send()
        for pressed in (1, 0, 1, 0):
            self.xtst.XTestFakeButtonEvent(self.display, 1, pressed, 0)
            self.x11.XFlush(self.display)
            self.frames(1)

    def drag(self, start, end, steps: int = 10, button: int = 1) -> None:
        """Press `button` (1: the left one, 2: the middle one) at `start`, move to `end` in `steps`, release."""
        self.xtst.XTestFakeMotionEvent(self.display, -1, int(start[0]), int(start[1]), 0)
        self._send()
        self.xtst.XTestFakeButtonEvent(self.display, button, 1, 0)
        self._send()
        for step in range(1, steps + 1):
            x, y = (start[i] + (end[i] - start[i]) * step / steps for i in (0, 1))
            self.xtst.XTestFakeMotionEvent(self.display, -1, int(x), int(y), 0)
            self._send()
        self.xtst.XTestFakeButtonEvent(self.display, button, 0, 0)
        self._send()

    def key(self, name: str, pressed=(1, 0)) -> None:
        code = self.x11.XKeysymToKeycode(self.display, self.x11.XStringToKeysym(name.encode()))
        for down in pressed:
            self.xtst.XTestFakeKeyEvent(self.display, code, down, 0)
            self._send()

    def hold(self, name: str, action) -> None:
        """`action` with the key `name` (a modifier) held down."""
        self.key(name, (1,))
        action()
        self.key(name, (0,))

    def type(self, text: str) -> None:
        """Digits, letters, '-', '.' and '/' as typed on the keyboard."""
        names = {"-": "minus", ".": "period", "/": "slash", "_": "underscore"}
        for character in text:
            self.key(names.get(character, character))
