"""Issue 29's GPU check: `gaunet train`, `gaunet benchmark` themselves on a GPU, in one command
that fits a short device lease, every number into one JSON.

    python3 benchmarks/gpu_train_check.py OUT --data breastmnist.npz [--budget 540]
    python3 benchmarks/gpu_train_check.py OUT --smoke      # the same stages on the CPU, tiny

Stages, in order of what matters; each one runs `python -m gaunet ...` as a user would, with
its own time limit, and is skipped when the budget left is below what it needs:

  pytest-cuda        the CUDA tests of tests/test_graphs.py (the real capture, resume, eager
                     agreement), tests/test_downstream_device.py, and the stacked ones
  item5              issue 29 item 5 in one command: 5 subsets, generators trained together for
                     5,000 epochs, 6 arms x 10 seeds on the GPU (--jobs 5), pooled; OUT/item5
                     keeps the folder (a cut run continues from it: --item5-dir)
  stacked-train-5    gaunet benchmark --subset-seeds 0-4 --stack-generators, generators only:
                     the product's stacked training, steps/s per model and in all (item 2)
  norm-28/norm-256   benchmarks/penalty_norm_speed.py: the critic's layer norm in its short
                     form against F.group_norm, paper preset, batch 64 at 28 px, 32 at 256 px
  stacked-b16/b128   benchmarks/stacked_generators.py: 5 and 8 generators stepped as one
                     (vmap) against single runs, eager and as a CUDA graph (items 2 and 5)
  paper256-b32       --config paper at 256 px RGB, batch 32, bf16 + gp_every=4 (run 3's best
                     levers), graphs
  tiny28-b256/b512   cpu-tiny at 28 px with batches of 256 and 512 (item 5's batch of choice)
  paper28-b64-bf16   --config paper --size 28 --channels 1, batch 64, bf16, graphs
  table3-busi        gaunet benchmark --protocol paper on BUSI (--busi), one seed, a 1-minute
                     generator: per-cell seconds of ResNet-18/50, DenseNet-161, SVM (item 4)
  concurrent-4/2     4 and 2 cpu-tiny batch-128 processes at once (item 2)
  then the stages runs 4-5 measured, as repeats: paper28-b64 (fp32), tiny28, tiny28-b128,
  paper28-b64-autotune (cudnn_benchmark=true), tiny28-fp32, paper28-b64-eager
  (cuda_graphs=false), and benchmark (BreastMNIST fraction 0.25, six arms, 10 seeds,
  ResNet-18 half width, a 1.5-minute cpu-tiny generator, --device cuda)

For each training stage: steps, wall seconds, warm-up seconds, steps/s over the whole run and
in steady state (from metrics.jsonl, after the warm-up window), images/s as run.json has it.
`OUT/summary.json` is rewritten after every stage, so a cut run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout (the GPU machine has no install of gaunet)
GRACE = 20  # seconds a stage cut by its limit has to save after SIGINT, before SIGKILL

PAPER28 = ["--config", "paper", "--size", "28", "--channels", "1", "--set", "pad_input=true"]
PAPER28 += ["--set", "batch_size=64", "--set", "log_every=10"]
TINY28 = [
    "--config",
    "cpu-tiny",
    "--size",
    "28",
    "--set",
    "pad_input=true",
    "--set",
    "log_every=10",
]
# the CPU smoke mode: the same stages with networks that take milliseconds
SMOKE = ["--set", "g_width=4", "--set", "g_width_max=8", "--set", "d_growth=4"]
SMOKE += ["--set", "d_stem=4", "--set", "d_layers_per_block=2", "--set", "batch_size=4"]
SMOKE += ["--set", "g_convs_per_block=1", "--set", "d_blocks=2", "--set", "z_dim=8"]
SMOKE += ["--set", "log_every=2", "--set", "device=cpu", "--set", "num_threads=1"]


def gaunet(*args: str) -> list[str]:
    return [sys.executable, "-m", "gaunet", *args]


def steady_rate(metrics: Path) -> float | None:
    """Steps/s between the first and the last metrics.jsonl record: the first window holds the
    warm-up (autotuning, capture), so it is left out."""
    if not metrics.exists():
        return None
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if len(records) < 2:
        return None
    first, last = records[0], records[-1]
    seconds = last["elapsed_seconds"] - first["elapsed_seconds"]
    return round((last["step"] - first["step"]) / seconds, 3) if seconds > 0 else None


def run_summary(run: Path) -> dict:
    """What a training stage measured, from its run folder."""
    path = run / "run.json"
    if not path.exists():
        return {"error": "no run.json"}
    info = json.loads(path.read_text())
    wall = info.get("wall_seconds") or 0
    keep = (
        "device", "device_name", "steps", "wall_seconds", "first_step_seconds", "startup_seconds",
        "warmup_seconds", "images_per_second", "images_seen", "cuda_graphs", "cuda_graphs_reason",
        "precision", "precision_reason", "status", "train_images", "stacked",
    )  # fmt: skip
    out = {k: info.get(k) for k in keep}
    out["steps_per_second"] = round(info["steps"] / wall, 3) if wall else None
    out["steady_steps_per_second"] = steady_rate(run / "metrics.jsonl")
    return out


def write_generator_config(config: Path, batch: int, smoke: bool = False) -> Path:
    """The benchmark stages' generator, cpu-tiny at 28 px (padded to 32) with this batch, as
    `config`; benchmarks/item5_cpu.sh writes item 5's on the CPU with it too, so both train the
    same generator."""
    from gaunet.config import load_config, save_config

    config.parent.mkdir(parents=True, exist_ok=True)
    overrides = {"size": 28, "pad_input": True, "batch_size": batch}
    if smoke:  # batch 8 under the same name: 5 stacked models at 128 took minutes
        overrides |= {"g_width": 4, "g_width_max": 8, "d_growth": 4, "d_stem": 4}
        overrides |= {"log_every": 2, "precision": "fp32", "periodic_every": 2}
        overrides |= {"batch_size": 8}
    save_config(load_config("cpu-tiny", overrides), config)
    return config


class Check:
    def __init__(
        self, out: Path, budget: float, smoke: bool, data: str, item5_dir: Path | None = None
    ) -> None:
        self.out, self.smoke, self.data = out, smoke, data
        self.deadline = time.monotonic() + budget
        self.work = Path(tempfile.mkdtemp(prefix="gpu-train-check-"))
        self.item5_dir = item5_dir or self.work / "item5"
        self.summary: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "stages": {}}
        self.log = (out / "log.txt").open("a")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        self.summary["loadavg"] = os.getloadavg()
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=1) + "\n")

    def spawn(self, argv: list[str]) -> subprocess.Popen:
        """A stage's process, logged, with SIGINT at its default (the limit's cut is SIGINT)."""
        from gaunet.interrupts import default_sigint

        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        self.log.write("$ " + " ".join(argv) + "\n")
        self.log.flush()
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log, stderr=self.log, preexec_fn=default_sigint
        )

    def wait(self, procs: list[subprocess.Popen], limit: float) -> list[int | str]:
        codes: list[int | str] = []
        end = time.monotonic() + limit
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=max(end - time.monotonic(), 1)))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)  # as Ctrl-C: gaunet saves, a rerun continues
                try:
                    proc.wait(timeout=GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                codes.append("timeout")
        return codes

    def stage(self, name: str, need: float, limit: float) -> bool:
        """Whether `name` runs: enough budget left for it."""
        if self.left() < need:
            self.summary["stages"][name] = {"skipped": f"{self.left():.0f} s left, needs {need}"}
            self.save()
            return False
        print(f"[{time.strftime('%H:%M:%S')}] {name} ({self.left():.0f} s left)", flush=True)
        return True

    def train(self, name: str, args: list[str], minutes: float, need: float, copies: int = 1):
        """`copies` gaunet train processes at once, each with a `minutes` budget."""
        limit = min(minutes * 60 + 90, max(self.left(), need))
        if not self.stage(name, need, limit):
            return
        steps = ["--steps", "6"] if self.smoke else ["--minutes", str(minutes)]
        runs = [self.work / f"{name}-{k}" for k in range(copies)]
        started = time.monotonic()
        procs = [
            self.spawn(
                gaunet(
                    "train", "--data", self.data, "--out", str(run), *args,
                    *(SMOKE if self.smoke else []), *steps, "--quiet",
                )
            )
            for run in runs
        ]  # fmt: skip
        codes = self.wait(procs, limit)
        result: dict = {"args": args, "copies": copies, "exit": codes}
        result["wall_all"] = round(time.monotonic() - started, 2)
        result["runs"] = [run_summary(run) for run in runs]
        rates = [r.get("steady_steps_per_second") for r in result["runs"]]
        if copies > 1 and all(rates):
            result["aggregate_steady_steps_per_second"] = round(sum(rates), 3)
        self.summary["stages"][name] = result
        self.save()

    def pytest(self) -> None:
        if not self.stage("pytest-cuda", 120, 100):
            return
        argv = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        argv += ["tests/test_graphs.py", "tests/test_downstream_device.py"]
        argv += ["tests/test_stacked.py", "tests/test_penalty_norm.py", "-k", "cuda"]
        started = time.monotonic()
        codes = self.wait([self.spawn(argv)], 100)
        self.summary["stages"]["pytest-cuda"] = {
            "exit": codes,
            "seconds": round(time.monotonic() - started, 1),
        }
        self.save()

    def script(self, name: str, script: str, args: list[str], need: float) -> None:
        """One benchmarks/ script whose `--json-out` numbers join the stage's exit and time."""
        if not self.stage(name, need, need):
            return
        path = self.out / f"{name}.json"
        argv = [sys.executable, str(ROOT / "benchmarks" / script), *args, "--json-out", str(path)]
        started = time.monotonic()
        codes = self.wait([self.spawn(argv)], need)
        result: dict = {"exit": codes, "seconds": round(time.monotonic() - started, 1)}
        if path.exists():
            result |= json.loads(path.read_text())
        self.summary["stages"][name] = result
        self.save()

    def stacked(self, batch: int, need: float) -> None:
        """benchmarks/stacked_generators.py: G generators stepped as one against G runs."""
        args = ["--size", "28"]
        if self.smoke:
            args += ["--models", "2", "--repeats", "1", "--device", "cpu", *SMOKE]
        else:
            args += ["--models", "5,8", "--repeats", "20", "--device", "cuda"]
            args += ["--batch", str(batch)]
        self.script(f"stacked-b{batch}", "stacked_generators.py", args, need)

    def penalty_norm(self, size: int, need: float) -> None:
        """benchmarks/penalty_norm_speed.py: the critic's layer norm in its short form (what
        `auto` runs on CUDA) against F.group_norm, in the paper preset's graphed iteration."""
        if self.smoke:
            args = ["--preset", "cpu-tiny", "--size", "16", "--steps", "1", "--repeats", "1"]
            args += SMOKE
        else:
            args = ["--preset", "paper", "--size", str(size), "--repeats", "3"]
            args += ["--batch", "64" if size <= 32 else "32"]
            args += ["--steps", "10" if size <= 32 else "4"]
        self.script(f"norm-{size}", "penalty_norm_speed.py", args, need)

    def table3(self, busi: str, need: float) -> None:
        """A slice of `gaunet benchmark --protocol paper` (issue 29 item 4) on BUSI at 256 px:
        one seed of every classifier and arm and a short generator, so the full protocol's
        wall time can be projected from the per-cell seconds (cells.jsonl)."""
        name = "table3-busi"
        if not self.stage(name, need, self.left()):
            return
        out = self.work / "table3"
        if self.smoke:
            data, tail = self.data, ["--size", "32", "--width", "0.125", "--epochs", "1"]
            tail += ["--gen-config", "cpu-tiny", "--gen-steps", "2", "--device", "cpu"]
        else:
            data, tail = busi, ["--gen-minutes", "1", "--device", "cuda"]
        argv = gaunet(
            "benchmark", "--protocol", "paper", "--data", data, "--out", str(out),
            "--seeds", "1", *tail, "--quiet",
        )  # fmt: skip
        result = self.run_benchmark(argv, out, "table3")
        cells = out / "cells.jsonl"
        if cells.exists():
            result["cells"] = [json.loads(line) for line in cells.read_text().splitlines()]
        self.summary["stages"][name] = result
        self.save()

    def run_benchmark(
        self, argv: list[str], out: Path, prefix: str, limit: float | None = None
    ) -> dict:
        """Run a `gaunet benchmark` for `limit` seconds (default: what budget is left); its
        tables into OUT/PREFIX-*, and the summary of every generator it trained (in its
        subset folders too)."""
        started = time.monotonic()
        limit = max(self.left() - 5, 10) if limit is None else limit
        codes = self.wait([self.spawn(argv)], limit)
        result: dict = {"exit": codes, "wall": round(time.monotonic() - started, 1)}
        for part in ("results.csv", "summary.md"):
            if (out / part).exists():
                shutil.copy(out / part, self.out / f"{prefix}-{part}")
        generators = sorted(out.glob("**/generators/*/run.json")) if out.exists() else []
        result["generators"] = [run_summary(p.parent) for p in generators]
        return result

    def generator_config(self, batch: int, folder: Path | None = None) -> Path:
        """cpu-tiny at 28 px (padded to 32) with this batch: the benchmark stages' generator,
        written into `folder` (default: this check's work folder). Its name is pinned in the
        benchmark folders, so a folder continued later must find it under the same name."""
        config = (folder or self.work) / f"gen-tiny-b{batch}.yaml"
        return write_generator_config(config, batch, self.smoke)

    def stacked_train(self, models: int, need: float) -> None:
        """`gaunet benchmark --subset-seeds --stack-generators`, generators only (one SVM cell
        each): the product's stacked training of `models` cpu-tiny batch-128 generators, in
        steps/s per model and in all (item 2)."""
        name = f"stacked-train-{models}"
        if not self.stage(name, need, need):
            return
        out = self.work / name
        budget = ["--gen-steps", "6"] if self.smoke else ["--gen-minutes", "0.5"]
        argv = gaunet(
            "benchmark", "--data", self.data, "--out", str(out), "--fractions", "0.25",
            "--arms", "none,gaunet", "--seeds", "1", "--classifiers", "svm",
            "--gen-config", str(self.generator_config(128)), *budget,
            "--subset-seeds", ",".join(map(str, range(models))), "--stack-generators",
            "--device", "cpu" if self.smoke else "cuda", "--quiet",
        )  # fmt: skip
        # a smoke run on a slow CPU needs longer than the GPU's budget: the budget left caps it
        result = self.run_benchmark(argv, out, name, limit=None if self.smoke else need)
        result["runs"] = result.pop("generators")
        rates = [r.get("steady_steps_per_second") for r in result["runs"]]
        if rates and all(rates):
            result["aggregate_steady_steps_per_second"] = round(sum(rates), 3)
        self.summary["stages"][name] = result
        self.save()

    def item5(self, need: float) -> None:
        """Issue 29 item 5 in one command: five BreastMNIST f=0.25 subsets, their generators
        trained together for 5,000 epochs (cpu-tiny, batch 128: 5,352 steps of 137 images),
        six arms x 10 seeds of ResNet-18 on the GPU (the five folders' cells in five processes
        at once: --jobs 5), pooled. Whatever budget is left (cut by
        SIGINT, so the generators save); the whole folder but its periodic checkpoints comes back
        (OUT/item5). `--item5-dir` (a carried copy of that folder) continues it: the generators
        from their last checkpoints, the cells after the finished ones."""
        name = "item5"
        if not self.stage(name, need, self.left()):
            return
        out = self.item5_dir
        arms = "none,classic,gaunet,gaunet+classic,copies,copies+classic"
        steps = "4" if self.smoke else "5352"
        argv = gaunet(
            "benchmark", "--data", self.data, "--out", str(out), "--fractions", "0.25",
            "--arms", arms, "--seeds", "1" if self.smoke else "10", "--classifiers", "resnet18",
            "--width", "0.5", "--epochs", "2" if self.smoke else "20",
            "--gen-config", str(self.generator_config(128, out.parent)), "--gen-steps", steps,
            "--subset-seeds", "0,1" if self.smoke else "0,1,2,3,4", "--stack-generators",
            "--jobs", "2" if self.smoke else "5",
            "--device", "cpu" if self.smoke else "cuda", "--quiet",
        )  # fmt: skip
        result = self.run_benchmark(argv, out, name, limit=max(self.left() - GRACE - 10, 10))
        results = sorted(out.glob("subset-*/results.csv"))
        result["result_rows"] = sum(len(p.read_text().splitlines()) - 1 for p in results)
        if out.exists():
            shutil.copytree(out, self.out / "item5", ignore=shutil.ignore_patterns("step-*.pt*"))
            result["snapshots_left_behind"] = len(list(out.rglob("step-*.pt")))
        self.summary["stages"][name] = result
        self.save()

    def benchmark(self, need: float) -> None:
        name = "benchmark"
        if not self.stage(name, need, self.left()):
            return
        config = self.generator_config(64)
        out = self.work / "bench"
        arms = "none,classic,gaunet,gaunet+classic,copies,copies+classic"
        budget = ["--gen-steps", "4"] if self.smoke else ["--gen-minutes", "1.5"]
        argv = gaunet(
            "benchmark", "--data", self.data, "--out", str(out), "--fractions", "0.25",
            "--arms", arms, "--seeds", "2" if self.smoke else "10", "--classifiers", "resnet18",
            "--width", "0.5", "--epochs", "2" if self.smoke else "20",
            "--gen-config", str(config), *budget, "--device", "cpu" if self.smoke else "cuda",
        )  # fmt: skip
        self.summary["stages"][name] = self.run_benchmark(argv, out, "benchmark")
        self.save()


def result_files(summary: dict, folder: Path, assume: dict[str, str], tag: str) -> list[Path]:
    """One docs/results/gpu-train-<tag>-<stage>[-k].json per training run of a summary: the
    run.json fields with the config's preset, size and batch size resolved from the stage's
    arguments. `assume`: settings whose default was different when the summary was made."""
    from gaunet.config import load_config

    written = []
    for name, stage in summary["stages"].items():
        args = stage.get("args")
        if not args or "runs" not in stage:
            continue
        preset = args[args.index("--config") + 1]
        overrides: dict[str, str] = dict(assume)
        for flag, value in zip(args, args[1:]):
            if flag == "--set":
                key, _, setting = value.partition("=")
                overrides[key] = setting
            elif flag in ("--size", "--channels"):
                overrides[flag[2:]] = value
        cfg = load_config(preset, overrides)
        for k, run in enumerate(stage["runs"]):
            if "steps" not in run:
                continue
            record = {
                "stage": name, "date": summary.get("started"), "preset": preset,
                "size": cfg.size, "channels": cfg.channels, "batch_size": cfg.batch_size,
                "n_critic": cfg.n_critic, "gp_every": cfg.gp_every,
                "cudnn_benchmark": cfg.cudnn_benchmark, "processes_at_once": stage["copies"],
                **run,
            }  # fmt: skip
            suffix = f"-{k}" if stage["copies"] > 1 else ""
            path = folder / f"gpu-train-{tag}-{name}{suffix}.json"
            path.write_text(json.dumps(record, indent=1) + "\n")
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", default="breastmnist.npz")
    parser.add_argument("--busi", default=".gpudata/busi", help="BUSI folder (table3-busi)")
    parser.add_argument("--budget", type=float, default=540, help="seconds for all stages")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run of every stage")
    parser.add_argument("--skip", default="", help="comma list of stages to leave out")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every stage's minutes")
    parser.add_argument(
        "--from-summary",
        type=Path,
        help="instead: write one JSON per training run of this summary.json into OUT "
        "(docs/results), named gpu-train-TAG-STAGE.json",
    )
    parser.add_argument("--tag", default="h200", help="with --from-summary: the files' tag")
    parser.add_argument(
        "--item5-dir",
        type=Path,
        help="item5's benchmark folder: a carried copy of an earlier OUT/item5 continues there",
    )
    parser.add_argument(
        "--assume",
        action="append",
        default=[],
        metavar="K=V",
        help="with --from-summary: a config default that differed when the summary was made",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_summary:
        summary = json.loads(args.from_summary.read_text())
        assume = dict(item.split("=", 1) for item in args.assume)
        for path in result_files(summary, args.out, assume, args.tag):
            print(path)
        return
    check = Check(args.out, args.budget, args.smoke, args.data, args.item5_dir)
    skip = set(filter(None, args.skip.split(",")))
    m = 0.05 if args.smoke else args.scale  # the smoke mode counts steps instead
    concurrent = [*TINY28, "--set", "batch_size=128", "--set", "log_every=10"]
    big = [[*TINY28, "--set", f"batch_size={b}"] for b in (256, 512)]
    paper256 = ["--config", "paper", "--set", "batch_size=32", "--set", "precision=bf16"]
    paper256 += ["--set", "gp_every=4", "--set", "log_every=5"]
    paper256 += ["--size", "32"] if args.smoke else []
    plan = [
        ("pytest-cuda", lambda: check.pytest()),
        # the stacked training loop (gaunet benchmark --stack-generators), then item 5 with it
        ("item5", lambda: check.item5(300)),
        ("stacked-train-5", lambda: check.stacked_train(5, 75)),
        # the critic's layer norm, short form against F.group_norm (2026-12-05)
        ("norm-28", lambda: check.penalty_norm(28, 60)),
        ("norm-256", lambda: check.penalty_norm(256, 150)),
        # first what no GPU session has measured yet (the 2026-12-04 evening session had none)
        ("stacked-b16", lambda: check.stacked(16, 120)),
        ("stacked-b128", lambda: check.stacked(128, 120)),
        ("paper256-b32", lambda: check.train("paper256-b32", paper256, 0.5 * m, 50)),
        ("tiny28-b256", lambda: check.train("tiny28-b256", big[0], 0.25 * m, 28)),
        ("tiny28-b512", lambda: check.train("tiny28-b512", big[1], 0.25 * m, 28)),
        (
            "paper28-b64-bf16",
            lambda: check.train(
                "paper28-b64-bf16", [*PAPER28, "--set", "precision=bf16"], 0.5 * m, 45
            ),
        ),
        ("table3-busi", lambda: check.table3(args.busi, 150)),
        (
            "concurrent-4",
            lambda: check.train("concurrent-4", concurrent, 0.4 * m, 40, copies=4),
        ),
        (
            "concurrent-2",
            lambda: check.train("concurrent-2", concurrent, 0.3 * m, 35, copies=2),
        ),
        # measured in runs 4-5 (docs/performance.md "Issue 29"): repeats, for comparison
        ("paper28-b64", lambda: check.train("paper28-b64", PAPER28, 0.5 * m, 45)),
        ("tiny28", lambda: check.train("tiny28", TINY28, 0.3 * m, 30)),
        ("tiny28-b128", lambda: check.train("tiny28-b128", concurrent, 0.25 * m, 28)),
        (
            "paper28-b64-autotune",
            lambda: check.train(
                "paper28-b64-autotune", [*PAPER28, "--set", "cudnn_benchmark=true"], 0.8 * m, 60
            ),
        ),
        (
            "tiny28-fp32",
            lambda: check.train("tiny28-fp32", [*TINY28, "--set", "precision=fp32"], 0.25 * m, 30),
        ),
        (
            "paper28-b64-eager",
            lambda: check.train(
                "paper28-b64-eager", [*PAPER28, "--set", "cuda_graphs=false"], 0.4 * m, 45
            ),
        ),
        ("benchmark", lambda: check.benchmark(120)),
    ]
    try:
        for name, run in plan:
            if name not in skip:
                run()
    finally:  # the stages' run folders (checkpoints of hundreds of MB): what counts is in OUT
        shutil.rmtree(check.work, ignore_errors=True)
    check.summary["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    check.save()
    print(json.dumps(check.summary, indent=1))


if __name__ == "__main__":
    main()
