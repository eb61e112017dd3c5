"""LiTS (Bilic et al. 2019): 131 abdominal CTs with liver (1) and tumour (2) masks, as axial slices.

The paper lists LiTS as "Multi-Class(11)", made 2D "with the similar method in [36]" (Xu et al.
2019), which annotated 3D bounding boxes of 11 organs on the LiTS CTs (IEEE DataPort,
doi:10.21227/df8g-pq27; not part of the LiTS download). Two labellings, see docs/datasets.md:

- default, from LiTS's own masks: each axial slice is `no_liver`, `liver` or `liver_tumour`;
  every slice kept (--slice-step N keeps every Nth), whole slice, reoriented to RAS.
- --organ-boxes DIR (Xu et al.'s `segmentation-N.txt` files): the 11 organ classes of [36];
  for each box, every axial slice through it (--slice-step applies), cropped to the box and
  widened to a square around its centre.

Display: radiological (patient right on image left, anterior up), abdominal window
[-150, 250] HU (W400 L50). Group: the volume.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from gaunet.data.recipes.common import (
    Collected,
    Item,
    centred_crop,
    require,
    window_to_uint8,
)
from gaunet.errors import GaunetError
from gaunet.progress import progress

CLASSES = ["no_liver", "liver", "liver_tumour"]
ORGANS = {  # label in Xu et al.'s box files -> class name
    "heart": "heart",
    "lung-l": "left_lung",
    "lung-r": "right_lung",
    "liver": "liver",
    "spleen": "spleen",
    "pancreas": "pancreas",
    "kidney-l": "left_kidney",
    "kidney-r": "right_kidney",
    "bladder": "bladder",
    "femur-l": "left_femoral_head",
    "femur-r": "right_femoral_head",
}
HU_WINDOW = (-150.0, 250.0)
LAYOUT = """\
ROOT/          (any depth, e.g. "Training Batch 1/" and "Training Batch 2/")
  volume-0.nii        segmentation-0.nii      (.nii or .nii.gz)
  volume-1.nii        segmentation-1.nii
  ...
"""
BOX_LAYOUT = """\
BOXES/         (--organ-boxes; Xu et al.'s annotations_of_training_set/)
  segmentation-0.txt   one line per organ: NAME INDEX x_min x_max y_min y_max z_min z_max
  ...                  (voxel indices of volume-0.nii as stored; NAME e.g. liver, lung-l)
"""
VOLUME = re.compile(r"^volume-(\d+)\.nii(\.gz)?$")


@lru_cache(maxsize=1)
def _canonical(path: Path) -> np.ndarray:
    """The last volume read, in RAS order, float32; items are ordered by volume."""
    import nibabel

    return nibabel.as_closest_canonical(nibabel.load(str(path))).get_fdata(dtype=np.float32)


@lru_cache(maxsize=1)
def _stored(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The last volume read as stored (box indices refer to it), and its axis orientation."""
    import nibabel

    image = nibabel.load(str(path))
    orientation = nibabel.orientations.io_orientation(image.affine)
    return image.get_fdata(dtype=np.float32), orientation


def _radiological(plane_ras: np.ndarray) -> np.ndarray:
    """(x, y) plane in RAS -> image rows anterior-up, patient's right on the left."""
    return plane_ras.T[::-1, ::-1]


def axial_slice(path: Path, index: int) -> np.ndarray:
    """uint8 axial slice `index` (RAS z), radiological orientation, abdominal window."""
    return window_to_uint8(_radiological(_canonical(path)[:, :, index]), HU_WINDOW)


def organ_crop(path: Path, box: tuple[int, ...], z: int) -> np.ndarray:
    """uint8 square crop of stored slice z around an organ box, radiological orientation."""
    volume, orientation = _stored(path)
    if list(orientation[:, 0]) != [0, 1, 2]:
        raise ValueError("volume axes are not stored in x, y, z order; boxes would not fit")
    x0, x1, y0, y1 = box[:4]
    side = max(x1 - x0, y1 - y0, 1)
    crop = centred_crop(volume[:, :, z], ((x0 + x1) // 2, (y0 + y1) // 2), (side, side), -1000.0)
    flips = orientation[:, 1].astype(int)
    return window_to_uint8(_radiological(crop[:: flips[0], :: flips[1]]), HU_WINDOW)


def slice_labels(segmentation: Path) -> list[str]:
    """One class per axial slice from the liver (1) / tumour (2) mask."""
    import nibabel

    mask = np.asanyarray(nibabel.as_closest_canonical(nibabel.load(str(segmentation))).dataobj)
    mask = np.rint(mask).astype(np.uint8)
    liver = (mask >= 1).any(axis=(0, 1))
    tumour = (mask == 2).any(axis=(0, 1))
    return [CLASSES[2] if t else CLASSES[1] if v else CLASSES[0] for v, t in zip(liver, tumour)]


def read_boxes(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    """(class name, (x_min, x_max, y_min, y_max, z_min, z_max)) per line of a box file."""
    boxes = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:  # a word for a number is named like a short line, not a ValueError traceback
            box = tuple(int(float(v)) for v in parts[2:8])
        except (ValueError, OverflowError):  # (OverflowError: `inf`)
            box = ()
        if len(box) < 6 or parts[0] not in ORGANS:
            raise GaunetError(f"{path} line {number}: expected NAME INDEX and 6 box numbers\n"
                              f"{BOX_LAYOUT}")  # fmt: skip
        boxes.append((ORGANS[parts[0]], box))
    return boxes


def _volumes(root: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(root.rglob("volume-*.nii*")):
        match = VOLUME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    if not found:
        raise GaunetError(f"no volume-N.nii files under {root}\nexpected layout:\n{LAYOUT}")
    seen: dict[int, Path] = {}
    for number, path in sorted(found):  # e.g. a .nii kept next to its .nii.gz: every slice twice
        if number in seen:
            raise GaunetError(f"volume-{number} is there twice: {seen[number]} and {path}; "
                              "keep one")  # fmt: skip
        seen[number] = path
    return sorted(found)


def _segmentation(volume: Path) -> Path:
    return volume.with_name(volume.name.replace("volume-", "segmentation-", 1))


def _slice_items(volumes: list[tuple[int, Path]], step: int) -> tuple[list[Item], list[str]]:
    missing = [str(_segmentation(v)) for _, v in volumes if not _segmentation(v).exists()]
    if missing:
        raise GaunetError(f"missing {len(missing)} segmentation files, e.g. {missing[0]}\n{LAYOUT}")
    items, notes = [], []
    for number, volume in progress(volumes, desc="read masks", unit="vol"):
        try:
            labels = slice_labels(_segmentation(volume))
        except Exception as error:  # noqa: BLE001 - an unreadable mask skips its volume, named
            notes.append(f"skipped {_segmentation(volume)}: {type(error).__name__}: {error}")
            continue
        items += [
            Item(
                label=labels[index],
                group=f"volume-{number}",
                name=f"volume-{number}_slice-{index:04d}",
                source=f"{volume} slice {index}",
                load=lambda p=volume, k=index: axial_slice(p, k),
            )
            for index in range(0, len(labels), step)
        ]
    return items, notes


def _organ_items(volumes, boxes_dir: Path, step: int) -> tuple[list[Item], list[str]]:
    require(boxes_dir, "--organ-boxes folder", BOX_LAYOUT)
    items, without = [], 0
    for number, volume in volumes:
        box_file = boxes_dir / f"segmentation-{number}.txt"
        if not box_file.exists():
            without += 1
            continue
        for organ, box in read_boxes(box_file):
            items += [
                Item(
                    label=organ,
                    group=f"volume-{number}",
                    name=f"volume-{number}_{organ}_z{z:04d}",
                    source=f"{volume} slice {z} ({organ} box)",
                    load=lambda p=volume, b=box, k=z: organ_crop(p, b, k),
                )
                for z in range(box[4], box[5], step)
            ]
    if without == len(volumes):
        raise GaunetError(f"no segmentation-N.txt in {boxes_dir} matches a volume\n{BOX_LAYOUT}")
    notes = [f"{without} volumes have no organ box file and were left out"] if without else []
    return items, notes


def collect(root: Path, options: SimpleNamespace) -> Collected:
    volumes = _volumes(root)
    step = max(1, options.slice_step)
    if options.organ_boxes:
        items, notes = _organ_items(volumes, Path(options.organ_boxes), step)
        return Collected(items, list(ORGANS.values()), [f"{len(volumes)} volumes", *notes])
    items, notes = _slice_items(volumes, step)
    return Collected(items, CLASSES, [f"{len(volumes)} volumes", *notes])
