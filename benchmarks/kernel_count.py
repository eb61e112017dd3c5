"""Kernels one training iteration launches, by ATen op or by the gaunet source line that ran it:
at small sizes a GPU's step follows this count, not the arithmetic (docs/performance.md, "Issue
29"), and it is the same on any machine, so it can be cut and checked on a CPU.

    .venv/bin/python benchmarks/kernel_count.py --preset cpu-tiny --precision bf16
    .venv/bin/python benchmarks/kernel_count.py --preset paper --precision fp32 --by line
    .venv/bin/python benchmarks/kernel_count.py --preset paper --forms cpu --by node
    .venv/bin/python benchmarks/kernel_count.py --preset cpu-tiny --precision bf16 --models 5
    .venv/bin/python benchmarks/kernel_count.py --preset paper --set d_feature_buffer=true

The iteration is the product's eager step (gaunet.training.loop.Trainer.train_step, as
`gaunet train` runs it, graphs off so the ops are dispatched where they can be counted), at
28 px grey padded to 32, averaged over one lazy-penalty cycle after a first step; with
`--models G`, the iteration of G generators trained together (training/stacked.py's
StackedStepper, as `gaunet benchmark --stack-generators` runs it), all G models. Views, bare
allocations and metadata ops launch nothing and are left out (benchmarks/stacked_generators.py,
NO_KERNEL). Layers that pick their form by device (the critic's layer norms) are set to the form
CUDA runs (`--forms cuda`, the default; `--forms cpu` counts what this CPU runs).
"""

from __future__ import annotations

import argparse
import collections
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import torch  # noqa: E402
import yaml  # noqa: E402
from stacked_generators import launches_kernel  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from train_speed import build, random_data  # noqa: E402

from gaunet.models.dense import LayerNorm2d  # noqa: E402
from gaunet.models.penalty_norm import PenaltyLayerNorm  # noqa: E402
from gaunet.training.stacked import StackedStepper  # noqa: E402


class KernelTally(TorchDispatchMode):
    """Counts the ops that launch a kernel, keyed by op name, by the gaunet line running it, or
    by the autograd node (the backward formula) running it."""

    def __init__(self, by: str) -> None:
        super().__init__()
        self.by, self.counts = by, collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if launches_kernel(func):
            self.counts[self._key(func)] += 1
        return func(*args, **(kwargs or {}))

    def _key(self, func) -> str:
        if self.by == "op":
            return func.overloadpacket.__name__
        if self.by == "line":
            return _gaunet_line()
        node = torch._C._current_autograd_node()
        return type(node).__name__ if node is not None else "(forward or optimizer)"


def count_iteration(trainer, by: str = "op") -> tuple[float, dict[str, float]]:
    """Kernels of one of `trainer`'s eager iterations (its cuda_graphs off; a Trainer or a
    StackedStepper), averaged over a lazy-penalty cycle after a first iteration (which makes
    the optimizer state): the total and the count per key of `by`."""
    totals: dict = {}
    trainer.train_step(totals)
    tally = KernelTally(by)
    cycle = trainer.cfg.gp_every
    with tally:
        for _ in range(cycle):
            trainer.train_step(totals)
    per_key = {key: count / cycle for key, count in tally.counts.most_common()}
    return sum(per_key.values()), per_key


def _gaunet_line() -> str:
    """The innermost gaunet/ frame (a backward pass run by autograd has none)."""
    for frame in reversed(traceback.extract_stack()):
        if "/gaunet/" in frame.filename:
            return f"{frame.filename.split('/gaunet/')[-1]}:{frame.lineno} {frame.name}"
    return "(autograd engine)"


def use_cuda_forms(module) -> None:
    """The forms `auto` picks on CUDA, for layers that pick by device."""
    for layer in module.modules():
        if isinstance(layer, PenaltyLayerNorm):
            layer.form = "short"
        elif isinstance(layer, LayerNorm2d):
            layer.kernel = "batch_norm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-tiny")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--by", default="op", choices=("op", "line", "node"))
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--forms", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--models", type=int, default=0, help="G models trained together")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config field"
    )
    args = parser.parse_args()
    overrides = {"channels": 1, "size": 28, "pad_input": True, "cuda_graphs": "false"}
    overrides["precision"] = args.precision
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    members = [build(args.preset, overrides, random_data(1, 28)) for _ in range(args.models or 1)]
    if args.forms == "cuda":
        for member in members:
            use_cuda_forms(member.critic)
    trainer = StackedStepper(members) if args.models else members[0]
    total, per_key = count_iteration(trainer, args.by)
    what = f"{args.models} models together" if args.models else "one model"
    print(
        f"{args.preset} {args.precision} ({args.forms} forms), {what}: "
        f"{total:.1f} kernels per iteration"
    )
    for key, count in list(per_key.items())[: args.top]:
        print(f"  {count:9.1f}  {key}")


if __name__ == "__main__":
    main()
