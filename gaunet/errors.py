"""One base class for errors a user can fix; the CLI prints them as one line, no traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class GaunetError(Exception):
    """A problem with the user's input or environment, described in the message."""


class GaunetWarning(UserWarning):
    """A warning of gaunet's own; the CLI prints it as one line `warning: MESSAGE`."""


def shorten(text: str, limit: int = 160) -> str:
    """The first line of `text`, cut at a word boundary (with an ellipsis) when longer than
    `limit` characters, so a message is never cut mid-word."""
    lines = str(text).strip().splitlines()
    line = lines[0].strip() if lines else ""
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


_HINTS = {
    errno.ENOSPC: "free some space or choose another folder",
    errno.EDQUOT: "free some space or choose another folder",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.EROFS: "choose a folder on a writable file system",
    errno.ENAMETOOLONG: "use a shorter path",
}


def os_error(error: OSError, path: str | Path | None = None, doing: str = "") -> str:
    """One line for an OSError: the path (the error's own, else `path`), what failed and why,
    and what to do when obvious, e.g. `runs/a/checkpoints/last.pt: No space left on device
    (free some space or choose another folder)`."""
    where = error.filename if error.filename is not None else path
    cause = error.strerror or (os.strerror(error.errno) if error.errno else str(error))
    parts = [str(p) for p in (where, doing, shorten(cause, 200)) if p not in (None, "")]
    hint = _HINTS.get(error.errno or 0)
    return ": ".join(parts) + (f" ({hint})" if hint else "")


def writable_folder(folder: str | Path, option: str = "--out") -> Path:
    """Create `folder` (and its parents) or raise a one-line GaunetError saying why it cannot
    be a folder to write into: it is a file, a parent is a file, or no permission."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GaunetError(f"{option} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        parent = next((p for p in folder.parents if p.exists() and not p.is_dir()), None)
        what = f"{parent} is a file, not a folder" if parent else "a part of it is not a folder"
        raise GaunetError(f"{option} {folder}: cannot create it: {what}") from None
    except OSError as error:
        raise GaunetError(f"{option} {os_error(error, folder, 'cannot create')}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GaunetError(f"{option} {folder}: cannot write there: Permission denied")
    return folder
