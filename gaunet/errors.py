"""One base class for errors a user can fix; the CLI prints them as one line, no traceback."""


class GaunetError(Exception):
    """A problem with the user's input or environment, described in the message."""
