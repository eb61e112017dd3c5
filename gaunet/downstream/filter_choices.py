"""What `--filter-pool K` keeps, chosen once per folder and read back when the folder continues.

The filter's CNN is trained anew in each process, on the device the folder runs on; the same
device gives the same choice, another device (a folder carried between a GPU and a CPU) may
not. A folder whose finished cells were fitted on one choice must add the same images to its
new cells, so the choice is recorded beside the images it came from, with what it depends on
(the candidates' manifest, the subset, the counts), and reused while those are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.class_filter import StreamingChoice, conditioning_images, keep_most_confident
from gaunet.data import ImageSet
from gaunet.downstream.provenance import iter_synthetic
from gaunet.hashing import sha256_file
from gaunet.io import json_object_or_empty, write_json
from gaunet.training.resume_checks import source_fingerprint

Scorer = Callable[[np.ndarray], np.ndarray]


def _recorded(path: Path, expected: dict[str, Any], key: str) -> list[int] | None:
    """The recorded choice `key` when every `expected` field matches (None: choose again)."""
    saved = json_object_or_empty(path)
    if not saved or any(saved.get(k) != v for k, v in expected.items()):
        return None
    choice = saved.get(key)
    if not isinstance(choice, list) or not all(isinstance(n, int) for n in choice):
        return None
    return choice


def filtered_images(
    manifest: Path,
    wanted: np.ndarray,
    pool: int,
    subset: ImageSet,
    scorer: Callable[[], Scorer],
    batch: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The `wanted` images per class kept from the `wanted x pool` candidates of `manifest`.
    `scorer` (called only when the choice is made) trains the filter's CNN; the choice is
    recorded in filter.json beside the manifest as candidate numbers (manifest order)."""
    record = manifest.parent / "filter.json"
    per_class = [int(n) for n in np.asarray(wanted) * pool]
    expected = {
        "pool": pool,
        "candidates_per_class": per_class,
        "manifest_sha256": sha256_file(manifest),
        "subset_sha256": source_fingerprint(subset),
    }

    def candidates() -> Iterator[tuple[int, np.ndarray, str]]:
        return iter_synthetic(manifest, np.asarray(wanted) * pool, subset.size, subset.channels)

    numbers = _recorded(record, expected, "kept_candidates")
    kept: list[tuple[int, np.ndarray, str]] = []
    if numbers is not None:  # chosen before (maybe on another device): the same images
        chosen = set(numbers)  # class by class in candidate order, as StreamingChoice keeps
        kept = sorted((c for n, c in enumerate(candidates()) if n in chosen), key=lambda c: c[0])
        counts = np.bincount([c[0] for c in kept], minlength=len(wanted))[: len(wanted)]
        if len(kept) != len(numbers) or not np.array_equal(counts, np.asarray(wanted)):
            numbers = None  # a record that does not give the wanted counts: choose again
    if numbers is None:
        choice = StreamingChoice(scorer(), wanted, subset.class_names, batch)
        for number, (label, image, source) in enumerate(candidates()):
            choice.add(label, image, (number, label, image, source))
        held, report = choice.finish()
        kept = [(label, image, source) for _, label, image, source in held]
        sources = conditioning_images([(c, s) for c, _, s in kept], subset.class_names)
        record_of = {**report, "conditioning_images": sources}
        kept_numbers = sorted(n for n, *_ in held)
        write_json(record, {**expected, **record_of, "kept_candidates": kept_numbers})
    shape = (0, subset.channels, subset.size, subset.size)
    images = np.stack([image for _, image, _ in kept]) if kept else np.zeros(shape, np.uint8)
    return images, np.asarray([label for label, _, _ in kept], dtype=np.int64)


def _copies(labels: np.ndarray, wanted: np.ndarray, pool: int) -> np.ndarray:
    """The rows of the typical-copies candidates, class by class: K (`pool`) copies of each
    real image, each image's copies together; where a class wants more images than its K
    copies give (--synthetic-ratio above K), K per image wanted, drawn from its images in turn
    as a generator that ignores its noise would be conditioned."""
    candidates = []
    for c, n in enumerate(np.asarray(wanted, dtype=np.int64)):
        rows = np.flatnonzero(labels == c)
        if len(rows) == 0:
            continue
        total = max(len(rows), int(n)) * pool
        counts = np.full(len(rows), total // len(rows))
        counts[: total % len(rows)] += 1
        candidates.append(np.repeat(rows, counts))
    return np.concatenate(candidates) if candidates else np.zeros(0, np.int64)


def typical_rows(
    record: Path, subset: ImageSet, wanted: np.ndarray, pool: int, scorer: Callable[[], Scorer]
) -> np.ndarray:
    """The `typical-copies` control's rows of `subset` (each chosen image as often as the
    filter keeps it), chosen by the filter's CNN once and recorded in `record`."""
    expected = {
        "pool": pool,
        "wanted": [int(n) for n in wanted],
        "subset_sha256": source_fingerprint(subset),
    }
    rows = _recorded(record, expected, "kept_rows")
    if rows is not None and all(0 <= r < len(subset.labels) for r in rows):
        rows = np.asarray(rows, dtype=np.int64)
        # a record of fewer rows than wanted (chosen from K copies alone) is chosen again
        present = np.bincount(subset.labels, minlength=len(wanted))[: len(wanted)] > 0
        counts = np.bincount(subset.labels[rows], minlength=len(wanted))[: len(wanted)]
        if np.array_equal(counts, np.where(present, np.asarray(wanted), 0)):
            return rows
    source = _copies(subset.labels, wanted, pool)
    probabilities = np.asarray(scorer()(subset.images))[source]
    kept = source[keep_most_confident(probabilities, subset.labels[source], wanted)]
    chosen = {
        name: len(set(kept[subset.labels[kept] == c].tolist()))
        for c, name in enumerate(subset.class_names)
    }
    write_json(record, {**expected, "real_images": chosen, "kept_rows": kept.tolist()})
    return kept
