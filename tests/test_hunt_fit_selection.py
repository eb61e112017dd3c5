"""fit_network: AUC selection on a validation split that lacks a class, and batches whose
images all carry a loss weight of 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from gaunet.downstream.fit import FitSettings, fit_network, predict_proba
from gaunet.errors import GaunetError


def _noisy(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping classes (mean brightness 90 + 30 x class, noise +-70): the AUC moves."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    base = (90 + 30 * labels)[:, None, None, None]
    images = np.clip(base + rng.integers(-70, 70, size=(n, 1, 8, 8)), 0, 255)
    return images.astype(np.uint8), labels


def _linear(classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, classes))


def test_auc_selection_scores_the_classes_the_validation_split_has() -> None:
    x, y = _noisy(60, 3, 0)
    vx, vy = _noisy(30, 3, 1)
    vx, vy = vx[vy < 2], vy[vy < 2]  # no validation image of class 2: macro AUC undefined
    model = _linear(3)
    settings = FitSettings(epochs=6, patience=3, batch_size=8, lr=3e-3, select="auc")
    info = fit_network(model, x, y, vx, vy, settings, seed=0)
    p = predict_proba(model, vx)
    expected = np.mean([roc_auc_score(vy == c, p[:, c]) for c in (0, 1)])
    # before: every epoch scored AUC "0.5", so the first epoch was kept whatever followed
    assert info["best_val_auc"] == pytest.approx(expected)
    assert info["best_val_auc"] != 0.5


def test_auc_selection_refuses_a_validation_split_of_one_class_before_training() -> None:
    x, y = _noisy(12, 2, 0)
    model = _linear(2)
    before = [t.clone() for t in model.parameters()]
    settings = FitSettings(epochs=2, select="auc")
    with pytest.raises(GaunetError, match="select loss"):
        fit_network(model, x, y, x[y == 0], y[y == 0], settings, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_batch_of_zero_weights_takes_no_step() -> None:
    """Real images in epoch 1, only zero-weight ones in epoch 2 (rotation): epoch 2 has no loss,
    so the weights after it are those after epoch 1 (Adam's momentum used to move them on)."""
    x, y = _noisy(16, 2, 0)
    extra_x, extra_y = _noisy(16, 2, 1)
    images, labels = np.concatenate([x, extra_x]), np.concatenate([y, y])
    weight = np.concatenate([np.ones(16), np.zeros(16)])
    rotation = np.concatenate([np.zeros(16, np.int64), np.ones(16, np.int64)])
    trained = []
    for epochs in (1, 2):
        model = _linear(2)
        settings = FitSettings(epochs=epochs, patience=5, batch_size=4, lr=1e-2)
        fit_network(
            model, images, labels, x, y, settings, seed=0, sample_weight=weight, rotation=rotation
        )
        trained.append([t.detach().clone() for t in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*trained))
