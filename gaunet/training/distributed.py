"""Multi-process training under torchrun: one process per device, each drawing its own pairs,
gradients averaged across processes after every backward pass (data parallelism).

`torchrun --nproc_per_node N -m gaunet train ...` sets RANK, WORLD_SIZE, LOCAL_RANK (and the
rendezvous address); `setup()` joins the process group from them: gloo on CPU, NCCL on CUDA.

Why not `DistributedDataParallel`: DDP averages gradients from hooks on the parameters'
gradient accumulators and expects exactly one backward per forward; the WGAN-GP critic step
runs three critic forwards and a double backward (`autograd.grad(create_graph=True)`), which
DDP does not support. So, as StyleGAN2-ADA does, the gradients are averaged explicitly after
`loss.backward()` (one flattened all-reduce per network), the generator's batch-norm running
statistics are averaged after each iteration, and the weights start identical (broadcast from
rank 0). Every process then holds the same weights after every step, and the modules are never
wrapped, so checkpoints carry no "module." prefix and load into a single process and back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from gaunet.models.layers import persistent_buffers


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job; the single-process default makes every method a no-op."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # setup() created the process group, so teardown() ends it

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, samples, metrics and run.json."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda becomes cuda:LOCAL_RANK."""
        if self.enabled and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def average_gradients(self, module: nn.Module) -> None:
        """Mean of every parameter's gradient over the processes, in one all-reduce."""
        if not self.enabled:
            return
        params = [p for p in module.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:  # a parameter unused on this rank still joins the reduction
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in params]
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
            grad.copy_(synced)

    def average_buffers(self, module: nn.Module) -> None:
        """Mean of the floating-point state buffers (batch-norm running statistics; the
        constants of batch renorm's schedule are the same everywhere and stay as they are)."""
        if not self.enabled:
            return
        buffers = [b for b in persistent_buffers(module) if b.is_floating_point()]
        if not buffers:
            return
        flat = _flatten_dense_tensors(buffers)
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        for buffer, synced in zip(buffers, _unflatten_dense_tensors(flat, buffers)):
            buffer.copy_(synced)

    def broadcast_state(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers to every process (start and resume)."""
        if not self.enabled:
            return
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise mean over the processes (log-interval statistics)."""
        if not self.enabled:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size

    def main_says(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's decision for everyone (a wall-clock budget must stop all ranks together)."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([int(flag)], device=device)
        dist.broadcast(tensor, src=0)
        return bool(tensor.item())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def teardown(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: str = "auto") -> Distributed:
    """Join the torchrun job described by the environment; a single process without one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    owns = False
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return Distributed(rank, world_size, local_rank, owns)
