import csv
import json
import math

import pytest
import torch
from torch import nn
from train_helpers import PHANTOM, TINY, tiny_train

from gaunet.config import ConfigError, load_config, save_config
from gaunet.generate import generate_dataset
from gaunet.models.baselines import PerClass, base_side, side_widths
from gaunet.trained_generator import load_generator
from gaunet.training.loss import Batch, build_family
from gaunet.training.loss_baselines import discriminator_bce, generator_bce

BASELINE = {k: v for k, v in TINY.items() if k != "n_critic"}  # keep the preset's gan section


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, more threads only add contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("model", ["gan", "cgan"])
@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("cpu-tiny", {}),
        ("cpu-tiny", {**BASELINE, "channels": 3}),
        ("cpu-small", {"g_width": 4, "d_stem": 4, "g_width_max": 16}),
        ("paper", {"size": 32, "g_width": 4, "d_stem": 4, "g_width_max": 16}),
    ],
)
def test_shapes_for_each_preset(model, preset, overrides):
    cfg = load_config(preset, {**overrides, "model": model})
    family = build_family(cfg, num_classes=3)
    generator, critic = family.build()
    labels = torch.tensor([2, 0, 2, 1])
    fake = family.sample(generator, torch.empty(0), labels, family.noise(4, torch.device("cpu")))
    assert fake.shape == (4, cfg.channels, cfg.size, cfg.size)
    assert fake.abs().max() <= 1
    assert critic(fake, labels).shape == (4,)
    assert critic(fake, labels).dtype == torch.float32


@pytest.mark.parametrize("size, side", [(8, 4), (16, 4), (28, 7), (32, 4), (48, 6), (256, 4)])
def test_base_side_halves_down_to_four_to_eight(size, side):
    assert base_side(size) == side


@pytest.mark.parametrize("size", [4, 36, 100])
def test_sizes_that_do_not_halve_to_a_small_side_are_refused(size):
    with pytest.raises(ConfigError, match=f"size {size}"):
        base_side(size)


def test_widths_double_as_the_side_halves_like_dcgan():
    assert side_widths(64, 128, 1024) == [(4, 1024), (8, 512), (16, 256), (32, 128)]
    assert side_widths(32, 8, 16) == [(4, 16), (8, 16), (16, 8)]


def test_bce_losses_on_hand_made_logits():
    zero = torch.zeros(3)
    torch.testing.assert_close(discriminator_bce(zero, zero), torch.tensor(2 * math.log(2)))
    confident = discriminator_bce(torch.full((3,), 20.0), torch.full((3,), -20.0))
    assert confident < 1e-6
    fooled = discriminator_bce(torch.full((3,), -20.0), torch.full((3,), 20.0))
    torch.testing.assert_close(fooled, torch.tensor(40.0), rtol=1e-4, atol=1e-4)
    logits = torch.tensor([-3.0, 0.0, 2.0])
    expected = -torch.log(torch.sigmoid(logits)).mean()  # non-saturating: -log D(G(z))
    torch.testing.assert_close(generator_bce(logits), expected)


def test_non_saturating_loss_keeps_a_gradient_when_the_discriminator_wins():
    logits = torch.tensor([-10.0], requires_grad=True)  # D sure the sample is fake
    generator_bce(logits).backward()
    assert logits.grad.abs().item() > 0.99  # log(1 - D) would give ~4.5e-5 here


class AddClass(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        return x + self.value


def test_per_class_sends_each_row_to_its_class_network_and_keeps_order():
    per_class = PerClass([AddClass(0.0), AddClass(10.0), AddClass(20.0)])
    x = torch.arange(5.0)[:, None]
    labels = torch.tensor([2, 0, 2, 1, 0])
    out = per_class(x, labels)
    torch.testing.assert_close(out, x + 10.0 * labels[:, None].float())


def test_gan_class_networks_are_independent():
    cfg = load_config("cpu-tiny", {**BASELINE, "model": "gan"})
    family = build_family(cfg, num_classes=2)
    generator, _ = family.build()
    generator.eval()
    z = torch.randn(4, cfg.z_dim)
    labels = torch.tensor([0, 1, 0, 1])
    before = generator(z, labels)
    with torch.no_grad():
        for p in generator.networks[1].parameters():
            p.add_(0.5)
    after = generator(z, labels)
    torch.testing.assert_close(after[labels == 0], before[labels == 0])
    assert not torch.allclose(after[labels == 1], before[labels == 1])


def test_cgan_output_depends_on_class_and_ignores_conditioning():
    cfg = load_config("cpu-tiny", {**BASELINE, "model": "cgan"})
    family = build_family(cfg, num_classes=2)
    generator, _ = family.build()
    generator.eval()
    z = torch.randn(2, cfg.z_dim)
    zeros, ones = torch.tensor([0, 0]), torch.tensor([1, 1])
    a = family.sample(generator, torch.rand(2, 1, 16, 16), zeros, z)
    b = family.sample(generator, torch.rand(2, 1, 16, 16), zeros, z)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, family.sample(generator, torch.rand(2, 1, 16, 16), ones, z))


@pytest.mark.parametrize("model", ["gan", "cgan"])
def test_losses_are_finite_and_train_the_discriminator(model):
    torch.manual_seed(0)
    cfg = load_config("cpu-tiny", {**BASELINE, "model": model})
    family = build_family(cfg, num_classes=2)
    generator, critic = family.build()
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    batch = Batch(torch.rand_like(real), real, torch.tensor([0, 1] * 4))
    opt = torch.optim.Adam(critic.parameters(), lr=2e-3)
    losses = []
    for _ in range(15):
        loss, stats = family.critic_loss(generator, critic, batch, with_penalty=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        assert {"loss_d", "d_real", "d_fake"} <= set(stats)
    assert losses[-1] < losses[0]
    g_loss, g_stats = family.generator_loss(generator, critic, batch)
    assert torch.isfinite(g_loss) and set(g_stats) == {"loss_g"}


def test_preset_sections_set_the_baselines_training_and_overrides_win(tmp_path):
    assert load_config("cpu-tiny").n_critic == 5
    gan = load_config("cpu-tiny", {"model": "gan"})
    assert (gan.n_critic, gan.beta1, gan.lr_d) == (1, 0.5, 2e-4)
    assert load_config("paper", {"model": "cgan"}).n_critic == 1
    assert load_config("cpu-tiny", {"model": "gan", "n_critic": 3}).n_critic == 3
    saved = tmp_path / "config.yaml"  # a run folder's config: flat, read back unchanged
    save_config(load_config("cpu-tiny", {"model": "gan", "n_critic": 2}), saved)
    assert load_config(saved).n_critic == 2


@pytest.mark.parametrize("model", ["gan", "cgan"])
def test_twenty_steps_on_phantom_then_generate_per_class(tmp_path, model):
    run = tiny_train(tmp_path / "run", steps=20, model=model, n_critic=1)
    info = json.loads((run / "run.json").read_text())
    assert info["model"] == model and info["steps"] == 20 and info["finished"]
    assert info["images_seen"] == 20 * TINY["batch_size"] * 2  # one D and one G batch a step
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in records)
    gen = load_generator(run)
    assert gen.model_name == model
    images = gen.sample(1, 5, seed=3)
    assert images.shape == (5, 1, 16, 16) and images.abs().max() <= 1
    torch.testing.assert_close(images, gen.sample(1, 5, seed=3))
    manifest = generate_dataset(run, tmp_path / "synthetic", per_class=3)
    with open(manifest) as handle:
        labels = [row["label"] for row in csv.DictReader(handle)]
    assert sorted(labels) == ["0"] * 3 + ["1"] * 3


def test_gan_resume_continues_to_the_total_steps(tmp_path):
    run = tiny_train(tmp_path / "run", steps=10, model="gan", n_critic=1)
    from gaunet.training import train

    train(None, run, steps=15, resume=True, progress=False)
    info = json.loads((run / "run.json").read_text())
    assert info["steps"] == 15 and info["resumed_from_step"] == 10


def test_train_cli_model_flag(tmp_path):
    from gaunet.cli import main

    out = tmp_path / "run"
    args = ["train", "--data", PHANTOM, "--out", str(out), "--model", "cgan", "--steps", "2"]
    args += ["--size", "16", "--quiet", "--set", "tensorboard=false", "--set", "num_threads=1"]
    assert main(args) == 0
    assert json.loads((out / "run.json").read_text())["model"] == "cgan"
