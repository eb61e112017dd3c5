"""Hunt: the infrastructure that keeps results safe (gaunet/locking.py, gaunet/io.py): a lock
file left by another user, a corrupt holder record, a lock shared by two threads, and atomic
writes that change a file's mode or cannot name their temporary."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from gaunet import locking
from gaunet.io import write_atomic, write_json
from gaunet.locking import LOCK_NAME, folder_lock

fcntl = pytest.importorskip("fcntl")

# Another user (nobody, when the tests run as root, which ignores file modes) takes the lock of
# a folder it may write but whose lock file an earlier user left, not writable by it.
OTHER_USER = """
import os, sys
from gaunet.locking import folder_lock
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
folder = sys.argv[1]
with folder_lock(folder, remove_if_unused=False):
    open(os.path.join(folder, "written"), "w").write("1")
print("locked")
"""


def test_a_lock_file_another_user_left_does_not_refuse_a_writable_folder() -> None:
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)  # (the nobody of a root run must reach the folder)
        folder = Path(top) / "shared"
        with folder_lock(folder, remove_if_unused=False):
            pass
        os.chmod(folder, 0o777)  # a group's shared folder: everyone may write there
        os.chmod(folder / LOCK_NAME, 0o444)  # the lock file, as the first user's umask left it
        done = subprocess.run(
            [sys.executable, "-c", OTHER_USER, str(folder)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "locked"
        assert (folder / "written").read_text() == "1"


def test_the_read_only_lock_file_still_locks(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    with folder_lock(folder, remove_if_unused=False):
        pass
    os.chmod(folder / LOCK_NAME, 0o444)
    real_open = os.open

    def no_write(path, flags, *args):  # what a non-owner meets, also when the tests run as root
        if Path(path).name == LOCK_NAME and flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "open", no_write)
        with folder_lock(folder, remove_if_unused=False):
            fd = real_open(folder / LOCK_NAME, os.O_RDONLY)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)


@pytest.mark.parametrize("pid", [10**30, 1e300, [1], {"a": 1}])
def test_a_corrupt_holder_pid_is_no_traceback(tmp_path: Path, pid) -> None:
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    assert locking._live_holder(tmp_path) == {"pid": pid, "host": socket.gethostname()}


def test_a_lock_two_threads_share_holds_until_the_last_leaves(tmp_path: Path) -> None:
    """Re-entrant across threads: the thread that took the lock leaving first must not drop it
    while another thread of the process still writes under it."""
    folder = tmp_path / "f"
    entered, leave = threading.Event(), threading.Event()

    def first() -> None:
        with folder_lock(folder):
            entered.set()
            leave.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(30)
    with folder_lock(folder):
        leave.set()
        thread.join(30)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # still held: another process is refused
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert not folder.exists()  # released at the end, and the folder it made removed


def test_a_rewrite_keeps_the_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "private.json"
    write_json(path, {"a": 1})
    os.chmod(path, 0o600)
    write_json(path, {"a": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"a": 2}


def test_a_new_file_gets_the_umasks_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o640


@pytest.mark.parametrize("name", ["n" * 250 + ".png", "é" * 123 + ".npz"])
def test_a_name_near_the_limit_is_written(tmp_path: Path, name: str) -> None:
    """The temporary beside it adds ~22 bytes: a 255-byte name failed 'File name too long'."""
    path = tmp_path / name
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == [name]
