"""The demo's steps, in order: each a method that writes its outputs into the demo folder and
is skipped on a rerun when they exist, so an interrupted demo continues where it stopped."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from functools import cached_property
from pathlib import Path

import numpy as np

from gaunet.data import ImageSet, load_source, print_skip_summary, write_split
from gaunet.data.splits import folder_split
from gaunet.demo.layout import DemoFolder, read_if_done
from gaunet.demo.settings import PINNED, STEPS, DemoSettings, resolve_demo_data
from gaunet.errors import GaunetError
from gaunet.io import pin_settings, refuse_out_inside_data, write_json
from gaunet.locking import folder_lock
from gaunet.progress import progress
from gaunet.training.checkpoint import holds_checkpoints


class Demo:
    """One demo folder. Each `step_*` method returns its one-line summary."""

    def __init__(self, settings: DemoSettings) -> None:
        settings.check()  # before anything is read or written: the folder is pinned to them
        settings.data, self.data_note = resolve_demo_data(settings.data)
        if (
            not settings.data.startswith("phantom")
            and not Path(settings.data).expanduser().exists()
        ):
            raise GaunetError(f"{settings.data}: no such file or folder")
        refuse_out_inside_data(settings.data, settings.out, "the demo's images")
        self.settings = settings
        self.out = Path(settings.out)
        self.folder = DemoFolder(self.out)

    # ----- shared inputs --------------------------------------------------------------------
    @cached_property
    def source(self) -> ImageSet:
        """The source as read, at the demo's size (split only if the source has one)."""
        s = self.settings
        source = load_source(s.data, size=s.size, channels=s.channels)
        self.out.mkdir(parents=True, exist_ok=True)
        print_skip_summary(source, self.out)
        if source.num_classes < 2:  # found after training, the benchmark crashed on it
            raise GaunetError(
                f"{s.data} has {source.num_classes} usable class(es) "
                f"({', '.join(source.class_names) or 'none'}); the demo needs two or more: "
                "its classifiers and class-fidelity metrics tell classes apart"
            )
        return source

    @cached_property
    def data(self) -> ImageSet:
        """The source with the split every step uses (official, else grouped 7:1:2; a resumed
        demo keeps the split it saved)."""
        return folder_split(self.source, self.folder.split, seed=self.settings.seed)

    @cached_property
    def subset(self) -> ImageSet:
        """The low-data training subset, chosen exactly as the benchmark chooses its fraction."""
        from gaunet.downstream.subsets import nested_subsets

        train = self.data.where_split("train")
        index = nested_subsets(train.labels, [self.settings.fraction], seed=self.settings.seed)
        subset = train.subset(index[self.settings.fraction])
        subset.split = np.full(len(subset), "train")
        return subset

    @cached_property
    def device(self) -> str:
        """The resolved --device (auto: CUDA when available, else the CPU)."""
        from gaunet.device import resolve_device

        return str(resolve_device(self.settings.device))

    # ----- steps -----------------------------------------------------------------------------
    def step_inspect(self) -> str:
        from gaunet.data.inspect import summarize, write_sheet

        if not self.folder.summary.is_file():
            with progress(total=3, desc="inspect", unit="part") as bar:
                source = self.source
                bar.update(1)
                write_sheet(source, self.folder.contact_sheet, seed=self.settings.seed)
                bar.update(1)
                write_json(self.folder.summary, summarize(source, seed=self.settings.seed))
                bar.update(1)
        summary = json.loads(self.folder.summary.read_text())
        counts = ", ".join(f"{c} {n}" for c, n in summary["counts"]["total"].items())
        return f"{summary['images']} images, {len(summary['classes'])} classes ({counts})"

    def step_split(self) -> str:
        path = self.folder.subset
        if not path.is_file():
            with progress(total=2, desc="split", unit="file") as bar:
                write_split(self.folder.split, self.data)
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
        run = self.folder.run(model)
        info_path = run / "run.json"
        info = read_if_done(info_path) or {}
        if info.get("finished"):
            return info
        started = holds_checkpoints(run / "checkpoints")
        minutes = None
        if s.train_steps is None:  # a resumed run gets what is left of its budget
            minutes = max(s.minutes - info.get("wall_seconds", 0.0) / 60.0, 0.05)
        overrides = s.training_overrides(model)
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
            resume_hint="rerun the same gaunet demo command",  # the demo resumes it
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
        from gaunet.trained_generator import load_generator

        total = 0
        for model in self.settings.models:
            folder = self.folder.synthetic(model)
            if not (folder / "manifest.csv").is_file():
                generate_dataset(
                    self.folder.run(model), folder, self._per_class(), seed=0, device=self.device
                )
            total += sum(1 for _ in open(folder / "manifest.csv")) - 1
        grid = self.folder.grid
        if not grid.is_file():
            generators = [
                load_generator(self.folder.run(m), device=self.device) for m in self.settings.models
            ]
            compare_grid(generators, grid, per_class=3, seed=self.settings.seed)
        return f"{total} synthetic images in {self.folder.synthetic_root}; grid {grid}"

    def _evaluate_one(self, model: str) -> dict:
        # (from the submodule: importing it rebinds the package's `evaluate` to the module)
        from gaunet.metrics.evaluate import evaluate, subsample
        from gaunet.metrics.features import ExtractorSettings
        from gaunet.trained_generator import load_generator

        s = self.settings
        path = self.folder.metrics(model)
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
        synthetic = load_source(str(self.folder.synthetic(model)), s.size, s.channels)
        synthetic = subsample(synthetic, s.eval_images, s.seed + 3)
        result = evaluate(
            real,
            synthetic,
            features=tuple(s.features),
            split="test",
            seed=s.seed,
            figures_dir=self.folder.evaluation(model),
            settings=ExtractorSettings(
                seed=s.seed, domain={"steps": s.domain_steps}, device=self.device
            ),
            generator=lambda: load_generator(self.folder.run(model), device=self.device),
        )
        write_json(path, result)
        return result

    def step_evaluate(self) -> str:
        from gaunet.metrics.domain_trust import domain_note
        from gaunet.metrics.verdict import image_verdicts

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
        from gaunet.demo.report import headline
        from gaunet.downstream.benchmark import run_benchmark
        from gaunet.downstream.parallel import auto_jobs

        s = self.settings
        if not self.folder.downstream_summary.is_file():
            settings = s.benchmark_settings(
                # each generator's images alone, and with classic augmentation (compared with
                # classic alone too): how users would use them. The control, plain copies of
                # the real images with classic augmentation, says whether a gain is the
                # images' or only the extra optimiser steps that extra images bring
                [
                    "none",
                    "classic",
                    *(str(self.folder.run(m)) for m in s.models),
                    f"{self.folder.run('gaunet')}+classic",
                    *(["copies+classic"] if s.control else []),
                ]
            )
            jobs = s.jobs or auto_jobs(s.threads)
            run_benchmark(settings, self.folder.downstream, data=self.data, jobs=jobs)
        return headline(json.loads(self.folder.downstream_summary.read_text()))

    def step_report(self) -> str:
        from gaunet.demo.report import write_report
        from gaunet.report.curves import plot_losses

        runs = [self.folder.run(m) for m in self.settings.models]
        runs = [r for r in runs if (r / "metrics.jsonl").is_file()]
        with progress(total=2, desc="report", unit="part") as bar:
            if runs:  # a run shorter than one log interval has no curve
                title = "training losses (mean per logged interval)"
                plot_losses(runs, self.folder.curves, title=title)
            bar.update(1)
            path = write_report(self.out)
            bar.update(1)
        return f"open {path} in a browser (self-contained, works offline)"

    # ----- driver ----------------------------------------------------------------------------
    def _check_settings(self) -> dict:
        """demo.json with this run's settings (under "settings", beside the steps record),
        refused when a PINNED one changed."""
        state = pin_settings(
            self.folder.state,
            asdict(self.settings),
            PINNED,
            what="demo folder",
            key="settings",
            paths=("data",),
        )
        state.setdefault("steps", {})
        return state

    def run(self) -> Path:
        """Run every step not done yet; returns the report path. The demo folder is locked
        first: a second demo into it is refused before it prints or writes anything."""
        with folder_lock(self.out, "demo"):
            return self._run_steps()

    def _run_steps(self) -> Path:
        from gaunet.cpu_load import use_threads

        print(f"device: {self.device}", file=sys.stderr, flush=True)  # refused here, not later
        use_threads(self.settings.threads, self.device, "the demo", "--threads 1")  # 0: torch's
        if not self.folder.state.is_file():
            _ = self.source  # a new folder: a source the demo cannot use is refused before pinning
        state = self._check_settings()
        write_json(self.folder.state, state)
        print(self.data_note, file=sys.stderr, flush=True)
        for number, name in enumerate(STEPS, 1):
            print(f"[{number}/{len(STEPS)}] {name}", file=sys.stderr, flush=True)
            started, done_before = time.perf_counter(), name in state["steps"]
            # the seconds of interrupted attempts, counted in when the step finishes (they
            # were lost: an interrupted training step reported only its last attempt's time)
            spent = state.setdefault("interrupted_seconds", {})
            try:
                summary = getattr(self, f"step_{name}")()
            except KeyboardInterrupt:
                spent[name] = round(spent.get(name, 0.0) + time.perf_counter() - started, 1)
                write_json(self.folder.state, state)
                print(
                    f"interrupted in step {name}; rerun the same command to continue from there",
                    file=sys.stderr,
                )
                raise
            seconds = time.perf_counter() - started
            previous = state["steps"].get(name, {}).get("seconds", 0.0) + spent.pop(name, 0.0)
            state["steps"][name] = {"seconds": round(previous + seconds, 1), "summary": summary}
            write_json(self.folder.state, state)
            took = "done earlier" if done_before and seconds < 1 else f"{seconds:.0f} s"
            print(f"[{number}/{len(STEPS)}] {name}: {summary}  ({took})", flush=True)
        return self.folder.report
