"""Sleep until a 32-bit word in shared memory changes, and wake the processes sleeping on it.

On Linux this is the futex system call on the shared mapping: a waiter takes no CPU and wakes
within microseconds of `wake()`. Elsewhere `wait` is a plain sleep, so callers poll: they
re-check their condition after every wait, whichever way it ended, and bound each wait.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import time

# the futex syscall's number per Linux architecture (it is not exported under a name)
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98, "ppc64le": 221, "s390x": 238,
              "i686": 240, "armv7l": 240}
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1  # not the _PRIVATE variants: the word is shared between processes
_WAKE_ALL = 2**31 - 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _futex_syscall():
    number = _SYS_FUTEX.get(platform.machine())
    if not sys.platform.startswith("linux") or number is None:
        return None, None
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    return syscall, number


_syscall, _NUMBER = _futex_syscall()
SIGNALLED = _syscall is not None  # True: a wait ends as soon as the word changes and wake() is called


def wait(address: int, expected: int, timeout: float) -> None:
    """Sleep up to `timeout` seconds while the int32 at `address` holds `expected`.

    May return early (a wake, a signal, or the word had changed already); never raises.
    """
    if _syscall is None:
        time.sleep(timeout)
        return
    whole = int(timeout)
    span = _Timespec(whole, int((timeout - whole) * 1e9))
    _syscall(_NUMBER, ctypes.c_void_p(address), _FUTEX_WAIT, ctypes.c_int(expected), ctypes.byref(span),
             None, 0)


def wake(address: int) -> None:
    """Wake every process sleeping in `wait` on the int32 at `address` (change the word first)."""
    if _syscall is not None:
        _syscall(_NUMBER, ctypes.c_void_p(address), _FUTEX_WAKE, _WAKE_ALL, None, None, 0)
