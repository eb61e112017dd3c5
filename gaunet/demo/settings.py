"""What a demo is asked to do: its settings, its steps, and where `--data auto` finds data."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gaunet.errors import GaunetError

if TYPE_CHECKING:
    from gaunet.downstream.benchmark import BenchmarkSettings

CLI_OPTIONS = (
    "minutes", "train_steps", "fraction", "size", "channels", "seed", "baselines", "eval_images",
    "features", "classifiers", "seeds", "epochs", "width", "threads", "control", "jobs",
)  # fmt: skip
STEPS = ("inspect", "split", "train", "generate", "evaluate", "downstream", "report")
BASELINE_MODELS = ("gan", "cgan")
# Settings that change results: a rerun into the same DIR with other values is refused.
PINNED = (
    "data", "size", "channels", "fraction", "seed", "minutes", "train_steps", "baselines",
    "eval_images", "features", "domain_steps", "classifiers", "seeds", "epochs", "patience",
    "width", "control",
)  # fmt: skip


# `--data auto`: the first BreastMNIST file found (MedMNIST v2, Yang et al. 2023, CC BY 4.0:
# 780 breast-ultrasound images, 0.5 MB). The file is not shipped inside gaunet (its keepers ask
# that it is not copied into the repository); without it the demo falls back to the phantom.
BREASTMNIST = "breastmnist.npz"


def demo_data_candidates() -> list[Path]:
    """Where `--data auto` looks for BreastMNIST, in order: $GAUNET_DEMO_DATA (the file, or a
    folder holding it), the medmnist package's download folder, and `shared/data/` beside the
    working folder and beside a source checkout of gaunet."""
    given = os.environ.get("GAUNET_DEMO_DATA", "")
    candidates = (
        [Path(given) / BREASTMNIST if Path(given).is_dir() else Path(given)] if given else []
    )
    candidates.append(Path.home() / ".medmnist" / BREASTMNIST)
    candidates.append(Path.cwd().parent / "shared" / "data" / BREASTMNIST)
    checkout = Path(__file__).resolve().parents[2]  # gaunet/demo/settings.py -> the checkout
    candidates.append(checkout.parent / "shared" / "data" / BREASTMNIST)
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


def demo_models(baselines: bool) -> list[str]:
    """The generators a demo trains: GAU-Net, and the baselines when asked for."""
    return ["gaunet", *(BASELINE_MODELS if baselines else ())]


@dataclass
class DemoSettings:
    """Budgets sized so `make demo` on BreastMNIST takes under 10 minutes on a 2-core CPU
    (8 min 43 s measured with the install; docs/demo.md)."""

    data: str = "auto"  # resolve_demo_data: BreastMNIST when found, else the phantom
    out: str = "demo"
    minutes: float = 3.0  # GAU-Net training budget (wall clock), per generator
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
    epochs: int = 10
    patience: int = 5
    width: float = 0.5  # channel-width multiplier of the downstream networks (CPU budget)
    threads: int = 1
    # processes running the downstream cells at once (gaunet benchmark --jobs; the same rows as
    # one): 0 = one per usable CPU, at most 4
    jobs: int = 0
    # also the `copies+classic` control arm: plain copies of the real images with classic
    # augmentation, the same extra optimiser steps without new images (off: with it the demo
    # took 10 min 17 s, docs/demo.md run I)
    control: bool = False
    # where generators, metrics and classifiers run: auto (CUDA when available), cpu, cuda, ...;
    # not pinned: a demo started on the CPU may be continued on a GPU
    device: str = "auto"

    @property
    def models(self) -> list[str]:
        return demo_models(self.baselines)

    def training_overrides(self, model: str) -> dict:
        """The overrides of the `cpu-tiny` preset each generator is trained with."""
        overrides = {
            "model": model, "size": self.size, "channels": self.channels,
            "num_threads": self.threads, "log_every": 5, "sample_every": 50,
            "checkpoint_every": 25,
        }  # fmt: skip
        if self.device != "auto":  # auto: the config's own device (also auto)
            overrides["device"] = self.device
        return overrides

    def check(self) -> None:
        """Every setting in its range and every name known, before a demo folder is written:
        found at its own step, a bad one had already pinned the folder to it (the rerun with
        the fix was refused as other settings), some after minutes of training."""
        from gaunet.downstream.classifiers import check_classifiers
        from gaunet.metrics.features import EXTRACTORS

        problems = []
        if not 0 < self.fraction <= 1:
            problems.append(f"--fraction must be in (0, 1], not {self.fraction}")
        if self.jobs < 0:
            problems.append("--jobs must be 0 (one per CPU) or more")
        if self.threads < 0:
            problems.append(f"--threads must be at least 0 (0: torch's choice), not {self.threads}")
        for flag, value, least in (
            ("--seeds", self.seeds, 1),
            ("--epochs", self.epochs, 1),
            ("--eval-images", self.eval_images, 10),
        ):
            if value < least:
                problems.append(f"{flag} must be at least {least}, not {value}")
        if self.train_steps is not None and self.train_steps < 1:
            problems.append(f"--steps must be at least 1, not {self.train_steps}")
        if self.train_steps is None and not (0 < self.minutes < math.inf):
            problems.append(f"--minutes must be a number above 0, not {self.minutes}")
        unknown = [f for f in self.features if f not in EXTRACTORS]
        if unknown:
            problems.append(
                f"unknown extractor {unknown[0]!r} (choose from {', '.join(EXTRACTORS)})"
            )
        problems += self._downstream_problems() + self._training_problems()
        if problems:
            raise GaunetError("; ".join(problems))
        check_classifiers(self.classifiers)

    def _training_problems(self) -> list[str]:
        """The generator settings as training checks them (--size 8 does not suit the U-Net):
        found at the train step, the folder was already pinned to them."""
        from gaunet.config import ConfigError, load_config

        problems = []
        for model in self.models:
            try:
                load_config("cpu-tiny", self.training_overrides(model))
            except ConfigError as error:
                problems.append(f"the {model} generator (cpu-tiny preset): {error}")
        return problems

    def benchmark_settings(self, arms: list[str]) -> BenchmarkSettings:
        """The downstream step's BenchmarkSettings, with these arms."""
        from gaunet.downstream.benchmark import BenchmarkSettings
        from gaunet.downstream.fit import FitSettings

        return BenchmarkSettings(
            data=self.data,
            classifiers=list(self.classifiers),
            arms=arms,
            fractions=[self.fraction],
            seeds=self.seeds,
            size=self.size,
            channels=self.channels,
            split_seed=self.seed,
            subset_seed=self.seed,
            width=self.width,
            fit=FitSettings(epochs=self.epochs, patience=self.patience),
            device=self.device,
        )

    def _downstream_problems(self) -> list[str]:
        """The classifier settings as the downstream step's benchmark checks them (duplicate or
        empty --classifiers, --width, --size): found there, they came after minutes of training,
        with the folder already pinned to them."""
        from gaunet.downstream.settings_checks import benchmark_problems

        # the arms are the demo's own, always valid
        return benchmark_problems(self.benchmark_settings(["none", "classic"]))
