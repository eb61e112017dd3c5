import pytest
import torch
from train_helpers import TINY

from gaunet.config import load_config
from gaunet.errors import GaunetError
from gaunet.models.gaunet import level_widths
from gaunet.training.loss import Batch, build_family, get_family


@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("paper", {"size": 64, "channels": 3}),
        ("cpu-small", {"size": 32}),
        ("cpu-tiny", {}),
        ("cpu-tiny", {"channels": 3, "decoder_noise_stages": 2}),
    ],
)
def test_shapes_for_each_preset(preset, overrides):
    cfg = load_config(preset, overrides)
    family = build_family(cfg, num_classes=3)
    generator, critic = family.build()
    x = torch.rand(2, cfg.channels, cfg.size, cfg.size) * 2 - 1
    labels = torch.tensor([0, 2])
    out = generator(x, family.noise(2, x.device), labels)
    assert out.shape == x.shape
    assert out.abs().max() <= 1
    assert critic(x, out, labels).shape == (2,)


def test_width_schedule_doubles_like_unet():
    assert level_widths(64, 4, 512) == [64, 128, 256, 512]
    assert level_widths(8, 4, 16) == [8, 16, 16, 16]


def test_noise_changes_the_output_and_class_matters():
    cfg = load_config("cpu-tiny", {**TINY, "g_dropout": 0.0})
    family = build_family(cfg, num_classes=2)
    generator, _ = family.build()
    generator.eval()
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    z = torch.randn(2, cfg.z_dim)
    base = generator(x, z, torch.tensor([0, 0]))
    assert not torch.allclose(base, generator(x, torch.randn(2, cfg.z_dim), torch.tensor([0, 0])))
    assert not torch.allclose(base, generator(x, z, torch.tensor([1, 1])))
    torch.testing.assert_close(base, generator(x, z, torch.tensor([0, 0])))


def test_generator_pass_updates_batch_renorm_as_layer_by_layer_bit_for_bit():
    """The generator's forward defers its batch-renorm updates to its end (one multi-tensor op
    per kind, not three kernels per layer): its outputs and every buffer equal a pass whose
    layers update one at a time, over training steps through the renorm warm-up."""
    import copy

    cfg = load_config("cpu-tiny", {**TINY, "g_dropout": 0.0, "brn_warmup": 1, "brn_ramp": 3})
    family = build_family(cfg, num_classes=2)
    generator, _ = family.build()
    reference = copy.deepcopy(generator)
    generator.train(), reference.train()
    torch.manual_seed(1)
    for _ in range(4):
        x = torch.rand(3, 1, 16, 16) * 2 - 1
        z, labels = torch.randn(3, cfg.z_dim), torch.tensor([0, 1, 0])
        assert torch.equal(generator(x, z, labels), reference._forward(x, z, labels))
    for (name, mine), theirs in zip(generator.named_buffers(), reference.buffers()):
        assert torch.equal(mine, theirs), name
    assert any("num_batches_tracked" in name for name, _ in generator.named_buffers())


def test_critic_scores_each_pair_independently():
    """Layer norm, not batch norm: a sample's score must not depend on the rest of the batch,
    which the per-sample gradient penalty assumes."""
    cfg = load_config("cpu-tiny", {**TINY, "d_dropout": 0.0})
    _, critic = build_family(cfg, num_classes=2).build()
    x = torch.rand(4, 1, 16, 16)
    labels = torch.tensor([0, 1, 0, 1])
    full = critic(x, x.flip(0), labels)
    other = torch.rand(4, 1, 16, 16)
    mixed_first = torch.cat([x[:1], other[1:]])
    mixed_second = torch.cat([x.flip(0)[:1], other[1:]])
    torch.testing.assert_close(critic(mixed_first, mixed_second, labels)[0], full[0])


def test_losses_backpropagate_to_the_right_network():
    cfg = load_config("cpu-tiny", TINY)
    family = build_family(cfg, num_classes=2)
    generator, critic = family.build()
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    batch = Batch(x, x.flip(0), torch.tensor([0, 1, 1, 0]))
    loss, stats = family.critic_loss(generator, critic, batch, with_penalty=True)
    loss.backward()
    assert {"wasserstein", "gradient_penalty", "loss_d"} <= set(stats)
    assert all(p.grad is None for p in generator.parameters())
    assert any(p.grad is not None for p in critic.parameters())
    loss_g, stats_g = family.generator_loss(generator, critic, batch)
    loss_g.backward()
    assert any(p.grad is not None for p in generator.parameters())
    assert "loss_g" in stats_g


def test_unknown_model_is_a_user_error():
    with pytest.raises(GaunetError, match="unknown model"):
        get_family("vae")


def test_gpu_levers_from_the_config_keep_the_critic_scores():
    """d_norm_keep_dtype / d_feature_buffer (issue 17) reach the critic and change nothing in
    fp32: same parameters, same scores."""
    from gaunet.config import load_config
    from gaunet.models.dense import DenseBlock, LayerNorm2d
    from gaunet.training.loss_gaunet import build_critic

    base = {"size": 16, "d_blocks": 2, "precision": "fp32"}
    torch.manual_seed(0)
    plain = build_critic(load_config("cpu-tiny", base), 2)
    torch.manual_seed(0)
    levers = build_critic(
        load_config("cpu-tiny", {**base, "d_norm_keep_dtype": True, "d_feature_buffer": True}), 2
    )
    assert all(m.feature_buffer for m in levers.modules() if isinstance(m, DenseBlock))
    assert any(isinstance(m, LayerNorm2d) for m in levers.modules())
    assert not any(isinstance(m, LayerNorm2d) for m in plain.modules())
    levers.load_state_dict(plain.state_dict())  # the same parameter names
    plain.eval(), levers.eval()
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    labels = torch.tensor([0, 1, 0])
    assert torch.allclose(plain(x, x.flip(3), labels), levers(x, x.flip(3), labels), atol=1e-5)
