"""Shape and argument bugs of the networks built from explicit arguments (the shapes hunt): a
U-Net fed images of another side than it was built for returned an empty or wrongly cropped
batch without a word, and bad constructor arguments (no convolution per block, no widths, a
critic stem that halves the image below one pixel, ...) built a network that failed at its
first forward with a torch shape error, or trained on silently (pixel_noise nan: off)."""

from __future__ import annotations

import pytest
import torch

from gaunet.models.baselines import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
)
from gaunet.models.batch_renorm import BatchRenorm2d
from gaunet.models.gaunet import DenseCritic, UNetGenerator

GENERATOR = {
    "channels": 1,
    "size": 16,
    "num_classes": 2,
    "widths": [4, 8],
    "convs": 1,
    "z_dim": 4,
    "noise_channels": 2,
    "class_embed_dim": 2,
    "decoder_noise_stages": 1,
    "dropout": 0.0,
    "norm": BatchRenorm2d,
}
CRITIC = {
    "channels": 1,
    "num_classes": 2,
    "growth": 3,
    "blocks": 2,
    "layers": 2,
    "stem": 4,
    "dropout": 0.0,
    "projection": True,
    "stem_down": 1,
    "size": 16,
}


def generate(generator: UNetGenerator, side: int) -> torch.Tensor:
    x = torch.rand(2, generator.stem.in_channels, side, side) * 2 - 1
    return generator(x, torch.randn(2, GENERATOR["z_dim"]), torch.tensor([0, 1]))


@pytest.mark.parametrize(
    "size, widths, side",
    [(28, [4, 4], 32), (28, [4, 4], 16), (28, [4, 4, 4], 30), (16, [4, 4, 4, 4], 32)],
)
def test_the_generator_refuses_images_of_another_side(size, widths, side):
    """Built for `size`, fed `side`: (N, C, 0, 0) or a 22 px crop of a 16 px input came back."""
    torch.manual_seed(0)
    generator = UNetGenerator(**{**GENERATOR, "size": size, "widths": widths})
    with pytest.raises(ValueError, match=f"{size}x{size}"):
        generate(generator, side)
    assert generate(generator, size).shape == (2, 1, size, size)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"convs": 0}, "convs"),
        ({"widths": []}, "widths"),
        ({"widths": [0, 4]}, "widths"),
        ({"widths": [4, -1]}, "widths"),
        ({"channels": 0}, "channels"),
        ({"size": 0}, "size"),
        ({"num_classes": 0}, "num_classes"),
        ({"z_dim": 0}, "z_dim"),
        ({"noise_channels": -1}, "noise_channels"),
        ({"class_embed_dim": -1}, "class_embed_dim"),
        ({"decoder_noise_stages": -1}, "decoder_noise_stages"),
        ({"skip_dropout": 1.0}, "skip_dropout"),
        ({"skip_dropout": -0.5}, "skip_dropout"),
        ({"pixel_noise": -1.0}, "pixel_noise"),
        ({"pixel_noise": float("nan")}, "pixel_noise"),
    ],
)
def test_bad_generator_arguments_are_refused_when_built(overrides, match):
    with pytest.raises(ValueError, match=match):
        UNetGenerator(**{**GENERATOR, **overrides})


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"channels": 0}, "channels"),
        ({"num_classes": 0}, "num_classes"),
        ({"growth": 0}, "growth"),
        ({"stem": 0}, "stem"),
        ({"stem": 1, "layers": 0}, "to none"),  # a transition to 0 channels
        ({"blocks": -1}, "blocks"),
        ({"layers": -1}, "layers"),
        ({"stem_down": -1}, "stem_down"),
        ({"stem_down": 5}, "stem_down"),
        ({"size": 3, "stem_down": 2}, "stem_down"),
        ({"pack": 0}, "pack"),
    ],
)
def test_bad_critic_arguments_are_refused_when_built(overrides, match):
    with pytest.raises(ValueError, match=match):
        DenseCritic(**{**CRITIC, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"stem_down": 4},  # 16 px halved to 1 px: still a working critic
        {"num_classes": 0, "projection": False},  # no class embedding to index
        {"blocks": 0},
        {"layers": 0},
        {"size": None, "stem_down": 3},
    ],
)
def test_edge_critic_arguments_still_build_and_score(overrides):
    critic = DenseCritic(**{**CRITIC, **overrides})
    x = torch.rand(2, 1, 16, 16)
    assert critic(x, x.flip(0), torch.tensor([0, 0])).shape == (2,)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"size": 28, "pixel_noise": 0.1, "skip_dropout": 0.2},
        {"noise_channels": 0, "pixel_noise": 0.1, "class_embed_dim": 0},
        {"num_classes": 1, "z_dim": 1, "widths": [3, 5], "decoder_noise_stages": 9},
    ],
)
def test_edge_generator_arguments_still_build_and_generate(overrides):
    generator = UNetGenerator(**{**GENERATOR, **overrides})
    size = generator.size
    x = torch.rand(2, 1, size, size) * 2 - 1
    labels = torch.zeros(2, dtype=torch.long)
    out = generator(x, torch.randn(2, generator.latent_noise.linear.in_features), labels)
    assert out.shape == x.shape


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: DCGANGenerator(0, 16, 4, 4, 16), "channels"),
        (lambda: DCGANGenerator(1, 16, 0, 4, 16), "z_dim"),
        (lambda: DCGANGenerator(1, 16, 4, 0, 16), "width"),
        (lambda: DCGANGenerator(1, 16, 4, 4, 0), "width_max"),
        (lambda: DCGANDiscriminator(0, 16, 4, 16), "in_channels"),
        (lambda: DCGANDiscriminator(1, 16, 0, 16), "width"),
        (lambda: ConditionalGenerator(1, 16, 0, 4, 4, 16, 2), "num_classes"),
        (lambda: ConditionalDiscriminator(1, 16, 0, 4, 16, 2), "num_classes"),
    ],
)
def test_bad_baseline_arguments_are_refused_when_built(build, match):
    """Each built, then failed at its first forward (an index error, a oneDNN descriptor
    error), or with z_dim 0 drew the same image for every z."""
    with pytest.raises(ValueError, match=match):
        build()


def test_the_dcgan_discriminator_refuses_images_of_another_side():
    """A 32 px image into a 16 px discriminator: `mat1 and mat2 shapes cannot be multiplied`."""
    torch.manual_seed(0)
    discriminator = DCGANDiscriminator(1, 16, 4, 16)
    with pytest.raises(ValueError, match="16x16"):
        discriminator(torch.rand(2, 1, 32, 32))
    assert discriminator(torch.rand(2, 1, 16, 16)).shape == (2,)
