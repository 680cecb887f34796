"""The `nodegraph` command's entry point. Python takes a moment to load the libraries (more on a cold
disk); a Ctrl-C meanwhile ends quietly with exit status 130 once they are loaded, as it does once the
command runs."""

import contextlib
import signal
import sys
import threading

from .errors import EXIT_INTERRUPTED


@contextlib.contextmanager
def ctrl_c_held():
    """A Ctrl-C during the block is held, and raised as KeyboardInterrupt after it. Raised where it lands,
    inside a library's import, it can come out as another error (a class body's __set_name__ wraps it in
    RuntimeError, networkx has one), or crash the process (SIGSEGV in an extension module's set-up, seen
    while the node packages load numpy and protobuf). Only the main thread takes signals: elsewhere, as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = []
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # by a program that imports nodegraph: left so
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN if ignored else lambda *_: interrupted.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def main() -> int:
    try:  # the check too: a Ctrl-C landing in getsignal's enum conversion printed a traceback
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            # A shell starts a background job (`nodegraph run ... &`) with SIGINT ignored. A run takes Ctrl-C and
            # `kill -INT` once it runs, as ffmpeg does, so the command takes it from the start: one sent while it
            # loaded was lost, and an endless run went on.
            signal.signal(signal.SIGINT, signal.default_int_handler)
        with ctrl_c_held():
            from .cli import main as run_command
    except KeyboardInterrupt:  # during the import, or before the handler was in place
        print("nodegraph: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run_command()


if __name__ == "__main__":
    sys.exit(main())
