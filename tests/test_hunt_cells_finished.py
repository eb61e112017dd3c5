"""is_finished (a resumed `--subset-seeds` counts such folders as done before it starts) reads a
folder's cells as run_benchmark stores them: a fraction such as 1/3, given from Python, is
written as 0.333333 and must be found there, or a finished folder counted as unfinished."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.results_file import is_finished


def test_a_finished_folder_of_a_long_fraction_is_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")
    settings = BenchmarkSettings(
        data="phantom:n=40,classes=2", classifiers=["svm"], arms=["none"], fractions=[1 / 3],
        seeds=1, size=16,
    )  # fmt: skip
    assert not is_finished(settings, tmp_path / "bench")
    run_benchmark(settings, tmp_path / "bench")
    assert is_finished(settings, tmp_path / "bench")
