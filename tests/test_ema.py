"""The generator's weight average (training/ema.py): its ramp, and the longer memory of
`ema_ramp`, which averages over snapshots that swing in quality."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaunet.config import ConfigError, TrainConfig
from gaunet.training.ema import EMA


def _scalar(value: float) -> nn.Module:
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(value)
    return model


@pytest.mark.parametrize(
    "ramp, step, decay",
    [
        (0.0, 0, 0.1),  # (1 + 0) / (10 + 0): the first update nearly copies the live weights
        (0.0, 90, 0.91),  # (1 + 90) / (10 + 90)
        (0.0, 10**6, 0.999),  # capped by the decay
        (0.5, 0, 0.0),  # no memory yet
        (0.5, 200, 1 - 1 / 101),  # a memory of 0.5 x 200 steps
        (0.5, 10**6, 0.999),
    ],
)
def test_decay_ramps_to_its_cap(ramp: float, step: int, decay: float) -> None:
    assert EMA(_scalar(0.0), 0.999, ramp).decay_at(step) == pytest.approx(decay)


@pytest.mark.parametrize("ramp", [0.0, 0.25, 1.0])
def test_the_average_follows_the_closed_form(ramp: float) -> None:
    live, ema = _scalar(0.0), EMA(_scalar(0.0), 0.999, ramp)
    expected = 0.0
    for step in range(50):
        with torch.no_grad():
            live.weight.fill_(float(step % 7))  # a live weight that swings
        ema.update(live, step)
        decay = ema.decay_at(step)
        expected = decay * expected + (1 - decay) * float(step % 7)
    assert ema.model.weight.item() == pytest.approx(expected, rel=1e-5)


def test_a_longer_ramp_remembers_more_of_the_past() -> None:
    """200 steps at weight 0, then 20 at weight 1: the default ramp (memory ~ t / 9) has moved
    most of the way to 1, a memory of half the run much less."""
    moved = {}
    for ramp in (0.0, 0.5):
        live, ema = _scalar(0.0), EMA(_scalar(0.0), 0.999, ramp)
        for step in range(220):
            with torch.no_grad():
                live.weight.fill_(0.0 if step < 200 else 1.0)
            ema.update(live, step)
        moved[ramp] = ema.model.weight.item()
    assert moved[0.0] > 0.55 and moved[0.5] < 0.25


def test_a_negative_ramp_is_refused() -> None:
    with pytest.raises(ConfigError, match="ema_ramp"):
        TrainConfig(ema_ramp=-1.0).validate()
    with pytest.raises(ValueError, match="ema_ramp"):
        EMA(_scalar(0.0), 0.999, -0.5)
