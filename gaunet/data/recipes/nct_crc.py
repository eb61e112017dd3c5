"""NCT-CRC-HE-100K (Kather et al. 2019): 224 px H&E colorectal patches, 9 tissue classes.

File names (`ADI-AAAWMSFI.tif`) carry no slide or patient id, so each patch is its own group.
When CRC-VAL-HE-7K (patches from other patients) sits next to it, it is the test split and
100K is split train/val; otherwise (or with --ignore-external-test) 7:1:2 over the 100K, which
is what the paper's counts (70,000 / 10,000 / 20,000) show.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from gaunet.data.recipes.common import Collected, class_folder_items, require
from gaunet.errors import GaunetError

CLASSES = ["ADI", "BACK", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM"]
TRAIN_NAMES = ("NCT-CRC-HE-100K", "NCT-CRC-HE-100K-NONORM")
TEST_NAME = "CRC-VAL-HE-7K"
LAYOUT = """\
ROOT/
  NCT-CRC-HE-100K/   (or NCT-CRC-HE-100K-NONORM/, or ROOT itself holds the class folders)
    ADI/ ADI-AAAWMSFI.tif ...   BACK/ DEB/ LYM/ MUC/ MUS/ NORM/ STR/ TUM/
  CRC-VAL-HE-7K/     optional external test set, same class folders
    ADI/ ADI-TCGA-AAICEQFN.tif ...
"""


def _train_folder(root: Path) -> Path:
    for name in TRAIN_NAMES:
        if (root / name).is_dir():
            return root / name
    if (root / "ADI").is_dir():
        return root
    return require(root / TRAIN_NAMES[0], "NCT-CRC-HE-100K folder", LAYOUT)


def collect(root: Path, options: SimpleNamespace) -> Collected:
    train_folder = _train_folder(root)
    for name in CLASSES:
        require(train_folder / name, f"tissue class folder '{name}/'", LAYOUT)

    def group_of(path: Path) -> str:
        return f"{path.parent.parent.name}/{path.stem}"

    external = root / TEST_NAME
    use_external = external.is_dir() and not options.ignore_external_test
    notes = ["file names carry no patient/slide id: one group per patch"]
    ignored: list[Path] = []
    if use_external:
        for name in CLASSES:  # a partial download: say so rather than test without a class
            what = f"{TEST_NAME} class folder '{name}/' (or pass --ignore-external-test)"
            require(external / name, what, LAYOUT)
        items = class_folder_items(train_folder, CLASSES, group_of, "train", ignored=ignored)
        tests = class_folder_items(
            external, CLASSES, group_of, split="test", prefix="val7k-", ignored=ignored
        )
        if not tests:
            raise GaunetError(
                f"{external} holds no image (not unpacked yet?): finish it, or pass "
                "--ignore-external-test to split the 100K 7:1:2"
            )
        items += tests
        notes.append(f"{TEST_NAME} (other patients) is the test split")
    else:
        items = class_folder_items(train_folder, CLASSES, group_of, ignored=ignored)
    if ignored:  # another format, a sub-folder: said, not dropped silently
        notes.append(f"left out {len(ignored)} entries that are no image (e.g. {ignored[0]})")
    return Collected(items, CLASSES, notes)
