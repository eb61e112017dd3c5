"""Sanity runs of `gaunet evaluate` on real data: BreastMNIST's own splits posing as synthetic.

Writes three folders in the layout `gaunet generate` writes (DIR/<class>/<id>.png +
manifest.csv): the val split (independent real images: low FD, copy rate near 0.05), the train
split (exact copies: copy rate near 1) and a degraded train split (blur + noise: FD grows).
Then prints the `gaunet evaluate` commands to run on them (docs/metrics.md has the output).

    .venv/bin/python benchmarks/metrics_sanity.py ../shared/data/breastmnist.npz /tmp/sanity
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from gaunet.data import load_source


def write_folder(images: np.ndarray, labels: np.ndarray, names: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "class", "source_id", "seed", "checkpoint_sha256"])
        for i, (image, label) in enumerate(zip(images, labels)):
            relative = f"{names[label]}/{i:05d}.png"
            (out / names[label]).mkdir(exist_ok=True)
            Image.fromarray(image[0]).save(out / relative)
            writer.writerow([relative, int(label), names[label], f"{i}", 0, "none"])


def degrade(images: np.ndarray, sigma: float = 1.0, noise: float = 20.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    blurred = np.stack([cv2.GaussianBlur(im[0], (0, 0), sigma)[None] for im in images])
    noisy = blurred + rng.normal(0, noise, blurred.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def main(source: str, out: str) -> None:
    data = load_source(source, size=28, channels=1)
    root = Path(out)
    for name, part in (("val", data.where_split("val")), ("train", data.where_split("train"))):
        write_folder(part.images, part.labels, data.class_names, root / f"{name}-as-synthetic")
    train = data.where_split("train")
    write_folder(degrade(train.images), train.labels, data.class_names, root / "train-degraded")
    for folder in ("val-as-synthetic", "train-as-synthetic", "train-degraded"):
        print(
            f"gaunet evaluate --real {source} --synthetic {root / folder} "
            f"--features inception,domain --json {root / folder}.json "
            f"--report {root / folder}.html"
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
