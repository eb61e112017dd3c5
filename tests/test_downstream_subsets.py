"""Low-data subsets: stratified, nested, independent of anything but the subset seed."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.downstream.subsets import nested_subsets, parse_fractions
from gaunet.errors import GaunetError

FRACTIONS = [0.1, 0.25, 0.5, 1.0]


def _labels() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.permutation(np.repeat([0, 1, 2], [147, 399, 30]))


def test_subsets_are_nested() -> None:
    subsets = nested_subsets(_labels(), FRACTIONS, seed=0)
    for small, large in zip(FRACTIONS, FRACTIONS[1:]):
        assert set(subsets[small]) < set(subsets[large])
    assert len(subsets[1.0]) == len(_labels())


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_subsets_are_stratified(fraction: float) -> None:
    labels = _labels()
    subset = nested_subsets(labels, FRACTIONS, seed=1)[fraction]
    full = np.bincount(labels)
    kept = np.bincount(labels[subset], minlength=3)
    assert np.all(np.abs(kept - np.maximum(2, fraction * full)) <= 1)


def test_every_class_keeps_at_least_two_images() -> None:
    labels = np.repeat([0, 1], [100, 5])
    subset = nested_subsets(labels, [0.05], seed=0)[0.05]
    assert np.bincount(labels[subset]).tolist() == [5, 2]


def test_subset_seed_decides_the_images() -> None:
    labels = _labels()
    same = nested_subsets(labels, [0.25], seed=4)[0.25]
    assert np.array_equal(same, nested_subsets(labels, [0.25, 1.0], seed=4)[0.25])
    assert not np.array_equal(same, nested_subsets(labels, [0.25], seed=5)[0.25])


@pytest.mark.parametrize("text", ["0", "1.5", "a,b", ""])
def test_bad_fractions_are_refused(text: str) -> None:
    with pytest.raises(GaunetError):
        parse_fractions(text)


def test_fractions_are_sorted_and_unique() -> None:
    assert parse_fractions("1,0.25,0.1,0.25") == [0.1, 0.25, 1.0]
