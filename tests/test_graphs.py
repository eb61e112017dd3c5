"""CUDA graphs of whole iterations (gaunet/training/graphs.py). CI has no GPU, so the graph
path's bookkeeping runs here with `emulate=True` (each "replay" re-runs the captured step
eagerly on the static inputs): warm-up, one graph per lazy-penalty phase, the pairs filled
before each replay, the EMA weight on the device, the loss totals, the re-capture after a
resume. A graphed run must then train exactly as an eager one. The CUDA tests at the end run
the real capture and skip without a GPU."""

from __future__ import annotations

import json

import pytest
import torch
from train_helpers import PHANTOM, TINY, tiny_train

from gaunet.config import load_config
from gaunet.data import load_source
from gaunet.errors import GaunetError, GaunetWarning
from gaunet.training.graphs import IterationGraphs, graphs_decision
from gaunet.training.loop import Trainer
from gaunet.training.window import cpu_copy

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _trainer(**settings) -> Trainer:
    cfg = load_config("cpu-tiny", {**TINY, "device": "cpu", "precision": "fp32", **settings})
    data = load_source(PHANTOM, size=cfg.size, channels=cfg.channels)
    return Trainer(None, cfg, data, show_progress=False)


def _emulated(**settings) -> Trainer:
    trainer = _trainer(**settings)
    trainer.graphs = IterationGraphs(trainer, emulate=True)
    return trainer


def _run(trainer: Trainer, steps: int) -> list[dict[str, float]]:
    """Per-step loss totals, read on the host."""
    out = []
    for _ in range(steps):
        totals: dict[str, torch.Tensor] = {}
        trainer.train_step(totals)
        out.append({k: float(v) for k, v in totals.items()})
    return out


def _assert_same_state(a: Trainer, b: Trainer) -> None:
    assert (a.step, a.images_seen) == (b.step, b.images_seen)
    for name in ("generator", "critic"):
        for (key, x), y in zip(
            getattr(a, name).state_dict().items(), getattr(b, name).state_dict().values()
        ):
            assert torch.equal(x, y), f"{name}.{key}"
    for x, y in zip(a.ema.state_dict().values(), b.ema.state_dict().values()):
        assert torch.equal(x, y)
    for opt_a, opt_b in ((a.opt_g, b.opt_g), (a.opt_d, b.opt_d)):
        for state_a, state_b in zip(opt_a.state.values(), opt_b.state.values()):
            for key in state_a:
                assert torch.equal(state_a[key].float(), state_b[key].float()), key


# (settings, graphs per penalty cycle): the paper's penalty at every critic step (one graph),
# the lazy penalty every 4th of 2 critic steps (two phases), every 3rd (three phases), and
# the generator's extra levers that draw random numbers inside the step
CASES = [
    ({"gp_every": 1}, 1),
    ({"gp_every": 4, "n_critic": 2}, 2),
    ({"gp_every": 3, "n_critic": 2, "ema_ramp": 0.5}, 3),
    ({"gp_every": 2, "diversity_lambda": 1.0, "skip_dropout": 0.2, "pixel_noise": 1.0}, 1),
]


@pytest.mark.parametrize(("settings", "period"), CASES)
def test_a_graphed_run_trains_exactly_as_an_eager_one(settings, period):
    # one after the other: the trainers share torch's global RNG, seeded when each is built
    eager = _trainer(**settings)
    steps = max(2, period) + 2 * period + 1
    losses_eager = _run(eager, steps)
    graphed = _emulated(**settings)
    assert graphed.graphs.period == period
    losses_graphed = _run(graphed, steps)
    assert graphed.graphs.ready and len(graphed.graphs.graphs) == period
    assert graphed.ema.weight is not None  # replays read the EMA weight on the device
    _assert_same_state(eager, graphed)
    for one, other in zip(losses_eager, losses_graphed):
        assert one.keys() == other.keys()  # the lazy penalty is logged in the same steps
        for key in one:
            assert other[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key


def test_warm_up_steps_are_training_steps_and_capture_happens_once():
    trainer = _emulated(gp_every=4, n_critic=2)
    graphs = trainer.graphs
    assert trainer.warming_up and graphs.warmup == 2
    _run(trainer, graphs.warmup)
    assert trainer.step == graphs.warmup and trainer.warming_up  # eager so far, not captured
    _run(trainer, 1)
    assert not trainer.warming_up and graphs.captures == 1 and graphs.warmup_seconds > 0
    _run(trainer, 5)
    assert graphs.captures == 1 and trainer.step == graphs.warmup + 6
    assert trainer.images_seen == trainer.step * trainer.pairs_per_step


def test_loading_a_state_drops_the_graphs_and_captures_again():
    """A resume or rollback replaces the optimizer state: the graphs would read stale tensors,
    so they are dropped, and the run warms up and captures again; it then trains exactly as an
    eager run resumed from the same state."""
    trainer = _emulated(gp_every=2, n_critic=2)
    _run(trainer, 6)
    state = trainer.state()
    saved = cpu_copy(state)  # state_dict() aliases the live tensors
    trainer.load_state(state)  # the RNG state too
    assert trainer.warming_up and trainer.ema.weight is None
    assert all(g["capturable"] for g in trainer.opt_d.param_groups)
    _run(trainer, 5)
    eager = _trainer(gp_every=2, n_critic=2)
    eager.load_state(saved)
    assert not any(g["capturable"] for g in eager.opt_d.param_groups)  # the saved flag undone
    _run(eager, 5)
    assert trainer.graphs.captures == 2
    _assert_same_state(eager, trainer)


@pytest.mark.parametrize("setting", ["auto", "true"])
def test_a_failed_capture_falls_back_to_eager_under_auto_only(monkeypatch, setting):
    trainer = _emulated(gp_every=1)
    trainer.cfg.cuda_graphs = setting

    def broken(outputs):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(trainer.graphs, "_emulated", broken)
    _run(trainer, trainer.graphs.warmup)
    if setting == "true":
        with pytest.raises(GaunetError, match="cuda_graphs=true, but the CUDA graph capture"):
            _run(trainer, 1)
        return
    with pytest.warns(GaunetWarning, match="capture failed .*training continues eagerly"):
        _run(trainer, 3)
    assert trainer.graphs is None and trainer.step == 2 + 3
    assert trainer.graphs_reason.startswith("auto: eager, since the CUDA graph capture failed")
    assert not any(g["capturable"] for g in trainer.opt_g.param_groups)


@pytest.mark.parametrize(
    ("device", "world", "settings", "expected"),
    [
        ("cpu", 1, {}, "auto: eager, since CUDA graphs need a CUDA device"),
        ("cuda", 1, {}, "auto: whole iterations"),
        ("cuda", 2, {}, "auto: eager, since torchrun"),
        ("cuda", 1, {"compile": True}, "auto: eager, since compile=true"),
        ("cuda", 1, {"diffaugment": "translation"}, "auto: eager, since DiffAugment"),
        ("cuda", 1, {"critic_pack": 2}, "auto: eager, since critic_pack"),
        # PerClass reads class counts on the host in every forward: a capture failed at once
        ("cuda", 1, {"model": "gan"}, "auto: eager, since the gan baseline"),
        ("cuda", 1, {"model": "cgan"}, "auto: whole iterations"),
        ("cuda", 1, {"cuda_graphs": "false"}, "cuda_graphs is false"),
        ("cpu", 1, {"cuda_graphs": "false"}, "cuda_graphs is false"),
    ],
)
def test_graphs_decision(device, world, settings, expected):
    cfg = load_config("cpu-tiny", {**TINY, **settings})
    on, reason = graphs_decision(cfg, torch.device(device), world)
    assert on == (expected == "auto: whole iterations")
    assert reason.startswith(expected)


def test_asking_for_graphs_where_they_cannot_run_is_an_error():
    cfg = load_config("cpu-tiny", {**TINY, "cuda_graphs": "true"})
    with pytest.raises(GaunetError, match="cuda_graphs is true, but CUDA graphs need a CUDA"):
        graphs_decision(cfg, torch.device("cpu"), 1)
    with pytest.raises(GaunetError, match="cuda_graphs must be auto, true or false"):
        load_config("cpu-tiny", {**TINY, "cuda_graphs": "maybe"})


def test_run_json_says_whether_graphs_ran_and_why(tmp_path):
    out = tiny_train(tmp_path / "run", steps=2, device="cpu")
    run = json.loads((out / "run.json").read_text())
    assert run["cuda_graphs"] is False
    assert run["cuda_graphs_reason"].startswith("auto: eager, since CUDA graphs need a CUDA")
    assert run["warmup_seconds"] is None


# ----- on a GPU --------------------------------------------------------------------------------
@CUDA
@pytest.mark.parametrize("settings", [{"gp_every": 1}, {"gp_every": 4, "precision": "bf16"}])
def test_gaunet_train_replays_graphs_on_cuda_and_resumes(tmp_path, settings):
    out = tiny_train(tmp_path / "run", steps=12, device="cuda", **settings)
    run = json.loads((out / "run.json").read_text())
    assert run["cuda_graphs"] is True and run["warmup_seconds"] > 0
    assert run["steps"] == 12 and run["status"] == "completed"
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert records[-1]["step"] == 12
    assert all(torch.isfinite(torch.tensor(v)) for r in records for v in r.values())
    from gaunet.training import train

    train(None, out, resume=True, steps=20, progress=False)
    run = json.loads((out / "run.json").read_text())
    assert run["steps"] == 20 and run["resumed_from_step"] == 12 and run["cuda_graphs"] is True


@CUDA
def test_graphed_and_eager_losses_agree_on_cuda():
    """The same seed, the same pairs: graph replays run the same kernels as the eager steps,
    so the losses agree up to cuDNN's choice of kernels (not bit for bit)."""
    settings = {"device": "cuda", "gp_every": 1}
    # one after the other: both draw from torch's global RNG, seeded when each is built
    eager = _trainer(**settings, cuda_graphs="false")
    a = _run(eager, 4)
    graphed = _trainer(**settings, cuda_graphs="true")
    assert graphed.graphs is not None and not graphed.graphs.emulate
    b = _run(graphed, 4)
    for one, other in zip(a, b):
        for key in one:
            assert other[key] == pytest.approx(one[key], rel=5e-2, abs=5e-3), key


def test_a_failed_generator_step_leaves_the_critic_trainable(monkeypatch):
    """The generator step freezes the critic; an error inside it (a CUDA graph capture that
    fails there, then the run goes on eagerly) left it frozen: no critic gradient for the rest
    of the run, silently."""
    from gaunet.data import load_source
    from gaunet.training.loop import Trainer

    cfg = load_config("cpu-tiny", {**TINY})
    trainer = Trainer(None, cfg, load_source(PHANTOM, size=16, channels=1), show_progress=False)
    batch = trainer.draw_iteration()[-1]

    def failing(*args, **kwargs):
        raise RuntimeError("capture failed")

    monkeypatch.setattr(trainer.family, "generator_loss", failing)
    with pytest.raises(RuntimeError, match="capture failed"):
        trainer.generator_step(batch)
    assert all(p.requires_grad for p in trainer.critic.parameters())
