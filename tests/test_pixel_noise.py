"""Per-pixel noise in the U-Net decoder (config pixel_noise): a source of stochastic detail that
the generator cannot route around, still a deterministic function of (x, z, class)."""

import pytest
import torch
from train_helpers import TINY, tiny_train

from gaunet.config import ConfigError, load_config
from gaunet.models.gaunet import PixelNoise
from gaunet.training.loss import build_family
from gaunet.training.loss_gaunet import build_generator

CASES = [
    {"size": 16, "g_depth": 2},
    {"size": 28, "g_depth": 4, "pad_input": True},
]


def _generator(pixel_noise: float, **extra):
    cfg = load_config("cpu-tiny", {**TINY, "g_dropout": 0.0, "pixel_noise": pixel_noise, **extra})
    torch.manual_seed(0)
    generator = build_generator(cfg, num_classes=2).eval()
    return cfg, generator


def _silence_projected_noise(generator) -> None:
    """Zero the projected-noise maps so any remaining effect of z is the per-pixel noise."""
    with torch.no_grad():
        for module in generator.modules():
            if module.__class__.__name__ == "NoiseMap":
                module.linear.weight.zero_()


@pytest.mark.parametrize("extra", CASES)
def test_pixel_noise_makes_the_output_depend_on_z(extra):
    x = torch.rand(3, 1, extra["size"], extra["size"]) * 2 - 1
    labels = torch.tensor([0, 1, 0])
    outputs = {}
    for strength in (0.0, 0.5):
        cfg, generator = _generator(strength, **extra)
        _silence_projected_noise(generator)
        z1, z2 = torch.randn(3, cfg.z_dim), torch.randn(3, cfg.z_dim)
        a, b = generator(x, z1, labels), generator(x, z2, labels)
        outputs[strength] = (a, b)
        torch.testing.assert_close(a, generator(x, z1, labels))  # a function of (x, z, class)
    torch.testing.assert_close(*outputs[0.0])  # without it z has no path left
    assert (outputs[0.5][0] - outputs[0.5][1]).abs().mean() > 1e-3


@pytest.mark.parametrize("extra", CASES)
def test_one_noise_layer_per_decoder_stage_at_its_resolution(extra):
    cfg, generator = _generator(0.1, **extra)
    layers = list(generator.pixel_noise)
    assert len(layers) == cfg.g_depth
    padded = generator.padded
    assert [layer.side for layer in layers] == [
        padded // 2**k for k in reversed(range(cfg.g_depth))
    ]
    for layer in layers:
        torch.testing.assert_close(layer.strength.detach(), torch.full_like(layer.strength, 0.1))


def test_off_by_default_and_other_layers_initialised_the_same():
    _, plain = _generator(0.0)
    _, noisy = _generator(0.1)
    assert len(plain.pixel_noise) == 0
    plain_state, noisy_state = plain.state_dict(), noisy.state_dict()
    assert set(plain_state) < set(noisy_state)
    for key, value in plain_state.items():
        torch.testing.assert_close(value, noisy_state[key])


def test_projection_is_a_saved_buffer_and_strength_is_trained():
    layer = PixelNoise(z_dim=8, channels=3, side=4, strength=0.1)
    assert "projection" in layer.state_dict()
    assert [name for name, _ in layer.named_parameters()] == ["strength"]
    h = torch.zeros(2, 3, 4, 4)
    out = layer(h, torch.randn(2, 8))
    out.square().sum().backward()
    assert layer.strength.grad is not None and layer.strength.grad.abs().sum() > 0
    # the noise image is about unit variance per pixel for z ~ N(0, I)
    noise = torch.randn(4000, 8) @ layer.projection
    assert 0.7 < noise.var().item() < 1.3


def test_negative_strength_is_rejected():
    with pytest.raises(ConfigError, match="pixel_noise"):
        load_config("cpu-tiny", {"pixel_noise": -0.1})


def test_training_moves_the_strengths_and_resume_keeps_them(tmp_path):
    run = tiny_train(tmp_path / "run", steps=6, pixel_noise=0.1)
    state = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    generator_state = state["generator"]
    strengths = [v for k, v in generator_state.items() if k.endswith("strength")]
    assert strengths and any((s - 0.1).abs().max() > 0 for s in strengths)
    cfg = load_config(run / "config.yaml")
    assert cfg.pixel_noise == 0.1
    family = build_family(cfg, num_classes=2)
    generator, _ = family.build()
    generator.load_state_dict(generator_state)  # the saved layout matches the config's
