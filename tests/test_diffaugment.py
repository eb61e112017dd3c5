import pytest
import torch

from gaunet.config import ConfigError, load_config
from gaunet.training.diffaugment import augment_pair, color, cutout, parse_policy, translate
from gaunet.training.loss import Batch, build_family, gradient_penalty


def _images(n=4, c=1, side=16, seed=0):
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize(
    "policy", [("translation",), ("cutout",), ("color",), ("translation", "cutout", "color")]
)
def test_both_images_of_a_pair_get_the_same_transform(policy):
    x = _images()
    first, second = augment_pair(x, x.clone(), policy, rng=torch.Generator().manual_seed(1))
    assert torch.equal(first, second)
    assert not torch.equal(first, x)  # it did something


@pytest.mark.parametrize("policy", [("translation",), ("cutout",), ("color",)])
def test_real_and_fake_pairs_are_augmented_by_the_same_draws(policy):
    """The same random stream gives the same transform whatever the second image is, so a real
    pair (x_i, x_j) and a fake pair (x_i, G(x_i)) are augmented alike."""
    x_i, x_j, fake = _images(seed=0), _images(seed=1), _images(seed=2)
    real_first, _ = augment_pair(x_i, x_j, policy, rng=torch.Generator().manual_seed(3))
    fake_first, _ = augment_pair(x_i, fake, policy, rng=torch.Generator().manual_seed(3))
    assert torch.equal(real_first, fake_first)


def test_translation_shifts_content_with_zero_fill():
    x = torch.zeros(1, 1, 1, 8, 8)
    x[..., 3, 4] = 1.0
    moved = translate(x, fraction=0.25, rng=torch.Generator().manual_seed(0))
    assert moved.sum() == 1.0  # the pixel moved, nothing was duplicated
    ones = torch.ones(1, 1, 1, 8, 8)
    shifted = translate(ones, fraction=0.25, rng=torch.Generator().manual_seed(0))
    (row, col) = torch.nonzero(moved[0, 0, 0])[0].tolist()
    dy, dx = row - 3, col - 4
    assert (shifted == 0).sum() == 8 * 8 - (8 - abs(dy)) * (8 - abs(dx))


def test_cutout_zeroes_one_square_of_half_the_side():
    ones = torch.ones(2, 50, 1, 16, 16)
    out = cutout(ones, rng=torch.Generator().manual_seed(0))
    zeros = (out[0] == 0).flatten(1).sum(1)
    assert zeros.max() == 64 and zeros.min() > 0  # 8x8 when inside; clipped at borders
    assert torch.equal(out[0], out[1])


def test_color_keeps_the_pair_relation():
    pair = torch.stack([_images(), _images()])
    out = color(pair, rng=torch.Generator().manual_seed(0))
    assert torch.allclose(out[0], out[1])


def test_probability_zero_is_identity_and_one_changes_every_pair():
    x, y = _images(), _images(seed=1)
    a, b = augment_pair(x, y, ("color",), probability=0.0)
    assert a is x and b is y
    a, _ = augment_pair(x, y, ("color",), probability=1.0, rng=torch.Generator().manual_seed(0))
    assert all(not torch.equal(a[k], x[k]) for k in range(len(x)))


def test_gradients_flow_through_the_transform_including_double_backward():
    x, y = _images(n=3).double(), _images(n=3, seed=1).double()
    weight = torch.ones(1, dtype=torch.double, requires_grad=True)

    def critic(first, second, labels):
        a, b = augment_pair(first, second, parse_policy("translation,cutout,color"))
        return weight * ((a * b).flatten(1).sum(1) + (b**2).flatten(1).sum(1))

    torch.manual_seed(0)
    penalty = gradient_penalty(critic, x, y, y * 0.5, torch.zeros(3, dtype=torch.long))
    penalty.backward()  # double backward through indexing, masks and arithmetic
    assert torch.isfinite(weight.grad).all() and weight.grad.abs().sum() > 0


def test_policy_names_are_checked():
    assert parse_policy("") == () and parse_policy("none") == ()
    assert parse_policy("translation, color") == ("translation", "color")
    with pytest.raises(ValueError, match="zoom"):
        parse_policy("zoom")
    with pytest.raises(ConfigError, match="zoom"):
        load_config("cpu-tiny", {"diffaugment": "zoom", "size": 16})


def test_gaunet_critic_sees_augmented_pairs_only_when_asked():
    seen = []
    for policy in ("", "translation,cutout"):
        cfg = load_config(
            "cpu-tiny",
            {"size": 16, "g_depth": 2, "d_blocks": 2, "diffaugment": policy, "precision": "fp32"},
        )
        family = build_family(cfg, 2)
        generator, critic = family.build()
        inputs = []
        critic.register_forward_pre_hook(lambda m, a, inputs=inputs: inputs.append(a[0].detach()))
        x = _images(n=4, side=16)
        batch = Batch(x, _images(n=4, side=16, seed=1), torch.tensor([0, 1, 0, 1]))
        family.critic_loss(generator, critic, batch, with_penalty=True)
        family.generator_loss(generator, critic, batch)
        seen.append([torch.equal(first[:, : x.shape[1]], x) for first in inputs if len(first) == 4])
    assert all(seen[0]) and len(seen[0]) >= 2  # off: the raw x_i reaches the critic
    assert not any(seen[1])  # on: the penalty and generator step see augmented pairs too


def test_skip_dropout_only_in_training():
    cfg = load_config("cpu-tiny", {"size": 16, "g_depth": 2, "skip_dropout": 0.5})
    generator, _ = build_family(cfg, 2).build()
    x, z = _images(n=2, side=16), torch.randn(2, cfg.z_dim)
    labels = torch.tensor([0, 1])
    generator.eval()
    assert torch.equal(generator(x, z, labels), generator(x, z, labels))
    generator.train()
    torch.manual_seed(0)
    a = generator(x, z, labels)
    torch.manual_seed(1)
    b = generator(x, z, labels)
    assert not torch.equal(a, b)
