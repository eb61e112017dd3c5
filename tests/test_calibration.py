"""models.calibration.recalibrate_batchnorm: exact statistics, momentum restored."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaunet.models.calibration import recalibrate_batchnorm


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_running_stats_become_the_exact_training_statistics(batch_size: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 3)
    norm = nn.BatchNorm2d(4, momentum=0.1)
    net = nn.Sequential(conv, norm)
    images = torch.randn(40, 1, 8, 8) * 3 + 2
    net.train()
    net(images[:8])  # one batch: running stats far from the data's
    recalibrate_batchnorm(net, images, batch_size)
    with torch.no_grad():
        features = conv(images)
    expected_mean = features.mean((0, 2, 3))
    assert torch.allclose(norm.running_mean, expected_mean, atol=1e-4)
    expected_var = features.transpose(0, 1).flatten(1).var(1, unbiased=True)
    assert torch.allclose(norm.running_var, expected_var, rtol=1e-4)
    assert norm.momentum == 0.1


def test_network_without_batchnorm_is_untouched() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GroupNorm(1, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    recalibrate_batchnorm(net, torch.randn(4, 1, 8, 8), 2)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
