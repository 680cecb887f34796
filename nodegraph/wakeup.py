"""Sleep until a 32-bit word in shared memory changes, and wake the processes sleeping on it.

On Linux this is the futex system call on the shared mapping: a waiter takes no CPU and runs
again as soon as the scheduler lets it after `wake()` (about 0.1 ms on a 2-vCPU virtual machine,
against up to 1 ms polling). Elsewhere `wait` is a plain sleep, so callers poll: they
re-check their condition after every wait, whichever way it ended, and bound each wait.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import time

# The futex syscall's number (not exported under a name) per architecture of this Python, which can
# be 32-bit on a 64-bit kernel: platform.machine() names the kernel's.
_SYS_FUTEX_64 = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98, "ppc64le": 221,
                 "s390x": 238}
_SYS_FUTEX_32 = {"x86_64": 240, "amd64": 240, "i386": 240, "i686": 240, "aarch64": 240, "arm64": 240,
                 "armv7l": 240, "armv6l": 240}
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1  # not the _PRIVATE variants: the word is shared between processes
_WAKE_ALL = 2**31 - 1
_EAGAIN = 11


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _futex_syscall():
    """(libc's syscall, the futex number), or (None, None) where futexes are not known to work: a
    wait on a word that does not hold the value given must fail at once with EAGAIN."""
    table = _SYS_FUTEX_64 if ctypes.sizeof(ctypes.c_void_p) == 8 else _SYS_FUTEX_32
    number = table.get(platform.machine().lower())
    if not sys.platform.startswith("linux") or number is None:
        return None, None
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    word = ctypes.c_int32(0)
    span = _Timespec(0, 1000)
    result = syscall(number, ctypes.byref(word), _FUTEX_WAIT, ctypes.c_int(1), ctypes.byref(span), None, 0)
    if result != -1 or ctypes.get_errno() != _EAGAIN:
        return None, None
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
