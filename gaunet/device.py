"""Which torch device to run on: one rule for training and generation."""

from __future__ import annotations

import torch

from gaunet.errors import GaunetError


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU; naming CUDA without it is an error, not a
    silent fallback to a much slower run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GaunetError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)
