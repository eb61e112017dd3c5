"""The paper's Figure 2 for any set of runs: one row per conditioning image (K per class), the
real image first, then one generated image per run, each column labelled with its model name.

Every run is sampled for the same real image: GAU-Net is conditioned on it, so the row shows
"related but different"; the baselines (`gan`, `cgan`) ignore it and draw a sample of the row's
class. Rows and noise are chosen by `seed`, so the figure is reproducible.

Pixel size (documented, and tested): with T = tile side, P = PAD, R = rows (K x classes present
in the first run's training images), N = runs:
width = LABEL_WIDTH + (N + 1) * (T + P) + P, height = HEADER_HEIGHT + R * (T + P) + P.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gaunet.data.imageset import from_unit_range, to_unit_tensor
from gaunet.data.readers.items import safe_text
from gaunet.errors import GaunetError
from gaunet.io import write_atomic

if TYPE_CHECKING:  # (importing gaunet.generate loads torch and the networks)
    from gaunet.trained_generator import TrainedGenerator

PAD = 2
LABEL_WIDTH = 96  # class names, left of each row
HEADER_HEIGHT = 20  # model names, above each column
MIN_TILE = 64  # tiles are enlarged by an integer factor to at least this side


def tile_side(size: int) -> int:
    """Image side x the smallest integer factor that makes it at least MIN_TILE."""
    return size * max(1, -(-MIN_TILE // size))


def grid_pixels(runs: int, rows: int, tile: int) -> tuple[int, int]:
    """(width, height) of the figure for `runs` runs, `rows` rows and `tile`-pixel tiles."""
    return (
        LABEL_WIDTH + (runs + 1) * (tile + PAD) + PAD,
        HEADER_HEIGHT + rows * (tile + PAD) + PAD,
    )


def _run_folder(gen: TrainedGenerator) -> Path:
    """The run folder a generator was loaded from (its checkpoint sits in RUN/checkpoints/)."""
    return Path(gen.checkpoint).parent.parent


def _column_labels(generators: list[TrainedGenerator], fit=lambda text: text) -> list[str]:
    """Model names; a name used by several runs gets the run folder's name appended, or, when
    those labels are not told apart once `fit` shortens them to a tile's width (two folders
    of the same name, or long names alike at their start), the run's place in --runs."""
    names = [g.model_name for g in generators]
    labels = [
        fit(f"{name} ({_run_folder(gen).name})") if names.count(name) > 1 else fit(name)
        for name, gen in zip(names, generators)
    ]
    return [
        fit(f"{name} #{i}") if names.count(name) > 1 and labels.count(label) > 1 else label
        for i, (name, label) in enumerate(zip(names, labels), 1)
    ]


def _row_labels(names: list[str], fit=lambda text: text) -> list[str]:
    """Class names as `fit` shortens them; names it cuts to one label (`adenocarcinoma-grade-1`
    and `-2` both read "adenocarcinoma-g...") get their class index in front, as `gaunet data
    inspect` writes them, so no two classes' rows read the same."""
    labels = [fit(name) for name in names]
    return [
        fit(f"{c} {name}") if labels.count(label) > 1 else label
        for c, (name, label) in enumerate(zip(names, labels))
    ]


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, font) -> str:
    """`text` on one line (a newline as `\\n`: an npz's or manifest's class name, a folder's
    name may hold one, and Pillow refuses to measure multiline text), shortened with '...'
    until it fits in `width` pixels."""
    text = safe_text(text)
    while text and draw.textlength(text, font=font) > width:
        text = text[:-4] + "..." if len(text) > 4 else text[:-1]
    return text


def _to_rgb_tile(image: np.ndarray, tile: int) -> Image.Image:
    """uint8 (C, H, W) -> RGB PIL image enlarged to tile x tile (nearest: no smoothing)."""
    array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    return Image.fromarray(array).convert("RGB").resize((tile, tile), Image.NEAREST)


def _check_same_data(generators: list[TrainedGenerator]) -> None:
    """Every run must share the first run's class names, image size and channels."""
    first = generators[0]
    for gen in generators[1:]:
        run, first_run = _run_folder(gen), _run_folder(first)
        if gen.class_names != first.class_names:
            raise GaunetError(
                f"{run}: classes {gen.class_names} differ from {first_run}'s "
                f"{first.class_names}; compare runs trained on the same data"
            )
        if (gen.size, gen.channels) != (first.size, first.channels):
            raise GaunetError(
                f"{run}: {gen.size} px x {gen.channels} channel(s) differs from "
                f"{first_run}'s {first.size} px x {first.channels}; train with the same size"
            )


def _grid_rows(
    generators: list[TrainedGenerator], per_class: int, seed: int
) -> list[tuple[int, list[np.ndarray]]]:
    """(class, [real, run 1, run 2, ...]) per row: K rows per class present in the first run's
    training images, every run sampled for the row's real image."""
    first = generators[0]
    train = first.train_images
    classes = [c for c in range(len(first.class_names)) if (train.labels == c).any()]
    rows = []
    for c in classes:
        index = first.conditioning_rows(c, per_class, seed)
        real = train.images[index]
        conditioning = to_unit_tensor(real)
        samples = [
            from_unit_range(gen.sample(c, per_class, seed, conditioning=conditioning).cpu().numpy())
            for gen in generators
        ]
        for k in range(per_class):
            rows.append((c, [real[k]] + [s[k] for s in samples]))
    return rows


def compare_grid(
    generators: list[TrainedGenerator], out: str | Path, per_class: int = 2, seed: int = 0
) -> Path:
    """Write the comparison PNG of `generators` (as `gaunet.trained_generator.load_generator` returns
    them, one per run) to `out` and return its path.

    Real images come from the first run's training images (the only images any run was
    conditioned on); all runs must share its class names, image size and channels.
    """
    if not generators:
        raise GaunetError("compare needs at least one run folder")
    if per_class < 1:
        raise GaunetError("--per-class must be at least 1")
    _check_same_data(generators)
    rows = _grid_rows(generators, per_class, seed)
    first = generators[0]
    tile = tile_side(first.size)
    canvas = Image.new("RGB", grid_pixels(len(generators), len(rows), tile), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    labels = _column_labels(generators, lambda text: _fit(draw, text, tile, font))
    for col, label in enumerate(["real"] + labels):
        left = LABEL_WIDTH + PAD + col * (tile + PAD)
        draw.text((left, 4), _fit(draw, label, tile, font), fill="black", font=font)
    names = _row_labels(
        first.class_names, lambda text: _fit(draw, text, LABEL_WIDTH - 2 * PAD, font)
    )
    for r, (c, images) in enumerate(rows):
        top = HEADER_HEIGHT + PAD + r * (tile + PAD)
        draw.text((PAD, top + tile // 2 - 6), names[c], fill="black", font=font)
        for col, image in enumerate(images):
            canvas.paste(_to_rgb_tile(image, tile), (LABEL_WIDTH + PAD + col * (tile + PAD), top))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # whole or not at all: `gaunet demo` keeps a grid that exists, so a PNG cut short by a kill
    # mid-save would stay in its report
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    write_atomic(out, buffer.getvalue(), durable=False)
    return out
