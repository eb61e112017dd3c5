"""Paediatric chest X-ray (Kermany et al. 2018): NORMAL / PNEUMONIA, bacterial and viral.

Patients: `personN_bacteria_M.jpeg` / `personN_virus_M.jpeg` -> `personN`; normal images
`IM-NNNN-MMMM.jpeg` -> `IM-NNNN` and `NORMAL2-IM-NNNN-MMMM.jpeg` -> `NORMAL2-IM-NNNN`.
The official test split is kept; the official val folder (16 images) is folded into train and
a patient-level val is carved out of train. --subtypes gives NORMAL / BACTERIA / VIRUS.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from gaunet.data.recipes.common import Collected, Item, class_folder_items, require

CLASSES = ["NORMAL", "PNEUMONIA"]
SUBTYPE_CLASSES = ["NORMAL", "BACTERIA", "VIRUS"]
SPLIT_FOLDERS = {"train": "train", "val": "train", "test": "test"}  # folder -> split
LAYOUT = """\
ROOT/                          (or ROOT/chest_xray/, the Kaggle/Mendeley archive)
  train/ NORMAL/ IM-0115-0001.jpeg NORMAL2-IM-0427-0001.jpeg ...
         PNEUMONIA/ person1_bacteria_1.jpeg person1_virus_6.jpeg ...
  test/  NORMAL/ ...  PNEUMONIA/ ...
  val/   NORMAL/ ...  PNEUMONIA/ ...   (optional; folded into train)
"""
PERSON = re.compile(r"^(person\d+)_(bacteria|virus)_\d+", re.IGNORECASE)
NORMAL = re.compile(r"^((?:NORMAL2-)?IM-\d+)-\d+", re.IGNORECASE)


def patient_of(path: Path) -> str:
    """The patient id encoded in the file name; an unexpected name is its own group."""
    for pattern in (PERSON, NORMAL):
        match = pattern.match(path.stem)
        if match:
            return match.group(1)
    return f"file:{path.stem}"


def subtype_of(item: Item) -> str:
    """BACTERIA or VIRUS from `personN_bacteria_M` / `personN_virus_M`; NORMAL stays."""
    if item.label == "NORMAL":
        return "NORMAL"
    match = PERSON.match(Path(item.source).stem)
    if not match:
        raise ValueError("no bacteria/virus in the file name")
    return match.group(2).upper()


def collect(root: Path, options: SimpleNamespace) -> Collected:
    if (root / "chest_xray" / "train").is_dir():
        root = root / "chest_xray"
    items: list[Item] = []
    ignored: list[Path] = []
    for folder, split in SPLIT_FOLDERS.items():
        if folder == "val" and not (root / folder).is_dir():
            continue
        for name in CLASSES:
            require(root / folder / name, f"'{folder}/{name}/' folder", LAYOUT)
        items += class_folder_items(
            root / folder, CLASSES, patient_of, split=split, prefix=f"{folder}-", ignored=ignored
        )
    notes = []
    if ignored:  # another format, a sub-folder: said, not dropped silently
        notes.append(f"left out {len(ignored)} entries that are no image (e.g. {ignored[0]})")
    classes = CLASSES
    if options.subtypes:
        known = [i for i in items if i.label == "NORMAL" or PERSON.match(Path(i.source).stem)]
        if len(known) < len(items):
            left_out = len(items) - len(known)
            notes.append(f"{left_out} PNEUMONIA files without bacteria/virus were left out")
        items = known
        for item in items:
            item.label = subtype_of(item)
        classes = SUBTYPE_CLASSES
    odd = sum(1 for item in items if item.group.startswith("file:"))
    if odd:
        notes.append(f"{odd} file names matched no patient pattern (own group each)")
    return Collected(items, classes, notes)
