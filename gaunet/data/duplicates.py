"""Images that are the same image: identical pixels at the size they were loaded at.

Public datasets hold them (measured on ../shared/data: brain_tumor_mri 22 sets of 47 images,
PneumoniaMNIST 27 sets of which 8 span its official splits, one pair each in BUSI and
BreastMNIST with two different classes). A copy in train and another in test lets a classifier
be tested on an image it trained on, and empties the copy audit's threshold (real test images at
distance 0 from a training image). So an assigned split keeps each set in one split
(`split_groups`), and `gaunet data inspect` lists the sets that cross an official split and the
ones whose copies carry different classes (a classifier cannot get both right).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def duplicate_sets(images: np.ndarray, blank: bool = False) -> list[np.ndarray]:
    """Row indices (ascending, two or more each) of the images with identical pixels, ordered
    by their first row. Exact: rows with equal digests are compared pixel for pixel. Images of
    one value (blank slices, empty frames) are left out unless `blank`: every volume may have
    them, and joining their patients would merge whole datasets into one group (but two blank
    images still sit at distance 0 from each other, which a distance threshold must know)."""
    digests = [_digest(image) if blank else pixel_digest(image) for image in images]
    return sets_of_equal_digests(digests, lambda a, b: np.array_equal(images[a], images[b]))


def pixel_digest(image: np.ndarray) -> bytes | None:
    """A digest of the image's pixels, or None for an image of one value (never a copy)."""
    if not image.size or image.min() == image.max():
        return None
    return _digest(image)


def sets_of_equal_digests(
    digests: Sequence[bytes | None], same: Callable[[int, int], bool]
) -> list[np.ndarray]:
    """`duplicate_sets` from the rows' `pixel_digest`s, where `same(i, j)` compares two rows'
    pixels (so a caller that cannot hold every image, such as `gaunet data prepare`, reads
    only the rows whose digests are equal)."""
    by_digest: dict[bytes, list[int]] = {}
    for i, digest in enumerate(digests):
        if digest is not None:
            by_digest.setdefault(digest, []).append(i)
    sets = []
    for rows in by_digest.values():
        while len(rows) > 1:  # a digest collision would split into its pixel-equal parts
            equal = [rows[0]] + [r for r in rows[1:] if same(r, rows[0])]
            if len(equal) > 1:
                sets.append(np.asarray(equal, dtype=np.int64))
            rows = [r for r in rows if r not in equal]
    return sorted(sets, key=lambda rows: int(rows[0]))


def identical_to_any(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Bool (len(queries),): whether a reference image has exactly the query's pixels."""
    digests = {_digest(image): i for i, image in enumerate(reference)}
    found = [digests.get(_digest(image)) for image in queries]
    return np.asarray(
        [i is not None and np.array_equal(q, reference[i]) for q, i in zip(queries, found)], bool
    )


def blank_rows(images: np.ndarray) -> np.ndarray:
    """Bool (len(images),): which images are of one value (`duplicate_sets` never counts them
    as copies, nor `identical_to_real` as real images; an image of no pixels counts)."""
    if not len(images) or not images[0].size:
        return np.ones(len(images), bool)
    flat = np.asarray(images).reshape(len(images), -1)
    return flat.min(1) == flat.max(1)


def blank_count(images: np.ndarray) -> int:
    """How many images are of one value."""
    return int(np.count_nonzero(blank_rows(images)))


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def split_groups(groups: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    """`groups` with the groups of each set of identical images (`duplicate_sets`) joined, each
    joined group named after its first row's group, so that a split of whole groups keeps
    every copy in one split."""
    groups = np.asarray(groups).astype(str)
    parent: dict[str, str] = {}

    def root(group: str) -> str:
        while parent.get(group, group) != group:
            group = parent[group]
        return group

    first_row = {g: i for i, g in reversed(list(enumerate(groups)))}
    for rows in sets:
        roots = sorted({root(g) for g in groups[rows]}, key=first_row.__getitem__)
        for other in roots[1:]:
            parent[other] = roots[0]
    if not parent:
        return groups
    return np.asarray([root(g) for g in groups], dtype=groups.dtype)


@dataclass(frozen=True)
class DuplicateReport:
    """What `data inspect` says about identical images: every set, the sets spanning two
    splits (only possible with an official split) and the sets with different classes."""

    sets: list[np.ndarray]
    across_splits: list[np.ndarray]
    conflicting: list[np.ndarray]

    @classmethod
    def of(cls, sets: list[np.ndarray], labels: np.ndarray, split: np.ndarray) -> DuplicateReport:
        """From `duplicate_sets`' sets, the labels and the split of the same rows."""
        return cls(
            sets,
            [rows for rows in sets if len(set(split[rows])) > 1],
            [rows for rows in sets if len(set(labels[rows])) > 1],
        )

    @property
    def images(self) -> int:
        return int(sum(len(rows) for rows in self.sets))
