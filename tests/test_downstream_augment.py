"""The classic arm's augmentation: in range, random but seeded, geometry without black borders."""

from __future__ import annotations

import torch

from gaunet.downstream.augment import classic_augment


def _batch() -> torch.Tensor:
    return torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_output_shape_range_and_change() -> None:
    images = _batch()
    out = classic_augment(images, torch.Generator().manual_seed(1))
    assert out.shape == images.shape
    assert out.min() >= -1 and out.max() <= 1
    assert not torch.allclose(out, images, atol=1e-3)


def test_same_seed_same_augmentation() -> None:
    images = _batch()
    first = classic_augment(images, torch.Generator().manual_seed(7))
    second = classic_augment(images, torch.Generator().manual_seed(7))
    other = classic_augment(images, torch.Generator().manual_seed(8))
    assert torch.equal(first, second) and not torch.equal(first, other)


def test_flat_image_stays_flat() -> None:
    # rotations and crops use border padding: no dark corners appear on a uniform image
    images = torch.full((4, 3, 16, 16), 0.3)
    out = classic_augment(images, torch.Generator().manual_seed(2))
    assert out.flatten(1).std(dim=1).max() < 1e-5
    assert torch.all((out[:, 0, 0, 0] - 0.3).abs() <= 0.2 + 1e-6)
