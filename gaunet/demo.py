"""`gaunet demo`: the whole value of gaunet in one command, on data that needs no download.

inspect -> split -> train -> generate -> evaluate -> downstream -> report, each step a method
that writes its outputs into DIR and is skipped on a rerun when they exist, so an interrupted
demo continues where it stopped. The generators are trained on the low-data training subset
(a fraction of the training split) and on nothing else; the downstream benchmark adds their
images to exactly that subset, so no validation or test image can reach a classifier through a
generator (the benchmark re-checks this from the run's split.csv and the synthetic manifest).
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.data import ImageSet, assign_split, load_source, print_skip_summary, write_split
from gaunet.errors import GaunetError
from gaunet.progress import progress

CLI_OPTIONS = (
    "minutes", "train_steps", "fraction", "size", "channels", "seed", "baselines", "eval_images",
    "features", "classifiers", "seeds", "epochs", "width", "threads",
)  # fmt: skip
STEPS = ("inspect", "split", "train", "generate", "evaluate", "downstream", "report")
BASELINE_MODELS = ("gan", "cgan")
# Settings that change results: a rerun into the same DIR with other values is refused.
PINNED = (
    "data", "size", "channels", "fraction", "seed", "minutes", "train_steps", "baselines",
    "eval_images", "features", "domain_steps", "classifiers", "seeds", "epochs", "patience",
    "width",
)  # fmt: skip


# `--data auto`: the first BreastMNIST file found (MedMNIST v2, Yang et al. 2023, CC BY 4.0:
# 780 breast-ultrasound images, 0.5 MB). The file is not shipped inside gaunet (its keepers ask
# that it is not copied into the repository); without it the demo falls back to the phantom.
BREASTMNIST = "breastmnist.npz"


def demo_data_candidates() -> list[Path]:
    """Where `--data auto` looks for BreastMNIST, in order: $GAUNET_DEMO_DATA, the medmnist
    package's download folder, and `shared/data/` beside the working folder and beside a
    source checkout of gaunet."""
    import os

    candidates = [Path(p) for p in [os.environ.get("GAUNET_DEMO_DATA", "")] if p]
    candidates.append(Path.home() / ".medmnist" / BREASTMNIST)
    candidates.append(Path.cwd().parent / "shared" / "data" / BREASTMNIST)
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data" / BREASTMNIST)
    return candidates


def resolve_demo_data(data: str) -> tuple[str, str]:
    """(SOURCE the demo reads, a line saying what it is). Anything but `auto` is kept."""
    if data != "auto":
        return data, f"data: {data}"
    for path in demo_data_candidates():
        if path.is_file():
            return str(path), f"data: BreastMNIST (MedMNIST v2, CC BY 4.0) from {path}"
    looked = ", ".join(str(p) for p in demo_data_candidates())
    return "phantom", (
        "data: the built-in phantom (synthetic blobs: it shows the pipeline, not what gaunet does "
        f"on medical images). BreastMNIST was not found ({looked}); put breastmnist.npz "
        "(https://medmnist.com) at one of them or give --data"
    )


@dataclass
class DemoSettings:
    """Budgets sized so the whole demo takes about 12 minutes on a 2-core CPU (docs/demo.md)."""

    data: str = "auto"  # resolve_demo_data: BreastMNIST when found, else the phantom
    out: str = "demo"
    minutes: float = 4.0  # GAU-Net training budget (wall clock), per generator
    train_steps: int | None = None  # a step budget instead of minutes (tests)
    fraction: float = 0.25  # the low-data training subset the generator and classifiers get
    size: int = 32
    channels: int = 1
    seed: int = 0
    baselines: bool = False  # also train GAN and cGAN (same subset, same budget)
    eval_images: int = 100  # real test and synthetic images compared (Inception is slow on CPU)
    features: list[str] = field(default_factory=lambda: ["inception", "domain"])
    domain_steps: int = 300
    classifiers: list[str] = field(default_factory=lambda: ["resnet18", "svm"])
    seeds: int = 3
    epochs: int = 15
    patience: int = 5
    width: float = 0.5  # channel-width multiplier of the downstream networks (CPU budget)
    threads: int = 1

    @property
    def models(self) -> list[str]:
        return ["gaunet", *(BASELINE_MODELS if self.baselines else ())]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


def write_json(path: Path, value: Any) -> None:
    """Written to a temporary name and renamed: an interrupted write never looks finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(value, indent=2, default=_jsonable) + "\n")
    partial.replace(path)


def reproduce_commands(settings: dict, num_classes: int) -> str:
    """The exact commands that reproduce each part, with this demo's settings."""
    s = {**asdict(DemoSettings()), **settings}
    source = shlex.quote(s["data"])
    per_class = max(2, -(-s["eval_images"] // max(1, num_classes)))
    budget = (
        f"--steps {s['train_steps']}" if s.get("train_steps") else f"--minutes {s['minutes']:g}"
    )
    gen_budget = budget.replace("--", "--gen-")
    defaults = asdict(DemoSettings())
    options = []  # this demo's options that differ from the defaults (CLI flags only)
    for key in CLI_OPTIONS:
        value = s[key]
        if value == defaults[key] or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            options.append(flag)
        else:
            text = ",".join(value) if isinstance(value, list) else f"{value:g}"
            options.append(f"{flag} {text}")
    lines = [
        "# this demo again, or on your own data (class folders, CSV, .npz, DICOM, NIfTI):",
        " ".join(["gaunet demo --data", source, "--out my-demo", *options]),
        "",
        "# or each part on its own:",
        f"gaunet data inspect {source} --size {s['size']} --channels {s['channels']} "
        "--sheet sheet.png",
        f"gaunet train --data {source} --out runs/gaunet --config cpu-tiny {budget} "
        f"--size {s['size']} --channels {s['channels']}   # trains on the whole training split",
        "gaunet generate --run runs/gaunet --out synthetic/gaunet --per-class " + str(per_class),
        "gaunet compare --runs runs/gaunet --out grid.png --per-class 3",
        f"gaunet evaluate --real {source} --synthetic synthetic/gaunet --features "
        f"{','.join(s['features'])} --size {s['size']} --max-images {s['eval_images']} "
        "--json metrics.json --report metrics.html   # caps the train split too",
        f"gaunet benchmark --data {source} --out bench --classifiers {','.join(s['classifiers'])} "
        f"--arms none,classic,gaunet,gaunet+classic --fractions {s['fraction']:g} "
        f"--seeds {s['seeds']} --size {s['size']} --width {s['width']:g} --epochs {s['epochs']} "
        f"--patience {s['patience']} {gen_budget}",
        "# (the benchmark's gaunet arm trains its own generator on exactly each fraction's images)",
    ]
    return "\n".join(lines)


class Demo:
    """One demo folder. Each `step_*` method returns its one-line summary."""

    def __init__(self, settings: DemoSettings) -> None:
        settings.data, self.data_note = resolve_demo_data(settings.data)
        self.settings = settings
        self.out = Path(settings.out)
        self.state_path = self.out / "demo.json"

    # ----- shared inputs --------------------------------------------------------------------
    @cached_property
    def source(self) -> ImageSet:
        """The source as read, at the demo's size (split only if the source has one)."""
        s = self.settings
        source = load_source(s.data, size=s.size, channels=s.channels)
        self.out.mkdir(parents=True, exist_ok=True)
        print_skip_summary(source, self.out)
        return source

    @cached_property
    def data(self) -> ImageSet:
        """The source with the split every step uses (official, else grouped 7:1:2)."""
        return assign_split(self.source, seed=self.settings.seed)

    @cached_property
    def subset(self) -> ImageSet:
        """The low-data training subset, chosen exactly as the benchmark chooses its fraction."""
        from gaunet.downstream.subsets import nested_subsets

        train = self.data.where_split("train")
        index = nested_subsets(train.labels, [self.settings.fraction], seed=self.settings.seed)
        subset = train.subset(index[self.settings.fraction])
        subset.split = np.full(len(subset), "train")
        return subset

    def run_folder(self, model: str) -> Path:
        return self.out / "runs" / model

    # ----- steps -----------------------------------------------------------------------------
    def step_inspect(self) -> str:
        from gaunet.data.inspect import summarize, write_sheet

        folder = self.out / "inspect"
        if not (folder / "summary.json").is_file():
            with progress(total=3, desc="inspect", unit="part") as bar:
                source = self.source
                bar.update(1)
                write_sheet(source, folder / "contact-sheet.png", seed=self.settings.seed)
                bar.update(1)
                write_json(folder / "summary.json", summarize(source, seed=self.settings.seed))
                bar.update(1)
        summary = json.loads((folder / "summary.json").read_text())
        counts = ", ".join(f"{c} {n}" for c, n in summary["counts"]["total"].items())
        return f"{summary['images']} images, {len(summary['classes'])} classes ({counts})"

    def step_split(self) -> str:
        path = self.out / "subset.json"
        if not path.is_file():
            with progress(total=2, desc="split", unit="file") as bar:
                write_split(self.out / "split.csv", self.data)
                bar.update(1)
                write_json(
                    path,
                    {
                        "fraction": self.settings.fraction,
                        "ids": [str(i) for i in self.subset.ids],
                        "counts": self.subset.class_counts(),
                        "splits": {
                            name: len(self.data.where_split(name))
                            for name in ("train", "val", "test")
                        },
                    },
                )
                bar.update(1)
        record = json.loads(path.read_text())
        splits = record["splits"]
        return (
            f"train {splits['train']} / val {splits['val']} / test {splits['test']}; "
            f"low-data subset ({record['fraction']:g} of train): {len(record['ids'])} images"
        )

    def _train_one(self, model: str) -> dict:
        from gaunet.training import train

        s = self.settings
        run = self.run_folder(model)
        info_path = run / "run.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        if info.get("finished"):
            return info
        started = (run / "checkpoints").is_dir() and any((run / "checkpoints").iterdir())
        minutes = None
        if s.train_steps is None:  # a resumed run gets what is left of its budget
            minutes = max(s.minutes - info.get("wall_seconds", 0.0) / 60.0, 0.05)
        overrides = {
            "model": model, "size": s.size, "channels": s.channels, "num_threads": s.threads,
            "log_every": 5, "sample_every": 50, "checkpoint_every": 25,
        }  # fmt: skip
        budget = f"{s.train_steps} steps" if minutes is None else f"{minutes:.1f} min"
        if minutes is not None:
            ends = time.strftime("%H:%M", time.localtime(time.time() + minutes * 60))
            budget += f", until about {ends}"
        print(f"  {model}: training on {len(self.subset)} images ({budget})", file=sys.stderr)
        train(
            None if started else self.subset,
            run,
            config="cpu-tiny",
            overrides=overrides,
            steps=s.train_steps,
            minutes=minutes,
            resume=started,
            seed=s.seed,
        )
        return json.loads(info_path.read_text())

    def step_train(self) -> str:
        parts = []
        for model in self.settings.models:
            info = self._train_one(model)
            parts.append(
                f"{model}: {info['steps']} steps in {info['wall_seconds'] / 60:.1f} min "
                f"({info.get('images_per_second') or 0:.0f} images/s)"
            )
        return "; ".join(parts)

    def _per_class(self) -> int:
        return max(2, math.ceil(self.settings.eval_images / self.data.num_classes))

    def step_generate(self) -> str:
        from gaunet.generate import generate_dataset
        from gaunet.report.compare_grid import compare_grid

        total = 0
        for model in self.settings.models:
            folder = self.out / "synthetic" / model
            if not (folder / "manifest.csv").is_file():
                generate_dataset(self.run_folder(model), folder, self._per_class(), seed=0)
            total += sum(1 for _ in open(folder / "manifest.csv")) - 1
        grid = self.out / "figures" / "figure2-grid.png"
        if not grid.is_file():
            runs = [self.run_folder(m) for m in self.settings.models]
            compare_grid(runs, grid, per_class=3, seed=self.settings.seed)
        return f"{total} synthetic images in {self.out / 'synthetic'}; grid {grid}"

    def _evaluate_one(self, model: str) -> dict:
        # (from the submodule: importing it rebinds the package's `evaluate` to the module)
        from gaunet.metrics.evaluate import evaluate, subsample
        from gaunet.metrics.features import ExtractorSettings

        s = self.settings
        folder = self.out / "evaluate" / model
        path = folder / "metrics.json"
        if path.is_file():
            return json.loads(path.read_text())
        # Only the test reference and the synthetic set are capped: the train split stays whole
        # so the domain classifier learns from all of it and the copy audit searches all of it.
        test = np.flatnonzero(self.data.split == "test")
        keep = np.ones(len(self.data), bool)
        keep[test] = False
        kept_test = subsample(self.data.subset(test), s.eval_images, s.seed)
        keep[test[np.isin(self.data.ids[test], kept_test.ids)]] = True
        real = self.data.subset(keep)
        synthetic = load_source(str(self.out / "synthetic" / model), s.size, s.channels)
        synthetic = subsample(synthetic, s.eval_images, s.seed + 3)
        result = evaluate(
            real,
            synthetic,
            features=tuple(s.features),
            split="test",
            seed=s.seed,
            figures_dir=folder,
            settings=ExtractorSettings(seed=s.seed, domain={"steps": s.domain_steps}),
        )
        from gaunet.generate import load_generator
        from gaunet.metrics.diversity import noise_diversity

        result["noise_diversity"] = noise_diversity(
            load_generator(self.run_folder(model), device="cpu"), seed=s.seed
        )
        write_json(path, result)
        return result

    def step_evaluate(self) -> str:
        from gaunet.metrics.verdict import domain_note, image_verdicts

        parts = []
        for model in self.settings.models:
            result = self._evaluate_one(model)
            numbers = []
            for entry in result["features"].values():
                if entry.get("available"):
                    name = entry["metric_name"]
                    numbers.append(f"{name} {entry['overall'][name]:.2f}")
            if "PA" in result:  # FD_domain and PA are only as good as the domain classifier
                note = domain_note(result)
                numbers.append(f"PA {result['PA']['value']:.2f}" + (f" ({note})" if note else ""))
            pixel = result["memorization"].get("pixel")
            if pixel:
                numbers.append(f"copy rate {pixel['copy_rate']:.2f}")
            if "noise_diversity" in result:
                numbers.append(f"noise diversity {result['noise_diversity']['ratio']:.3f}")
            verdict = image_verdicts(result)[0]  # the same verdict the report shows
            numbers.append(f"verdict: {verdict.message}")
            parts.append(f"{model}: " + ", ".join(numbers))
        return "; ".join(parts)

    def step_downstream(self) -> str:
        from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
        from gaunet.downstream.fit import FitSettings

        s = self.settings
        folder = self.out / "downstream"
        if not (folder / "summary.json").is_file():
            settings = BenchmarkSettings(
                data=s.data,
                classifiers=list(s.classifiers),
                # each generator's images alone, and with classic augmentation (compared with
                # classic alone too): how users would use them
                arms=[
                    "none",
                    "classic",
                    *(str(self.run_folder(m)) for m in s.models),
                    f"{self.run_folder('gaunet')}+classic",
                ],
                fractions=[s.fraction],
                seeds=s.seeds,
                size=s.size,
                channels=s.channels,
                split_seed=s.seed,
                subset_seed=s.seed,
                width=s.width,
                fit=FitSettings(epochs=s.epochs, patience=s.patience),
            )
            run_benchmark(settings, folder, data=self.data)
        from gaunet.report.html import headline

        return headline(json.loads((folder / "summary.json").read_text()))

    def step_report(self) -> str:
        from gaunet.report.curves import plot_losses
        from gaunet.report.html import write_report

        curves = self.out / "figures" / "training-curves.png"
        runs = [
            r for r in map(self.run_folder, self.settings.models) if (r / "metrics.jsonl").is_file()
        ]
        with progress(total=2, desc="report", unit="part") as bar:
            if runs:  # a run shorter than one log interval has no curve
                plot_losses(runs, curves, title="training losses (mean per logged interval)")
            bar.update(1)
            path = write_report(self.out)
            bar.update(1)
        return f"open {path} in a browser (self-contained, works offline)"

    # ----- driver ----------------------------------------------------------------------------
    def _check_settings(self) -> dict:
        mine = asdict(self.settings)
        state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        saved = state.get("settings", {})
        changed = [k for k in PINNED if k in saved and saved[k] != mine[k]]
        if changed:
            raise GaunetError(
                f"{self.out}: this demo folder was run with other {', '.join(changed)}; "
                "use another --out, or the same options to continue it"
            )
        state["settings"] = mine
        state.setdefault("steps", {})
        return state

    def run(self) -> Path:
        """Run every step not done yet; returns the report path."""
        import torch

        torch.set_num_threads(max(1, self.settings.threads))
        self.out.mkdir(parents=True, exist_ok=True)
        state = self._check_settings()
        write_json(self.state_path, state)
        print(self.data_note, file=sys.stderr, flush=True)
        for number, name in enumerate(STEPS, 1):
            print(f"[{number}/{len(STEPS)}] {name}", file=sys.stderr, flush=True)
            started, done_before = time.perf_counter(), name in state["steps"]
            try:
                summary = getattr(self, f"step_{name}")()
            except KeyboardInterrupt:
                print(
                    f"interrupted in step {name}; rerun the same command to continue from there",
                    file=sys.stderr,
                )
                raise
            seconds = time.perf_counter() - started
            previous = state["steps"].get(name, {}).get("seconds", 0.0)
            state["steps"][name] = {"seconds": round(previous + seconds, 1), "summary": summary}
            write_json(self.state_path, state)
            took = "done earlier" if done_before and seconds < 1 else f"{seconds:.0f} s"
            print(f"[{number}/{len(STEPS)}] {name}: {summary}  ({took})", flush=True)
        return self.out / "report.html"
