"""The pixel SVM's cells do not depend on the classifier seed unless the arm draws something
from it (classic copies): the premise of caching them per (arm, fraction), which matters on a GPU
machine, where the networks' cells get fast and the single-threaded SVM cells (minutes each at
256 px) become most of the wall time. Guarded so that a seeded SVM, or a seed that starts to
reach a non-classic arm's training set, is noticed before such a cache would serve wrong rows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import one_quiet_thread

from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.cells import _classic_copies


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def test_svm_cells_of_unseeded_arms_agree_across_seeds(tmp_path: Path) -> None:
    settings = BenchmarkSettings(
        data="phantom:n=24", classifiers=["svm"], arms=["none", "copies"], fractions=[1.0],
        seeds=3, size=16, device="cpu",
    )  # fmt: skip
    results = run_benchmark(settings, tmp_path)
    with open(results, newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_cell: dict[tuple[str, str], dict[str, str]] = {}
    for row in rows:
        by_cell.setdefault((row["arm"], row["metric"]), {})[row["seed"]] = row["value"]
    assert {arm for arm, _ in by_cell} == {"none", "copies"}
    for key, values in by_cell.items():
        assert set(values) == {"0", "1", "2"}, key
        assert len(set(values.values())) == 1, (key, values)


def test_classic_copies_for_the_svm_do_depend_on_the_seed() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 1, 16, 16), dtype=np.uint8)
    labels = np.array([0, 0, 0, 1, 1, 1])
    first, first_labels = _classic_copies(images, labels, 1.0, seed=0)
    again, _ = _classic_copies(images, labels, 1.0, seed=0)
    other, other_labels = _classic_copies(images, labels, 1.0, seed=1)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first_labels, other_labels)
    assert not np.array_equal(first, other)
