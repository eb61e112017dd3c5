"""Runs trained together (gaunet/training/api.py `train_together`, stacked_loop.py, stacked.py):
G independent GAU-Net runs stacked under vmap. Each member's folder ends as a single run's
does, each member starts from its own seed's weights, sampler and split, a stack resumes
exactly, a member continues alone, refused calls leave every folder as it was, the emulated
CUDA-graph bookkeeping trains a stack exactly as the eager path, and a non-finite loss in any
member rolls every member back."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import PHANTOM, TINY, ctrl_c_at, tiny_train

import gaunet.training.loop as loop
from gaunet import load_generator
from gaunet.config import load_config
from gaunet.data import assign_split, load_source
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.training import train, train_together
from gaunet.training.checkpoint import all_finite, load_checkpoint
from gaunet.training.graphs import IterationGraphs
from gaunet.training.loop import Trainer
from gaunet.training.run_folder import load_train_images
from gaunet.training.stacked import StackedStep, StackedStepper
from gaunet.training.stacked_loop import StackedTrainer

# fp32 always: "auto" precision would follow the CPU's bf16 support, and the tests must not
FP32 = {**TINY, "precision": "fp32"}
SEEDS = [3, 4]
STEPS = 20
RUN_FILES = ["config.yaml", "split.csv", "train_images.npz", "metrics.jsonl", "run.json"]


def _together(outs, steps, data=None, seeds=None, **extra):
    data = [PHANTOM] * len(outs) if data is None else data
    return train_together(
        data, outs, config="cpu-tiny", overrides={**FP32, **extra}, steps=steps, seeds=seeds,
        progress=False,
    )  # fmt: skip


def _last(run: Path) -> dict:
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    return state


def _run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """(sha256, mtime_ns) of every file under `folder` but the lock file (its holder record)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".gaunet.lock"
    }


def _assert_states_equal(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}: {key}"


def _assert_optimizers_equal(a: dict, b: dict, what: str) -> None:
    """Two optimizer state_dicts (as saved in a checkpoint): the same Adam moments and lr."""
    assert a["state"].keys() == b["state"].keys(), what
    for index, mine in a["state"].items():
        for key, value in mine.items():
            assert torch.equal(value, b["state"][index][key]), f"{what}: {index}.{key}"
    assert [g["lr"] for g in a["param_groups"]] == [g["lr"] for g in b["param_groups"]], what


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> list[Path]:
    """Two runs (seeds 3 and 4) trained together for STEPS steps in one call; read only."""
    root = tmp_path_factory.mktemp("stack")
    return _together([root / "a", root / "b"], STEPS, seeds=SEEDS)


# ----- 1. each member's folder is a complete run folder ---------------------------------------
def test_each_member_folder_is_a_complete_run(stack):
    for k, (run, seed) in enumerate(zip(stack, SEEDS)):
        for name in RUN_FILES:
            assert (run / name).is_file(), f"{run.name}: {name} missing"
        assert (run / "checkpoints" / "last.pt").is_file()
        assert (run / "checkpoints" / f"step-{STEPS:06d}.pt").is_file()  # periodic_every 20
        assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
            "step-000010.png",
            "step-000020.png",
        ]
        info = _run_json(run)
        assert info["stacked"] == {"models": 2, "index": k, "runs": [str(p) for p in stack]}
        assert info["seed"] == seed and load_config(run / "config.yaml").seed == seed
        assert (info["steps"], info["steps_target"]) == (STEPS, STEPS)
        assert info["status"] == "completed" and info["finished"] is True
        assert info["images_seen"] == STEPS * FP32["batch_size"] * (FP32["n_critic"] + 1)
        assert info["rollbacks"] == 0 and info["resumed_from_step"] is None
        records = _records(run)
        assert [r["step"] for r in records] == [5, 10, 15, 20]  # log_every 5
        assert all(math.isfinite(r[key]) for r in records for key in ("loss_d", "loss_g"))
        state = _last(run)
        assert state["step"] == STEPS and state["config"]["seed"] == seed
        assert all_finite([state["generator"], state["critic"], state["ema"]])
        assert (
            info["checkpoint_sha256"]
            == hashlib.sha256((run / "checkpoints" / "last.pt").read_bytes()).hexdigest()
        )

        gen = load_generator(run, device="cpu")
        assert gen.step == STEPS and gen.class_names == state["class_names"]
        for class_index in range(len(gen.class_names)):
            images = gen.sample(class_index, 3, seed=1)
            assert images.shape == (3, 1, TINY["size"], TINY["size"])
            assert torch.isfinite(images).all() and images.abs().max() <= 1

    # two models, not one model twice: weights, EMA and the records of their losses differ
    first, second = _last(stack[0]), _last(stack[1])
    for part in ("generator", "critic", "ema"):
        assert any(not torch.equal(v, second[part][k]) for k, v in first[part].items()), part
    assert _records(stack[0])[-1]["loss_d"] != _records(stack[1])[-1]["loss_d"]


# ----- 2. each member starts as a single run of its seed would ---------------------------------
def test_each_member_starts_as_a_single_run_of_its_seed(tmp_path, monkeypatch):
    """Default seeds are the config's seed + k; member k's initial networks, EMA, pair sampler,
    sample-grid inputs, split and training rows are those of `train()` with seed k."""
    starts: dict[str, dict] = {}

    def record(trainer: Trainer) -> dict:
        return {
            "generator": {k: v.clone() for k, v in trainer.generator.state_dict().items()},
            "critic": {k: v.clone() for k, v in trainer.critic.state_dict().items()},
            "ema": {k: v.clone() for k, v in trainer.ema.state_dict().items()},
            "sampler": trainer.sampler.state_dict()["generator"].clone(),
            "grid": (trainer.grid_x.clone(), trainer.grid_z.clone(), trainer.grid_labels.clone()),
        }

    stacked_run, single_run = StackedTrainer.run, loop.Trainer.run

    def stacked_spy(self):
        for member in self.members:
            starts[member.out.name] = record(member)
        stacked_run(self)

    def single_spy(self):
        starts[self.out.name] = record(self)
        single_run(self)

    monkeypatch.setattr(StackedTrainer, "run", stacked_spy)
    monkeypatch.setattr(loop.Trainer, "run", single_spy)
    outs = _together([tmp_path / "m0", tmp_path / "m1"], 2, seed=5)  # seeds 5, 6
    assert [_run_json(run)["seed"] for run in outs] == [5, 6]
    for k, seed in enumerate([5, 6]):
        single = tiny_train(tmp_path / f"s{k}", steps=2, seed=seed, precision="fp32")
        member, alone = starts[f"m{k}"], starts[f"s{k}"]
        for part in ("generator", "critic", "ema"):
            _assert_states_equal(member[part], alone[part], f"seed {seed} {part}")
        assert torch.equal(member["sampler"], alone["sampler"])
        for mine, theirs in zip(member["grid"], alone["grid"]):
            assert torch.equal(mine, theirs)
        assert (outs[k] / "split.csv").read_bytes() == (single / "split.csv").read_bytes()
        rows, rows_alone = (load_train_images(r / "train_images.npz") for r in (outs[k], single))
        assert np.array_equal(rows.images, rows_alone.images)
        assert np.array_equal(rows.labels, rows_alone.labels)
        assert list(rows.ids) == list(rows_alone.ids)
    # the two seeds' splits differ: each member has its own data, not the first one's
    assert (outs[0] / "split.csv").read_bytes() != (outs[1] / "split.csv").read_bytes()


@pytest.mark.parametrize(
    "hint, budget, says",
    [("", {"steps": 5}, "rerun the same command to continue them together, or `gaunet train "
      "--out RUN --resume` for one"),
     # a --minutes stack has no step limit: a plain --resume of one would be refused (no budget)
     ("", {"minutes": 5.0}, "rerun the same command to continue them together, or `gaunet "
      "train --out RUN --resume --minutes M (or --steps N)` for one"),
     ("rerun the same gaunet benchmark command", {"steps": 5},
      "continue with: rerun the same gaunet benchmark command")],
)  # fmt: skip
def test_an_interrupted_stack_says_how_to_continue(
    tmp_path, monkeypatch, capsys, hint, budget, says
):
    """Ctrl-C: every member saved, and the message names the caller's command when it gives
    one (a benchmark's --stack-generators resumes the stack itself)."""
    ctrl_c_at(monkeypatch, StackedStepper, 2)
    outs = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(KeyboardInterrupt):
        train_together([PHANTOM] * 2, outs, "cpu-tiny", FP32, progress=False,
                       resume_hint=hint, **budget)  # fmt: skip
    err = capsys.readouterr().err
    assert f"interrupted: checkpoints saved at step 2 in 2 run folders; {says}" in err, err


# ----- 3. a stack resumes exactly --------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "ctrl_c", "carried"), [(10, False, False), (7, True, False), (7, True, True)]
)
def test_a_stack_resumes_exactly(stack, tmp_path, monkeypatch, first, ctrl_c, carried):
    """STEPS in one call == `first` steps (a finished call, or Ctrl-C before step first + 1),
    then the same folders continued to STEPS (data None): weights, critic, EMA, Adam state and
    sampler of both members bit for bit. `carried`: the cut folders moved elsewhere before
    they continue, as a GPU machine's folders brought back and continued on another."""
    outs = [tmp_path / "a", tmp_path / "b"]
    if ctrl_c:
        ctrl_c_at(monkeypatch, StackedStepper, first)
        with pytest.raises(KeyboardInterrupt):
            _together(outs, STEPS, seeds=SEEDS)
        monkeypatch.undo()
        for run in outs:  # every member saved at the step it reached
            info = _run_json(run)
            assert info["status"] == "interrupted" and info["steps"] == first
            assert _last(run)["step"] == first
    else:
        _together(outs, first, seeds=SEEDS)
    if carried:
        (tmp_path / "carried").mkdir()
        outs = [Path(shutil.move(run, tmp_path / "carried" / run.name)) for run in outs]
    _together(outs, STEPS, data=[None, None])
    for whole_run, split_run, seed in zip(stack, outs, SEEDS):
        whole, resumed = _last(whole_run), _last(split_run)
        assert resumed["step"] == whole["step"] == STEPS
        for part in ("generator", "critic", "ema"):
            _assert_states_equal(whole[part], resumed[part], f"{split_run.name} {part}")
        for opt in ("opt_g", "opt_d"):
            _assert_optimizers_equal(whole[opt], resumed[opt], f"{split_run.name} {opt}")
        assert torch.equal(whole["sampler"]["generator"], resumed["sampler"]["generator"])
        info = _run_json(split_run)
        assert info["resumed_from_step"] == first and info["steps"] == STEPS
        assert info["seed"] == seed and info["status"] == "completed"
        assert [r["step"] for r in _records(split_run)] == [5, 10, 15, 20]  # each step once


# ----- 4. a member continues alone --------------------------------------------------------------
def test_a_stacked_run_continues_alone(stack, tmp_path):
    run = Path(shutil.copytree(stack[1], tmp_path / "b"))
    train(None, run, resume=True, steps=30, progress=False)
    info = _run_json(run)
    assert info["steps"] == 30 and info["status"] == "completed"
    assert info["resumed_from_step"] == STEPS and info["seed"] == SEEDS[1]
    assert [r["step"] for r in _records(run)] == [5, 10, 15, 20, 25, 30]
    state = _last(run)
    assert state["step"] == 30 and all_finite([state["generator"], state["ema"]])
    before = _last(stack[1])
    assert any(not torch.equal(v, state["generator"][k]) for k, v in before["generator"].items())


def test_single_runs_continue_together(tmp_path):
    """Folders trained alone (at one step) are resumed as a stack; each keeps its seed."""
    outs = [
        tiny_train(tmp_path / f"r{k}", steps=10, seed=s, precision="fp32")
        for k, s in enumerate(SEEDS)
    ]
    _together(outs, STEPS, data=[None, None])
    for k, (run, seed) in enumerate(zip(outs, SEEDS)):
        info = _run_json(run)
        assert info["stacked"]["index"] == k and info["seed"] == seed
        assert info["steps"] == STEPS and info["resumed_from_step"] == 10
        assert [r["step"] for r in _records(run)] == [5, 10, 15, 20]
        assert _last(run)["step"] == STEPS


# ----- 5. refusals leave every folder as it was -------------------------------------------------
@pytest.mark.parametrize(
    ("b_settings", "message"),
    [
        ({"steps": 20}, r"different steps \(10, 20\)"),  # B further along than A
        ({"steps": 10, "lr_g": 2e-4}, "lr_g is 0.0002"),  # a shared setting differs
    ],
)
def test_runs_that_cannot_continue_together_are_refused_untouched(tmp_path, b_settings, message):
    a = tiny_train(tmp_path / "a", steps=10, seed=3, precision="fp32")
    b = tiny_train(tmp_path / "b", seed=4, precision="fp32", **b_settings)
    before = {run: _snapshot(run) for run in (a, b)}
    with pytest.raises(GaunetError, match=message):
        _together([a, b], 30, data=[None, None])
    for run in (a, b):
        assert _snapshot(run) == before[run], f"{run.name} changed"


def test_a_resume_keeps_its_seed(tmp_path):
    """A seed given for a folder being resumed must be the one it was trained with."""
    outs = [tiny_train(tmp_path / f"r{k}", steps=10, seed=s, precision="fp32")
            for k, s in enumerate(SEEDS)]  # fmt: skip
    before = {run: _snapshot(run) for run in outs}
    with pytest.raises(GaunetError, match="keeps the run's seed 4, not 8"):
        _together(outs, STEPS, data=[None, None], seeds=[3, 8])
    for run in outs:
        assert _snapshot(run) == before[run]


def test_the_memory_check_counts_every_model_of_the_stack(tmp_path, monkeypatch):
    """Room for one model's step but not for three: three together are refused, one is not."""
    from gaunet.training import memory

    cfg = load_config("cpu-tiny", FP32)
    images_bytes, step_bytes = memory.estimate_bytes(cfg, 12)
    monkeypatch.setattr(memory, "host_available", lambda: images_bytes * 3 + 2 * step_bytes)
    with pytest.raises(GaunetError, match="for 3 models trained together"):
        _together([tmp_path / k for k in "abc"], 5)
    assert list(tmp_path.iterdir()) == []
    _together([tmp_path / "a"], 2)  # one model fits
    assert _run_json(tmp_path / "a")["steps"] == 2


def test_a_new_run_beside_one_further_along_is_refused_without_a_folder(tmp_path):
    old = tiny_train(tmp_path / "old", steps=10, seed=3, precision="fp32")
    before = _snapshot(old)
    with pytest.raises(GaunetError, match=r"different steps \(0, 10\)"):
        _together([old, tmp_path / "new"], 30, data=[None, PHANTOM], seeds=SEEDS)
    assert not (tmp_path / "new").exists()
    assert _snapshot(old) == before


@pytest.mark.parametrize(
    ("count", "outs", "seeds", "message"),
    [
        (1, ["a", "b"], None, "one data source per run folder"),
        (0, [], None, "1\\+ runs"),
        (2, ["a", "b"], [3], "one seed per run folder"),
        (2, ["a", "a"], None, "must differ"),
        (2, ["a", "x/../a"], None, "must differ"),  # the same folder spelled two ways
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    tmp_path, count, outs, seeds, message
):
    with pytest.raises(GaunetError, match=message):
        _together([tmp_path / o for o in outs], 5, data=[PHANTOM] * count, seeds=seeds)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("settings", "named"),
    [({"diffaugment": "translation"}, "diffaugment"), ({"compile": True}, "compile")],
)
def test_settings_that_cannot_stack_are_refused_without_a_folder(tmp_path, settings, named):
    outs = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(GaunetError, match=f"cannot train together: {named}"):
        _together(outs, 5, **settings)
    assert not any(out.exists() for out in outs)
    assert list(tmp_path.iterdir()) == []


# ----- 6. emulated CUDA-graph bookkeeping trains a stack exactly as the eager path ---------------
def _members(**settings) -> list[Trainer]:
    """Two Trainers (seeds SEEDS, each on its own split's train rows), as train() builds them."""
    members = []
    for seed in SEEDS:
        cfg = load_config("cpu-tiny", {**FP32, "device": "cpu", "seed": seed, **settings})
        data = load_source(PHANTOM, size=cfg.size, channels=cfg.channels)
        rows = assign_split(data, seed=seed).where_split("train")
        members.append(Trainer(None, cfg, rows, show_progress=False))
    return members


def _stacked_run(stepper: StackedStepper, steps: int) -> list[dict[str, torch.Tensor]]:
    torch.manual_seed(11)
    out = []
    for _ in range(steps):
        totals: dict[str, torch.Tensor] = {}
        stepper.train_step(totals)
        out.append({k: v.clone() for k, v in totals.items()})
    stepper.write_back()
    return out


@pytest.mark.parametrize(
    ("settings", "period"),
    [
        ({"gp_every": 1}, 1),
        ({"gp_every": 4, "n_critic": 2}, 2),
        ({"gp_every": 3, "n_critic": 2, "ema_ramp": 0.5}, 3),
    ],
)
def test_emulated_graphs_train_a_stack_exactly_as_eager(settings, period):
    eager = StackedStepper(_members(**settings))
    assert eager.graphs is None  # CPU: eager
    steps = max(2, period) + 2 * period + 1  # warm-up, then every phase replayed twice+
    losses_eager = _stacked_run(eager, steps)

    graphed = StackedStepper(_members(**settings))
    graphed.graphs = IterationGraphs(graphed, emulate=True)
    assert graphed.graphs.period == period
    assert graphed.graphs.static_index.shape == (2, 2, TINY["batch_size"] * 3)
    losses_graphed = _stacked_run(graphed, steps)
    assert graphed.graphs.ready and len(graphed.graphs.graphs) == period
    assert graphed.graphs.captures == 1 and graphed.ema.weight is not None

    assert eager.step == graphed.step == steps
    assert eager.images_seen == graphed.images_seen
    for one, other in zip(losses_eager, losses_graphed):
        assert one.keys() == other.keys()  # the lazy penalty in the same steps
        for key in one:
            assert one[key].shape == (2,)
            torch.testing.assert_close(other[key], one[key], rtol=0, atol=0, msg=key)
    for k, (a, b) in enumerate(zip(eager.members, graphed.members)):
        assert a.step == b.step == steps
        for part in ("generator", "critic", "ema"):
            _assert_states_equal(
                getattr(a, part).state_dict(), getattr(b, part).state_dict(), f"{k} {part}"
            )
        for opt in ("opt_g", "opt_d"):
            _assert_optimizers_equal(
                getattr(a, opt).state_dict(), getattr(b, opt).state_dict(), f"{k} {opt}"
            )
    # and the members are two models
    first, second = (m.generator.state_dict() for m in eager.members)
    assert any(not torch.equal(v, second[k]) for k, v in first.items())


# ----- 7. a non-finite loss in one member rolls every member back ------------------------------
def test_a_non_finite_loss_in_one_member_rolls_every_member_back(tmp_path, monkeypatch):
    lr = 1e-4
    original = StackedStep.generator_step
    calls = {"n": 0}

    def poisoned(self, batch):  # model 1's generator loss at step 3 is NaN; model 0 is fine
        stats = original(self, batch)
        calls["n"] += 1
        if calls["n"] == 3:
            loss = stats["loss_g"].clone()
            loss[1] = float("nan")
            stats = {**stats, "loss_g": loss}
        return stats

    rollbacks: list[tuple[str, int]] = []
    original_rollback = loop.Trainer.rollback

    def rollback(self, initial, log=None):
        rollbacks.append((self.out.name, self.step))
        original_rollback(self, initial, log)

    monkeypatch.setattr(StackedStep, "generator_step", poisoned)
    monkeypatch.setattr(loop.Trainer, "rollback", rollback)
    outs = [tmp_path / "a", tmp_path / "b"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _together(outs, 10, seeds=SEEDS, checkpoint_every=2, lr_g=lr, lr_d=lr)
    # caught at the first checkpoint after the bad step (4), back to the one at step 2
    assert rollbacks == [("a", 4), ("b", 4)]
    messages = [str(w.message) for w in caught if issubclass(w.category, GaunetWarning)]
    assert sum("rolled back to step 2 (rollback 1)" in m for m in messages) == 2
    for run in outs:
        state = _last(run)
        assert state["step"] == 10 and state["rollbacks"] == 1
        assert all_finite([state["generator"], state["critic"], state["ema"]])
        for opt in ("opt_g", "opt_d"):
            assert state[opt]["param_groups"][0]["lr"] == pytest.approx(lr / 2)
        info = _run_json(run)
        assert info["rollbacks"] == 1 and info["steps"] == 10 and info["status"] == "completed"
        records = _records(run)
        assert [r["step"] for r in records] == [5, 10]  # the steps after the rollback, once
        assert records[-1]["rollbacks"] == 1 and records[-1]["lr_g"] == pytest.approx(lr / 2)


def test_a_stack_that_gives_up_can_be_rerun_with_more_rollbacks(tmp_path, monkeypatch):
    """max_rollbacks spent in one member: every member saves its rolled-back state (weights of
    the last good step, the lowered rate, the count) before the refusal, so the stack's rerun
    with more rollbacks is not refused for members at different rates and tries new ones."""
    lr = 1e-4
    original = StackedStep.generator_step

    def poisoned(self, batch):  # model 1's generator loss is NaN from the third call on
        stats = original(self, batch)
        poisoned.calls += 1
        if poisoned.calls >= 3:
            loss = stats["loss_g"].clone()
            loss[1] = float("nan")
            stats = {**stats, "loss_g": loss}
        return stats

    poisoned.calls = 0
    monkeypatch.setattr(StackedStep, "generator_step", poisoned)
    outs = [tmp_path / "a", tmp_path / "b"]
    settings = {"checkpoint_every": 2, "lr_g": lr, "lr_d": lr, "max_rollbacks": 1}
    with warnings.catch_warnings(), pytest.raises(GaunetError, match="non-finite 2 times"):
        warnings.simplefilter("ignore")
        _together(outs, 10, seeds=SEEDS, **settings)
    for run in outs:
        state = _last(run)
        assert (state["step"], state["rollbacks"]) == (2, 2)
        assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(lr / 4)
        assert _run_json(run)["status"] == "diverged"
    with warnings.catch_warnings(record=True) as caught, pytest.raises(GaunetError) as again:
        warnings.simplefilter("always")
        _together(outs, 10, **{**settings, "max_rollbacks": 3})
    messages = [str(w.message) for w in caught if "rolled back" in str(w.message)]
    assert len(messages) == 2 and all("(rollback 3)" in m for m in messages), messages
    assert "lr_g=1.25e-05" in messages[0]  # lr / 8: a rate not tried before
    assert "non-finite 4 times (max_rollbacks 3)" in str(again.value)


def test_a_stack_checkpoints_by_the_clock_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """checkpoint_minutes holds for a stack: every member's last.pt at each log step past the
    time, at one step, as with checkpoint_every."""
    saved: list[tuple[str, int]] = []
    original_save = loop.Trainer.save

    def save(self):
        saved.append((self.out.name, self.step))
        return original_save(self)

    monkeypatch.setattr(loop.Trainer, "save", save)
    outs = [tmp_path / "a", tmp_path / "b"]
    _together(outs, 7, seeds=SEEDS, log_every=3, checkpoint_every=0, periodic_every=0,
              checkpoint_minutes=1e-9)  # fmt: skip
    assert saved == [(name, step) for step in (3, 6, 7) for name in ("a", "b")]


def test_a_stack_killed_in_its_first_checkpoint_write_starts_again(tmp_path: Path) -> None:
    """Only temporary files in checkpoints/: no run yet. The rerun was refused ("already holds
    a run"), and the benchmark resumed it without data."""
    from gaunet.training.checkpoint import holds_checkpoints

    outs = [tmp_path / "a", tmp_path / "b"]
    _together(outs, 2, seeds=SEEDS)
    for out in outs:  # as a kill during the first save leaves it: a write not yet renamed
        for written in (out / "checkpoints").iterdir():
            written.unlink()
        (out / "checkpoints" / f".last.pt.tmp{4242}").write_bytes(b"half a checkpoint")
        assert not holds_checkpoints(out / "checkpoints")
    _together(outs, 2, seeds=SEEDS)
    for out in outs:
        assert _run_json(out)["steps"] == 2 and holds_checkpoints(out / "checkpoints")
        assert not list((out / "checkpoints").glob(".*.tmp*"))  # the first save cleared it
