"""classic_augment keeps the batch's dtype and accepts an empty batch."""

from __future__ import annotations

import pytest
import torch

from gaunet.downstream.augment import classic_augment


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_the_batch_keeps_its_dtype_and_range(dtype: torch.dtype) -> None:
    """The jitter factors were float32, so a half or bfloat16 batch came back float32."""
    images = (torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1).to(dtype)
    out = classic_augment(images, torch.Generator().manual_seed(0))
    assert out.dtype == dtype and out.shape == images.shape
    assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0


def test_float32_is_unchanged_by_the_dtype_cast() -> None:
    images = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    out = classic_augment(images, torch.Generator().manual_seed(0))
    wide = classic_augment(images.double(), torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and torch.allclose(out.double(), wide, atol=1e-5)


def test_an_empty_batch_is_returned_empty_and_draws_nothing() -> None:
    """n = 0 failed in `split(0)`: not enough values to unpack."""
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    out = classic_augment(torch.zeros(0, 1, 8, 8), generator)
    assert out.shape == (0, 1, 8, 8) and torch.equal(generator.get_state(), before)
