"""One writer per folder: every command that writes a folder (a run, a benchmark, a demo, a
generated dataset) holds an exclusive lock on FOLDER/.gaunet.lock while it writes, so that a
second `gaunet` process started into the same folder is refused at once (one line naming the
folder and the holder, exit 2) instead of silently mixing its files with the first one's.

Why `fcntl.flock` on an open file, not a PID file: the operating system drops the lock when
the holding process ends, however it ends (SIGKILL, out-of-memory, power loss of a container),
so a lock is never stale and nobody has to delete one by hand. The file holds a record of the
holder (pid, host, command line, since when) for the refusal message, and is emptied on
release. It is a dot file, which every folder reader skips.

Windows has no `fcntl`: there one byte far beyond the record is locked with `msvcrt.locking`,
which the OS also releases with the process.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gaunet.errors import GaunetError, GaunetWarning, shorten, writable_folder

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

LOCK_NAME = ".gaunet.lock"
HOLDER_WAIT_S = 2.0  # how long a refused process waits for a just-started holder's record
_WINDOWS_BYTE = 1 << 30  # msvcrt locks a byte range; one far past the record keeps it readable

# resolved folder -> [nesting depth, lock fd, folder as locked, what release may remove]: the
# last of this process's holders to leave (any thread) releases, not the one that locked
_held: dict[str, list[Any]] = {}
_registry = threading.Lock()
_command_line: str | None = None
_warned: set[str] = set()


def set_command_line(argv: list[str]) -> None:
    """The command line a holder record shows (the CLI sets `gaunet train ...`); without it,
    the Python process's own argv."""
    global _command_line
    _command_line = shlex.join(argv)


def command_line() -> str:
    """What a holder record calls the holding process."""
    if _command_line is not None:
        return _command_line
    argv = list(sys.argv) or [""]
    if argv[0] in ("", "-c", "-m"):  # python -c CODE ... (argv[0] is "-c", CODE not kept)
        return shlex.join(["python", *argv])
    first = Path(argv[0])
    name = first.parent.name if first.name == "__main__.py" else first.name
    return shlex.join([name, *argv[1:]])


def holder(folder: str | Path) -> dict[str, Any] | None:
    """The record of the process holding (or that last held, if it was killed) `folder`'s
    lock, or None when the lock file is missing, empty or unreadable."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text(encoding="utf-8")
        record = json.loads(text)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "pid" in record else None


@contextmanager
def folder_lock(
    folder: str | Path, command: str = "", option: str = "--out", remove_if_unused: bool = True
) -> Iterator[Path]:
    """Create `folder` if needed and hold its lock for the block; yield the folder.

    Another process holding it: GaunetError `FOLDER is being written by another gaunet
    process (pid P on HOST, "COMMAND", since TIME); ...`, and nothing in the folder changes.
    Re-entrant within a process: locking a folder this process already holds is a no-op (a
    demo trains a run inside its own folder; a library caller may nest calls). `command` names
    the holder (e.g. "train") in the record; `option` names the folder in error messages.

    `remove_if_unused`: a folder this process created for the lock (parents included) that
    holds nothing but the lock file on release is removed again, so a command refused by a
    check it makes under the lock (benchmark, demo, data prepare, generate, pool) leaves no
    empty folder. train() makes every check that can refuse before it locks (see
    gaunet/training/api.py) and passes False."""
    folder = Path(folder)
    made = _first_missing(folder)
    folder = writable_folder(folder, option)
    key = str(folder.resolve())
    with _registry:
        entry = _held.get(key)
        if entry is not None:
            entry[0] += 1
        else:
            fd, made = _acquire(folder, command, option, made)
            entry = _held[key] = [1, fd, folder, made if remove_if_unused else None]
    try:
        yield folder
    finally:
        with _registry:  # (released under it: a new acquirer must not meet our own lock)
            entry[0] -= 1
            if not entry[0]:
                del _held[key]
                _release(*entry[1:])


def check_can_create(folder: str | Path, option: str = "--out") -> None:
    """What folder_lock would refuse about `folder` (a file in its place or above it, no
    permission to write there), refused now without creating anything: train() reads its data
    before it locks, and a bad --out should fail at once and leave nothing behind."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        if existing == folder:
            raise GaunetError(f"{option} {folder}: is a file, not a folder")
        raise GaunetError(
            f"{option} {folder}: cannot create it: {existing} is a file, not a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "cannot write there" if existing == folder else f"cannot create it in {existing}"
        raise GaunetError(f"{option} {folder}: {where}: Permission denied")


def _first_missing(folder: Path) -> Path | None:
    """The outermost of `folder` and its parents that does not exist yet (what a lock that
    creates `folder` may remove again), or None when `folder` exists."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing = path
    return missing


def _make(folder: Path, made: Path | None) -> Path | None:
    """Create `folder` again (a holder removed it as its own, empty, on release); returns the
    outermost path this process has now made for it, `made` included."""
    missing = _first_missing(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if made is None or missing is None:
        return made or missing
    return missing if len(missing.parts) < len(made.parts) else made


def _acquire(folder: Path, command: str, option: str, made: Path | None) -> tuple[int, Path | None]:
    """(the open, locked lock file's descriptor, its record written; the outermost path this
    process made for `folder`, `made` or one it had to make again); or GaunetError."""
    path = folder / LOCK_NAME
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        try:
            fd = _open(path)
        except FileNotFoundError:  # a holder removed its empty folder since: make it again
            if time.monotonic() > deadline:
                raise
            made = _make(folder, made)
            continue
        try:
            locked = _try_lock(fd, folder)
        except BaseException:
            os.close(fd)
            raise
        if locked and _still_there(fd, path):
            _write_record(fd, command)
            return fd, made
        os.close(fd)  # (closing also drops a lock on a file that was removed meanwhile)
        if locked:  # the holder removed its empty folder as we opened: lock the new file
            made = _make(folder, made)
            continue
        record = _live_holder(folder)
        if record is not None or time.monotonic() > deadline:
            raise GaunetError(_refusal(folder, record, option))
        time.sleep(0.05)  # the holder has locked the file but not yet written its record


def _open(path: Path) -> int:
    """The lock file, opened to lock and write the record; read-only where another user left
    it (0644 in a folder shared by a group): flock needs no write access, and refusing a
    folder one may write for a file one may not did so for good. Its record is then not
    written (the refusal says so)."""
    flags = os.O_CREAT | getattr(os, "O_BINARY", 0)
    try:
        return os.open(path, os.O_RDWR | flags, 0o644)
    except PermissionError:
        return os.open(path, os.O_RDONLY | flags, 0o644)


def _live_holder(folder: Path) -> dict[str, Any] | None:
    """holder(), unless its record is that of a process on this host that has ended (left by
    a killed holder and about to be overwritten by the new one)."""
    record = holder(folder)
    if record is None or fcntl is None or record.get("host") != socket.gethostname():
        return record
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return None
    except (OSError, ValueError, TypeError, OverflowError):  # (OverflowError: a corrupt pid)
        pass
    return record


def _try_lock(fd: int, folder: Path) -> bool:
    """True when this process now holds the lock on `fd`, False when another one does."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except (BlockingIOError, PermissionError):
        return False
    except OSError as error:
        if fcntl is None:  # msvcrt says only that the byte is locked
            return False
        # a file system without locks (some network mounts): write unprotected, and say so
        _warn_once(
            str(folder),
            f"{folder}: cannot lock it ({error.strerror or error}); a second gaunet process "
            "writing into it at the same time would not be stopped",
        )
        return True


def _still_there(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path`: a holder that removes its empty folder
    (see folder_lock) unlinks the file it locked, and a lock on that file guards nothing."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _write_record(fd: int, command: str) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command_line(),
        "what": command,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
    except OSError:  # (disk full) the lock holds without its record; the refusal says so
        pass


def _release(fd: int, folder: Path, made: Path | None) -> None:
    """Empty the record (no stale holder, and the command line, which may name patient
    folders, does not stay in a dataset meant to be shared), remove the folder when this
    process made it (`made`: it or its outermost new parent) and it is still empty, then
    unlock. The file itself stays otherwise: removing it while another process opens it would
    give two processes a lock each on different files (_still_there)."""
    try:
        os.ftruncate(fd, 0)
    except OSError:
        pass
    if made is not None:
        _remove_if_empty(folder, made)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except OSError:
        pass
    os.close(fd)


def _remove_if_empty(folder: Path, made: Path) -> None:
    """Remove the lock file and `folder`, and the parents up to `made` that this process
    created, when nothing else was written there. Done while the lock is still held: a process
    that opened the file meanwhile finds it gone once it gets the lock (_still_there), and one
    that opens it after finds no folder (_acquire makes it again)."""
    if fcntl is None:  # Windows cannot remove an open file
        return
    chain = _chain(folder, made)
    try:
        if not chain or [p.name for p in folder.iterdir()] != [LOCK_NAME]:
            return
        (folder / LOCK_NAME).unlink()
        for path in chain:
            path.rmdir()
    except OSError:  # another process started writing there meanwhile: it keeps the folder
        pass


def _chain(folder: Path, made: Path) -> list[Path]:
    """`folder` and its parents up to `made`; [] when `made` is neither (never removed)."""
    chain = []
    for path in (folder, *folder.parents):
        chain.append(path)
        if path == made:
            return chain
    return []


def _refusal(folder: Path, record: dict[str, Any] | None, option: str) -> str:
    if record is None:
        who = "(not named: its lock file holds no record yet)"
    else:
        command = shorten(str(record.get("command") or record.get("what") or "?"), 120)
        who = (
            f'(pid {record.get("pid")} on {record.get("host", "?")}, "{command}", '
            f"since {record.get('since', '?')})"
        )
    return (
        f"{folder} is being written by another gaunet process {who}; wait for it to finish "
        f"or use another {option}"
    )


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, GaunetWarning, stacklevel=4)
