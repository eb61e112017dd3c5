"""Model bugs found by the models hunt: `compile: true` failed in the critic's first forward
(torch.compile's trace took the stacked-models path), a dropout rate just below 1 divided by
zero, a config without any noise input was accepted, and the U-Net's size rule refused sizes
the DCGAN baselines handle."""

from __future__ import annotations

import pytest
import torch
from train_helpers import TINY

from gaunet.config import ConfigError, load_config
from gaunet.models.dense import Dropout
from gaunet.models.stacking import cat_channels, in_function_transform
from gaunet.training.loss import build_family
from gaunet.training.loss_gaunet import build_critic

SMALL_CRITIC = {**TINY, "d_blocks": 2, "d_layers_per_block": 1}


def test_torch_compile_is_not_taken_for_a_function_transform():
    """Under torch.compile's trace `in_function_transform()` was True, so cat_channels took the
    stacked models' autograd Function, which dynamo failed to trace (InternalTorchDynamoError
    at the first training step of `compile: true`)."""
    torch._dynamo.reset()

    def inside(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return cat_channels([a, b]) * (2.0 if in_function_transform() else 3.0)

    a, b = torch.ones(1, 1, 2, 2), torch.zeros(1, 2, 2, 2)
    out = torch.compile(inside, backend="eager")(a, b)
    torch.testing.assert_close(out, torch.cat([a, b], 1) * 3.0)


def test_compiled_critic_scores_like_the_eager_one():
    torch._dynamo.reset()
    torch.manual_seed(0)
    cfg = load_config("cpu-tiny", {**SMALL_CRITIC, "d_dropout": 0.0})
    critic = build_critic(cfg, num_classes=2)
    first, second = torch.rand(2, 2, 1, 16, 16) * 2 - 1
    labels = torch.tensor([0, 1])
    compiled = torch.compile(critic, backend="eager")
    scores = compiled(first, second, labels)
    torch.testing.assert_close(scores, critic(first, second, labels))
    scores.sum().backward()  # the generator and critic steps backpropagate through it
    assert all(p.grad is not None for p in critic.parameters())


def test_dropout_just_below_one_drops_instead_of_dividing_by_zero():
    """p rounded to 65536/65536: the kept values' scale 65536 / (65536 - 65536) raised
    ZeroDivisionError at the critic's first training forward (d_dropout 0.999995 is accepted)."""
    cfg = load_config("cpu-tiny", {**SMALL_CRITIC, "d_dropout": 0.999995})
    critic = build_critic(cfg, num_classes=2).train()
    x = torch.rand(2, 1, 16, 16)
    assert torch.isfinite(critic(x, x, torch.tensor([0, 1]))).all()
    out = Dropout(0.999995)(torch.ones(4096))
    assert torch.isfinite(out).all()
    assert (out == 0).float().mean() > 0.99


def test_a_generator_without_any_noise_input_is_refused():
    """noise_channels 0 and pixel_noise 0: z reached no layer, every draw was the same."""
    with pytest.raises(ConfigError, match="no noise input"):
        load_config("cpu-tiny", {**TINY, "noise_channels": 0})
    load_config("cpu-tiny", {**TINY, "noise_channels": 0, "pixel_noise": 0.1})
    load_config("cpu-tiny", {**TINY, "noise_channels": 0, "model": "cgan"})  # no such input


def test_the_baselines_are_not_held_to_the_unets_size_rule():
    """size 28 (28 -> 7, docs/baselines.md) was refused for gan and cgan as "not divisible by
    2**g_depth = 16", a U-Net setting the DCGAN networks do not have."""
    with pytest.raises(ConfigError, match="not divisible by 2\\*\\*g_depth"):
        load_config("cpu-tiny", {**TINY, "size": 28})
    for model in ("gan", "cgan"):
        cfg = load_config("cpu-tiny", {**TINY, "size": 28, "model": model})
        family = build_family(cfg, num_classes=2)
        generator, critic = family.build()
        labels = torch.tensor([0, 1, 1])
        fake = family.sample(generator, torch.empty(0), labels, family.noise(3, labels.device))
        assert fake.shape == (3, 1, 28, 28)
        assert critic(fake, labels).shape == (3,)
