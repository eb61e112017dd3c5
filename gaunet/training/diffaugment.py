"""Differentiable augmentation of everything the pair critic sees (DiffAugment, Zhao et al. 2020).

At a few hundred training images a critic memorises the real pairs and its gradients stop
telling the generator anything useful. DiffAugment applies random, differentiable transforms
to real and fake inputs alike, in the critic step, the generator step and the gradient penalty,
so the critic never sees an unaugmented image and the generator gets gradients through the
transform. For the pair critic both images of a pair get the SAME transform (one draw per
pair): the pair's relation (same class, same framing) is what the critic judges, and a real
pair and a fake pair are augmented by the same distribution.

Policies (comma list): `translation` (integer shift up to 1/8 of the side, zero fill),
`cutout` (one square of half the side set to 0 in both images), `color` (brightness +-0.5 and
contrast x[0.5, 1.5], DiffAugment's ranges for [-1, 1] images; no saturation: most medical
images are grey). Every transform is built from indexing, masks and arithmetic, so the
penalty's double backward goes through it.
"""

from __future__ import annotations

import torch

POLICIES = ("translation", "cutout", "color")


def parse_policy(text: str) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); '' or 'none' -> ()."""
    names = tuple(p.strip() for p in text.split(",") if p.strip() and p.strip() != "none")
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown} (known: {', '.join(POLICIES)})")
    return names


def _uniform(n: int, low: float, high: float, like: torch.Tensor, rng) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=like.device, generator=rng)


def translate(pair: torch.Tensor, fraction: float = 0.125, rng=None) -> torch.Tensor:
    """pair: (2, N, C, H, W). Shift each pair by the same integer offset, zero fill."""
    _, n, _, h, w = pair.shape
    # drawn on the pair's device: a draw on the host and a copy synced a GPU at every score
    low, high = -int(h * fraction), int(h * fraction) + 1
    dy = torch.randint(low, high, (n,), device=pair.device, generator=rng)
    low, high = -int(w * fraction), int(w * fraction) + 1
    dx = torch.randint(low, high, (n,), device=pair.device, generator=rng)
    rows = torch.arange(h, device=pair.device)[None, :] - dy[:, None]  # (N, H) source row
    cols = torch.arange(w, device=pair.device)[None, :] - dx[:, None]
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    batch = torch.arange(n, device=pair.device)[:, None, None]
    # (2, N, H, W, C) by advanced indexing: differentiable to any order
    moved = pair.permute(0, 1, 3, 4, 2)[:, batch, rows[:, :, None], cols[:, None, :]]
    moved = moved.permute(0, 1, 4, 2, 3)
    return moved * inside[None, :, None].to(pair.dtype)


def cutout(pair: torch.Tensor, fraction: float = 0.5, rng=None) -> torch.Tensor:
    """Zero one square of side fraction*H at the same random place in both images of a pair."""
    _, n, _, h, w = pair.shape
    ch, cw = max(1, int(h * fraction + 0.5)), max(1, int(w * fraction + 0.5))
    top = torch.randint(0, h + 1 - ch % 2, (n,), device=pair.device, generator=rng) - ch // 2
    left = torch.randint(0, w + 1 - cw % 2, (n,), device=pair.device, generator=rng) - cw // 2
    rows = torch.arange(h, device=pair.device)[None, :]
    cols = torch.arange(w, device=pair.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + ch)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + cw)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])  # (N, H, W)
    return pair * keep[None, :, None].to(pair.dtype)


def color(pair: torch.Tensor, rng=None) -> torch.Tensor:
    """Brightness and contrast, the same factors for both images of a pair."""
    n = pair.shape[1]
    brightness = _uniform(n, -0.5, 0.5, pair, rng).view(1, n, 1, 1, 1).to(pair.dtype)
    contrast = _uniform(n, 0.5, 1.5, pair, rng).view(1, n, 1, 1, 1).to(pair.dtype)
    pair = pair + brightness
    mean = pair.mean(dim=(2, 3, 4), keepdim=True)
    return (pair - mean) * contrast + mean


def augment_pair(
    first: torch.Tensor,
    second: torch.Tensor,
    policy: tuple[str, ...],
    probability: float = 1.0,
    rng: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply `policy` to each pair (first[k], second[k]) with one draw per pair; a pair is left
    unchanged with probability 1 - `probability` (ADA-style strength). A packed `second` (several
    images stacked on the channels, config critic_pack) gets the same draw for all its images."""
    if not policy or probability <= 0:
        return first, second
    channels = first.shape[1]
    second = second.to(first.dtype)
    pair = torch.stack([first, *second.split(channels, 1)])
    augmented = pair
    for name in policy:
        if name == "translation":
            augmented = translate(augmented, rng=rng)
        elif name == "cutout":
            augmented = cutout(augmented, rng=rng)
        elif name == "color":
            augmented = color(augmented, rng=rng)
    if probability < 1:
        n = pair.shape[1]
        chosen = torch.rand(n, device=pair.device, generator=rng) < probability
        augmented = torch.where(chosen.view(1, n, 1, 1, 1), augmented, pair)
    return augmented[0], torch.cat(list(augmented[1:]), 1)
