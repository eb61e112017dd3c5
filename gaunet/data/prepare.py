"""Paper preprocessing: OpenCV resize to S x S, C channels, uint8; [-1, 1] comes later.

INTER_AREA when shrinking (no aliasing), INTER_CUBIC when enlarging (28 px MedMNIST -> 256).
Grey is replicated to 3 channels; colour to 1 channel uses ITU-R 601 luma, as OpenCV does.
"""

from __future__ import annotations

import cv2
import numpy as np

DEPTHS = (8, 10, 12, 14, 16)  # bit depths a 16-bit container commonly holds


def bit_depth(image: np.ndarray) -> int:
    """The smallest of 8, 10, 12, 14, 16 bits that holds the image's largest value: 12-bit
    detectors stored in 16-bit PNG/TIFF use 0..4095, not 0..65535."""
    top = int(image.max()) if image.size else 0
    return next((bits for bits in DEPTHS if top < 2**bits), 16)


def window_to_uint8(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of [low, high] to [0, 255], clipped."""
    span = max(high - low, 1e-12)
    values = (image.astype(np.float32) - np.float32(low)) * np.float32(255.0 / span)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def sixteen_bit_to_uint8(
    image: np.ndarray, window: tuple[float, float] | None = None
) -> tuple[np.ndarray, str]:
    """16-bit values -> uint8 and a note for the user ("" when none).

    With a window (center, width) that window is shown, as for DICOM. Otherwise values are
    scaled by the depth they really use (`bit_depth`), the same for every image of that depth, so
    relative brightness between images is kept and 12-bit data is not 16x too dark.
    """
    if window is not None:
        center, width = window
        return window_to_uint8(image, center - width / 2, center + width / 2), ""
    bits = bit_depth(image)
    note = ""
    if bits <= 12:  # under 1/16 of the 0..65535 range
        note = f"16-bit image uses only 0..{2**bits - 1} of 0..65535: scaled as {bits}-bit"
    return window_to_uint8(image, 0, 2**bits - 1), note


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Any integer or float array -> uint8: 16-bit by the depth its values use
    (`sixteen_bit_to_uint8`), float in [0, 1] by 255, other ranges min..max."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return sixteen_bit_to_uint8(image)[0]
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    values = image.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise ValueError("image has no finite pixel values")
    lo, hi = float(values[finite].min()), float(values[finite].max())
    values = np.where(finite, values, lo)
    if np.issubdtype(image.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        scaled = values * 255.0
    elif hi > lo:
        scaled = (values - lo) / (hi - lo) * 255.0
    else:
        scaled = np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def resize_to(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """(H, W) or (H, W, C) image of any dtype -> uint8 (channels, size, size)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 4:  # alpha dropped before scaling: an opaque
        image = image[:, :, :3]  # 16-bit alpha would make 12-bit colour scale as 16-bit
    image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ValueError(f"cannot use an image of shape {image.shape}")
    if image.ndim == 3 and image.shape[2] not in (3, channels):  # not OpenCV's cvtColor error
        raise ValueError(f"cannot make {channels} channels from {image.shape[2]}")
    h, w = image.shape[:2]
    if (h, w) != (size, size):
        shrinking = h >= size and w >= size
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    if channels == 1 and image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if image.ndim == 2:
        image = image[:, :, None]
    if channels == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.shape[2] != channels:
        raise ValueError(f"cannot make {channels} channels from {image.shape[2]}")
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def resize_stack(
    images: np.ndarray, size: int, channels: int, out: np.ndarray | None = None
) -> np.ndarray:
    """A stack (N, H, W[, C]) -> uint8 (N, channels, size, size), written into `out` if given."""
    if out is None:
        out = np.empty((len(images), channels, size, size), dtype=np.uint8)
    if images.ndim == 3 and images.dtype == np.uint8:  # grey stack: resize once, copy channels
        for i, image in enumerate(images):
            out[i, 0] = resize_to(image, size, 1)[0]
        out[:, 1:] = out[:, :1]
        return out
    for i, image in enumerate(images):
        out[i] = resize_to(image, size, channels)
    return out
