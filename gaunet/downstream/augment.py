"""The `classic` arm: the traditional augmentation the paper argues against, in plain torch.

Per image, on the fly each batch: horizontal flip (p=0.5), rotation up to +-15 degrees, a
random crop of 85-100 % of the side resized back (zoom and shift), and brightness/contrast
jitter of +-10 %. Geometry is one affine warp (`affine_grid` + `grid_sample`, border padding)
so no torchvision is needed. Images are in [-1, 1] and stay there.

The random parameters are always drawn on the CPU from the caller's CPU generator and then
moved to the images' device: the same seed gives the same transforms on every device, so the
arms of a paired comparison stay paired on a GPU too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_ROTATION_DEGREES = 15.0
MIN_CROP_SCALE = 0.85
JITTER = 0.1


def classic_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A randomly flipped, rotated, cropped and intensity-jittered copy of a (N, C, H, W) batch,
    on the batch's device; `generator` is a CPU generator (the parameters are drawn there)."""
    n = images.shape[0]
    device, dtype = images.device, images.dtype
    if n == 0:  # nothing to draw (the split below would fail on an empty batch)
        return images.clone()

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle = uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES) * math.pi / 180
    scale = uniform(MIN_CROP_SCALE, 1.0)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    # the crop may sit anywhere inside the image: centre offset up to (1 - scale)
    shift_x = uniform(-1.0, 1.0) * (1 - scale)
    shift_y = uniform(-1.0, 1.0) * (1 - scale)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift_x], 1),
            torch.stack([sin * flip, cos, shift_y], 1),
        ],
        1,
    )
    contrast = uniform(1 - JITTER, 1 + JITTER)
    brightness = uniform(-JITTER, JITTER) * 2  # [-1, 1]: 2 units
    # every parameter in one copy to the device (three were a host sync each, every batch)
    packed = torch.cat([theta.flatten(), contrast, brightness]).to(device)
    theta = packed[: 6 * n].view(n, 2, 3).to(dtype)
    # in the images' dtype: float32 factors would turn a half or bfloat16 batch into float32
    contrast, brightness = (part.view(n, 1, 1, 1).to(dtype) for part in packed[6 * n :].split(n))
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    mean = warped.mean(dim=(1, 2, 3), keepdim=True)
    return ((warped - mean) * contrast + mean + brightness).clamp(-1.0, 1.0)
