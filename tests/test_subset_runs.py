"""run_subsets (`gaunet benchmark --subset-seeds`) from Python: bad settings, and fewer than two
subset seeds to pool over (which the command refuses, but a library call ran), are refused
before OUT is made."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gaunet.downstream.benchmark import BenchmarkSettings
from gaunet.downstream.subset_runs import run_subsets
from gaunet.errors import GaunetError

SETTINGS = BenchmarkSettings(
    data="phantom:n=40,classes=2", classifiers=["svm"], arms=["none"], fractions=[0.5], seeds=1,
    size=16,
)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "seeds", "named"),
    [
        ({"fractions": [0.0]}, [0, 1], "fraction"),
        ({}, [3], "at least 2 different seeds"),
        ({}, [3, 3], "at least 2 different seeds"),
    ],
)
def test_bad_settings_are_refused_before_out_is_made(
    tmp_path: Path, change: dict, seeds: list[int], named: str
) -> None:
    out = tmp_path / "bench"
    with pytest.raises(GaunetError, match=named):
        run_subsets(replace(SETTINGS, **change), out, seeds)
    assert not out.exists()
