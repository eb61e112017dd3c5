"""BUSI breast ultrasound (Al-Dhabyani et al. 2020), the paper's "BreastUltra".

No patient ids and no official split are published, so each image is its own group and the
split is the grouped stratified 7:1:2 of `make_split`. Segmentation masks are skipped.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from gaunet.data.recipes.common import Collected, class_folder_items, require

CLASSES = ["benign", "malignant", "normal"]
LAYOUT = """\
ROOT/                      (or ROOT/Dataset_BUSI_with_GT/)
  benign/    benign (1).png, benign (1)_mask.png, ...
  malignant/ malignant (1).png, ...
  normal/    normal (1).png, ...
"""


def is_mask(path: Path) -> bool:
    """`benign (1)_mask.png` and `benign (4)_mask_1.png` are masks, not images."""
    return "_mask" in path.stem


def collect(root: Path, options: SimpleNamespace) -> Collected:
    if (root / "Dataset_BUSI_with_GT").is_dir():
        root = root / "Dataset_BUSI_with_GT"
    for name in CLASSES:
        require(root / name, f"BUSI class folder '{name}/'", LAYOUT)
    ignored: list[Path] = []
    items = class_folder_items(
        root,
        CLASSES,
        group_of=lambda path: f"{path.parent.name}/{path.stem}",
        skip=is_mask,
        ignored=ignored,
    )
    notes = ["BUSI has no patient ids: one group per image (images of one patient may leak)"]
    if ignored:  # another format, a sub-folder: said, not dropped silently
        notes.append(f"left out {len(ignored)} entries that are no image (e.g. {ignored[0]})")
    return Collected(items, CLASSES, notes)
