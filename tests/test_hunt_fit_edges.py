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


def test_the_training_images_stay_uint8_where_the_network_is(monkeypatch) -> None:
    """float32 copies of 5,000 + 5,000 images at 3x256x256 held 7.9 GB in each process (each
    `--jobs` worker on a GPU): the images stay uint8, each batch converted as it is drawn."""
    from gaunet.downstream import fit

    seen: list[torch.dtype] = []
    real_epoch = fit._train_epoch

    def spy(model, data, *args, **kwargs):
        seen.append(data[0].dtype)
        return real_epoch(model, data, *args, **kwargs)

    monkeypatch.setattr(fit, "_train_epoch", spy)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (40, 1, 16, 16), dtype=np.uint8)
    labels = np.arange(40) % 2
    model = build_network("resnet18", 1, 2, size=16, width=0.125)
    fit_network(model, images, labels, images[:8], labels[:8], FitSettings(epochs=2), seed=0)
    assert seen == [torch.uint8, torch.uint8]
