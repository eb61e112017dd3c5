"""fit_network when the network's weights diverge (NaN validation probabilities): the AUC
selection keeps the earlier epochs' best weights as the loss selection does, and a network
that is NaN in every epoch is one clear error, not scikit-learn's "Input contains NaN"."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaunet.downstream.fit import FitSettings, fit_network, predict_proba
from gaunet.errors import GaunetError


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = (90 + 60 * labels)[:, None, None, None]
    images = np.clip(base + rng.integers(-70, 70, size=(n, 1, 8, 8)), 0, 255)
    return images.astype(np.uint8), labels


class _Diverges(torch.nn.Module):
    """A linear classifier whose validation outputs turn NaN from the `bad_from`-th on."""

    def __init__(self, bad_from: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
        self.bad_from, self.evals = bad_from, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if not self.training:
            self.evals += 1
            if self.evals >= self.bad_from:
                out = out * float("nan")
        return out


@pytest.mark.parametrize("select", ["loss", "auc"])
def test_an_epoch_that_diverges_is_never_the_best_and_training_goes_on(select: str) -> None:
    x, y = _images(40, 0)
    vx, vy = _images(20, 1)
    model = _Diverges(bad_from=2)
    settings = FitSettings(epochs=5, patience=2, batch_size=8, select=select)
    # before: select="auc" raised scikit-learn's ValueError "Input contains NaN" in epoch 2
    info = fit_network(model, x, y, vx, vy, settings, seed=0)
    assert info["best_epoch"] == 1 and info["epochs_run"] == 3
    assert np.isfinite(info[f"best_val_{select}"])


@pytest.mark.parametrize("select", ["loss", "auc"])
def test_a_network_nan_in_every_epoch_is_one_clear_error(select: str) -> None:
    x, y = _images(40, 0)
    vx, vy = _images(20, 1)
    model = _Diverges(bad_from=1)
    settings = FitSettings(epochs=4, patience=2, batch_size=8, select=select)
    # before: the NaN network was returned and the test metrics failed in scikit-learn
    with pytest.raises(GaunetError, match="diverged.*lower --lr"):
        fit_network(model, x, y, vx, vy, settings, seed=0)


def test_a_finite_network_is_selected_as_before() -> None:
    """Finite probabilities keep the selection unchanged (results in docs/ stand)."""
    x, y = _images(40, 0)
    vx, vy = _images(20, 1)
    model = _Diverges(bad_from=10**9)
    info = fit_network(model, x, y, vx, vy, FitSettings(epochs=3, patience=2, batch_size=8), 0)
    p = predict_proba(model, vx)
    loss = float(-np.log(np.clip(p[np.arange(len(vy)), vy], 1e-12, None)).mean())
    assert info["best_val_loss"] == pytest.approx(loss)
