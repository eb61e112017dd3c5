"""Which torch device to run on: one rule for training and generation."""

from __future__ import annotations

import re

import torch

from gaunet.errors import GaunetError

DEVICE_NAME = re.compile(r"cpu|cuda(:\d+)?")


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU; naming CUDA without it is an error, not a
    silent fallback to a much slower run. Only auto, cpu, cuda and cuda:N are devices gaunet
    runs on (`gpu` or `mps` was a torch traceback, `meta` failed later)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not DEVICE_NAME.fullmatch(str(name)):
        raise GaunetError(f"device {name!r}: use auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GaunetError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)
