"""The optional mode-seeking term of the generator step (config diversity_lambda)."""

import json

import pytest
import torch
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.config import ConfigError, load_config
from gaunet.training.loss_gaunet import mode_seeking_ratio


@pytest.mark.parametrize("cap", [10.0, 0.3])
def test_ratio_is_image_gap_over_noise_gap_capped(cap):
    fake = torch.zeros(4, 1, 2, 2)
    fake[2] += 0.5  # pair 0: images differ by 0.5 everywhere
    fake[3] -= 1.0  # pair 1: by 1.0
    z = torch.zeros(4, 3)
    z[2] += 1.0  # noise gap 1
    z[3] += 2.0  # noise gap 2
    expected = (min(0.5 / 1.0, cap) + min(1.0 / 2.0, cap)) / 2
    assert mode_seeking_ratio(fake, z, cap).item() == pytest.approx(expected)


def test_ratio_gradient_pushes_draws_apart():
    fake = torch.randn(6, 1, 4, 4, requires_grad=True)
    z = torch.randn(6, 5)
    mode_seeking_ratio(fake, z, cap=100.0).backward()
    first, second = fake.detach().chunk(2)
    grad_first = fake.grad.chunk(2)[0]
    # ascending the ratio moves each first draw away from its partner
    assert torch.all(grad_first * (first - second) >= 0)


def test_negative_weight_is_refused():
    with pytest.raises(ConfigError, match="diversity_lambda"):
        load_config("cpu-tiny", {"diversity_lambda": -1.0})


def test_training_with_the_term_logs_it(tmp_path):
    for weight in (0.0, 5.0):
        run = tiny_train(tmp_path / f"w{weight}", steps=10, seed=1, diversity_lambda=weight)
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert ("diversity" in records[-1]) == (weight > 0)
        if weight:
            assert 0 < records[-1]["diversity"] <= 1.0  # capped at diversity_cap
            assert load_generator(run, device="cpu").config.diversity_lambda == weight


def test_generator_steps_on_the_term_alone_raise_the_ratio():
    """Gradient ascent through the whole generator: the term is wired to the right weights."""
    from gaunet.training.loss_gaunet import GaunetFamily

    torch.manual_seed(0)
    cfg = load_config("cpu-tiny", {"size": 16, "g_width": 4, "g_width_max": 8, "z_dim": 8})
    family = GaunetFamily(cfg, num_classes=2)
    generator, _ = family.build()
    for module in generator.modules():  # no dropout: only z may make draws differ
        if "Dropout" in type(module).__name__:
            module.eval()
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    x, labels = torch.cat([x, x]), torch.zeros(16, dtype=torch.long)
    z = torch.randn(16, cfg.z_dim)
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3)
    ratios = []
    for _ in range(15):
        ratio = mode_seeking_ratio(generator(x, z, labels), z, cap=10.0)
        optimizer.zero_grad()
        (-ratio).backward()
        optimizer.step()
        ratios.append(ratio.item())
    assert ratios[-1] > 2 * ratios[0]
