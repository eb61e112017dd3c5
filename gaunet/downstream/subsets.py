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
    """'0.1,0.25,1' -> [0.1, 0.25, 1.0]; each in (0, 1], as `stored_fractions` keeps them."""
    try:
        fractions = [float(item) for item in text.split(",") if item.strip()]
    except ValueError as error:
        raise GaunetError(f"--fractions {text!r}: not a comma-separated list of numbers") from error
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise GaunetError(f"--fractions {text!r}: every fraction must be in (0, 1]")
    return stored_fractions(fractions)


def stored_fractions(fractions: list[float]) -> list[float]:
    """The fractions as results.csv and the folder's file names write them (`:g`, 6
    significant digits), sorted and distinct: a finished cell of 0.3333333 is found again
    (stored as 0.333333), and two fractions that would share one name are one."""
    return sorted({float(f"{f:g}") for f in fractions})


def class_count_at(n: int, fraction: float, min_per_class: int) -> int:
    """Images kept from a class of n at `fraction`, never fewer than min_per_class (or n)."""
    return min(n, max(min_per_class, int(round(fraction * n))))


def _class_orders(labels: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    """One seeded permutation of each class's rows; subsets are prefixes of them."""
    rng = np.random.default_rng(seed)
    return {int(c): rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}


def nested_subsets(
    labels: np.ndarray, fractions: list[float], seed: int = 0, min_per_class: int = 2
) -> dict[float, np.ndarray]:
    """fraction -> sorted row indices into `labels`, stratified per class and nested."""
    orders = _class_orders(np.asarray(labels), seed)
    subsets = {}
    for fraction in fractions:
        parts = [
            order[: class_count_at(len(order), fraction, min_per_class)]
            for order in orders.values()
        ]
        subsets[fraction] = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    return subsets


def rows_after_subset(
    labels: np.ndarray,
    fraction: float,
    wanted: np.ndarray,
    seed: int = 0,
    min_per_class: int = 2,
) -> np.ndarray:
    """The `wanted[c]` rows of each class c that follow the fraction's subset in its class order:
    the real images a larger subset would add next (the `more-real` arm, a ceiling for what any
    generator's images could give). Sorted; never rows of the subset itself."""
    orders = _class_orders(np.asarray(labels), seed)
    parts = []
    for c, order in orders.items():
        start = class_count_at(len(order), fraction, min_per_class)
        need = int(wanted[c]) if c < len(wanted) else 0
        if start + need > len(order):
            raise GaunetError(
                f"arm more-real at fraction {fraction:g}: class {c} has {len(order) - start} "
                f"training images outside the subset, {need} needed; use a smaller fraction "
                "or --synthetic-ratio"
            )
        parts.append(order[start : start + need])
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
