"""OCT2017 (Kermany et al. 2018): retinal OCT, CNV / DME / DRUSEN / NORMAL.

Files are `CLASS-PATIENT-N.jpeg`; the patient number is the group (one patient can have
images in several classes). The official train/test split is kept and val is carved out of
train by patient; --resplit pools everything into a grouped 7:1:2 split, which is what the
paper's counts (76,516 / 10,930 / 21,863 of 109,309) show.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from gaunet.data.recipes.common import Collected, class_folder_items, require

CLASSES = ["CNV", "DME", "DRUSEN", "NORMAL"]
SPLIT_FOLDERS = {"train": "train", "test": "test"}
LAYOUT = """\
ROOT/                          (or ROOT/OCT2017/, the Kaggle/Mendeley archive)
  train/ CNV/ CNV-1016042-1.jpeg ...  DME/  DRUSEN/  NORMAL/
  test/  CNV/ CNV-1016042-2.jpeg ...  DME/  DRUSEN/  NORMAL/
"""
PATIENT = re.compile(r"^[A-Za-z]+-(\d+)-\d+$")


def patient_of(path: Path) -> str:
    """`CNV-1016042-1.jpeg` -> `1016042`; an unexpected name is its own group."""
    match = PATIENT.match(path.stem)
    return match.group(1) if match else f"file:{path.stem}"


def collect(root: Path, options: SimpleNamespace) -> Collected:
    for nested in ("OCT2017", "OCT2017 "):
        if (root / nested / "train").is_dir():
            root = root / nested
    items = []
    ignored: list[Path] = []
    for split, folder in SPLIT_FOLDERS.items():
        for name in CLASSES:
            require(root / folder / name, f"'{folder}/{name}/' folder", LAYOUT)
        items += class_folder_items(
            root / folder, CLASSES, patient_of, split=split, prefix=f"{split}-", ignored=ignored
        )
    odd = sum(1 for item in items if item.group.startswith("file:"))
    notes = [f"{odd} file names did not match CLASS-PATIENT-N"] if odd else []
    if ignored:  # another format, a sub-folder: said, not dropped silently
        notes.append(f"left out {len(ignored)} entries that are no image (e.g. {ignored[0]})")
    if (root / "val").is_dir():  # the Kaggle copy's 32-image val/: not used, but not silently
        unused = len(class_folder_items(root / "val", CLASSES, patient_of))
        notes.append(f"val/ ({unused} images) is not used: train/ and test/ are the split")
    return Collected(items, CLASSES, notes)
