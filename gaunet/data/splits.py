"""Grouped, stratified 7:1:2 splits, deterministic by seed, saved as CSV with every run.

No group (patient) is in two splits. Groups are assigned greedily, largest first, to the split
whose per-class counts are furthest below target, so small classes still reach val and test.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from gaunet.data.imageset import SPLITS, ImageSet

DEFAULT_RATIOS = (0.7, 0.1, 0.2)


def make_split(
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int = 0,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
) -> np.ndarray:
    """Split names (N,) with whole groups per split, class proportions as close as groups allow."""
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    ratios_arr = np.asarray(ratios, dtype=np.float64) / np.sum(ratios)
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    unique, inverse = np.unique(groups, return_inverse=True)
    per_group = np.zeros((len(unique), num_classes))
    np.add.at(per_group, (inverse, labels), 1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    order = order[np.argsort(-per_group[order].sum(1), kind="stable")]
    target = per_group.sum(0)[None, :] * ratios_arr[:, None]
    assigned = np.zeros_like(target)
    group_split = np.zeros(len(unique), dtype=np.int64)
    for g in order:
        counts = per_group[g]
        deficit = ((target - assigned) * counts[None, :]).sum(1) / max(counts.sum(), 1)
        deficit += 1e-9 * ratios_arr  # ties go to the larger split
        choice = int(np.argmax(deficit))
        group_split[g] = choice
        assigned[choice] += counts
    return np.asarray(SPLITS)[group_split[inverse]]


def assign_split(data: ImageSet, seed: int = 0) -> ImageSet:
    """Keep an official split when the source has one, else make a grouped stratified split."""
    if data.split is None:
        data.split = make_split(data.labels, data.groups, seed=seed)
    return data


def write_split(path: Path, data: ImageSet) -> None:
    """split.csv: id, group, label, class, split: enough to rebuild and audit the split."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "group", "label", "class", "split"])
        for i in range(len(data)):
            label = int(data.labels[i])
            writer.writerow(
                [data.ids[i], data.groups[i], label, data.class_names[label], data.split[i]]
            )


def read_split(path: Path) -> dict[str, str]:
    """id -> split name, from a split.csv written by `write_split`."""
    with open(path, newline="") as handle:
        return {row["id"]: row["split"] for row in csv.DictReader(handle)}


def apply_split(data: ImageSet, path: Path) -> ImageSet:
    """Reuse a saved split; every id must be known, so a changed source is caught, not guessed."""
    saved = read_split(path)
    missing = [i for i in data.ids if i not in saved]
    if missing:
        raise ValueError(
            f"{path}: {len(missing)} images are not in the saved split (e.g. {missing[0]})"
        )
    data.split = np.asarray([saved[i] for i in data.ids])
    return data
