"""The project's error type.

Every problem with a user's input (a file, an argument, a model folder) raises :class:`VisError`
with a one-line message that names the file (and line) and what is wrong. The command line prints
it as ``vis: error: ...`` and exits with status 2, without a traceback.
"""


class VisError(Exception):
    """Bad input or an impossible request, with a one-line message for the user."""


class Interrupted(VisError):
    """Ctrl-C (SIGINT) or SIGTERM ended a command; the message says what was kept and how to go on (exit 130)."""


class ShortMedia(UserWarning):
    """A media file ends before the length its header declares (truncated, or unreadable past some point):
    what could be read is used, with this warning; ``--strict`` makes it an error."""
