"""The one in-memory form every source becomes: decoded, resized, uint8, channels-first.

Keeping images as uint8 (N, C, H, W) makes the cache small and lets every later step (training,
metrics, classifiers) decide its own float conversion; `to_unit_range` gives the [-1, 1] form
the generators are trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Problem:
    """A file that was skipped, and why (one clear line for the user)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class ImageSet:
    """Images with labels, class names, group (patient) ids and, when known, an official split.

    images: uint8 (N, C, H, W). labels: int64 (N,) indexing class_names. groups: str (N,), the
    unit no split may cut (patient, lesion, volume); defaults to the item id. ids: str (N,), a
    stable id per item (relative path, or `split/index` for arrays). split: str (N,) of
    "train"/"val"/"test" when the source carries one, else None. problems: skipped inputs.
    info: what was seen while reading (original sizes and modes), for `data inspect`.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    groups: np.ndarray
    ids: np.ndarray
    split: np.ndarray | None = None
    problems: list[Problem] = field(default_factory=list)
    source: str = ""
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError("images must be uint8 (N, C, H, W)")
        for name in ("labels", "groups", "ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} images")
        if self.split is not None and len(self.split) != n:
            raise ValueError("split length differs from the number of images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        return int(self.images.shape[2])

    def subset(self, index: np.ndarray) -> ImageSet:
        """Rows `index` (bool mask or integer indices); class names are kept whole."""
        index = np.asarray(index)
        if index.size == 0 and index.dtype != bool:  # `[]` is float64: no rows, not an error
            index = index.astype(np.int64)
        return ImageSet(
            images=self.images[index],
            labels=self.labels[index],
            class_names=list(self.class_names),
            groups=self.groups[index],
            ids=self.ids[index],
            split=None if self.split is None else self.split[index],
            problems=list(self.problems),
            source=self.source,
            info=dict(self.info),
        )

    def where_split(self, name: str) -> ImageSet:
        """The rows of one split; an error if the set has no split assigned."""
        if self.split is None:
            raise ValueError(f"{self.source or 'this image set'} has no split assigned")
        if name not in SPLITS:  # "validation" or "Train" would silently give no rows
            raise ValueError(f"unknown split {name!r}; one of {', '.join(SPLITS)}")
        return self.subset(self.split == name)

    def problem_report(self, limit: int = 10) -> str:
        """'N file(s) skipped' and the first `limit` problem lines, for commands to print."""
        if not self.problems:
            return ""
        lines = [f"{len(self.problems)} file(s) skipped in {self.source}:"]
        lines += [f"  {problem}" for problem in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more (gaunet data inspect)")
        return "\n".join(lines)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {c: int(k) for c, k in zip(self.class_names, counts)}


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the generators' range (tanh output)."""
    return images.astype(np.float32) / 127.5 - 1.0


def to_unit_tensor(images: Any) -> Any:
    """uint8 images (numpy array or torch tensor) -> float32 torch tensor in [-1, 1].

    The torch twin of `to_unit_range`, used wherever images go into a network; the tensor
    stays on the input's device. torch is imported here so the data layer stays torch-free.
    """
    import torch

    tensor = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    return tensor.float() / 127.5 - 1.0


def from_unit_range(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounding and clipping."""
    return np.clip(np.rint((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(
        np.uint8
    )
