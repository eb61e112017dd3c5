"""BenchmarkSettings checked at the API's depth: run_benchmark() from Python refuses what the
command line refuses, before any folder is made (it used to take width=0, an unknown schedule
or model selection, and pin them)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.fit import FitSettings
from gaunet.downstream.settings_checks import benchmark_problems, check_benchmark_settings
from gaunet.errors import GaunetError

GOOD = BenchmarkSettings(data="phantom:n=24", classifiers=["svm"], arms=["none"], fractions=[1.0])


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (dict(data=" "), "--data is empty"),
        (dict(arms=[]), "--arms lists nothing"),
        (dict(arms="none"), "--arms must be a list of names"),
        (dict(classifiers=["svm", "svm"]), "--classifiers names one twice"),
        (dict(fractions=[0.0]), "every fraction must be in (0, 1]"),
        (dict(fractions=[float("nan")]), "every fraction must be in (0, 1]"),
        (dict(seeds=0), "--seeds must be at least 1"),
        (dict(seeds=2.5), "--seeds must be a whole number, not 2.5"),
        (dict(size=4), "--size must be at least 8"),
        (dict(channels=2), "--channels must be 1 or 3"),
        (dict(channels=True), "--channels must be 1 or 3"),
        (dict(split_seed=-1), "--split-seed must be in 0.."),
        (dict(subset_seed=1.5), "--subset-seed must be a whole number"),
        (dict(synthetic_ratio=0), "--synthetic-ratio must be a number above 0"),
        (dict(width=float("nan")), "--width must be a number above 0"),
        (dict(noise_scale=0), "the noise scale must be a positive number"),
        (dict(synthetic_weight=-1), "--synthetic-weight must be a number >= 0"),
        (dict(synthetic_smoothing=1.0), "--synthetic-smoothing must be in [0, 1)"),
        (dict(synthetic_schedule="later"), "--synthetic-schedule 'later'"),
        (dict(gen_steps=0), "--gen-steps must be at least 1"),
        (dict(gen_minutes=float("inf")), "--gen-minutes must be a number above 0"),
        (dict(fit=FitSettings(epochs=0)), "--epochs must be at least 1"),
        (dict(fit=FitSettings(patience=0)), "--patience must be at least 1"),
        (dict(fit=FitSettings(batch_size=1)), "--batch-size must be at least 2"),
        (dict(fit=FitSettings(lr=-1e-3)), "--lr must be a number above 0"),
        (dict(fit=FitSettings(beta2=1.0)), "Adam beta2 must be in [0, 1)"),
        (dict(fit=FitSettings(select="acc")), "--select 'acc'"),
    ],
)
def test_each_bad_setting_is_named(change: dict, says: str) -> None:
    problems = benchmark_problems(replace(GOOD, **change))
    assert len(problems) == 1 and says in problems[0]


def test_good_settings_have_no_problem() -> None:
    assert benchmark_problems(GOOD) == []
    check_benchmark_settings(GOOD)


def test_every_problem_in_one_message() -> None:
    bad = replace(GOOD, width=0, seeds=0, synthetic_schedule="later")
    with pytest.raises(GaunetError) as caught:
        check_benchmark_settings(bad)
    message = str(caught.value)
    assert "--width" in message and "--seeds" in message and "--synthetic-schedule" in message


def test_combinations_are_refused_after_the_ranges() -> None:
    with pytest.raises(GaunetError, match="--filter-pool 0"):
        check_benchmark_settings(replace(GOOD, filter_pool=0))
    with pytest.raises(GaunetError, match="do not combine"):
        check_benchmark_settings(replace(GOOD, filter_pool=3, synthetic_draws=2))


def test_run_benchmark_refuses_before_the_folder_is_made(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    with pytest.raises(GaunetError, match="--width must be a number above 0"):
        run_benchmark(replace(GOOD, width=0.0), out)
    assert not out.exists()


def test_train_generators_together_refuses_before_any_folder(tmp_path: Path) -> None:
    from gaunet.downstream.benchmark import train_generators_together

    folders = {0: tmp_path / "s0", 1: tmp_path / "s1"}
    with pytest.raises(GaunetError, match="--synthetic-schedule"):
        train_generators_together(replace(GOOD, synthetic_schedule="x"), folders)
    assert not any(folder.exists() for folder in folders.values())


def test_a_generator_config_a_baseline_arm_cannot_use_is_refused_before_training(
    tmp_path: Path,
) -> None:
    """A flat GAU-Net-only setting (diffaugment) in --gen-config with a gan arm after the gaunet
    one: refused before the gaunet generator trains, not once it has."""
    config = tmp_path / "gen.yaml"
    config.write_text("model: gaunet\nsize: 16\ndiffaugment: translation\n")
    settings = replace(GOOD, arms=["none", "gaunet", "gan"], gen_config=str(config))
    with pytest.raises(GaunetError, match="diffaugment set, but --model gan"):
        run_benchmark(settings, tmp_path / "bench")
    assert not (tmp_path / "bench" / "generators").exists()


def test_a_folder_begun_before_the_baseline_refusal_continues(tmp_path: Path, monkeypatch) -> None:
    """Its --gen-config is pinned in benchmark.json: a folder whose gan arm was begun while a
    GAU-Net-only setting was ignored could not be continued at all once it was refused."""
    from downstream_helpers import tiny_generator_config

    from gaunet.downstream import benchmark
    from gaunet.training import api

    config = tiny_generator_config(tmp_path / "gen.yaml", diffaugment="translation", steps=2)
    settings = replace(GOOD, arms=["none", "gan"], gen_config=str(config), size=16)
    with monkeypatch.context() as older:  # the gaunet that began it
        older.setattr(benchmark, "baseline_loss_problems", lambda config: [])
        older.setattr(api, "baseline_loss_problems", lambda config: [])
        run_benchmark(replace(settings, seeds=1), tmp_path / "bench")
    run_benchmark(replace(settings, seeds=2), tmp_path / "bench")  # continued: one seed more
    lines = (tmp_path / "bench" / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 2 * 4  # arms x seeds x metrics


@pytest.mark.parametrize("arm", ["copies", "gaunet"])
def test_a_ratio_that_adds_no_image_is_refused_before_any_cell_or_generator(
    tmp_path: Path, arm: str
) -> None:
    """Two images a class at fraction 0.1, x 0.2 rounds to 0: the `gaunet` arm failed only
    after its generator had trained, and `copies` was a W row identical to W/O."""
    settings = replace(GOOD, arms=["none", arm], fractions=[0.1], synthetic_ratio=0.2, size=16)
    out = tmp_path / "b"
    with pytest.raises(GaunetError, match=r"--synthetic-ratio 0.2 adds no image at fraction 0.1"):
        run_benchmark(settings, out)
    assert not (out / "results.csv").exists() and not (out / "generators").exists()


def test_a_ratio_that_adds_images_to_one_class_runs(tmp_path: Path) -> None:
    """2 x 0.3 rounds to 1 image: small, but something to compare."""
    settings = replace(GOOD, arms=["none", "copies"], fractions=[0.1], synthetic_ratio=0.3, size=16)
    run_benchmark(settings, tmp_path / "b")
    assert (tmp_path / "b" / "results.csv").is_file()
