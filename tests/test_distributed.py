"""Multi-process training on CPU (gloo): two processes end with identical weights, rank 0 alone
writes the run folder, and the checkpoint moves between a two-process and a single-process run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from dist_helpers import free_port, spawn_watched
from train_helpers import PHANTOM, TINY

from gaunet.training import train
from gaunet.training.distributed import Distributed, setup

WORLD = 2


def _worker(rank: int, out: str, port: int, steps: int, resume: bool, extra: dict) -> None:
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
    overrides = {
        **TINY,
        "device": "cpu",
        "checkpoint_every": 0,
        "checkpoint_minutes": 1e-9,
        **extra,
    }
    data = None if resume else PHANTOM
    train(data, out, config="cpu-tiny", overrides=overrides, steps=steps, resume=resume)


def _train_two_processes(
    out: Path, steps: int, resume: bool, extra: dict | None = None
) -> list[dict]:
    args = (str(out), free_port(), steps, resume, extra or {})
    spawn_watched(_worker, args, WORLD, 240)
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


def test_the_gan_critics_batch_norm_statistics_are_one_model_on_every_rank(tmp_path: Path):
    """The DCGAN critic has batch norms (the GAU-Net critic layer norms): their running
    statistics were each rank's own, and the checkpoint held rank 0's alone."""
    a, b = _train_two_processes(tmp_path / "run", steps=3, resume=False, extra={"model": "gan"})
    stats = [k for k in a["critic"] if k.endswith(("running_mean", "running_var"))]
    assert stats
    for key in stats:
        assert torch.equal(a["critic"][key], b["critic"][key]), f"critic.{key} differs"


def _clock_worker(rank: int, out: str, port: int) -> None:
    """Rank 1's clock runs a million seconds ahead, so on its own it would find a checkpoint
    due at every log step; rank 0's never. Each rank records what `_checkpoint_due` decided."""
    import types

    from gaunet.training import loop

    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port), GAUNET_NO_PROGRESS="1",
    )  # fmt: skip
    if rank == 1:
        real = loop.time.perf_counter
        loop.time = types.SimpleNamespace(perf_counter=lambda: real() + 1e6)
    decided = []
    original = loop.Trainer._checkpoint_due

    def recorded(self: loop.Trainer, saved_at: float) -> bool:
        decided.append((self.step, original(self, saved_at)))
        return decided[-1][1]

    loop.Trainer._checkpoint_due = recorded
    overrides = {**TINY, "device": "cpu", "checkpoint_every": 0, "periodic_every": 0,
                 "checkpoint_minutes": 1000.0, "log_every": 2}  # fmt: skip
    train(PHANTOM, out, config="cpu-tiny", overrides=overrides, steps=6)
    (Path(out) / f"decided-rank{rank}.json").write_text(json.dumps(decided))


def test_rank_0s_clock_decides_a_checkpoint_for_every_rank(tmp_path: Path):
    """Ranks whose clocks disagree take rank 0's decision (one broadcast at log steps): a rank
    that saved alone would leave the others waiting in a collective of its own. The job is
    watched with a deadline, so a regression fails instead of hanging the suite."""
    out = tmp_path / "run"
    spawn_watched(_clock_worker, (str(out), free_port()), WORLD, 240)
    decided = [json.loads((out / f"decided-rank{r}.json").read_text()) for r in range(WORLD)]
    assert decided[0] == decided[1] == [[step, False] for step in range(1, 7)]
    assert json.loads((out / "run.json").read_text())["steps"] == 6


def _ctrl_c_worker(rank: int, out: str, port: int) -> None:
    """Rank 1 alone gets a Ctrl-C (SIGINT) inside step 3; each rank records how it ended."""
    import signal

    from gaunet.training import loop

    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port), GAUNET_NO_PROGRESS="1",
    )  # fmt: skip
    original = loop.Trainer.train_step

    def step_with_ctrl_c(self: loop.Trainer, totals: dict) -> None:
        if rank == 1 and self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # noted, not raised: the step goes on
            os.kill(os.getpid(), signal.SIGINT)  # torchrun's agent forwards it again
        original(self, totals)

    loop.Trainer.train_step = step_with_ctrl_c
    overrides = {**TINY, "device": "cpu", "checkpoint_every": 0, "periodic_every": 0}
    try:
        train(PHANTOM, out, config="cpu-tiny", overrides=overrides, steps=1000)
        ended = "finished"
    except KeyboardInterrupt:
        ended = "interrupted"
    (Path(out) / f"ended-rank{rank}.txt").write_text(ended)


def test_a_ctrl_c_stops_every_rank_at_one_step_and_saves_it(tmp_path: Path):
    """Under torchrun a Ctrl-C was raised wherever it landed in each rank: no rank saved
    ("stopped inside a step"), and a rank it missed waited in a collective. Now it is noted,
    the ranks agree after the step (every step on the CPU, every STOP_CHECK_STEPS on a GPU) and
    save it."""
    from gaunet.training.checkpoint import load_checkpoint

    out = tmp_path / "run"
    spawn_watched(_ctrl_c_worker, (str(out), free_port()), WORLD, 240)
    ended = [(out / f"ended-rank{r}.txt").read_text() for r in range(WORLD)]
    assert ended == ["interrupted", "interrupted"]
    state, _, _ = load_checkpoint(out / "checkpoints", map_location="cpu")
    assert state["step"] == 3  # noted in step 3, agreed after it (every step on the CPU)
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_single_process_is_a_no_op(monkeypatch: pytest.MonkeyPatch, device: str):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = setup(device)
    assert dist == Distributed() and dist.is_main and not dist.enabled
    assert dist.device(torch.device(device)) == torch.device(device)
    values = torch.tensor([1.0, 2.0])
    assert dist.mean(values) is values and dist.main_says(True, torch.device("cpu"))


def test_no_two_ranks_or_resume_steps_share_a_stream():
    """Rank 1 resumed at step s + 1 drew the pairs of rank 2 resumed at step s (seed * 1000003 +
    rank + step): repeated batches across the job."""
    from gaunet.training.step import rank_seeds

    seeds = [rank_seeds(0, rank, step) for rank in range(1, 8) for step in range(0, 300)]
    assert len({pair for _, pair in seeds}) == len(seeds)
    assert len({noise for noise, _ in seeds}) == len(seeds)
    assert rank_seeds(3, 2, 10) == rank_seeds(3, 2, 10) != rank_seeds(4, 2, 10)
    assert all(0 <= value < 2**63 for pair in seeds for value in pair)  # torch's seed range
