"""The training rows on the device and the pair sampler: an iteration's batches are drawn on the
host as indices, sent in one copy, and gathered on the device."""

from __future__ import annotations

import numpy as np
import torch

from gaunet.data import ImageSet
from gaunet.data.imageset import to_unit_tensor
from gaunet.data.pairs import PairSampler
from gaunet.training.loss import Batch


class DeviceBatches:
    """`batches` same-class pair batches of `size` per iteration (n_critic + 1 in training)."""

    def __init__(
        self,
        data: ImageSet,
        sampler: PairSampler,
        device: torch.device,
        size: int,
        batches: int,
        channels_last: bool,
    ) -> None:
        self.sampler, self.device = sampler, device
        self.size, self.batches, self.channels_last = size, batches, channels_last
        self.images = torch.from_numpy(data.images).to(device)
        self.labels = torch.from_numpy(data.labels).to(device)

    @property
    def index_shape(self) -> tuple[int, ...]:
        """The shape of an iteration's indices (draw_index): (2, pairs)."""
        return (2, self.size * self.batches)

    def draw_index(self) -> torch.Tensor:
        """The next iteration's (2, pairs) pair indices, on the host: the pair sampler's one
        call per iteration (a CUDA-graph replay makes the same call, graphs.py)."""
        first, second, _ = self.sampler.sample(self.size * self.batches)
        return torch.from_numpy(np.stack([first, second]))

    def draw(self) -> list[Batch]:
        """The iteration's batches, drawn and sent to the device at once: the pair sampler runs
        on the host, and a blocking copy per batch would stall a GPU."""
        return self.from_index(to_device(self.draw_index(), self.device))

    def from_index(self, index: torch.Tensor) -> list[Batch]:
        """The iteration's batches from (2, pairs) device indices: gathered and converted on the
        device with no host work (a CUDA-graph capture replays exactly this)."""
        count, size = self.batches, self.size
        images = to_unit_tensor(self.images[index])
        if self.channels_last:
            images = images.flatten(0, 1).contiguous(memory_format=torch.channels_last)
            images = images.view(2, size * count, *images.shape[1:])
        labels = self.labels[index[0]]
        parts = [slice(k * size, (k + 1) * size) for k in range(count)]
        return [Batch(images[0, s], images[1, s], labels[s]) for s in parts]


def to_device(index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host indices on `device`, through pinned memory and without blocking on CUDA."""
    if device.type == "cuda":
        return index.pin_memory().to(device, non_blocking=True)
    return index.to(device)
