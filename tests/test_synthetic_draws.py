"""--synthetic-draws K: K noise draws of every synthetic image, a different one each epoch."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from downstream_helpers import FakeGenerators, one_quiet_thread
from test_snapshot_selection import STEPS, _helper, _selection_setup
from torch import nn

from gaunet.cli import main as cli_main
from gaunet.data import assign_split, load_source
from gaunet.downstream import cells as cells_module
from gaunet.downstream import fit as fit_module
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.downstream.cells import draw_index
from gaunet.downstream.fit import FitSettings, fit_network
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.errors import GaunetError


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


@pytest.mark.parametrize(
    "labels, draws, expected",
    [
        ([0, 0, 0, 0, 1, 1], 2, [0, 0, 1, 1, 0, 1]),
        ([0, 1, 0, 1, 0, 1], 3, [0, 0, 1, 1, 2, 2]),
        ([1, 1, 0], 1, [0, 0, 0]),
    ],
)
def test_draw_index_splits_each_class_in_generation_order(labels, draws, expected) -> None:
    assert draw_index(np.asarray(labels), draws).tolist() == expected


def _tiny_fit(rotation, monkeypatch: pytest.MonkeyPatch, epochs: int = 4):
    """Fit a linear model on 4 real images (value 10) and two draws of 4 synthetic ones
    (values 100 and 200); returns the pixel values each epoch trained on, and the model."""
    seen: list[set[int]] = []
    original = fit_module._train_epoch

    def spy(model, data, *args, **kwargs):
        seen.append(set(data[0].int().unique().tolist()))  # the uint8 pixel values
        return original(model, data, *args, **kwargs)

    monkeypatch.setattr(fit_module, "_train_epoch", spy)
    values = [10] * 4 + [100] * 4 + [200] * 4
    images = np.stack([np.full((1, 4, 4), v, np.uint8) for v in values])
    labels = np.asarray([0, 1] * 6)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    settings = FitSettings(epochs=epochs, patience=epochs, batch_size=4)
    fit_network(model, images, labels, images[:4], labels[:4], settings, 0, rotation=rotation)
    return seen, model


def test_each_epoch_trains_on_the_real_images_and_one_draw(monkeypatch) -> None:
    rotation = np.asarray([-1] * 4 + [0] * 4 + [1] * 4)
    seen, _ = _tiny_fit(rotation, monkeypatch)
    assert seen == [{10, 100}, {10, 200}, {10, 100}, {10, 200}]


def test_no_rotation_and_all_minus_one_train_the_same_model(monkeypatch) -> None:
    seen, plain = _tiny_fit(None, monkeypatch)
    assert seen == [{10, 100, 200}] * 4
    _, everyone = _tiny_fit(np.full(12, -1), monkeypatch)
    for a, b in zip(plain.state_dict().values(), everyone.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("rotation", [np.zeros(5, np.int64), np.full(12, -2), np.full(12, 0.5)])
def test_a_bad_rotation_is_refused(rotation, monkeypatch) -> None:
    with pytest.raises(GaunetError, match="rotation"):
        _tiny_fit(rotation, monkeypatch, epochs=1)


def test_generator_arm_generates_k_draws_in_a_folder_of_its_own(tmp_path: Path) -> None:
    data = assign_split(load_source("phantom:n=20", size=16, channels=1), seed=0)
    subset = data.where_split("train")
    arm = parse_arms(["gaunet"])[0]
    fake = FakeGenerators()
    one = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    images, labels, manifest = one.extra_images(arm, 1.0, subset)
    three = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate, draws=3)
    drawn, drawn_labels, drawn_manifest = three.extra_images(arm, 1.0, subset)
    assert len(fake.trained) == 1  # one generator, two image sets
    assert drawn_manifest.parent.name == manifest.parent.name + "-d3"
    assert np.bincount(drawn_labels).tolist() == (3 * np.bincount(labels)).tolist()
    # draw 0 conditions on the same training images, in the same order, as the single draw
    first = draw_index(drawn_labels, 3) == 0
    assert np.array_equal(drawn_labels[first], labels)


def test_fd_val_chooses_on_one_draw_then_draws_k_from_the_chosen_snapshot(tmp_path) -> None:
    subset, validation, fake, extractors = _selection_setup()
    helper = _helper(tmp_path, fake, validation, extractors)
    helper.draws = 3
    images, labels, manifest = helper.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    # each snapshot generated once (one draw each, as without draws), then the chosen
    # snapshot (step 300, whose images are the subset's own) once more for the K draws
    assert len(fake.generated_from) == len(STEPS) + 1
    assert Path(fake.generated_from[-1]).name == "step-000300.pt"
    assert manifest.parent.name.startswith("step-000300-") and manifest.parent.name.endswith("-d3")
    assert np.bincount(labels).tolist() == (3 * np.bincount(subset.labels)).tolist()
    assert set(map(bytes, images.reshape(len(images), -1))) <= set(
        map(bytes, subset.images.reshape(len(subset), -1))
    )


def _settings(**changes: object) -> BenchmarkSettings:
    base = dict(
        data="phantom:n=24", classifiers=["svm", "resnet18"], arms=["gaunet"], fractions=[1.0],
        seeds=1, size=16, width=0.25, fit=FitSettings(epochs=2), synthetic_draws=3,
    )  # fmt: skip
    base.update(changes)
    return BenchmarkSettings(**base)


def test_benchmark_rotates_the_draws_for_networks_and_gives_the_svm_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGenerators()
    rotations: list = []
    original = cells_module.fit_network

    def spy(*args, rotation=None, **kwargs):
        rotations.append(rotation)
        return original(*args, rotation=rotation, **kwargs)

    monkeypatch.setattr(cells_module, "fit_network", spy)
    helper = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    results = run_benchmark(_settings(), tmp_path, arms_helper=helper)
    with open(results, newline="") as handle:
        rows = {r["classifier"]: r for r in csv.DictReader(handle)}
    n_real = int(rows["svm"]["n_real"])
    assert int(rows["svm"]["n_extra"]) == n_real  # the first draw only
    assert int(rows["resnet18"]["n_extra"]) == 3 * n_real  # all three, one per epoch
    (rotation,) = rotations
    assert np.bincount(rotation + 1).tolist() == [n_real, n_real, n_real, n_real]


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(synthetic_draws=0), "whole number"),
        (dict(filter_pool=2), "filter-pool"),
        (dict(synthetic_schedule="pretrain"), "schedule mix"),
    ],
)
def test_draws_that_cannot_work_are_refused_before_any_training(
    tmp_path: Path, changes: dict, message: str
) -> None:
    fake = FakeGenerators()
    helper = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    with pytest.raises(GaunetError, match=message):
        run_benchmark(_settings(**changes), tmp_path, arms_helper=helper)
    assert fake.trained == []


def test_cli_refuses_zero_draws_in_one_line(tmp_path: Path, capsys) -> None:
    args = ["benchmark", "--data", "phantom:n=24", "--out", str(tmp_path / "b")]
    assert cli_main([*args, "--arms", "gaunet", "--synthetic-draws", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--synthetic-draws 0" in err


@pytest.mark.parametrize("lever", [dict(synthetic_smoothing=0.2), dict(synthetic_weight=0.5)])
def test_pretrain_refuses_the_levers_it_would_not_apply(lever):
    """Both were accepted and pinned with `pretrain`, whose stages never applied them."""
    from gaunet.downstream.benchmark import BenchmarkSettings
    from gaunet.downstream.settings_checks import check_synthetic_draws
    from gaunet.errors import GaunetError

    settings = BenchmarkSettings(data="phantom", synthetic_schedule="pretrain", **lever)
    with pytest.raises(GaunetError, match="apply with --synthetic-schedule mix only"):
        check_synthetic_draws(settings)
    check_synthetic_draws(BenchmarkSettings(data="phantom", **lever))  # mix: fine
