"""Multi-process training on CPU (gloo): two processes end with identical weights, rank 0 alone
writes the run folder, and the checkpoint moves between a two-process and a single-process run."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from train_helpers import PHANTOM, TINY

from gaunet.training import train
from gaunet.training.distributed import Distributed, setup

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, out: str, port: int, steps: int, resume: bool) -> None:
    """One torchrun-like process: train, then dump this rank's weights for the comparison."""
    from gaunet.training import loop

    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        GAUNET_NO_PROGRESS="1",
    )
    original_run = loop.Trainer.run

    def run_and_dump(self: loop.Trainer) -> None:
        original_run(self)
        weights = {"generator": self.generator.state_dict(), "critic": self.critic.state_dict()}
        torch.save(weights, Path(out) / f"weights-rank{rank}.pt")

    loop.Trainer.run = run_and_dump
    # checkpoints by the clock alone (at log steps 5 and 10): rank 0's decision, one collective
    overrides = {**TINY, "device": "cpu", "checkpoint_every": 0, "checkpoint_minutes": 1e-9}
    data = None if resume else PHANTOM
    train(data, out, config="cpu-tiny", overrides=overrides, steps=steps, resume=resume)


def _train_two_processes(out: Path, steps: int, resume: bool) -> list[dict]:
    mp.spawn(_worker, args=(str(out), _free_port(), steps, resume), nprocs=WORLD, join=True)
    return [torch.load(out / f"weights-rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _assert_same(a: dict, b: dict) -> None:
    for net in ("generator", "critic"):
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), f"{net}.{key} differs between ranks"


def test_two_processes_match_and_resume_across_process_counts(tmp_path: Path):
    out = tmp_path / "run"
    rank0, rank1 = _train_two_processes(out, steps=10, resume=False)
    _assert_same(rank0, rank1)
    run = json.loads((out / "run.json").read_text())
    assert run["steps"] == 10 and run["processes"] == WORLD
    assert run["images_seen"] == 10 * TINY["batch_size"] * (TINY["n_critic"] + 1) * WORLD
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in state["generator"])
    _assert_same(state, rank0)  # rank 0's checkpoint holds the shared weights

    train(None, out, resume=True, steps=12, progress=False)  # into one process
    assert json.loads((out / "run.json").read_text())["steps"] == 12

    rank0, rank1 = _train_two_processes(out, steps=14, resume=True)  # and back
    _assert_same(rank0, rank1)
    assert json.loads((out / "run.json").read_text())["steps"] == 14


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_single_process_is_a_no_op(monkeypatch: pytest.MonkeyPatch, device: str):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = setup(device)
    assert dist == Distributed() and dist.is_main and not dist.enabled
    assert dist.device(torch.device(device)) == torch.device(device)
    values = torch.tensor([1.0, 2.0])
    assert dist.mean(values) is values and dist.main_says(True, torch.device("cpu"))
