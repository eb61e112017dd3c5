"""A benchmark's settings checked as a whole, before any folder is made or pinned.

`gaunet benchmark` and `run_benchmark(BenchmarkSettings(...))` from Python meet the same checks
here: a bad value pinned in benchmark.json makes the folder unusable with the corrected one, and
one found only when a cell fits comes after the generators have trained. Every problem is named
by its command-line option, all of them in one message. NaN passes `< 0`, so each range test is
written so that NaN fails it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gaunet.config import seed_problem
from gaunet.config_checks import is_whole
from gaunet.errors import GaunetError

if TYPE_CHECKING:
    from gaunet.downstream.benchmark import BenchmarkSettings

SCHEDULES = ("mix", "pretrain")
MODEL_SELECTIONS = ("loss", "auc")
CHANNELS = (1, 3)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return _number(value) and 0 < value < math.inf


def _names(option: str, names: Any) -> list[str]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        return [f"{option} must be a list of names, not {names!r}"]
    if not names:
        return [f"{option} lists nothing"]
    if len(set(names)) < len(names):
        return [f"{option} names one twice: {','.join(map(str, names))}"]
    return []


def _at_least(option: str, value: Any, low: int) -> list[str]:
    if not is_whole(value):
        return [f"{option} must be a whole number, not {value!r}"]
    return [] if value >= low else [f"{option} must be at least {low}, not {value!r}"]


def benchmark_problems(settings: BenchmarkSettings) -> list[str]:
    """Every problem of `settings` as one line each (empty when they can run)."""
    s, fit = settings, settings.fit
    problems = [] if str(s.data).strip() else ["--data is empty"]
    problems += _names("--arms", s.arms) + _names("--classifiers", s.classifiers)
    if not s.fractions or not all(_number(f) and 0 < f <= 1 for f in s.fractions):
        problems.append(f"--fractions {s.fractions!r}: every fraction must be in (0, 1]")
    problems += _at_least("--seeds", s.seeds, 1) + _at_least("--epochs", fit.epochs, 1)
    problems += _at_least("--patience", fit.patience, 1)
    problems += _at_least("--batch-size", fit.batch_size, 2) + _at_least("--size", s.size, 8)
    if s.channels not in CHANNELS or not is_whole(s.channels):
        problems.append(f"--channels must be 1 or 3, not {s.channels!r}")
    for option, seed in (("--split-seed", s.split_seed), ("--subset-seed", s.subset_seed)):
        if not is_whole(seed):
            problems.append(f"{option} must be a whole number, not {seed!r}")
        elif seed_problem(seed, option):
            problems.append(seed_problem(seed, option))
    positive = {
        "--synthetic-ratio": s.synthetic_ratio,
        "--width": s.width,
        "--lr": fit.lr,
    }
    for option, value in positive.items():
        if not _positive(value):
            problems.append(f"{option} must be a number above 0, not {value}")
    if not _positive(s.noise_scale):
        problems.append(f"--noise-scale {s.noise_scale}: the noise scale must be a positive number")
    if not (_number(s.synthetic_weight) and 0 <= s.synthetic_weight < math.inf):
        problems.append(f"--synthetic-weight must be a number >= 0, not {s.synthetic_weight}")
    if not (_number(s.synthetic_smoothing) and 0 <= s.synthetic_smoothing < 1):
        problems.append(f"--synthetic-smoothing must be in [0, 1), not {s.synthetic_smoothing}")
    for option, beta in (("beta1", fit.beta1), ("beta2", fit.beta2)):
        if not (_number(beta) and 0 <= beta < 1):
            problems.append(f"the classifiers' Adam {option} must be in [0, 1), not {beta}")
    if fit.select not in MODEL_SELECTIONS:
        problems.append(f"--select {fit.select!r}: choose one of {', '.join(MODEL_SELECTIONS)}")
    if s.synthetic_schedule not in SCHEDULES:
        problems.append(
            f"--synthetic-schedule {s.synthetic_schedule!r}: choose one of {', '.join(SCHEDULES)}"
        )
    if s.gen_steps is not None:
        problems += _at_least("--gen-steps", s.gen_steps, 1)
    if s.gen_minutes is not None and not _positive(s.gen_minutes):
        problems.append(f"--gen-minutes must be a number above 0, not {s.gen_minutes}")
    return problems


def check_benchmark_settings(settings: BenchmarkSettings) -> None:
    """Refuse settings that cannot run, every problem in one message; then the levers that
    do not combine (check_synthetic_draws) and a filter pool the filter cannot use."""
    from gaunet.class_filter import check_filter_pool

    problems = benchmark_problems(settings)
    if problems:
        raise GaunetError("; ".join(problems))
    check_filter_pool(settings.filter_pool)
    check_synthetic_draws(settings)


def check_synthetic_draws(settings: BenchmarkSettings) -> None:
    """--synthetic-draws problems, and the levers `pretrain` would not apply: refused before
    any generator trains."""
    draws = settings.synthetic_draws
    if not is_whole(draws) or draws < 1:
        raise GaunetError(f"--synthetic-draws {draws!r}: use a whole number, 1 or more")
    if draws > 1 and settings.filter_pool > 1:
        raise GaunetError(
            "--synthetic-draws > 1 and --filter-pool > 1 do not combine: the filter keeps "
            "one image per candidate pool, leaving no draws to rotate"
        )
    if draws > 1 and settings.synthetic_schedule == "pretrain":
        raise GaunetError(
            "--synthetic-draws > 1 needs --synthetic-schedule mix: pretraining on the synthetic "
            "images alone has no real images to rotate the draws beside"
        )
    if settings.synthetic_schedule == "pretrain" and (
        settings.synthetic_smoothing or settings.synthetic_weight != 1.0
    ):  # both were accepted and pinned, and silently not applied
        raise GaunetError(
            "--synthetic-smoothing and --synthetic-weight apply with --synthetic-schedule mix "
            "only: pretrain's first stage trains on the synthetic images alone, hard labels"
        )
