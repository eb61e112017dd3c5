"""Kernels one training iteration launches, by ATen op or by the gaunet source line that ran it:
at small sizes a GPU's step follows this count, not the arithmetic (docs/performance.md, "Issue
29"), and it is the same on any machine, so it can be cut and checked on a CPU.

    .venv/bin/python benchmarks/kernel_count.py --preset cpu-tiny --precision bf16
    .venv/bin/python benchmarks/kernel_count.py --preset paper --precision fp32 --by line

The iteration is the product's eager step (gaunet.training.loop.Trainer.train_step, as
`gaunet train` runs it, graphs off so the ops are dispatched where they can be counted), at
28 px grey padded to 32, averaged over one lazy-penalty cycle after a first step. Views, bare
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

from stacked_generators import NO_KERNEL  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from train_speed import build, random_data  # noqa: E402

from gaunet.models.dense import LayerNorm2d  # noqa: E402
from gaunet.models.penalty_norm import PenaltyLayerNorm  # noqa: E402


class KernelTally(TorchDispatchMode):
    """Counts the ops that launch a kernel, keyed by op name or by the gaunet line running it."""

    def __init__(self, by: str) -> None:
        super().__init__()
        self.by, self.counts = by, collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if not func.is_view and name not in NO_KERNEL:
            self.counts[name if self.by == "op" else _gaunet_line()] += 1
        return func(*args, **(kwargs or {}))


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
    parser.add_argument("--by", default="op", choices=("op", "line"))
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--forms", default="cuda", choices=("cuda", "cpu"))
    args = parser.parse_args()
    overrides = {"channels": 1, "size": 28, "pad_input": True, "cuda_graphs": "false"}
    trainer = build(args.preset, {**overrides, "precision": args.precision}, random_data(1, 28))
    if args.forms == "cuda":
        use_cuda_forms(trainer.critic)
    totals: dict = {}
    trainer.train_step(totals)  # the first step makes the optimizer state
    tally = KernelTally(args.by)
    cycle = trainer.cfg.gp_every
    with tally:
        for _ in range(cycle):
            trainer.train_step(totals)
    total = sum(tally.counts.values()) / cycle
    print(f"{args.preset} {args.precision} ({args.forms} forms): {total:.1f} kernels per iteration")
    for key, count in tally.counts.most_common(args.top):
        print(f"  {count / cycle:9.1f}  {key}")


if __name__ == "__main__":
    main()
