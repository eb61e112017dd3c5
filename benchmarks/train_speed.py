"""Training speed: images/s of full iterations (n_critic critic steps + 1 generator step), for the
optimised path and a plain reference path of the same model, in one run.

    .venv/bin/python benchmarks/train_speed.py --preset paper --size 28 --channels 1 --batch 32
    .venv/bin/python benchmarks/train_speed.py --preset cpu-tiny --levers      # every lever alone
    .venv/bin/python benchmarks/train_speed.py --preset cpu-tiny --profile 4   # operator table

images/s = batch / seconds per full iteration (the issue's definition: DAGAN's port does
32 / 17 s = 1.87); pairs/s = batch * (n_critic + 1) / s is the secondary column. The reference
path is plain fp32, contiguous memory, the penalty at every critic step on the whole batch, no
compilation. Repeats of the paths are interleaved and the median taken, because this machine is
shared. Also measured: the device's bf16 matmul ceiling (FLOP/s), the FLOPs of one iteration
(torch.utils.flop_counter, double backward included) and so the share of the ceiling reached.
The last line is `images/s optimised=X reference=Y ratio=Z peak_mem_mb=M`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gaunet.config import TrainConfig, load_config, parse_overrides
from gaunet.data import ImageSet
from gaunet.training.loop import Trainer, resolve_device

REFERENCE = {"precision": "fp32", "channels_last": False, "gp_every": 1, "gp_fraction": 1.0}
REFERENCE |= {"compile": False}
# The levers kept for the optimised path (see docs/performance.md for the measurements).
OPTIMISED = {
    "cpu": {"precision": "bf16", "gp_every": 4},
    "cuda": {"precision": "bf16", "gp_every": 4},
}
LEVERS = {
    "bf16": {"precision": "bf16"},
    "channels_last": {"channels_last": True},
    "gp_every=4": {"gp_every": 4},
    "gp_fraction=0.5": {"gp_fraction": 0.5},
    "compile": {"compile": True},
}


def random_data(channels: int, size: int, n: int = 64, classes: int = 2) -> ImageSet:
    rng = np.random.default_rng(0)
    return ImageSet(
        images=rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8),
        labels=np.arange(n) % classes,
        class_names=[str(c) for c in range(classes)],
        groups=np.arange(n).astype(str),
        ids=np.arange(n).astype(str),
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bf16_matmul_ceiling(device: torch.device) -> float:
    """Best FLOP/s of a large bf16 matmul: what the device's matrix units can do at most."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


class FlopCount(TorchDispatchMode):
    """Sums torch's FLOP formulas over every matmul/convolution op run, backward and double
    backward included. (FlopCounterMode itself tracks modules with hooks that autograd.grad,
    the gradient penalty, does not support.)"""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def flops_per_iteration(trainer: Trainer) -> float:
    """FLOPs of one iteration averaged over a penalty cycle (gp_every iterations)."""
    totals: dict = {}
    iterations = trainer.cfg.gp_every
    with FlopCount() as counter:
        for _ in range(iterations):
            trainer.train_step(totals)
    return counter.total / iterations


def build(preset: str, overrides: dict, data: ImageSet) -> Trainer:
    cfg = load_config(preset, {**overrides, "tensorboard": False})
    return Trainer(None, cfg, data, show_progress=False)


def time_block(trainer: Trainer, steps: int) -> float:
    totals: dict = {}
    sync(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(totals)
    _ = [float(v) for v in totals.values()]  # the host sync the loop does at log time
    return (time.perf_counter() - start) / steps


def peak_mem_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings_from(args: argparse.Namespace) -> tuple[dict, TrainConfig, torch.device, dict]:
    """The command line's overrides, the resolved config, its device and the optimised levers."""
    base = parse_overrides(args.overrides)
    for key, value in (
        ("size", args.size),
        ("channels", args.channels),
        ("batch_size", args.batch),
    ):
        if value is not None:
            base[key] = value
    probe = load_config(args.preset, {**base, "pad_input": True})
    if probe.size % 2**probe.g_depth:
        base["pad_input"] = True  # 28-px MedMNIST: padded inside the generator, documented
    device = resolve_device(str(base.get("device", probe.device)))
    return base, probe, device, {**OPTIMISED[device.type], **parse_overrides(args.optimised)}


def measure(args: argparse.Namespace) -> dict:
    base, probe, device, optimised = settings_from(args)
    paths = {"reference": REFERENCE, "optimised": {**REFERENCE, **optimised}}
    for name in filter(None, args.levers.split(",")):
        if name not in LEVERS:
            raise SystemExit(f"unknown lever {name!r} (known: {', '.join(LEVERS)})")
        paths[name] = {**REFERENCE, **LEVERS[name]}
    data = random_data(probe.channels, probe.size)
    trainers, results = {}, {}
    for name, settings in paths.items():
        try:
            trainer = build(args.preset, {**base, **settings}, data)
            for _ in range(args.warmup):
                trainer.train_step({})
            trainers[name] = trainer
            results[name] = {"settings": settings, "seconds": []}
        except Exception as error:  # noqa: BLE001 - a failing lever (compile) is a result
            results[name] = {"settings": settings, "error": f"{type(error).__name__}: {error}"}
    for _ in range(args.repeats):
        for name, trainer in trainers.items():
            results[name]["seconds"].append(time_block(trainer, args.steps))
            results[name]["peak_mem_mb"] = round(peak_mem_mb(device), 1)
    cfg = next(iter(trainers.values())).cfg if trainers else probe
    ceiling = bf16_matmul_ceiling(device)
    for name in trainers:
        r = results[name]
        seconds = statistics.median(r["seconds"])
        r["seconds_per_iteration"] = round(seconds, 4)
        r["images_per_second"] = round(cfg.batch_size / seconds, 2)
        r["pairs_per_second"] = round(cfg.batch_size * (cfg.n_critic + 1) / seconds, 2)
        if not args.no_flops and name in ("reference", "optimised"):
            eager = build(args.preset, {**base, **paths[name], "compile": False}, data)
            flops = flops_per_iteration(eager)
            r["gflop_per_iteration"] = round(flops / 1e9, 2)
            r["achieved_tflops"] = round(flops / seconds / 1e12, 4)
            r["share_of_bf16_ceiling"] = round(flops / seconds / ceiling, 4)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return {
        "preset": args.preset,
        "size": cfg.size,
        "channels": cfg.channels,
        "batch_size": cfg.batch_size,
        "n_critic": cfg.n_critic,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "steps": args.steps,
        "repeats": args.repeats,
        "loadavg": " ".join(load),
        "bf16_matmul_ceiling_tflops": round(ceiling / 1e12, 4),
        "paths": results,
    }


def profile_table(args: argparse.Namespace) -> str:
    """Where the optimised step's time goes, operator by operator (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    base, probe, device, optimised = settings_from(args)
    settings = {**REFERENCE, **optimised}
    trainer = build(args.preset, {**base, **settings}, random_data(probe.channels, probe.size))
    for _ in range(args.warmup):
        trainer.train_step({})
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.profile):
            trainer.train_step({})
        sync(device)
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", "--config", dest="preset", default="cpu-tiny")
    parser.add_argument("--size", type=int)
    parser.add_argument("--channels", type=int, choices=(1, 3))
    parser.add_argument("--batch", "--batch-size", dest="batch", type=int)
    parser.add_argument("--steps", type=int, default=3, help="iterations per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per path (median)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--levers",
        nargs="?",
        const=",".join(LEVERS),
        default="",
        help=f"also time each lever alone (comma list; default all: {','.join(LEVERS)})",
    )
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    parser.add_argument(
        "--optimised", action="append", default=[], metavar="K=V", help="change the optimised path"
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON result here")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead: print torch.profiler's operator table for N optimised iterations",
    )
    args = parser.parse_args()
    if args.profile:
        print(profile_table(args))
        return
    result = measure(args)
    line = json.dumps(result)
    print(line)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(line + "\n")
    paths = result["paths"]
    opt = paths["optimised"].get("images_per_second", float("nan"))
    ref = paths["reference"].get("images_per_second", float("nan"))
    peak = max((p.get("peak_mem_mb", 0.0) for p in paths.values()), default=0.0)
    print(f"images/s optimised={opt} reference={ref} ratio={opt / ref:.2f} peak_mem_mb={peak:.0f}")


if __name__ == "__main__":
    main()
