"""Checkpoints that survive crashes: atomic writes, a sha256 sidecar, and a safe load that falls
back to the previous good file when the newest is corrupt or truncated.

A checkpoint holds only state dicts, plain numbers, strings, lists, dicts and tensors (RNG
states as uint8 tensors), so it always loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import torch

from gaunet.errors import GaunetError, GaunetWarning, shorten
from gaunet.hashing import sha256_file  # noqa: F401 - imported from here by callers
from gaunet.io import write_atomic

LAST = "last.pt"
PERIODIC = re.compile(r"step-(\d+)\.pt$")


class CheckpointError(GaunetError):
    """No usable checkpoint: the message names what was tried."""


# module-level name: tests replace it to simulate a crash between the two writes
_atomic_write = write_atomic


def all_finite(state: Any) -> bool:
    """True when every floating tensor inside a (nested) state is finite: one host sync per
    device (a checkpoint of the paper preset holds hundreds of tensors)."""
    from gaunet.training.divergence import finite_flags, floating_tensors

    return all(bool(flag) for flag in finite_flags(list(floating_tensors(state))))


def save_checkpoint(state: dict[str, Any], paths: list[Path]) -> str:
    """Serialize once, write atomically to every path with a `.sha256` sidecar; returns the hash."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        sidecar = path.with_name(path.name + ".sha256")
        # A kill between the two renames must not pair new data with the old digest (a valid
        # file reported corrupt): drop the old sidecar first; the data file itself is atomic.
        sidecar.unlink(missing_ok=True)
        _atomic_write(path, data)
        _atomic_write(sidecar, f"{digest}  {path.name}\n".encode())
    for folder in {path.parent for path in paths}:
        _remove_stale_temporaries(folder)
    return digest


TEMPORARY = ".*.tmp*"  # a write not yet renamed (gaunet.io.atomic_file): no checkpoint yet


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary files of writers killed mid-write (SIGKILL, power loss) would pile up; ours
    are all renamed by now, and one run folder has one writer."""
    for stale in folder.glob(TEMPORARY):
        stale.unlink(missing_ok=True)


def holds_checkpoints(folder: Path) -> bool:
    """Whether a run's checkpoints/ holds anything a save finished. A run killed during its
    first checkpoint write leaves only a temporary file: it holds no run, and a rerun starts
    it anew (the stacked trainer refused it as "already holds a run", the benchmark as a
    resume without data)."""
    if not folder.is_dir():
        return False
    return any(not fnmatch.fnmatch(entry.name, TEMPORARY) for entry in folder.iterdir())


# torch.save's zip container, and its legacy one (a pickle, protocol 2): nothing else is a
# checkpoint, and torch.load's errors on other files read as "malicious" or "KeyError: 101"
TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")


def _sidecar_digest(path: Path) -> str | None:
    """The digest recorded in `path`'s .sha256 sidecar ("" when empty), None when it has none.
    Read once: a writer removes the sidecar before it replaces the file (save_checkpoint)."""
    try:
        words = path.with_name(path.name + ".sha256").read_text().split()
    except FileNotFoundError:
        return None
    return words[0] if words else ""


def _digest_of(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def _replaced(path: Path, handle: BinaryIO) -> bool:
    """Whether another file was renamed over `path` since `handle` was opened."""
    opened = os.fstat(handle.fileno())
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return True
    return (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino)


# a save may replace the file while it is read (gaunet generate --run during training): retry
READ_ATTEMPTS = 3


def _load_verified(path: Path, map_location: str | torch.device) -> tuple[dict, str]:
    """(state, sha256) of one open file, so the digest is always that of the state returned.
    The sidecar is read after the file was hashed: a mismatch because a save replaced the file
    in between (the sidecar already the new one's) reads the new file again."""
    for attempt in range(READ_ATTEMPTS):
        with open(path, "rb") as handle:
            digest = _digest_of(handle)
            expected = _sidecar_digest(path)
            if expected is not None and expected != digest:
                if attempt + 1 < READ_ATTEMPTS and _replaced(path, handle):
                    continue
                raise ValueError(f"sha256 mismatch (expected {expected[:12]}, file {digest[:12]})")
            return _load_open(handle, map_location), digest
    raise AssertionError("unreachable")  # pragma: no cover


def _load_open(handle: BinaryIO, map_location: str | torch.device) -> dict:
    head = handle.read(4)
    handle.seek(0)
    if not head:
        raise ValueError("empty file (0 bytes)")
    if not head.startswith(TORCH_FILE_STARTS):  # a text, image or other file named .pt
        raise ValueError("not a PyTorch checkpoint file (gaunet train writes them)")
    try:
        state = torch.load(handle, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's own text suggests weights_only=False, i.e. running the code: never say that.
        found = re.search(r"GLOBAL (\S+)", str(error))
        what = f"imports {found.group(1)}" if found else "holds non-tensor objects"
        raise ValueError(f"refused, possibly malicious: {what}, which could run code") from None
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError("not a gaunet checkpoint")
    return state


def _periodic_order(path: Path) -> tuple[int, bool, str]:
    """Newest step first; of the files of one step (`step-200.pt`, `step-000200.pt`) the
    trainer's own name first, then by name: the same order whatever the file system lists
    (downstream/snapshots.py picks the same file)."""
    step = int(PERIODIC.search(path.name).group(1))
    return -step, path.name != f"step-{step:06d}.pt", path.name


def candidates(folder: Path) -> list[Path]:
    """last.pt first, then the periodic checkpoints newest first."""
    periodic = sorted(
        (p for p in folder.glob("step-*.pt") if PERIODIC.search(p.name)), key=_periodic_order
    )
    last = folder / LAST
    return ([last] if last.exists() else []) + periodic


def load_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", fallback: bool = True
) -> tuple[dict, Path, str]:
    """(state, the file actually loaded, its sha256). `path` is a checkpoint file or a
    checkpoints folder; with `fallback`, a corrupt file is skipped (with a warning) for the
    next one in the same folder."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint found")
    if path.is_dir():
        order = candidates(path)
    else:
        order = [path] + ([p for p in candidates(path.parent) if p != path] if fallback else [])
    if not order:
        raise CheckpointError(f"{path}: no checkpoint found")
    failures = []
    for candidate in order:
        try:
            state, digest = _load_verified(candidate, map_location)
        except Exception as error:  # noqa: BLE001 - any unreadable file means "try the next"
            reason = shorten(str(error), 120) or "unreadable"
            failures.append(f"{candidate.name}: {reason}")
            continue
        if failures:
            warnings.warn(
                f"skipped unusable checkpoint(s) ({'; '.join(failures)}); using {candidate}",
                GaunetWarning,
                stacklevel=2,
            )
        return state, candidate, digest
    raise CheckpointError(f"{path}: no usable checkpoint ({'; '.join(failures)})")


def prune_periodic(folder: Path, keep: int) -> None:
    """Keep the newest `keep` periodic checkpoints (0 keeps all)."""
    if keep <= 0:
        return
    for old in [p for p in candidates(folder) if p.name != LAST][keep:]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU and every CUDA device) as tensors."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
