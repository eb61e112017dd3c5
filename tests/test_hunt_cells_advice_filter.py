"""summary.md's "What to try next" must not suggest a setting the benchmark refuses with the
folder's own: `--select-snapshot fd-val` and `--filter-pool K > 1` do not combine (the snapshot
is chosen on the images the filter would change), so a folder run with the filter was told to
add the snapshot lever and, following that advice with its other options, got a refusal."""

from __future__ import annotations

import pytest

from gaunet.downstream.advice import next_steps
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.benchmark import BenchmarkSettings, _check_generator_arms
from gaunet.downstream.settings_checks import check_synthetic_draws
from gaunet.errors import GaunetError

ENTRY = {
    "classifier": "resnet18",
    "fraction": 0.25,
    "arm": "gaunet",
    "metrics": {},
    "gain": {"accuracy": {"mean": 0.0, "half": 0.02, "p": 0.9, "n": 10}},
}


def _snapshot_step(settings: dict) -> str:
    text = "\n".join(next_steps([ENTRY], settings))
    (step,) = [line for line in text.splitlines() if "--select-snapshot fd-val" in line]
    return step


def test_with_the_filter_the_snapshot_step_says_to_drop_it() -> None:
    settings = BenchmarkSettings(data="x", arms=["none", "gaunet"], filter_pool=3)
    with pytest.raises(GaunetError, match="do not combine"):  # following it as it read
        _check_generator_arms(
            BenchmarkSettings(data="x", filter_pool=3, select_snapshot="fd-val"),
            parse_arms(settings.arms),
            new=True,
        )
    step = _snapshot_step({"select_snapshot": "last", "filter_pool": 3})
    assert "instead of `--filter-pool`" in step


def test_without_the_filter_the_snapshot_step_is_as_before() -> None:
    step = _snapshot_step({"select_snapshot": "last", "filter_pool": 1})
    assert "--filter-pool" not in step
    assert step.startswith("- Sample a better snapshot: `--select-snapshot fd-val` (the generator")


def test_with_draws_the_filter_step_says_to_drop_them() -> None:
    with pytest.raises(GaunetError, match="do not combine"):  # following it as it read
        check_synthetic_draws(BenchmarkSettings(data="x", synthetic_draws=3, filter_pool=3))
    text = "\n".join(next_steps([ENTRY], {"select_snapshot": "last", "synthetic_draws": 3}))
    (step,) = [line for line in text.splitlines() if "`--filter-pool 3`" in line]
    assert "without `--synthetic-draws`" in step
    text = "\n".join(next_steps([ENTRY], {"select_snapshot": "last"}))
    assert "--synthetic-draws" not in text
