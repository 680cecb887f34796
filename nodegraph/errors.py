"""Error classes that map to the command line's exit codes (see README, "When things go wrong")."""

EXIT_OK = 0
EXIT_INVALID = 2  # invalid input: preset, media, model, parameter
EXIT_FAILED = 3  # failed while running
EXIT_INTERRUPTED = 130  # Ctrl-C


class InvalidInput(Exception):
    """Something the user gave us (a preset, a media file, a model, a param) is unusable.

    The message names the file, node, port or field and says what to do.
    """


class RunFailed(Exception):
    """The run could not go on (a stage kept dying, an output became unwritable...)."""
