"""Which torch device to run on: one rule for training and generation."""

from __future__ import annotations

import re

import torch

from gaunet.errors import GaunetError

DEVICE_NAME = re.compile(r"cpu|cuda(?::(\d+))?")


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU; naming CUDA without it is an error, not a
    silent fallback to a much slower run. Only auto, cpu, cuda and cuda:N are devices gaunet
    runs on (`gpu` or `mps` was a torch traceback, `meta` failed later). A `cuda:N` beyond the
    GPUs there are is an error here too: it was accepted and failed at the first tensor moved
    there ("CUDA error: invalid device ordinal"), and `cuda:01` was torch's own traceback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = DEVICE_NAME.fullmatch(str(name))
    if not match:
        raise GaunetError(f"device {name!r}: use auto, cpu, cuda or cuda:N")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise GaunetError(f"device {name!r} requested but CUDA is not available")
    if match.group(1) is None:
        return torch.device("cuda")
    index, count = int(match.group(1)), torch.cuda.device_count()
    if index >= count:
        valid = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise GaunetError(
            f"device {name!r} requested but this machine has {count} CUDA device(s): use "
            f"{valid} (CUDA_VISIBLE_DEVICES renumbers the visible ones from 0)"
        )
    return torch.device("cuda", index)
