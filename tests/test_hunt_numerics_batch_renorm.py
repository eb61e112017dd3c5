"""A training forward that batch norm refuses (one value per channel) left the layer's running
statistics moved toward that batch's (the variance toward 0): the update ran before the
refusal. nn.BatchNorm2d leaves them as they were."""

from __future__ import annotations

import pytest
import torch

from gaunet.models.batch_renorm import BatchRenorm2d


def test_a_refused_batch_leaves_the_running_statistics_alone():
    torch.manual_seed(0)
    layer = BatchRenorm2d(3, warmup=0, ramp=1)
    layer(torch.randn(4, 3, 5, 5))  # some statistics to keep
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        layer(torch.randn(1, 3, 1, 1))
    for key, value in layer.state_dict().items():
        assert torch.equal(value, before[key]), key
