"""Opaque item and group ids for file sources: what reaches split.csv, train_images.npz, the
cache and every report, instead of file names and patient ids in clear.

A file source's ids (relative paths, which often carry patient names or numbers) and groups
(manifest `patient_id`, DICOM PatientID) are replaced at load time by a salted hash. The salt is
per dataset: a hash of the dataset's whole sorted file list, so

- loading the same source again (any size, channels, window) gives the same ids, which is what
  `apply_split`, the benchmark's `train_ids`/`check_provenance` and `generate`'s `opaque_id`
  compare;
- the salt is never written anywhere, so someone holding only a run folder cannot test guesses
  ("is p001 in this set?") without knowing every file name of the dataset;
- adding or removing a file changes every id (a split.csv saved before no longer applies, and
  `apply_split` says so).

`lookup(spec, ids)` maps opaque ids back to files for whoever has the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

ID_VERSION = "gaunet-ids-v1"
ID_LENGTH = 16  # hex characters: 64 bits, collision-free for any realistic dataset


def dataset_salt(item_ids: Iterable[str]) -> bytes:
    """The per-dataset salt: sha256 of the sorted, de-duplicated clear item ids."""
    digest = hashlib.sha256(ID_VERSION.encode())
    for item_id in sorted(set(item_ids)):
        digest.update(b"\n" + item_id.encode("utf-8", "surrogateescape"))
    return digest.digest()


def opaque(salt: bytes, text: str, kind: str = "id") -> str:
    """A 16-hex-character salted hash of `text`; `kind` keeps ids and groups apart."""
    data = salt + kind.encode() + b"\0" + text.encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()[:ID_LENGTH]


def opaque_array(salt: bytes, texts: Sequence[str], kind: str = "id") -> np.ndarray:
    """`opaque` over a sequence, as a str array (equal inputs give equal outputs)."""
    memo: dict[str, str] = {}
    for text in texts:
        if text not in memo:
            memo[text] = opaque(salt, text, kind)
    return np.asarray([memo[t] for t in texts], dtype=str)


def lookup(spec: str | Path, wanted: Iterable[str], max_frames: int = 4096) -> dict[str, str]:
    """Opaque id -> relative path (`path#k` for frame/slice k) for the ids of `wanted` found in
    the file source `spec`. Lists the files without decoding them, so frame numbers are tried
    up to `max_frames`."""
    from gaunet.data.readers.decode import file_kind
    from gaunet.data.readers.folder import scan_class_folders
    from gaunet.data.readers.manifest import scan_manifest

    path = Path(spec).expanduser()
    if path.is_dir() and (path / "manifest.csv").is_file():
        path = path / "manifest.csv"
    items = scan_manifest(path)[0] if path.is_file() else scan_class_folders(path)[0]
    salt = dataset_salt(item.item_id for item in items)
    wanted = set(wanted)
    found: dict[str, str] = {}
    for item in items:
        # DICOM by the marker too: files named by their UID ("1.2.840...") have dots in the name
        frames = file_kind(item.path) in ("dicom", "nifti")
        texts = [item.item_id] + [f"{item.item_id}#{k}" for k in range(max_frames if frames else 0)]
        for text in texts:
            key = opaque(salt, text)
            if key in wanted:
                found[key] = text
        if len(found) == len(wanted):
            break
    return found
