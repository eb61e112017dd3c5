"""The critic's layer norm in its short form (gaunet.models.penalty_norm) against its native
form (F.group_norm), in the product's iteration: kernels per iteration and iterations/s.

    .venv/bin/python benchmarks/penalty_norm_speed.py --preset cpu-tiny --precision bf16
    .venv/bin/python benchmarks/penalty_norm_speed.py --preset paper --precision fp32 --repeats 3

Two trainers of one config and seed, the critic's PenaltyLayerNorms set to `form="short"` in
one and `"native"` in the other (`"auto"` picks short off the CPU); each runs
`Trainer.train_step` (what `gaunet train` runs; on CUDA its graph path unless `--set
cuda_graphs=false`) at `--size` px grey, padded to a multiple of 16. Timed blocks alternate
between the two, the median is kept. Kernels are counted eagerly, as benchmarks/kernel_count.py
counts them. `one_layer` counts one norm under a penalty-style loss, with the kernels that make
a full-size pass over the activation. The values differ only by the rounding of the penalty's
gradients (tests/test_penalty_norm.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import torch  # noqa: E402
from kernel_count import count_iteration  # noqa: E402
from stacked_generators import launches_kernel  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from train_speed import build, random_data, time_block  # noqa: E402

from gaunet.models.penalty_norm import PenaltyLayerNorm, penalty_layer_norm  # noqa: E402

FORMS = ("short", "native")


def set_form(module, form: str) -> int:
    """Sets every PenaltyLayerNorm's form; how many there are."""
    norms = [layer for layer in module.modules() if isinstance(layer, PenaltyLayerNorm)]
    for norm in norms:
        norm.form = form
    return len(norms)


class FullSizeTally(TorchDispatchMode):
    """Kernels, and of those the ones that read or write a tensor of `size` elements or more
    (a pass over the activation, what a bandwidth-bound device pays for)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.kernels, self.full_size = size, 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if launches_kernel(func):
            tensors = (*args, *(out if isinstance(out, tuple) else (out,)))
            self.kernels += 1
            self.full_size += any(
                isinstance(t, torch.Tensor) and t.numel() >= self.size for t in tensors
            )
        return out


def one_layer(form: str, shape=(16, 64, 7, 7)) -> dict:
    """One layer norm under a penalty-style loss: its create-graph backward and the double
    backward, kernels and full-size passes (the loss's own ops included, alike for both)."""
    torch.manual_seed(0)
    x = torch.randn(shape, requires_grad=True)
    weight, bias = torch.randn(shape[1], requires_grad=True), torch.randn(shape[1])
    out = penalty_layer_norm(x, weight, bias, form=form)
    result = {}
    with FullSizeTally(x.numel()) as first:
        (grad,) = torch.autograd.grad((out * out.detach()).sum(), x, create_graph=True)
    with FullSizeTally(x.numel()) as second:
        grad.square().sum().backward()
    for name, tally in (("create_graph_backward", first), ("double_backward", second)):
        result[name] = {"kernels": tally.kernels, "full_size": tally.full_size}
    return result


def kernels_per_iteration(preset: str, overrides: dict, size: int, form: str) -> float:
    """Kernels of one eager iteration, on a trainer of its own with graphs off, so that every op
    is dispatched where it can be counted (benchmarks/kernel_count.py)."""
    trainer = build(preset, {**overrides, "cuda_graphs": "false"}, random_data(1, size))
    set_form(trainer.critic, form)
    return count_iteration(trainer)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-tiny")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="default: preset's")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--batch", type=int, help="batch size (default: the preset's)")
    parser.add_argument("--steps", type=int, default=8, help="iterations per timed block")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    overrides: dict = {"channels": 1, "size": args.size, "pad_input": args.size % 16 != 0}
    if args.precision:
        overrides["precision"] = args.precision
    if args.batch:
        overrides["batch_size"] = args.batch
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = yaml.safe_load(value)
    trainers = {form: build(args.preset, overrides, random_data(1, args.size)) for form in FORMS}
    first = trainers["short"]
    result: dict = {"preset": args.preset, "size": args.size, "batch": first.cfg.batch_size}
    result["device"] = str(first.device)
    result["precision"] = first.precision
    result["one_layer"] = {form: one_layer(form) for form in FORMS}
    for form, trainer in trainers.items():
        assert set_form(trainer.critic, form) > 0
        result[f"{form}_kernels"] = kernels_per_iteration(args.preset, overrides, args.size, form)
        for _ in range(args.steps):  # on CUDA, the graph path's warm-up and capture
            trainer.train_step({})
    seconds: dict = {name: [] for name in trainers}
    for _ in range(args.repeats):
        for name, trainer in trainers.items():
            seconds[name].append(time_block(trainer, args.steps))
    for name in trainers:
        result[f"{name}_iterations_per_second"] = round(1 / statistics.median(seconds[name]), 3)
    result["speedup"] = round(
        result["short_iterations_per_second"] / result["native_iterations_per_second"], 3
    )
    print(json.dumps(result, indent=1))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
