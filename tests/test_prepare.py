"""Preprocessing: dtype scaling, OpenCV resize to S x S, channel handling."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data.imageset import from_unit_range, to_unit_range
from gaunet.data.prepare import resize_stack, resize_to, to_uint8


def test_sixteen_bit_scales_by_type_range():
    image = np.asarray([[0, 257 * 128, 65535]], dtype=np.uint16)
    assert list(to_uint8(image)[0]) == [0, 128, 255]


def test_float_in_unit_interval_and_wider_range():
    assert list(to_uint8(np.asarray([0.0, 0.5, 1.0]))) == [0, 128, 255]
    assert list(to_uint8(np.asarray([-10.0, 0.0, 10.0]))) == [0, 128, 255]
    assert list(to_uint8(np.asarray([np.nan, 0.0, 1.0]))) == [0, 0, 255]


def test_all_nan_is_rejected():
    with pytest.raises(ValueError, match="no finite"):
        to_uint8(np.full((4, 4), np.nan, dtype=np.float32))


@pytest.mark.parametrize(
    ("shape", "channels", "expected"),
    [
        ((40, 30), 3, (3, 16, 16)),
        ((10, 12), 1, (1, 16, 16)),
        ((20, 20, 3), 1, (1, 16, 16)),
        ((20, 20, 4), 3, (3, 16, 16)),
        ((20, 20, 1), 3, (3, 16, 16)),
    ],
)
def test_resize_shapes(shape, channels, expected):
    rng = np.random.default_rng(0)
    out = resize_to(rng.integers(0, 256, shape, dtype=np.uint8), 16, channels)
    assert out.shape == expected and out.dtype == np.uint8


def test_constant_image_stays_constant_when_enlarged_or_shrunk():
    for side in (7, 300):
        out = resize_to(np.full((side, side), 77, dtype=np.uint8), 32, 1)
        assert np.all(out == 77)


def test_colour_to_grey_uses_luma():
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert resize_to(red, 8, 1)[0, 0, 0] == 76  # 0.299 * 255


def test_stack_fast_path_matches_per_image():
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    fast = resize_stack(stack, 64, 3)
    slow = np.stack([resize_to(image, 64, 3) for image in stack])
    assert np.array_equal(fast, slow)


def test_unit_range_round_trip():
    values = np.arange(256, dtype=np.uint8)
    unit = to_unit_range(values)
    assert unit.min() == -1.0 and unit.max() == 1.0
    assert np.array_equal(from_unit_range(unit), values)


@pytest.mark.parametrize("alpha", [65535, 0])
def test_alpha_does_not_set_the_scale_of_a_16_bit_colour_image(alpha):
    """12-bit colour (0..4000) with a 16-bit alpha: scaled as 12-bit (4000 -> 249), as the
    same image without alpha, not as 16-bit (4000 -> 16)."""
    colour = np.full((8, 8, 3), 4000, dtype=np.uint16)
    rgba = np.concatenate([colour, np.full((8, 8, 1), alpha, dtype=np.uint16)], axis=2)
    assert np.array_equal(resize_to(rgba, 8, 3), resize_to(colour, 8, 3))
    assert resize_to(rgba, 8, 3).max() == 249
