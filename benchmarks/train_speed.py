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

Levers combine with "+" (`--levers bf16+gp_every=4+cuda_graphs`). Besides config settings, the
issue-17 levers are applied to the built trainer (keys starting with "_", also accepted by
`--optimised`): `bf16_norm` (the critic's layer norms keep bf16 activations, fp32 statistics:
gaunet.models.dense.LayerNorm2d), `dense_buffer` (dense blocks write into one preallocated
buffer instead of concatenating), `compile_ro` (torch.compile mode="reduce-overhead" of the
forward modules). `cuda_graphs` is `gaunet train`'s own graph path (the config setting
`cuda_graphs`, gaunet/training/graphs.py; CUDA only), on in the optimised CUDA path; its warm-up
and capture run before the timed blocks. `--json-out` is rewritten after every round of timed blocks, so a run cut short by a
timeout still leaves its numbers. A path's blocks are `--steps` rounded up to whole cycles of
its lazy penalty (`steps_per_block` in the JSON), so every block holds the same penalties.
"""

from __future__ import annotations

import argparse
import json
import math
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
from gaunet.device import resolve_device
from gaunet.models.dense import use_critic_levers
from gaunet.training.loop import Trainer

REFERENCE = {"precision": "fp32", "channels_last": False, "gp_every": 1, "gp_fraction": 1.0}
REFERENCE |= {"compile": False, "cuda_graphs": "false"}
# The levers kept for the optimised path (see docs/performance.md for the measurements). On the
# CPU it follows the presets' `precision: auto`: bf16 only where the CPU does it natively (an
# emulated bf16 is several times slower than fp32; gaunet/precision.py, issue 29).
OPTIMISED = {
    "cpu": {"precision": "auto", "gp_every": 4},
    "cuda": {"precision": "bf16", "gp_every": 4, "cuda_graphs": "true"},
}
LEVERS = {
    "bf16": {"precision": "bf16"},
    "channels_last": {"channels_last": True},
    "gp_every=4": {"gp_every": 4},
    "gp_fraction=0.5": {"gp_fraction": 0.5},
    "compile": {"compile": True},
    # issue 17: applied to the built trainer (apply_levers), not config settings
    "bf16_norm": {"precision": "bf16", "_bf16_norm": True},  # acts on bf16 activations only
    "dense_buffer": {"_dense_buffer": True},
    "compile_ro": {"_compile_mode": "reduce-overhead"},
    # gaunet train's own graph path (gaunet/training/graphs.py); CUDA only
    "cuda_graphs": {"cuda_graphs": "true"},
}
# `--levers` without a list: the cheap ones (compilation and CUDA graphs are asked for by name)
DEFAULT_LEVERS = [name for name in LEVERS if name not in ("compile_ro", "cuda_graphs")]


def lever_settings(name: str) -> dict:
    """The settings of a lever name; "a+b" combines levers a and b."""
    settings: dict = {}
    for part in name.split("+"):
        if part not in LEVERS:
            raise SystemExit(f"unknown lever {part!r} (known: {', '.join(LEVERS)})")
        settings |= LEVERS[part]
    return settings


def _on(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def apply_levers(trainer: Trainer, settings: dict) -> None:
    """The "_" levers, on a built trainer."""
    norm, buffer = _on(settings.get("_bf16_norm", False)), _on(settings.get("_dense_buffer", False))
    if norm or buffer:
        use_critic_levers(trainer.critic, keep_dtype_norm=norm, feature_buffer=buffer)
    mode = settings.get("_compile_mode")
    if mode:
        trainer.generator_fwd = torch.compile(trainer.generator, mode=mode)
        trainer.critic_fwd = torch.compile(trainer.critic, mode=mode)
    if trainer.graphs is not None:  # warm up and capture now, outside the timed blocks
        while trainer.warming_up:
            trainer.train_step({})


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


def bf16_matmul_ceiling(device: torch.device, grow_below_seconds: float = 0.05) -> float:
    """Best FLOP/s of a large bf16 matmul: what the device's matrix units can do at most.

    The side doubles from 256 up to 2048 (CPU) or 8192 (CUDA) only while one product takes
    under `grow_below_seconds` (the next costs 8x): on a CPU that emulates bf16 (AVX2 only) the
    fixed 2048 product ran at about 0.0002 TFLOP/s, over a minute a product, and made each timed
    row minutes long there."""
    largest = 8192 if device.type == "cuda" else 2048
    n, best_rate = 256, 0.0
    while True:
        a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        best = float("inf")
        for _ in range(3):
            sync(device)
            start = time.perf_counter()
            torch.matmul(a, b)
            sync(device)
            best = min(best, time.perf_counter() - start)
        best_rate = max(best_rate, 2 * n**3 / best)
        if n >= largest or best >= grow_below_seconds:
            return best_rate
        n *= 2


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
    config = {k: v for k, v in overrides.items() if not k.startswith("_")}
    cfg = load_config(preset, {**config, "tensorboard": False})
    trainer = Trainer(None, cfg, data, show_progress=False)
    apply_levers(trainer, overrides)
    return trainer


def whole_cycles(steps: int, cfg: TrainConfig) -> int:
    """`steps` rounded up to whole cycles of the lazy penalty (penalty_phases): with n_critic 5
    and gp_every 4 the iterations run 2, 1, 1, 1 penalties in turn, so blocks of 2 or 3 held 2
    to 4 of them and the median block was skewed (by about 1-2 % before 2026-12-07)."""
    from gaunet.training.graphs import penalty_phases

    cycle = penalty_phases(cfg)
    return -(-steps // cycle) * cycle


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


def compared_paths(levers: str, optimised: dict) -> dict[str, dict]:
    """The reference, the optimised path and each lever of the comma list, by name."""
    paths = {"reference": REFERENCE, "optimised": {**REFERENCE, **optimised}}
    for name in filter(None, levers.split(",")):
        paths[name] = {**REFERENCE, **lever_settings(name)}
    return paths


def measure(args: argparse.Namespace) -> dict:
    base, probe, device, optimised = settings_from(args)
    paths = compared_paths(args.levers, optimised)
    data = random_data(probe.channels, probe.size)
    trainers, results = {}, {}
    for name, settings in paths.items():
        try:
            trainer = build(args.preset, {**base, **settings}, data)
            for _ in range(args.warmup):
                trainer.train_step({})
            trainers[name] = trainer
            results[name] = {"settings": settings, "precision": trainer.precision, "seconds": []}
        except Exception as error:  # noqa: BLE001 - a failing lever (compile) is a result
            results[name] = {"settings": settings, "error": f"{type(error).__name__}: {error}"}
    cfg = next(iter(trainers.values())).cfg if trainers else probe
    ceiling = bf16_matmul_ceiling(device)
    flops: dict = {}  # by the settings that change the arithmetic (the penalty's schedule)

    def summary() -> dict:
        for name in trainers:
            r = results[name]
            if not r["seconds"]:
                continue
            seconds = statistics.median(r["seconds"])
            r["seconds_per_iteration"] = round(seconds, 4)
            r["images_per_second"] = round(cfg.batch_size / seconds, 2)
            r["pairs_per_second"] = round(cfg.batch_size * (cfg.n_critic + 1) / seconds, 2)
            key = (trainers[name].cfg.gp_every, trainers[name].cfg.gp_fraction)
            if key in flops:
                r["gflop_per_iteration"] = round(flops[key] / 1e9, 2)
                r["achieved_tflops"] = round(flops[key] / seconds / 1e12, 4)
                r["share_of_bf16_ceiling"] = round(flops[key] / seconds / ceiling, 4)
        load = (
            Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
        )
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

    for _ in range(args.repeats):
        for name, trainer in list(trainers.items()):
            try:
                steps = whole_cycles(args.steps, trainer.cfg)
                results[name]["steps_per_block"] = steps
                results[name]["seconds"].append(time_block(trainer, steps))
            except Exception as error:  # noqa: BLE001 - e.g. a graph replay that fails
                results[name]["error"] = f"{type(error).__name__}: {error}"
                del trainers[name]
                continue
            results[name]["peak_mem_mb"] = round(peak_mem_mb(device), 1)
        write_json(args.json_out, summary())  # partial results survive a timeout
    if not args.no_flops:
        # FLOPs depend on the penalty's schedule only (precision, layout, buffers, graphs and
        # compilation change no arithmetic): one eager count per schedule, shared by the paths
        for name in ("reference", "optimised", *trainers):
            if name not in trainers:
                continue
            key = (trainers[name].cfg.gp_every, trainers[name].cfg.gp_fraction)
            if key not in flops:
                plain = {k: v for k, v in paths[name].items() if not k.startswith("_")}
                flops[key] = flops_per_iteration(
                    build(
                        args.preset,
                        {**base, **plain, "compile": False, "cuda_graphs": "false"},
                        data,
                    )
                )
    return summary()


def loss_curves(args: argparse.Namespace) -> dict:
    """Training behaviour of the optimised path: the losses of `args.loss_curves` iterations of
    the reference path and of the optimised path (and any `--levers`), each from the same
    weights, pairs and noise (the same seed), read on the host only at the end. Per loss and
    path: the mean absolute difference to the reference over the steps both logged it, relative
    to the reference's mean absolute value, and the largest difference. A GAN's losses are
    chaotic over many steps, so the yardstick is the reference with another seed
    (`reference-other-seed`): a path behaves like the reference when its difference is no
    larger than that. CUDA-graph paths are compared too: their replays keep the loss totals."""
    base, probe, device, optimised = settings_from(args)
    paths = compared_paths(args.levers, optimised)
    # the yardstick: how far the reference's own curve moves with another seed
    paths["reference-other-seed"] = {**REFERENCE, "seed": probe.seed + 1}
    data = random_data(probe.channels, probe.size)
    curves: dict = {}
    for name, settings in paths.items():
        try:
            trainer = build(args.preset, {**base, **settings}, data)
            steps: list[dict] = []
            for _ in range(args.loss_curves):
                totals: dict = {}
                trainer.train_step(totals)
                steps.append(totals)
            keys = sorted({key for totals in steps for key in totals})
            curves[name] = {
                key: [float(t[key]) if key in t else math.nan for t in steps] for key in keys
            }
        except Exception as error:  # noqa: BLE001 - a failing lever is a result
            curves[name] = {"error": f"{type(error).__name__}: {error}"}
    return {
        "preset": args.preset,
        "size": probe.size,
        "batch_size": probe.batch_size,
        "iterations": args.loss_curves,
        "device": str(device),
        "torch": torch.__version__,
        "curves": curves,
        "differences": curve_differences(curves),
    }


def curve_differences(curves: dict) -> dict:
    """Each path's losses against the reference's: {path: {loss: {relative, max_abs}}}."""
    reference = curves.get("reference", {})
    if "error" in reference:
        return {}
    out: dict = {}
    for name, curve in curves.items():
        if name == "reference" or "error" in curve:
            continue
        out[name] = {}
        for key, ours in curve.items():
            theirs = reference.get(key)
            if theirs is None:
                continue
            both = [(a, b) for a, b in zip(ours, theirs) if math.isfinite(a) and math.isfinite(b)]
            if not both:
                continue
            diffs = [abs(a - b) for a, b in both]
            scale = statistics.fmean(abs(b) for _, b in both)
            out[name][key] = {
                "relative": round(statistics.fmean(diffs) / scale, 4) if scale > 0 else math.nan,
                "max_abs": round(max(diffs), 5),
                "steps": len(both),
            }
    return out


def write_json(path: Path | None, result: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result) + "\n")


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
        const=",".join(DEFAULT_LEVERS),
        default="",
        help=f"also time each lever alone (comma list, a+b combines; without a list: "
        f"{','.join(DEFAULT_LEVERS)}; known: {','.join(LEVERS)})",
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
    parser.add_argument(
        "--loss-curves",
        type=int,
        default=0,
        metavar="N",
        help="instead: N iterations' losses of the reference, optimised (and --levers) paths "
        "from the same seed, and each path's difference to the reference",
    )
    args = parser.parse_args()
    if args.loss_curves:
        result = loss_curves(args)
        write_json(args.json_out, result)
        for name, losses in result["differences"].items():
            for key, d in losses.items():
                print(
                    f"loss curve {name:28s} {key:20s} relative difference {d['relative']:.4f} "
                    f"max |diff| {d['max_abs']:.5f} over {d['steps']} steps"
                )
        for name, curve in result["curves"].items():
            if "error" in curve:
                print(f"loss curve {name:28s} {curve['error']}")
        return
    if args.profile:
        print(profile_table(args))
        return
    result = measure(args)
    print(json.dumps(result))
    write_json(args.json_out, result)
    paths = result["paths"]
    opt = paths["optimised"].get("images_per_second", float("nan"))
    ref = paths["reference"].get("images_per_second", float("nan"))
    peak = max((p.get("peak_mem_mb", 0.0) for p in paths.values()), default=0.0)
    print(f"images/s optimised={opt} reference={ref} ratio={opt / ref:.2f} peak_mem_mb={peak:.0f}")


if __name__ == "__main__":
    main()
