"""Issue 29's GPU check: `gaunet train`, `gaunet benchmark` themselves on a GPU, in one command
that fits a short device lease, every number into one JSON.

    python3 benchmarks/gpu_train_check.py OUT --data breastmnist.npz [--budget 540]
    python3 benchmarks/gpu_train_check.py OUT --smoke      # the same stages on the CPU, tiny

Stages, in order of what matters; each one runs `python -m gaunet ...` as a user would, with
its own time limit, and is skipped when the budget left is below what it needs:

  pytest-cuda        the CUDA tests of tests/test_graphs.py (the real capture, resume, eager
                     agreement), tests/test_downstream_device.py, and the stacked ones
  stacked-train-5    gaunet benchmark --subset-seeds 0-4 --stack-generators, generators only:
                     the product's stacked training, steps/s per model and in all (item 2)
  item5              issue 29 item 5 in one command: 5 subsets, generators trained together for
                     5,000 epochs, 6 arms x 10 seeds on the GPU (--jobs 5), pooled, with every
                     second left; the folder comes back packed as OUT/item5.tar.gz.part-NN
                     (a cut run continues from it, unpacked: --item5-dir)
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
`OUT/summary.json` is rewritten after every stage, so a cut run keeps what it measured; a stage
that raises is recorded as its error and the next one runs. Before any stage, a wrong setup (no
CUDA, no --data file, no MONAI, an unknown --skip name) stops the check at once.

What comes back from a device machine's OUT is limited (docs: at most 8 files, 16 MiB each, two
folders down), so OUT holds only log.txt, summary.json, a stage's tables and item5's folder as
one gzipped tar cut into parts below 16 MiB:

    cat OUT/item5.tar.gz.part-* | tar -xz -C .gpudata     # .gpudata/item5
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
PART_BYTES = 15 * 2**20  # an archive part's size: what comes back from OUT is 16 MiB a file

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
    records = []
    for line in metrics.read_text().splitlines():
        try:  # a process killed while writing leaves a cut last line
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and {"step", "elapsed_seconds"} <= record.keys():
            records.append(record)
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
        """Each process's exit code, or "timeout": past `limit` (never past the budget less
        the GRACE the cut processes have to save) they all get SIGINT at once, then SIGKILL."""
        limit = min(limit, max(self.left() - GRACE, 1))
        codes: list[int | str | None] = [None] * len(procs)
        end = time.monotonic() + limit
        for k, proc in enumerate(procs):
            try:
                codes[k] = proc.wait(timeout=max(end - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                break
        cut = [k for k, code in enumerate(codes) if code is None]
        for k in cut:
            procs[k].send_signal(signal.SIGINT)  # as Ctrl-C: gaunet saves, a rerun continues
        grace_end = time.monotonic() + GRACE
        for k in cut:
            try:
                procs[k].wait(timeout=max(grace_end - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                procs[k].kill()
                procs[k].wait()
            codes[k] = "timeout"
        return codes  # type: ignore[return-value]

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
        self,
        argv: list[str],
        out: Path,
        prefix: str,
        limit: float | None = None,
        tables: bool = True,
    ) -> dict:
        """Run a `gaunet benchmark` for `limit` seconds (default: what budget is left); its
        tables into OUT/PREFIX-* (with `tables`), and the summary of every generator it trained
        (in its subset folders too)."""
        started = time.monotonic()
        limit = self.left() if limit is None else limit  # wait() keeps GRACE of the budget
        codes = self.wait([self.spawn(argv)], limit)
        result: dict = {"exit": codes, "wall": round(time.monotonic() - started, 1)}
        for part in ("results.csv", "summary.md") if tables else ():
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
        packed (OUT/item5.tar.gz.part-NN). `--item5-dir` (a carried, unpacked copy) continues it: the generators
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
        # 15 s of the budget kept for packing the folder
        result = self.run_benchmark(
            argv, out, name, limit=max(self.left() - GRACE - 15, 10), tables=False
        )
        results = sorted(out.glob("subset-*/results.csv"))
        result["result_rows"] = sum(len(p.read_text().splitlines()) - 1 for p in results)
        if out.exists():
            # OUT/item5/subset-S/generators/... would not come back from a device machine
            # (two folders down, 8 files at most): one archive in parts below 16 MiB
            parts = pack(out, self.out / "item5.tar.gz", skip=("step-*.pt*",))
            result["archive"] = [p.name for p in parts]
            result["archive_bytes"] = sum(p.stat().st_size for p in parts)
            result["unpack"] = "cat OUT/item5.tar.gz.part-* | tar -xz -C DIR   # DIR/item5"
            if self.smoke:  # the CPU's tests read the folder as it unpacks
                ignore = shutil.ignore_patterns("step-*.pt*")
                shutil.copytree(out, self.out / "item5", ignore=ignore)
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


class _Parts:
    """A write-only file that rolls over into PATH.part-00, -01, ... of `size` bytes at most."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size, self.paths = path, size, []
        self.handle = None
        self.used = 0

    def _next(self) -> None:
        if self.handle:
            self.handle.close()
        self.paths.append(self.path.with_name(f"{self.path.name}.part-{len(self.paths):02d}"))
        self.handle = self.paths[-1].open("wb")
        self.used = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view.nbytes:
            if self.handle is None or self.used >= self.size:
                self._next()
            n = min(self.size - self.used, view.nbytes)
            self.handle.write(view[:n])
            self.used += n
            view = view[n:]
        return len(data)

    def flush(self) -> None:
        if self.handle:
            self.handle.flush()

    def close(self) -> None:
        if self.handle is None:
            self._next()
        self.handle.close()


def pack(
    folder: Path, archive: Path, skip: tuple[str, ...] = (), part_bytes: int | None = None
) -> list[Path]:
    """`folder` (less the files matching `skip`) as a gzipped tar holding FOLDER-NAME/..., cut
    into ARCHIVE.part-NN files of `part_bytes` at most; `cat` joins them. The parts."""
    import fnmatch
    import gzip
    import tarfile

    for old in archive.parent.glob(f"{archive.name}.part-*"):
        old.unlink()
    parts = _Parts(archive, part_bytes or PART_BYTES)

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = Path(info.name).name
        return None if any(fnmatch.fnmatch(name, pattern) for pattern in skip) else info

    with gzip.GzipFile(fileobj=parts, mode="wb", compresslevel=3) as packed:  # type: ignore[arg-type]
        with tarfile.open(fileobj=packed, mode="w|") as tar:
            tar.add(folder, arcname=folder.name, filter=keep)
    parts.close()
    return parts.paths


STAGES = (
    "pytest-cuda", "stacked-train-5", "item5", "norm-28", "norm-256", "stacked-b16",
    "stacked-b128", "paper256-b32", "tiny28-b256", "tiny28-b512", "paper28-b64-bf16",
    "table3-busi", "concurrent-4", "concurrent-2", "paper28-b64", "tiny28", "tiny28-b128",
    "paper28-b64-autotune", "tiny28-fp32", "paper28-b64-eager", "benchmark",
)  # fmt: skip
# ResNet/DenseNet: MONAI (pytest-cuda too: tests/test_downstream_device.py builds a ResNet, and
# under -x its failure left the stacked and penalty-norm CUDA tests unrun)
CLASSIFIER_STAGES = {"item5", "table3-busi", "benchmark", "pytest-cuda"}


def preflight(args: argparse.Namespace, skip: set[str]) -> list[str]:
    """What is wrong with the setup, found in seconds, before any stage spends the lease: an
    unknown --skip name (a typo would run a stage that was meant to be left out), no --data
    file, no BUSI folder for table3-busi, no MONAI for the classifier stages, no CUDA."""

    problems = []
    unknown = sorted(skip - set(STAGES))
    if unknown:
        problems.append(
            f"--skip: unknown stage(s) {', '.join(unknown)} (stages: {', '.join(STAGES)})"
        )
    run = set(STAGES) - skip
    data = Path(args.data)
    if ":" not in args.data and not (ROOT / data).exists():  # stages run in ROOT
        problems.append(f"--data {args.data}: no such file (relative paths are from {ROOT})")
    if "table3-busi" in run and not args.smoke and not (ROOT / args.busi).is_dir():
        problems.append(f"--busi {args.busi}: no such folder (or --skip table3-busi)")
    if run & CLASSIFIER_STAGES and (why := _monai_problem()):
        problems.append(
            f"MONAI is not importable ({why}; carry its wheel: the classifiers need it)"
        )
    if not args.smoke:
        import torch

        if not torch.cuda.is_available():
            problems.append("no CUDA device (torch.cuda.is_available() is False); --smoke on a CPU")
    return problems


def _monai_problem() -> str:
    """Why MONAI's networks cannot be imported ("" when they can): found on the path is not
    enough, a carried wheel built for another torch fails at the first import, in a cell."""
    try:
        import monai.networks.nets  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any import failure is the same problem
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ""


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


def out_files(out: Path) -> dict:
    """OUT's files against what comes back from a device machine (8 files, 16 MiB each, two
    folders down): what would be left behind is named."""
    files = sorted(p for p in out.rglob("*") if p.is_file())
    deep = [str(p.relative_to(out)) for p in files if len(p.relative_to(out).parts) > 3]
    big = [str(p.relative_to(out)) for p in files if p.stat().st_size > 16 * 2**20]
    return {"count": len(files), "too_deep": deep[:20], "too_big": big, "over_8": len(files) > 8}


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
        help="item5's benchmark folder: a carried copy of an earlier one (unpacked from "
        "OUT/item5.tar.gz.part-NN) continues there",
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
    skip = set(filter(None, args.skip.split(",")))
    problems = preflight(args, skip)
    if problems:
        raise SystemExit("gpu_train_check: " + "; ".join(problems))
    check = Check(args.out, args.budget, args.smoke, args.data, args.item5_dir)
    m = 0.05 if args.smoke else args.scale  # the smoke mode counts steps instead
    concurrent = [*TINY28, "--set", "batch_size=128", "--set", "log_every=10"]
    big = [[*TINY28, "--set", f"batch_size={b}"] for b in (256, 512)]
    paper256 = ["--config", "paper", "--set", "batch_size=32", "--set", "precision=bf16"]
    paper256 += ["--set", "gp_every=4", "--set", "log_every=5"]
    paper256 += ["--size", "32"] if args.smoke else []
    plan = [
        ("pytest-cuda", lambda: check.pytest()),
        # the stacked training loop (gaunet benchmark --stack-generators), then item 5 with it
        # and every second left (before 2026-12-07 item5 came first and left stacked-train-5
        # no budget)
        ("stacked-train-5", lambda: check.stacked_train(5, 75)),
        ("item5", lambda: check.item5(300)),
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
    assert [name for name, _ in plan] == list(STAGES)
    try:
        for name, run in plan:
            if name in skip:
                continue
            try:
                run()
            except Exception as error:  # one stage's bug must not cost the stages after it
                check.summary["stages"][name] = {
                    **check.summary["stages"].get(name, {}),
                    "error": f"{type(error).__name__}: {error}",
                }
                check.save()
                print(f"{name} failed: {error!r}", file=sys.stderr, flush=True)
    finally:  # the stages' run folders (checkpoints of hundreds of MB): what counts is in OUT
        shutil.rmtree(check.work, ignore_errors=True)
    check.summary["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    check.summary["out_files"] = out_files(args.out)
    check.save()
    print(json.dumps(check.summary, indent=1))


if __name__ == "__main__":
    main()
