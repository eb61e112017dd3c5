"""A stand-in for gaunet.training.train / gaunet.generate.generate_dataset with the same
signatures and files (split.csv, manifest.csv, PNGs), so downstream tests need no GAN."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gaunet.data import ImageSet, write_split
from gaunet.trained_generator import opaque_id


class FakeGenerators:
    """Trains nothing: a 'run' is split.csv plus the images; 'samples' are inverted copies, or,
    from a given checkpoint file, copies brightened by `offset(checkpoint)`.

    Like gaunet.generate, the manifest's source_id is the opaque hash of the training id.
    """

    def __init__(self) -> None:
        self.trained: list[ImageSet] = []
        self.runs: dict[str, ImageSet] = {}
        self.calls: list[dict] = []
        self.started: dict[str, ImageSet] = {}
        self.generated_from: list[Path | None] = []
        self.noise_scales: list[float | None] = []
        self.devices: list[str | None] = []
        self.offset = lambda checkpoint: 0
        self.swap = lambda checkpoint: False  # True: images of the next class, mislabelled

    def train(self, data: ImageSet | None, out: Path, **kwargs: object) -> Path:
        self.calls.append(kwargs)
        if kwargs.get("resume"):
            data = self.started[str(out)]
        out.mkdir(parents=True, exist_ok=True)
        write_split(out / "split.csv", data)
        self.trained.append(data)
        self.runs[str(out)] = data.where_split("train")
        return out

    def generate(
        self,
        run: Path,
        out: Path,
        per_class: int | list[int],
        seed: int = 0,
        checkpoint: Path | None = None,
        noise_scale: float | None = None,
        device: str | None = None,
    ) -> Path:
        rows = self.runs[str(run)]
        self.generated_from.append(checkpoint)
        self.devices.append(device)  # None: not passed (generate_dataset's default, auto)
        self.noise_scales.append(noise_scale)  # None: not passed (the generator's default)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "manifest.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", "class", "source_id", "seed", "checkpoint_sha256"])
            for label, name in enumerate(rows.class_names):
                drawn = label
                if checkpoint is not None and self.swap(checkpoint):
                    drawn = (label + 1) % len(rows.class_names)
                members = np.flatnonzero(rows.labels == drawn)
                count = per_class if isinstance(per_class, int) else per_class[label]
                for k in range(count):
                    row = members[k % len(members)]
                    path = f"{name}/{k:05d}.png"
                    (out / name).mkdir(exist_ok=True)
                    image = rows.images[row, 0]
                    if checkpoint is None:
                        image = 255 - image
                    else:
                        shifted = image.astype(np.int64) + self.offset(checkpoint)
                        image = np.clip(shifted, 0, 255).astype(np.uint8)
                    Image.fromarray(image).save(out / path)
                    writer.writerow([path, label, name, opaque_id(rows.ids[row]), seed, "0" * 64])
        return out / "manifest.csv"


@contextmanager
def one_quiet_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No progress bars and one torch thread (restored after): the grid tests' setting."""
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


TINY_GENERATOR = {
    "model": "gaunet", "size": 16, "channels": 1, "batch_size": 4, "steps": 2, "n_critic": 1,
    "g_width": 4, "g_width_max": 8, "g_depth": 2, "g_convs_per_block": 1, "d_growth": 4,
    "d_blocks": 2, "d_layers_per_block": 2, "d_stem": 4, "z_dim": 8, "noise_channels": 2,
    "class_embed_dim": 2, "precision": "fp32", "num_threads": 1, "tensorboard": False,
}  # fmt: skip


def tiny_generator_config(path: Path, **changes: object) -> Path:
    """A generator config file (--gen-config) for a GAU-Net small enough for a test's budget."""
    import yaml

    path.write_text(yaml.safe_dump({**TINY_GENERATOR, **changes}))
    return path


def summary_text(
    values: dict[tuple, list], settings: dict, classifiers: tuple[str, ...] = ("resnet18",)
) -> str:
    """summary.md of a grid given as (classifier, arm, fraction) -> one value per seed, every
    metric that value (None: that seed's cell missing)."""
    from gaunet.downstream.report import summarise, summary_markdown
    from gaunet.downstream.stats import METRICS

    rows = [
        {"classifier": c, "fraction": f, "arm": a, "metric": m, "seed": s, "value": v}
        for (c, a, f), seeds in values.items()
        for s, v in enumerate(seeds)
        if v is not None
        for m in METRICS
    ]
    order = {
        "classifiers": list(classifiers),
        "fractions": sorted({f for _, _, f in values}),
        "arms": list(dict.fromkeys(a for _, a, _ in values)),
    }
    return summary_markdown(summarise(rows, order), settings)
