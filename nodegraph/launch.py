"""The `nodegraph` command's entry point. Python takes a moment to load the libraries (more on a cold
disk); a Ctrl-C meanwhile ends quietly with exit status 130 once they are loaded, as it does once the
command runs."""

import signal
import sys

from .errors import EXIT_INTERRUPTED


def main() -> int:
    # Held, not raised where it lands: a KeyboardInterrupt inside a library's import can come out as
    # another error (a class body's __set_name__ wraps it in RuntimeError, networkx has one), a traceback.
    interrupted = []
    try:
        ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # a background job's: left so
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN if ignored else lambda *_: interrupted.append(True))
    except KeyboardInterrupt:  # before the handler was in place
        interrupted.append(True)
    else:
        try:
            from .cli import main as run_command
        finally:
            signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("nodegraph: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run_command()


if __name__ == "__main__":
    sys.exit(main())
