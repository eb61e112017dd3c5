"""run_subsets from Python (`gaunet benchmark --subset-seeds`, whose option parser refuses
these): a seed given twice ran its folder twice and only then was refused by the pooled report,
and a negative seed failed in its own folder after the folders before it had run; both are
refused before OUT is made."""

from __future__ import annotations

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
    ("seeds", "named"), [([0, 0, 1], "each seed once"), ([0, -1], "--subset-seed")]
)
def test_bad_subset_seeds_are_refused_before_any_folder_runs(
    tmp_path: Path, seeds: list[int], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")
    out = tmp_path / "bench"
    with pytest.raises(GaunetError, match=named):
        run_subsets(SETTINGS, out, seeds)
    assert not out.exists()
