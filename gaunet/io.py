"""Writing files so that a crash, Ctrl-C or a full disk never leaves a partial one."""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from gaunet.errors import GaunetError


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write to a temporary file in the same folder, then rename over `path`. A failed write
    (disk full) removes its temporary and raises an OSError naming `path`; the file already at
    `path` is untouched. `durable` also fsyncs the file and its folder (checkpoints; not needed
    for thousands of PNGs that a rerun rewrites)."""
    with atomic_file(path, durable) as handle:
        handle.write(data)


@contextmanager
def atomic_file(path: Path, durable: bool = True) -> Iterator[BinaryIO]:
    """An open temporary file beside `path`, renamed over it when the block ends; the rules
    of write_atomic. Writers that stream (write_npz) never hold the whole file in memory."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        with open(tmp, "wb") as handle:
            _keep_mode(tmp, path)
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:  # Ctrl-C mid-write must not leave the temporary either
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror or str(error), str(path)) from None
        raise
    if durable:
        _fsync_folder(path.parent)


def _temporary(path: Path) -> Path:
    """The temporary beside `path`: `.NAME.tmpPID-RANDOM` (pid and a random part: two threads
    of one process, or two hosts sharing a folder over NFS, writing the same file must not share
    one), NAME losing its first characters where the whole would pass the 255 bytes a file name
    may have (a name that fits failed "File name too long"; its end, the suffix, is kept)."""
    suffix = f".tmp{os.getpid()}-{secrets.token_hex(4)}"
    name = path.name
    while len(os.fsencode(f".{name}{suffix}")) > 255 and len(name) > 1:
        name = name[1:]
    return path.with_name(f".{name}{suffix}")


def _keep_mode(tmp: Path, path: Path) -> None:
    """A rewrite keeps the permissions of the file it replaces (one made private stayed so);
    a new file gets the umask's, as open() made it."""
    try:
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
    except OSError:  # no file there yet (or not ours to read): the umask's mode
        pass


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def jsonable(value: Any) -> Any:
    """`json.dumps(default=...)` for the values gaunet records: numpy scalars and arrays, paths."""
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def finite_values(value: Any) -> Any:
    """The same nested value with NaN and inf as None, tuples and arrays as lists: `NaN` is no
    JSON, and strict readers (jq, JavaScript, other languages) refuse the whole file."""
    if isinstance(value, dict):
        return {key: finite_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [finite_values(item) for item in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def json_object_or_empty(path: Path) -> dict[str, Any]:
    """A JSON object a rerun may redo (a record of a choice, not settings): {} where the file
    is absent or damaged (cut short by a full disk, edited by hand), so the choice is made
    again and the record rewritten (read_settings_record refuses instead)."""
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def write_json(path: Path, value: Any, durable: bool = False) -> None:
    """Indented JSON, written atomically (an interrupted write never looks finished)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, indent=2, default=jsonable) + "\n"
    write_atomic(path, text.encode(), durable=durable)


def _same_file(recorded: Any, given: Any) -> bool:
    """Two different names of one existing file (not a spec such as `phantom:n=24`); `~/x`
    too (`--data=~/x.npz` reaches gaunet unexpanded, `--data ~/x.npz` expanded by the shell)."""
    if not isinstance(recorded, str) or not isinstance(given, str) or recorded == given:
        return False
    try:
        return os.path.samefile(os.path.expanduser(recorded), os.path.expanduser(given))
    except OSError:  # not a file on this machine: the names are compared as they are
        return False


def read_settings_record(path: Path) -> dict[str, Any]:
    """A folder's settings record (benchmark.json, demo.json), or a GaunetError in one line
    when it is torn, empty or not a JSON object: a rerun died in a JSONDecodeError traceback."""
    try:
        content = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise GaunetError(
            f"{path}: cannot read it ({error}); restore it, or use another --out"
        ) from None
    if not isinstance(content, dict):
        raise GaunetError(f"{path}: not a settings record (a JSON object); restore it")
    return content


def pin_settings(
    path: Path,
    record: dict[str, Any],
    pinned: Iterable[str],
    defaults: dict[str, Any] | None = None,
    what: str = "folder",
    key: str | None = None,
    paths: Iterable[str] = (),
    resolved: dict[str, Callable[[Any], Any]] | None = None,
) -> dict[str, Any]:
    """Refuse to continue a folder whose results-changing settings differ from `record`, then
    write `record` merged over what `path` already holds. A setting missing from an older file
    reads as its value in `defaults`. With `key`, the settings live under that key of the file
    and its other keys are kept as they are (a state file that records progress beside them).
    Settings named in `paths` are file names: the same file named another way (relative,
    absolute, through a link) is no change, and the recorded name is kept. A setting named in
    `resolved` is also recorded as what its function makes of it (`<name>_resolved`: a config
    file's settings), and another value that resolves the same is no change either (a folder
    and its config file carried elsewhere, where the recorded name leads nowhere); the
    recorded name is kept. Returns the merged file content."""
    path = Path(path)
    content = read_settings_record(path) if path.exists() else {}
    saved = content.get(key, {}) if key else content
    defaults = defaults or {}
    plain = json.loads(json.dumps(record, default=jsonable))
    for name in paths:
        if _same_file(saved.get(name), plain.get(name)):
            plain[name] = saved[name]
    edited = []  # the same file name, its settings changed since (edited in place)
    for name, resolve in (resolved or {}).items():
        as_resolved = f"{name}_resolved"
        plain[as_resolved] = json.loads(json.dumps(resolve(plain[name]), default=jsonable))
        before, now = saved.get(as_resolved), plain[as_resolved]
        if saved.get(name, plain[name]) != plain[name] and before == now:
            plain[name] = saved[name]
        elif saved.get(name) == plain[name] and isinstance(before, dict) and isinstance(now, dict):
            if any(before[k] != now[k] for k in before.keys() & now.keys()):
                edited.append(f"{name} settings (the file was edited since)")
    changed = edited + [
        name
        for name in pinned
        if path.is_file()
        and (name in saved or name in defaults)
        and saved.get(name, defaults.get(name)) != plain[name]
    ]
    if changed:
        raise GaunetError(
            f"{path.parent}: this {what} was run with other {', '.join(changed)}; "
            "use another --out, or the same options to continue it"
        )
    merged = {**saved, **plain}
    if key:
        merged = {**content, key: merged}
    write_json(path, merged)
    return merged


def write_npz(path: Path, compress: bool = False, **arrays: np.ndarray) -> None:
    """A NumPy archive written atomically and streamed array by array into the temporary
    file, not built whole in memory first (numpy adds no `.npz` suffix to an open handle)."""
    with atomic_file(Path(path), durable=False) as handle:
        (np.savez_compressed if compress else np.savez)(handle, **arrays)


def human_bytes(value: float) -> str:
    """Bytes as a short human number for messages: `1.2 TB`, `20 GB`, `4.2 KB`, `300 bytes`
    (powers of 1024), the one form the memory and disk checks both print."""
    for unit, scale in (("PB", 1 << 50), ("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if value >= scale:
            number = value / scale
            return f"{number:.1f} {unit}" if number < 10 else f"{number:,.0f} {unit}"
    return f"{value / 1024:.1f} KB" if value >= 1024 else f"{value:.0f} bytes"


def refuse_out_inside_data(data: object, out: str | Path, what: str) -> None:
    """GaunetError, before anything is written, when `out` lies inside the folder `data` (a
    SOURCE given as a path): `what` it writes there (a run's samples, a benchmark's or demo's
    PNGs) would become images of that dataset, and its next read would hold them."""
    source = Path(str(data)).expanduser()
    if source.is_dir() and Path(out).expanduser().resolve().is_relative_to(source.resolve()):
        raise GaunetError(
            f"--out {out} is inside the --data folder {data}: {what} would become images of "
            "that dataset. Nothing written; choose an --out outside it"
        )
