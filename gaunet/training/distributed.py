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

from gaunet.errors import GaunetError


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job; the single-process default makes every method a no-op."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # setup() created the process group, so teardown() ends it
    local_world_size: int = 1  # processes on this machine (torchrun's LOCAL_WORLD_SIZE)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, samples, metrics and run.json."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda becomes cuda:LOCAL_RANK. A named cuda:N would put every
        process of this machine on one GPU (NCCL refuses that, long after the start): refused."""
        if not self.enabled or device.type != "cuda":
            return device
        if device.index is None:
            return torch.device("cuda", self.local_rank)
        if self.local_world_size > 1 and device.index != self.local_rank:
            raise GaunetError(
                f"device {device}: under torchrun with {self.local_world_size} processes on this "
                f"machine each process takes its own GPU (cuda:LOCAL_RANK); use device=cuda or "
                "auto"
            )
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
        """Mean of the batch-norm running statistics (running_mean, running_var). Only those:
        other buffers (batch renorm's schedule, PixelNoise's fixed projection) are the same
        everywhere and stay as they are; a mean of N equal floats is not always that float
        (N = 3: (x + x + x) / 3), so averaging them made constants drift step after step."""
        if not self.enabled:
            return
        buffers = running_statistics(module)
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

    def any_says(self, flag: bool, device: torch.device) -> bool:
        """True on every process when `flag` is True on any (a stop one rank noted)."""
        if not self.enabled:
            return flag
        tensor = torch.tensor([int(flag)], device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def barrier(self) -> None:
        """Wait for every process. One that stopped (rank 0 refusing a run, with its message)
        closes the connection: one line here, not a gloo or NCCL traceback per rank."""
        if not self.enabled:
            return
        try:
            dist.barrier()
        except RuntimeError:  # gloo's "Connection closed by peer", NCCL's DistBackendError
            raise GaunetError(
                f"rank {self.rank}: another process of the job stopped; its message says why"
            ) from None

    def teardown(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


RUNNING_STATISTICS = ("running_mean", "running_var")


def running_statistics(module: nn.Module) -> list[torch.Tensor]:
    """The floating-point running statistics of the module's normalisation layers, in the
    order of `module.modules()` (the same on every process)."""
    return [
        buffer
        for sub in module.modules()
        for name, buffer in sub._buffers.items()
        if name in RUNNING_STATISTICS
        and buffer is not None
        and buffer.is_floating_point()
        and name not in sub._non_persistent_buffers_set
    ]


def _environment_int(name: str, default: str | None = None) -> int:
    """An integer of torchrun's environment; a missing or garbled one is a clear error."""
    value = os.environ.get(name, default)
    if value is None:
        raise GaunetError(
            f"WORLD_SIZE is {os.environ['WORLD_SIZE']} but {name} is not set: start several "
            "processes with torchrun (it sets RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or "
            "unset WORLD_SIZE for one process"
        )
    try:
        return int(value)
    except ValueError:
        raise GaunetError(f"{name}={value!r} in the environment is not an integer") from None


def setup(device: str = "auto") -> Distributed:
    """Join the torchrun job described by the environment; a single process without one."""
    world_size = _environment_int("WORLD_SIZE", "1")
    if world_size <= 1:
        return Distributed()
    rank = _environment_int("RANK")
    if not 0 <= rank < world_size:
        raise GaunetError(f"RANK={rank} in the environment: it must be 0 to WORLD_SIZE-1")
    local_rank = _environment_int("LOCAL_RANK", str(rank))
    local_world_size = _environment_int("LOCAL_WORLD_SIZE", "1")
    owns = False
    if not dist.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):  # env:// rendezvous, as torchrun sets it
            if name not in os.environ:
                raise GaunetError(
                    f"WORLD_SIZE is {world_size} but {name} is not set: start several processes "
                    "with torchrun, or unset WORLD_SIZE for one process"
                )
        use_cuda = device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return Distributed(rank, world_size, local_rank, owns, local_world_size)
