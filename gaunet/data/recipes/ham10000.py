"""HAM10000 (Tschandl et al. 2018): 10,015 dermoscopic images, 7 diagnoses (`dx`).

Several images show the same lesion, so the group is `lesion_id` (the metadata has no patient
id; lesion is the finest unit that must not be cut). No official split: grouped 7:1:2.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

from gaunet.data.recipes.common import Collected, Item, file_loader, require, safe_name
from gaunet.errors import GaunetError

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
METADATA = "HAM10000_metadata.csv"
LAYOUT = """\
ROOT/
  HAM10000_metadata.csv          lesion_id,image_id,dx,dx_type,age,sex,localization
  HAM10000_images_part_1/ ISIC_0024306.jpg ...   (the Harvard Dataverse archive), and/or
  HAM10000_images_part_2/ ISIC_0029306.jpg ...   or any one folder holding ISIC_*.jpg
"""


def collect(root: Path, options: SimpleNamespace) -> Collected:
    metadata = require(root / METADATA, METADATA, LAYOUT)
    images = {path.stem: path for path in root.rglob("ISIC_*.jpg")}
    if not images:
        raise GaunetError(f"no ISIC_*.jpg images under {root}\nexpected layout:\n{LAYOUT}")
    with open(metadata, newline="", encoding="utf-8-sig") as handle:  # Excel's BOM too
        rows = list(csv.DictReader(handle))
    if rows and not {"lesion_id", "image_id", "dx"} <= set(rows[0]):
        raise GaunetError(f"{metadata} lacks lesion_id, image_id or dx columns\n{LAYOUT}")
    items, missing, unknown = [], [], []
    for row in rows:
        path = images.get(row["image_id"])
        if path is None:
            missing.append(row["image_id"])
        elif row["dx"] not in CLASSES:
            unknown.append(row["image_id"])
        else:
            items.append(
                Item(
                    label=row["dx"],
                    group=row["lesion_id"],
                    name=safe_name(row["image_id"]),
                    source=str(path),
                    load=file_loader(path),
                )
            )
    notes = []
    if missing:
        notes.append(f"{len(missing)} metadata rows have no image file (e.g. {missing[0]})")
    if unknown:
        notes.append(f"{len(unknown)} rows have a dx outside {CLASSES} (e.g. {unknown[0]})")
    return Collected(items, CLASSES, notes)
