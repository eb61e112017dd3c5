"""G generators stepped at once (gaunet/training/stacked.py) against G single-model runs: ops
dispatched per model-iteration and model-iterations per second, for one preset and size.

    .venv/bin/python benchmarks/stacked_generators.py --preset cpu-tiny --size 28 --models 5
    python3 benchmarks/stacked_generators.py --device cuda --models 1,2,5 --json-out OUT/s.json

"separate" is the product's own iteration (gaunet.training.loop.Trainer, the preset's settings:
precision auto, lazy penalty, and on CUDA its graph path): G models cost G of its iterations.
"stacked" is one StackedStep of G models, eager, and on CUDA also replayed as one CUDA graph
(captured here after a warm-up; the product's loop does not have that path yet). Ops are
counted with a TorchDispatchMode at the ATen level, where each op is about one kernel on a GPU:
at small sizes a GPU's time follows that count (docs/performance.md, "Issue 29"). Both paths
use random images (speed only); tests/test_stacked.py checks what the stacked step computes.
The last line is `models=G separate=X stacked=Y speedup=Z` in model-iterations per second.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # a checkout without an install (the GPU)

from train_speed import build, random_data, sync  # noqa: E402

from gaunet.config import load_config, parse_overrides  # noqa: E402
from gaunet.device import resolve_device  # noqa: E402
from gaunet.precision import resolve_precision  # noqa: E402
from gaunet.training.graphs import penalty_phases  # noqa: E402
from gaunet.training.loss import Batch, build_family  # noqa: E402
from gaunet.training.stacked import StackedStep, capture_iterations, stack_batches  # noqa: E402

# ops that launch nothing on a GPU: bare allocations, metadata changes in place, dtype queries,
# the profiler's markers, and the host read of a scalar (a copy, not a kernel)
NO_KERNEL = {  # _unsafe_view: a view its schema does not mark as one (reshape's second half)
    "empty", "empty_strided", "new_empty", "new_empty_strided", "lift_fresh", "_unsafe_view",
    "unsqueeze_", "squeeze_", "transpose_", "t_", "as_strided_", "promote_types",
    "_record_function_enter_new", "_record_function_exit", "_local_scalar_dense",
}  # fmt: skip


def launches_kernel(func) -> bool:
    """Whether an ATen op launches work on a GPU: not a view, nor one of NO_KERNEL."""
    return not func.is_view and func.overloadpacket.__name__ not in NO_KERNEL


class OpCount(TorchDispatchMode):
    """Counts ATen ops dispatched while active: all of them, and `kernels`, those that launch
    work on a GPU (not views such as vmap's permutes, nor bare allocations)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = self.kernels = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        if launches_kernel(func):
            self.kernels += 1
        return func(*args, **(kwargs or {}))


def per_second(step, repeats: int, device: torch.device) -> float:
    """Calls of `step` per second over `repeats` calls, after the device has caught up."""
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    sync(device)
    return repeats / (time.perf_counter() - start)


def separate(preset: str, overrides: dict, repeats: int) -> dict:
    data = random_data(overrides["channels"], overrides["size"])
    # ops counted on an eager trainer (a graph replay dispatches none), after a first step
    eager = build(preset, {**overrides, "cuda_graphs": "false"}, data)
    totals: dict = {}
    eager.train_step(totals)
    with OpCount() as ops:
        for _ in range(eager.cfg.gp_every):
            eager.train_step(totals)
    del eager
    trainer = build(preset, overrides, data)  # the product's path: graphs on CUDA
    for _ in range(max(3, trainer.cfg.gp_every)):  # warm-up (build() captured the graphs)
        trainer.train_step(totals)
    rate = per_second(lambda: trainer.train_step(totals), repeats, trainer.device)
    return {
        "ops_per_model_iteration": ops.count / trainer.cfg.gp_every,
        "kernel_ops_per_model_iteration": ops.kernels / trainer.cfg.gp_every,
        "model_iterations_per_second": rate,  # one model per iteration
        "precision": trainer.precision,
        "cuda_graphs": trainer.graphs is not None,
        "device": str(trainer.device),
    }


def stacked(preset: str, overrides: dict, models: int, repeats: int, graph: bool) -> dict:
    cfg = load_config(preset, {**overrides, "tensorboard": False})
    device = resolve_device(cfg.device)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    precision, _ = resolve_precision(cfg.precision, device, warn=False)  # as the Trainer's
    family = build_family(cfg, 2)
    nets = [family.build() for _ in range(models)]
    gens = [g.to(device) for g, _ in nets]
    crits = [c.to(device) for _, c in nets]
    step = StackedStep(family, gens, crits, bf16=precision == "bf16")
    size, channels = cfg.size, cfg.channels

    def batch() -> Batch:
        images = torch.rand(2, cfg.batch_size, channels, size, size, device=device) * 2 - 1
        labels = torch.randint(0, 2, (cfg.batch_size,), device=device)
        return Batch(images[0], images[1], labels)

    batches = [stack_batches([batch() for _ in range(models)]) for _ in range(cfg.n_critic + 1)]
    counter = itertools.count()  # the iteration's step: the lazy penalty's schedule

    def iteration() -> None:
        step.iteration(batches, next(counter))

    for _ in range(max(3, cfg.gp_every)):
        iteration()
    with OpCount() as ops:
        for _ in range(cfg.gp_every):
            iteration()
    result = {
        "ops_per_model_iteration": ops.count / cfg.gp_every / models,
        "kernel_ops_per_model_iteration": ops.kernels / cfg.gp_every / models,
        "model_iterations_per_second": per_second(iteration, repeats, device) * models,
    }
    if graph and device.type == "cuda":
        graphs = capture_iterations(step, batches, penalty_phases(cfg))
        calls = iter(range(10**9))
        rate = per_second(lambda: graphs[next(calls) % len(graphs)].replay(), repeats, device)
        result["graph_model_iterations_per_second"] = rate * models
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-tiny")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=None, help="default: the preset's")
    parser.add_argument("--models", default="5", help="comma list of G")
    parser.add_argument("--repeats", type=int, default=8, help="timed iterations per path")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-graph", action="store_true", help="CUDA: skip the stacked graph")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="K=V", help="config"
    )
    args = parser.parse_args()
    overrides = {"size": args.size, "channels": args.channels, "device": args.device}
    overrides |= {"pad_input": True, "tensorboard": False}
    if args.batch:
        overrides["batch_size"] = args.batch
    overrides |= parse_overrides(args.overrides)
    # whole cycles of the lazy penalty (2, 1, 1, 1 penalties per iteration at n_critic 5 and
    # gp_every 4): `--repeats 6` timed 8 penalties where 7.5 is the mean (about 1 % slow on both
    # paths before 2026-12-07; no ratio changed)
    cycle = penalty_phases(load_config(args.preset, overrides))
    args.repeats = -(-args.repeats // cycle) * cycle
    results: dict = {"args": vars(args) | {"json_out": str(args.json_out)}, "runs": []}
    results["loadavg"] = os.getloadavg()
    torch.manual_seed(0)
    one = separate(args.preset, overrides, args.repeats)  # the same whatever G
    results["separate"] = one
    print(json.dumps({"separate": one}))
    for models in [int(g) for g in args.models.split(",")]:
        torch.manual_seed(0)
        many = stacked(args.preset, overrides, models, args.repeats, not args.no_graph)
        best = max(
            many["model_iterations_per_second"], many.get("graph_model_iterations_per_second", 0)
        )
        run = {"models": models, "stacked": many}
        run["speedup"] = round(best / one["model_iterations_per_second"], 3)
        results["runs"].append(run)
        if args.json_out:
            args.json_out.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(run))
        print(
            f"models={models} separate={one['model_iterations_per_second']:.3f} "
            f"stacked={best:.3f} speedup={run['speedup']}"
        )


if __name__ == "__main__":
    main()
