"""The packed critic (config critic_pack): the conditioning image with several real partners or
several noise draws of the generator at once."""

import json

import pytest
import torch
from train_helpers import tiny_train

from gaunet.config import ConfigError, load_config
from gaunet.training.diffaugment import augment_pair
from gaunet.training.loss import Batch
from gaunet.training.loss_gaunet import GaunetFamily, pack_draws, within_class_shift

SMALL = {"size": 16, "g_width": 4, "g_width_max": 8, "z_dim": 8, "d_growth": 4, "d_stem": 8}


@pytest.mark.parametrize("shift", [1, 2, 3])
def test_shift_stays_in_class_and_moves_every_row_of_a_class_with_two(shift):
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 1, 0, 2])
    permutation = within_class_shift(labels, shift)
    assert torch.equal(labels[permutation], labels)
    assert sorted(permutation.tolist()) == list(range(len(labels)))  # a permutation
    for row, target in enumerate(permutation.tolist()):
        class_size = int((labels == labels[row]).sum())
        assert (target != row) == (shift % class_size != 0)


def test_lonely_row_maps_to_itself():
    labels = torch.tensor([0, 0, 1])
    assert within_class_shift(labels, 1).tolist() == [1, 0, 2]


def test_pack_draws_puts_draw_k_on_channel_block_k():
    draws = torch.arange(3 * 2).float().view(6, 1, 1, 1).expand(6, 2, 1, 1)  # 3 draws, 2 rows
    packed = pack_draws(draws, 3)
    assert packed.shape == (2, 6, 1, 1)
    assert packed[1, :, 0, 0].tolist() == [1, 1, 3, 3, 5, 5]  # row 1 of draws 0, 1, 2


def _family(pack, **extra):
    cfg = load_config("cpu-tiny", {**SMALL, "critic_pack": pack, **extra})
    return GaunetFamily(cfg, num_classes=2)


@pytest.mark.parametrize("pack", [1, 2, 3])
def test_critic_sees_pack_real_partners_or_pack_draws(pack):
    torch.manual_seed(0)
    family = _family(pack)
    generator, critic = family.build()
    seen, rows = [], []
    critic.register_forward_hook(lambda m, args, out: seen.append(args[1].shape))
    generator.register_forward_hook(lambda m, args, out: rows.append(len(args[0])))
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    labels = torch.tensor([0, 1] * 4)
    batch = Batch(x, x.roll(2, 0), labels)  # x_j: another row of the same class
    family.critic_loss(generator, critic, batch, with_penalty=True)
    assert rows == [pack * 8]  # one forward pass for all the draws
    assert seen and all(shape[1:] == (pack, 16, 16) for shape in seen)
    partners = family.real_partners(batch)
    for k in range(pack):  # every real partner is an image of the row's class
        for row in range(8):
            source = (x == partners[row, k]).all((1, 2)).nonzero().flatten()
            assert labels[source[0]] == labels[row]


def test_generator_step_scores_packed_distinct_draws():
    torch.manual_seed(0)
    family = _family(2)
    generator, critic = family.build()
    generator.eval()  # no dropout: only z makes the draws differ
    seconds = []
    critic.register_forward_hook(lambda m, args, out: seconds.append(args[1].detach()))
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    loss, _ = family.generator_loss(generator, critic, Batch(x, x, torch.zeros(4).long()))
    loss.backward()
    (packed,) = seconds
    assert packed.shape == (4, 2, 16, 16)
    assert not torch.allclose(packed[:, 0], packed[:, 1])  # two noise draws, not one twice
    assert all(p.grad is not None for p in generator.parameters() if p.requires_grad)


def test_diffaugment_gives_every_packed_image_the_pair_draw():
    first = torch.rand(5, 1, 8, 8)
    second = torch.cat([first, first], 1)  # two copies of the first image
    rng = torch.Generator().manual_seed(0)
    out_first, out_second = augment_pair(first, second, ("translation", "cutout"), rng=rng)
    assert out_second.shape == second.shape
    assert torch.equal(out_second[:, :1], out_first) and torch.equal(out_second[:, 1:], out_first)


def test_pack_below_one_is_refused():
    with pytest.raises(ConfigError, match="critic_pack"):
        load_config("cpu-tiny", {"critic_pack": 0})


def test_training_with_a_packed_critic_runs_and_resumes(tmp_path):
    from gaunet.training import train

    run = tiny_train(tmp_path / "run", steps=4, seed=1, critic_pack=2)
    run = train(None, run, steps=6, resume=True, progress=False)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6
    assert "critic_pack: 2" in (run / "config.yaml").read_text()  # the resumed run kept it
    assert all(torch.isfinite(torch.tensor(r["loss_d"])) for r in records)
