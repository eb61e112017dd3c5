"""fit_network edge cases: a training set whose BatchNorm recalibration ends in a batch of one
image at a size where the last blocks see 1x1 maps."""

from __future__ import annotations

import numpy as np
import torch

from gaunet.downstream.classifiers import build_network
from gaunet.downstream.fit import FitSettings, fit_network, predict_proba


def test_257_images_at_size_8_train_although_the_last_recalibration_batch_has_one() -> None:
    """--size 8 is allowed; ResNet-18's small stem ends at 1x1 there, and BatchNorm cannot
    normalise one 1x1 value per channel in train mode (the recalibration's last batch of 257)."""
    rng = np.random.default_rng(0)
    labels = np.arange(257) % 2
    images = np.clip(
        (60 + 120 * labels)[:, None, None, None] + rng.integers(-50, 50, (257, 1, 8, 8)), 0, 255
    ).astype(np.uint8)
    torch.manual_seed(0)
    model = build_network("resnet18", 1, 2, size=8, width=0.125)
    settings = FitSettings(epochs=1, batch_size=64)
    info = fit_network(model, images, labels, images[:16], labels[:16], settings, seed=0)
    assert info["best_epoch"] == info["epochs_run"] == 1
    probabilities = predict_proba(model, images[:16])
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(1), 1.0)
