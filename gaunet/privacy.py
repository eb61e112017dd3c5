"""What `gaunet generate` may export: safe folder names for any class name, and the near-copy
filter behind `--max-copy-rate`.

A synthetic image is a near-copy when its nearest training image (grey, 32x32 pixel space, the
memorization audit's `pixel_features`) is closer than the audit's threshold: the 5th percentile
of real held-out (test split) -> train nearest distances (with fewer than 2 held-out images that
are not training images, the training images' leave-one-out distances: the audit's
`ThresholdReference`). Real unseen images fall under it 5% of the time by construction, so a
copy rate near 0.05 is what an honest generator scores.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.errors import GaunetError
from gaunet.metrics.memorization import (
    THRESHOLD_PERCENTILE,
    ThresholdReference,
    nearest,
    pixel_features,
)

CANDIDATE_FACTOR = 4  # at most 4x the requested images are drawn per class to replace drops


MAX_FOLDER_NAME = 64  # characters (ASCII after sanitising); far below any file name limit


def _name_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def folder_names(class_names: list[str]) -> list[str]:
    """One safe, distinct folder name per class: letters, digits, `._-` only, never starting
    with a dot (so never `..` or hidden), at most MAX_FOLDER_NAME characters, unique even on
    case-insensitive file systems. A name that had to be cut, or that another class's name
    also sanitises to (ignoring case), gets `-` and 8 hex digits of its name's sha256, so its
    folder does not depend on the other classes' order. The manifest's `class` (and
    `folder`) columns keep the real name and its folder."""
    bases = [re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "class" for name in class_names]
    shared = Counter(base[:MAX_FOLDER_NAME].lower() for base in bases)
    names: list[str] = []
    taken: set[str] = set()
    for name, base in zip(class_names, bases):
        candidate = base
        if len(base) > MAX_FOLDER_NAME or shared[base[:MAX_FOLDER_NAME].lower()] > 1:
            candidate = f"{base[: MAX_FOLDER_NAME - 9].rstrip('._-')}-{_name_hash(name)}"
        stem, n = candidate, 1
        while candidate.lower() in taken:  # a real class already named like a hashed folder
            n += 1
            suffix = f"-{n}"
            candidate = stem[: MAX_FOLDER_NAME - len(suffix)] + suffix
        taken.add(candidate.lower())
        names.append(candidate)
    return names


def inside(folder: Path, relative: str) -> Path:
    """folder/relative, refusing anything that would land outside `folder`."""
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise GaunetError(f"{relative!r}: would be written outside {folder}")
    return folder / relative


@dataclass
class CopyFilter:
    """Near-copy test against the training images, and the per-class drop counts."""

    train: np.ndarray  # uint8 (N, C, H, W)
    max_rate: float
    reference: np.ndarray | None = None  # held-out real images (test split); None: leave-one-out
    reference_note: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_rate <= 1.0:
            raise GaunetError(f"--max-copy-rate must be in [0, 1], not {self.max_rate}")
        if len(self.train) < 2:
            raise GaunetError("the copy filter needs at least 2 training images")
        self.train_features = pixel_features(self.train)
        # images identical to a training image (one image stored twice in the source, or blank
        # training frames) sit at distance 0 and could pull the threshold to 0, so that nothing
        # counts as a copy: the copy audit's rule leaves them out (metrics/memorization.py)
        reference = ThresholdReference.of(self.train, self.reference)
        test_features = pixel_features(self.reference) if reference.from_test else None
        distances = reference.distances(self.train_features, test_features)
        self.rule = reference.rule
        if reference.note:
            self.reference_note = self._joined(reference.note)
        self.threshold = float(np.percentile(distances, THRESHOLD_PERCENTILE))

    def _joined(self, note: str) -> str:
        return f"{self.reference_note}; {note}" if self.reference_note else note

    def near_copies(self, images: np.ndarray) -> np.ndarray:
        """Boolean per image (uint8 (n, C, H, W)): closer to a training image than the threshold.
        One image per product: a BLAS product's rounding depends on how many rows it has, so
        a batch would let the batch size (gaunet generate --batch-size) decide an image near
        the threshold."""
        features = pixel_features(images)
        distance = [
            nearest(self.train_features, features[i : i + 1])[0][0] for i in range(len(features))
        ]
        return np.asarray(distance, dtype=np.float64) < self.threshold

    def keep(self, class_name: str, images: np.ndarray, requested: int) -> np.ndarray:
        """Which of these candidates to export: near-copies only while the class's exported
        near-copies stay within max_rate * requested. Counts are kept per class."""
        count = self.counts.setdefault(
            class_name,
            {"requested": requested, "candidates": 0, "dropped": 0, "near_copies_kept": 0},
        )
        allowed = int(np.floor(self.max_rate * requested + 1e-9))
        keep = np.ones(len(images), dtype=bool)
        for k, copy in enumerate(self.near_copies(images)):
            if copy and count["near_copies_kept"] >= allowed:
                keep[k] = False
                count["dropped"] += 1
            elif copy:
                count["near_copies_kept"] += 1
        count["candidates"] += len(images)
        return keep

    def report(self, written: dict[str, int]) -> dict[str, Any]:
        per_class = {
            name: {**c, "written": written.get(name, 0)} for name, c in self.counts.items()
        }
        return {
            "max_copy_rate": self.max_rate,
            "feature_space": "pixel (grey, 32x32, memorization audit)",
            "threshold": self.threshold,
            "threshold_rule": f"{THRESHOLD_PERCENTILE:g}th percentile of {self.rule}",
            "note": self.reference_note,
            "candidates": sum(c["candidates"] for c in self.counts.values()),
            "dropped": sum(c["dropped"] for c in self.counts.values()),
            "written": sum(written.values()),
            "requested": sum(c["requested"] for c in self.counts.values()),
            "per_class": per_class,
        }


def summary_line(report: dict[str, Any]) -> str:
    """One line for the CLI: how many near-copies were dropped, and any class left short."""
    short = [
        f"{name} {c['written']}/{c['requested']}"
        for name, c in report["per_class"].items()
        if c["written"] < c["requested"]
    ]
    line = (
        f"copy filter: dropped {report['dropped']} of {report['candidates']} candidates as "
        f"near-copies of training images (threshold {report['threshold']:.4g})"
    )
    return line + (f"; classes short of --per-class: {', '.join(short)}" if short else "")
