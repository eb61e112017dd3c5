"""`--jobs N` with the `typical-copies` control: the filter's choice of real images is made once,
in the process that holds the folder, before the workers start. Each worker used to train the
filter's CNN again and write synthetic/typical-copies-*.json itself: minutes of duplicated work
per worker and, on a GPU (where that CNN is not bit-reproducible), workers whose cells of one
fraction were fitted on different images, the record keeping whichever wrote last."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import one_quiet_thread

from gaunet.downstream import parallel
from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark, worker_grid
from gaunet.downstream.generator_arms import GeneratorArms


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _scorer(calls: list[str], who: str):
    def make(subset):  # the first class is the surest: a fixed, cheap "CNN"
        calls.append(who)
        return lambda images: np.tile([0.9, 0.1], (len(images), 1))

    return make


def test_the_typical_copies_choice_is_made_before_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bench"
    calls: list[str] = []
    seen_at_start: list[list[str]] = []

    class InlinePool:  # the workers' side, run here: what a spawned worker finds and does
        def __init__(self, jobs: int, initializer, initargs) -> None:
            seen_at_start.append(sorted(p.name for p in out.glob("synthetic/typical-copies-*")))
            settings, folder, data, _ = initargs
            self.grid = worker_grid(settings, folder, data)
            self.grid.arms_helper.scorer_fn = _scorer(calls, "worker")

        def __enter__(self) -> InlinePool:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def submit(self, fn, cell) -> Future:
            future: Future = Future()
            future.set_result(self.grid.run_cell(*cell))
            return future

    monkeypatch.setattr(parallel, "spawned_pool", lambda jobs, **kw: InlinePool(jobs, **kw))
    settings = BenchmarkSettings(
        data="phantom:n=40,classes=2", classifiers=["svm"], arms=["none", "typical-copies"],
        fractions=[0.5], seeds=2, size=16, filter_pool=2,
    )  # fmt: skip
    helper = GeneratorArms(out, scorer_fn=_scorer(calls, "parent"))
    run_benchmark(settings, out, arms_helper=helper, jobs=2)
    assert seen_at_start == [["typical-copies-f0.5-s0-p2.json"]]
    assert calls == ["parent"]  # chosen once, and never again in a worker
