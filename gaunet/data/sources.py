"""SOURCE strings -> ImageSet. One reader per source kind, one dispatcher.

Kinds: `phantom[:opts]`, a MedMNIST-style `.npz`, a class-folder tree, a CSV manifest
(`path,label[,patient_id][,split]`), DICOM folders and NIfTI volumes with a manifest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaunet.data.imageset import SPLITS, ImageSet
from gaunet.data.phantom import make_phantom, parse_phantom_spec
from gaunet.data.prepare import resize_stack
from gaunet.errors import GaunetError


class SourceError(GaunetError, ValueError):
    """A source that cannot be used at all; the message names the file and the problem."""


def load_phantom(spec: str, size: int, channels: int) -> ImageSet:
    options = parse_phantom_spec(spec)
    images, labels, names, groups = make_phantom(
        options["n"], options["classes"], size=size, seed=options["seed"]
    )
    ids = np.asarray([f"phantom/{i:05d}" for i in range(len(images))])
    return ImageSet(
        images=resize_stack(images, size, channels),
        labels=labels,
        class_names=names,
        groups=groups,
        ids=ids,
        source=spec,
        info={
            "kind": "phantom",
            "synthetic": True,
            "sizes": {f"{size}x{size}": len(images)},
            "modes": {"L": len(images)},
        },
    )


def load_npz(path: Path, size: int, channels: int) -> ImageSet:
    """MedMNIST layout: `{train,val,test}_images` / `_labels`; the official split is kept."""
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any decode failure is the same user error
        raise SourceError(f"{path}: not a readable .npz archive ({error})") from error
    parts = [s for s in SPLITS if f"{s}_images" in archive.files]
    if not parts:
        raise SourceError(f"{path}: no train_images/val_images/test_images arrays inside")
    images, labels, split, ids, sizes = [], [], [], [], {}
    for part in parts:
        if f"{part}_labels" not in archive.files:
            raise SourceError(f"{path}: {part}_images has no {part}_labels")
        x = archive[f"{part}_images"]
        y = np.asarray(archive[f"{part}_labels"]).reshape(len(x), -1)[:, 0].astype(np.int64)
        images.append(resize_stack(x, size, channels))
        labels.append(y)
        split += [part] * len(x)
        ids += [f"{part}/{i:06d}" for i in range(len(x))]
        key = "x".join(str(d) for d in x.shape[1:3])
        sizes[key] = sizes.get(key, 0) + len(x)
    labels_all = np.concatenate(labels)
    names = [str(i) for i in range(int(labels_all.max()) + 1)]
    ids_all = np.asarray(ids)
    return ImageSet(
        images=np.concatenate(images),
        labels=labels_all,
        class_names=names,
        groups=ids_all.copy(),
        ids=ids_all,
        split=np.asarray(split),
        source=str(path),
        info={"kind": "npz", "sizes": sizes},
    )


def load_source(spec: str | Path, size: int = 256, channels: int = 3) -> ImageSet:
    """Read any SOURCE into an ImageSet of uint8 (N, channels, size, size) images."""
    if channels not in (1, 3):
        raise SourceError(f"channels must be 1 or 3, not {channels}")
    if size < 8:
        raise SourceError(f"size must be at least 8 pixels, not {size}")
    text = str(spec)
    if text == "phantom" or text.startswith("phantom:"):
        try:
            return load_phantom(text, size, channels)
        except ValueError as error:
            raise SourceError(str(error)) from error
    path = Path(text)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.suffix.lower() == ".npz":
        return load_npz(path, size, channels)
    raise SourceError(f"{path}: not a source gaunet can read (see `gaunet data inspect --help`)")
