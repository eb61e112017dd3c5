"""Identical images in a prepared dataset, found from the PNGs `gaunet data prepare` wrote.

The recipes decode one image at a time (NCT-CRC has 100,000), so the copies are found from
each written image's `pixel_digest`, and only images with equal digests are read again to
compare pixels. The split gaunet assigns keeps each set in one split (`settle_split`); an
official split is kept as published, and what it separates is reported here and in
prepare.json, as `gaunet data inspect` reports it for any source.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gaunet.data.duplicates import DuplicateReport, sets_of_equal_digests


def read_png(path: Path) -> np.ndarray:
    """The pixels of a written PNG, as `Image.fromarray` was given them."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def identical_written(
    out: Path, files: Sequence[str], digests: Sequence[bytes | None]
) -> list[np.ndarray]:
    """`duplicate_sets` of the PNGs `files` (relative to `out`) with these digests."""

    def same(a: int, b: int) -> bool:
        return np.array_equal(read_png(out / files[a]), read_png(out / files[b]))

    return sets_of_equal_digests(digests, same)


def copies_record(copies: DuplicateReport, files: Sequence[str], split: np.ndarray) -> dict:
    """prepare.json's `identical_images`: counts, the files of each set that an official split
    separates (and how many of those have a copy in train) or that carries two classes (what
    `gaunet data inspect` lists)."""
    return {
        "sets": len(copies.sets),
        "images": copies.images,
        "across_splits": [[files[i] for i in rows] for rows in copies.across_splits],
        "across_splits_with_train": sum(
            int("train" in split[rows]) for rows in copies.across_splits
        ),
        "conflicting_classes": [[files[i] for i in rows] for rows in copies.conflicting],
    }


def print_copies(record: dict) -> None:
    """The lines `gaunet data prepare` prints about identical images (none without any)."""
    if not record["sets"]:
        return
    print(
        f"copies: {_sets(record['sets'])} of identical images ({record['images']} images); "
        "a split gaunet makes keeps each set in one split"
    )
    if crossing := record["across_splits"]:
        harm = (
            "a classifier is tested or validated on images it trained on"
            if record["across_splits_with_train"]
            else "a classifier is chosen on validation images that are also test images"
        )
        print(
            f"warning: {_sets(len(crossing))} of identical images "
            f"{'crosses' if len(crossing) == 1 else 'cross'} the official split (e.g. "
            f"{', '.join(crossing[0])}): {harm}. Pass --resplit to keep each set in one split."
        )
    if conflicting := record["conflicting_classes"]:
        print(
            f"warning: {_sets(len(conflicting))} "
            f"{'holds' if len(conflicting) == 1 else 'hold'} one image under two classes (e.g. "
            f"{', '.join(conflicting[0])}): no classifier gets both right; check their labels "
            "(all listed in prepare.json)."
        )


def _sets(count: int) -> str:
    return f"{count} set" if count == 1 else f"{count} sets"
