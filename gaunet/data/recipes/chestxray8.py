"""NIH ChestX-ray8 / ChestX-ray14 (Wang et al. 2017): 112,120 frontal chest X-rays, 14 findings.

`Finding Labels` is multi-label ("Effusion|Infiltration") or "No Finding". Default: images with
exactly one of the 14 findings, one class per finding; --no-finding adds "No Finding" as a 15th
class; --multi-label keeps multi-finding images with `label` = the first finding listed and
every finding in an extra `labels` column (gaunet's commands read `label` only). Group: Patient
ID. The official patient-level train_val_list.txt / test_list.txt are used when present.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from gaunet.data.recipes.common import Collected, Item, file_loader, require, safe_name
from gaunet.errors import GaunetError

FINDINGS = [
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
]
NO_FINDING = "No Finding"
METADATA = ("Data_Entry_2017.csv", "Data_Entry_2017_v2020.csv")
COLUMNS = ("Image Index", "Finding Labels", "Patient ID")
LAYOUT = """\
ROOT/
  Data_Entry_2017.csv       Image Index,Finding Labels,Follow-up #,Patient ID,...
  images/ 00000001_000.png ...                   (NIH box.com tarballs unpacked), or
  images_001/images/ 00000001_000.png ...        (Kaggle nih-chest-xrays/data)
  train_val_list.txt, test_list.txt              optional: the official patient-level split
"""


def _official_split(root: Path) -> dict[str, str]:
    test_list, train_list = root / "test_list.txt", root / "train_val_list.txt"
    if not (test_list.exists() and train_list.exists()):
        return {}
    split = {name: "train" for name in train_list.read_text().split()}
    split.update({name: "test" for name in test_list.read_text().split()})
    return split


def _metadata(root: Path) -> Path:
    for name in METADATA:
        if (root / name).exists():
            return root / name
    return require(root / METADATA[0], METADATA[0], LAYOUT)


def collect(root: Path, options: SimpleNamespace) -> Collected:
    metadata = _metadata(root)
    images = {p.name: p for folder in root.glob("images*") for p in folder.rglob("*.png")}
    if not images:
        raise GaunetError(f"no PNG images in {root}/images*/\nexpected layout:\n{LAYOUT}")
    official = _official_split(root)
    classes = FINDINGS + ([NO_FINDING] if options.no_finding else [])
    items, missing, multi, other = [], 0, 0, Counter()
    with open(metadata, newline="", encoding="utf-8-sig") as handle:  # Excel's BOM too
        reader = csv.DictReader(handle)
        absent = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if absent:  # named here, not a KeyError traceback
            raise GaunetError(f"{metadata} lacks the column(s) {absent}\n{LAYOUT}")
        for row in reader:
            findings = row["Finding Labels"].split("|")
            if len(findings) > 1 and not options.multi_label:
                multi += 1
                continue
            if findings[0] not in classes:
                other[findings[0]] += 1
                continue
            path = images.get(row["Image Index"])
            if path is None:
                missing += 1
                continue
            items.append(
                Item(
                    label=findings[0],
                    group=row["Patient ID"],
                    name=safe_name(Path(row["Image Index"]).stem),
                    source=str(path),
                    load=file_loader(path),
                    split=official.get(row["Image Index"]),
                    extra=row["Finding Labels"],
                )
            )
    notes = []
    if multi:
        notes.append(f"{multi} multi-finding images left out (use --multi-label to keep them)")
    if other:  # "No Finding" without --no-finding, or a finding spelt otherwise
        named = ", ".join(f"{n} '{name}'" for name, n in other.most_common())
        notes.append(f"left out {sum(other.values())} images outside the classes: {named}")
    if options.multi_label:
        notes.append("multi-label: label = first finding listed; every finding in 'labels'")
    if missing:
        notes.append(f"{missing} metadata rows have no image file under images*/")
    extra = "labels" if options.multi_label else ""
    return Collected(items, classes, notes, extra_column=extra)
