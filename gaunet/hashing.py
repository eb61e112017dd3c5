"""sha256 of a file, read in 1 MiB blocks (checkpoints, weights files and manifests share it), and
of arrays."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at `path` (never held in memory whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_digest(*arrays: np.ndarray) -> str:
    """Hex sha256 of numeric arrays' dtypes, shapes and bytes: equal only when the arrays are
    the same bit for bit, so a match is never a false one (equal values stored otherwise, -0.0
    and 0.0 or `<f4` and `>f4`, differ: a cache miss at worst). Object and datetime arrays are
    refused: their bytes are pointers or units."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        if array.dtype.hasobject or array.dtype.kind in "mM":
            raise TypeError(f"array_digest takes numeric arrays, not {array.dtype}")
        digest.update(f"{array.dtype.str}{array.shape};".encode())  # the shape as given
        digest.update(np.ascontiguousarray(array).tobytes() if array.size else b"")
    return digest.hexdigest()
