"""torchrun setups that used to fail late or with a traceback, and the buffers the processes
average: only running statistics, so a constant buffer (PixelNoise's projection) stays itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from dist_helpers import free_port, spawn_watched
from torch import nn

from gaunet.errors import GaunetError
from gaunet.training.distributed import Distributed, setup

WORLD = 3  # a mean of 3 equal floats is not always that float: (x + x + x) / 3 != x


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"WORLD_SIZE": "2"}, "RANK is not set"),
        ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}, "MASTER_ADDR is not set"),
        ({"WORLD_SIZE": "2", "RANK": "5"}, "RANK=5"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"),
    ],
)
def test_an_incomplete_torchrun_environment_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(GaunetError, match=needle):
        setup("cpu")
    assert not torch.distributed.is_initialized()


def test_a_named_gpu_shared_by_the_processes_of_a_machine_is_refused():
    two_here = {"world_size": 2, "local_world_size": 2}
    rank1 = Distributed(rank=1, local_rank=1, **two_here)
    assert rank1.device(torch.device("cuda")) == torch.device("cuda", 1)
    assert rank1.device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert rank1.device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(GaunetError, match="cuda:LOCAL_RANK"):
        rank1.device(torch.device("cuda", 0))
    # one process per machine (several machines): its named GPU is its own
    alone = Distributed(rank=1, world_size=2, local_rank=0, local_world_size=1)
    assert alone.device(torch.device("cuda", 3)) == torch.device("cuda", 3)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(64)
        projection = torch.randn(64, 64, generator=torch.Generator().manual_seed(3)) / 8
        self.register_buffer("projection", projection)  # persistent, never trained


def _average_worker(rank: int, out: str, port: int) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )  # fmt: skip
    dist = setup("cpu")
    try:
        net = _Net()
        net.norm.running_mean.fill_(float(rank))  # 0, 1, 2: their mean is exactly 1
        net.norm.num_batches_tracked.fill_(7)
        for _ in range(5):  # five iterations' syncs
            dist.average_buffers(net)
        torch.save(net.state_dict(), Path(out) / f"rank{rank}.pt")
    finally:
        dist.teardown()


def test_averaging_buffers_keeps_the_constant_ones_bit_for_bit(tmp_path: Path):
    spawn_watched(_average_worker, (str(tmp_path), free_port()), WORLD, 120)
    fresh = _Net().state_dict()
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    for state in states:
        assert torch.equal(state["projection"], fresh["projection"]), "a constant drifted"
        assert torch.equal(state["norm.running_mean"], torch.ones(64))  # still averaged
        assert torch.equal(state["norm.running_var"], torch.ones(64))
        assert int(state["norm.num_batches_tracked"]) == 7


def test_a_rank_left_waiting_by_a_stopped_one_says_so_in_one_line(monkeypatch):
    """Rank 0 refusing a run (no such --data) left rank 1 a gloo traceback from the barrier."""
    import torch.distributed as dist

    def closed() -> None:
        raise RuntimeError("[pair.cc:553] Connection closed by peer [127.0.0.1]:43685.")

    monkeypatch.setattr(dist, "barrier", closed)
    with pytest.raises(GaunetError, match="rank 1: another process of the job stopped"):
        Distributed(rank=1, world_size=2, local_rank=1).barrier()
