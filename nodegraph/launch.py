"""The `nodegraph` command's entry point. Python takes a moment to load the libraries (more on a cold
disk); Ctrl-C meanwhile ends quietly with exit status 130, as it does once the command runs."""

import sys

from .errors import EXIT_INTERRUPTED


def main() -> int:
    try:
        from .cli import main as run_command
    except KeyboardInterrupt:
        print("nodegraph: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run_command()
