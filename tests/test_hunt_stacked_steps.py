"""`gaunet benchmark --subset-seeds --stack-generators` when the subsets' generators are at
different steps (an interrupted stack, then a subset seed added): each step's runs train as a
stack of their own, with their own budget, where the benchmark was refused ("the runs are at
different steps") on every rerun, whatever the user did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from downstream_helpers import one_quiet_thread, tiny_generator_config
from train_helpers import ctrl_c_at

import gaunet.training as training
from gaunet.downstream.benchmark import BenchmarkSettings
from gaunet.downstream.generator_arms import minutes_left
from gaunet.downstream.subset_runs import run_subsets
from gaunet.training.stacked import StackedStepper


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def test_generators_at_different_steps_train_as_one_stack_per_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_generator_config(
        tmp_path / "tiny.yaml", log_every=2, sample_every=0, checkpoint_every=2, periodic_every=0
    )
    settings = BenchmarkSettings(
        data="phantom:n=40,classes=2", classifiers=["svm"], arms=["none", "gaunet"],
        fractions=[0.5], seeds=1, size=16, gen_config=str(config), gen_steps=6, gen_minutes=5.0,
    )  # fmt: skip
    out = tmp_path / "bench"
    with monkeypatch.context() as stop:
        ctrl_c_at(stop, StackedStepper, 2)
        with pytest.raises(KeyboardInterrupt):
            run_subsets(settings, out, [0, 1], stack=True)

    def run_of(seed: int) -> Path:
        return out / f"subset-{seed}" / "generators" / f"gaunet-f0.5-s{seed}"

    budgets = [minutes_left(5.0, run_of(s) / "run.json") for s in (0, 1)]
    calls = []
    real = training.train_together

    def spy(data, outs, **kwargs):
        calls.append(([Path(o).parents[1].name for o in outs], kwargs["minutes"]))
        return real(data, outs, **kwargs)

    monkeypatch.setattr(training, "train_together", spy)
    run_subsets(settings, out, [0, 1, 2], stack=True)  # was: GaunetError, different steps
    assert sorted(calls) == [(["subset-0", "subset-1"], max(budgets)), (["subset-2"], 5.0)]
    assert max(budgets) < 5.0
    for seed in (0, 1, 2):
        info = json.loads((run_of(seed) / "run.json").read_text())
        assert info["steps"] == 6 and info["status"] == "completed" and info["seed"] == seed
        assert info["resumed_from_step"] == (2 if seed < 2 else None)
        assert info["stacked"]["models"] == (2 if seed < 2 else 1)
        assert ",gaunet,0.5," in (out / f"subset-{seed}" / "results.csv").read_text()
