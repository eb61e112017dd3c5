"""Stratified, nested low-data subsets of the training split.

One random permutation per class, drawn from a *subset seed* that is independent of the
classifier seed, and the subset for fraction f is the first round(f * n_c) items of each class
(at least `min_per_class`). Prefixes of the same permutation make the subsets nested
(0.1 in 0.25 in 0.5 in 1.0), so a curve over fractions only ever adds images, and every
classifier seed and arm sees the same images at a given fraction.
"""

from __future__ import annotations

import numpy as np

from gaunet.errors import GaunetError


def parse_fractions(text: str) -> list[float]:
    """'0.1,0.25,1' -> [0.1, 0.25, 1.0]; each in (0, 1]."""
    try:
        fractions = [float(item) for item in text.split(",") if item.strip()]
    except ValueError as error:
        raise GaunetError(f"--fractions {text!r}: not a comma-separated list of numbers") from error
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise GaunetError(f"--fractions {text!r}: every fraction must be in (0, 1]")
    return sorted(set(fractions))


def class_count_at(n: int, fraction: float, min_per_class: int) -> int:
    """Images kept from a class of n at `fraction`, never fewer than min_per_class (or n)."""
    return min(n, max(min_per_class, int(round(fraction * n))))


def nested_subsets(
    labels: np.ndarray, fractions: list[float], seed: int = 0, min_per_class: int = 2
) -> dict[float, np.ndarray]:
    """fraction -> sorted row indices into `labels`, stratified per class and nested."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    orders = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    subsets = {}
    for fraction in fractions:
        parts = [
            order[: class_count_at(len(order), fraction, min_per_class)]
            for order in orders.values()
        ]
        subsets[fraction] = np.sort(np.concatenate(parts))
    return subsets
