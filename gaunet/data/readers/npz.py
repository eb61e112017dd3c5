"""MedMNIST-style .npz: `{train,val,test}_images` and `_labels`; the official split is kept.
A gaunet run's train_images.npz reads too, as one train split (the real images it trained on).

Class names of the MedMNIST v2 2D sets are known by file name (`breastmnist.npz`,
`pneumoniamnist_224.npz`, ...); any other archive gets "0", "1", ... Not cached: loading the
archive and resizing is about as fast as reading a cache of the resized arrays would be.
NaN or inf pixels of a float archive take the image's lowest finite value; how many images had
them is one note line (info["notes"]) in every command's skip summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaunet.data.imageset import SPLITS, ImageSet
from gaunet.data.prepare import bit_depth, resize_stack
from gaunet.data.readers.items import SourceError

ORGAN = [
    "bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver",
    "lung-left", "lung-right", "pancreas", "spleen",
]  # fmt: skip
MEDMNIST_CLASSES: dict[str, list[str]] = {
    "breastmnist": ["malignant", "normal+benign"],
    "pneumoniamnist": ["normal", "pneumonia"],
    "octmnist": ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
    "pathmnist": [
        "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
        "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium",
    ],
    "dermamnist": [
        "actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
        "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
        "vascular lesions",
    ],
    "bloodmnist": [
        "basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte",
        "monocyte", "neutrophil", "platelet",
    ],
    "organamnist": ORGAN,
    "organcmnist": ORGAN,
    "organsmnist": ORGAN,
}  # fmt: skip


def known_class_names(path: Path) -> list[str] | None:
    """MedMNIST names when the file name says which set it is, else None."""
    stem = path.name.lower().split(".")[0].split("_")[0]
    names = MEDMNIST_CLASSES.get(stem)
    return None if names is None else list(names)


def _stored_class_names(path: Path, archive) -> list[str] | None:
    """The `class_names` an archive carries beside its MedMNIST-layout arrays (`gaunet generate
    --format npz` writes them): without them its classes read back as '0', '1', and one with no
    image left the archive unreadable ("classes 0 have no image")."""
    if "class_names" not in archive.files:
        return None
    try:
        names = np.asarray(archive["class_names"])
    except Exception as error:  # noqa: BLE001 - an object array (pickle) or a torn member
        raise SourceError(f"{path}: its class_names cannot be read ({error})") from error
    if names.ndim != 1 or names.dtype.kind not in "US" or not len(names):
        raise SourceError(f"{path}: class_names must be a list of names (strings)")
    return [str(name) for name in names]


def _check_labels(path: Path, labels: np.ndarray, names: list[str] | None) -> list[str]:
    """Class names for these labels, or a one-line SourceError. O(n): the maximum is checked
    against the image count (or the known class list) before anything is sized by it."""
    top = int(labels.max())
    if names is not None:
        if top >= len(names):
            raise SourceError(
                f"{path}: label {top} found, but {path.name.split('.')[0]} has "
                f"{len(names)} classes (0..{len(names) - 1}: {', '.join(names)})"
            )
        return names
    if top >= len(labels):
        raise SourceError(
            f"{path}: label {top} found among {len(labels)} images; labels must be class "
            f"indices 0..K-1 with every class present"
        )
    counts = np.bincount(labels, minlength=top + 1)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        shown = ", ".join(str(int(c)) for c in empty[:5]) + (" ..." if len(empty) > 5 else "")
        raise SourceError(
            f"{path}: labels go up to {top} but classes {shown} have no image; labels must be "
            f"class indices 0..K-1 with every class present"
        )
    return [str(i) for i in range(top + 1)]


def _read_part(archive, path: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """One split's images and labels, checked: (N, H, W[, C]) numbers and one class each."""
    if f"{part}_labels" not in archive.files:
        raise SourceError(f"{path}: {part}_images has no {part}_labels")
    try:
        x = archive[f"{part}_images"]
        y = np.asarray(archive[f"{part}_labels"])
    except Exception as error:  # noqa: BLE001 - truncated member, bad dtype
        raise SourceError(f"{path}: {part} arrays cannot be read ({error})") from error
    if x.ndim not in (3, 4) or len(x) == 0 or min(x.shape[1:3]) < 2:
        raise SourceError(f"{path}: {part}_images has shape {x.shape}, not (N, H, W[, C])")
    if x.ndim == 4 and x.shape[3] not in (1, 3, 4):
        raise SourceError(
            f"{path}: {part}_images has {x.shape[3]} channels per pixel (shape {x.shape}); "
            "1 (grey), 3 (RGB) or 4 (RGBA) are supported"
        )
    if x.dtype.kind not in "uifb":
        raise SourceError(f"{path}: {part}_images has dtype {x.dtype}, not numbers")
    if x.ndim == 4 and x.shape[3] == 4:  # RGBA: alpha dropped before the archive's scale
        x = x[..., :3]
    y = y.reshape(len(y), -1)
    if len(y) != len(x) or y.shape[1] != 1:
        raise SourceError(
            f"{path}: {part}_labels has shape {y.shape} for {len(x)} images "
            "(one integer class per image needed; multi-label sets are not supported)"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise SourceError(f"{path}: {part}_labels must be non-negative integers")
    return x, y[:, 0].astype(np.int64)


NON_FINITE_NOTE = "had NaN or inf pixels, set to the image's lowest finite value"


def count_non_finite(x: np.ndarray, chunk: int = 1024) -> int:
    """Images of a stack holding a NaN or inf pixel (0 for integer stacks), so that the reader
    can say how many it changed. In chunks: a float archive of gigabytes needs no second copy
    of itself as booleans."""
    if x.dtype.kind != "f":
        return 0
    bad = 0
    for start in range(0, len(x), chunk):
        part = np.isfinite(x[start : start + chunk])
        bad += int((~part.reshape(len(part), -1).all(1)).sum())
    return bad


def _resized(path: Path, arrays: list[np.ndarray], size: int, channels: int) -> np.ndarray:
    """Every split's images in one uint8 (N, C, S, S) allocation: PneumoniaMNIST at 256 px RGB
    is already 1.2 GB."""
    images = np.empty((sum(len(x) for x in arrays), channels, size, size), dtype=np.uint8)
    start = 0
    for x in arrays:
        try:
            resize_stack(x, size, channels, out=images[start : start + len(x)])
        except ValueError as error:
            raise SourceError(f"{path}: {error}") from error
        start += len(x)
    return images


def _one_scale(path: Path, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], dict[str, int]]:
    """Non-uint8 stacks -> uint8 by one mapping for the whole archive, so that relative
    brightness between images is kept (a dark image is not stretched to full range): 16-bit by
    the deepest depth any image uses (as build.one_depth does for 16-bit files), floats all in
    [0, 1] by 255, other numbers by the archive's min..max. NaN/inf first take their image's
    lowest finite value. Also a note when 16-bit data use 12 bits or fewer."""
    scaled = [x for x in arrays if x.dtype not in (np.uint8, np.bool_)]
    if not scaled:
        return arrays, {}
    note: dict[str, int] = {}
    if all(x.dtype == np.uint16 for x in scaled):
        bits = max(bit_depth(x) for x in scaled)
        low, high, factor = 0.0, float(2**bits - 1), None
        if bits <= 12:
            text = f"16-bit image uses only 0..{2**bits - 1} of 0..65535: scaled as {bits}-bit"
            note[text] = sum(len(x) for x in scaled)
    else:
        ranges = [_finite_range(path, x) for x in scaled]
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        floats = all(x.dtype.kind == "f" for x in scaled)
        factor = 255.0 if floats and low >= 0.0 and high <= 1.0 else None
    out = []
    for x in arrays:
        if x.dtype in (np.uint8, np.bool_):
            out.append(x)
            continue
        result = np.empty(x.shape, dtype=np.uint8)
        for start in range(0, len(x), CHUNK):
            values = _finite_filled(x[start : start + CHUNK])
            if factor is not None:
                values = values * factor
            elif high > low:
                values = (values - low) / (high - low) * 255.0
            else:
                values = np.zeros_like(values)
            result[start : start + CHUNK] = np.clip(np.rint(values), 0, 255)
        out.append(result)
    return out, note


CHUNK = 1024  # images converted at a time: no float64 copy of a whole large archive


def _finite_filled(part: np.ndarray) -> np.ndarray:
    """float64 copy of a chunk of images, NaN/inf set to each image's lowest finite value."""
    values = part.astype(np.float64)
    if part.dtype.kind != "f":
        return values
    finite = np.isfinite(values)
    if finite.all():
        return values
    axes = tuple(range(1, values.ndim))
    lowest = np.where(finite, values, np.inf).min(axis=axes, keepdims=True)
    return np.where(finite, values, lowest)


def _finite_range(path: Path, x: np.ndarray) -> tuple[float, float]:
    """Lowest and highest finite value of a stack; SourceError if an image has none."""
    low, high = np.inf, -np.inf
    for start in range(0, len(x), CHUNK):
        part = x[start : start + CHUNK]
        if part.dtype.kind == "f":
            finite = np.isfinite(part)
            if not finite.reshape(len(part), -1).any(1).all():
                raise SourceError(f"{path}: image has no finite pixel values")
            part = part[finite]
        low, high = min(low, float(part.min())), max(high, float(part.max()))
    return low, high


# a run folder's train_images.npz (gaunet/training/run_folder.py: save_train_images)
RUN_ARRAYS = {"images", "labels", "class_names", "ids", "groups"}


def run_images(archive) -> ImageSet:
    """The rows of an open run archive as trained on (native size, split "train"); info holds
    its record of the source ("source_path", "source_fingerprint"; "" in older runs). Read by
    training (resume, generation) and, through _run_images, as a source."""
    record = {
        key: str(archive[key]) if key in archive.files else ""
        for key in ("source_path", "source_fingerprint")
    }
    return ImageSet(
        images=archive["images"],
        labels=archive["labels"].astype(np.int64),
        class_names=[str(c) for c in archive["class_names"]],
        groups=archive["groups"],
        ids=archive["ids"],
        split=np.full(len(archive["ids"]), "train"),
        source=str(archive["source"]),
        info=record,
    )


def _run_images(path: Path, archive, size: int, channels: int) -> ImageSet:
    """The real images a generator trained on, as a source: `gaunet evaluate --synthetic
    RUN/train_images.npz` scores them as it scores generated images, the values a generator's
    FD, KID, recall and PA are read against (real images of the same count)."""
    try:
        run = run_images(archive)
    except Exception as error:  # noqa: BLE001 - truncated member, bad dtype
        raise SourceError(f"{path}: the run's arrays cannot be read ({error})") from error
    x, labels, names = run.images, run.labels, run.class_names
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0 or x.dtype != np.uint8:
        raise SourceError(
            f"{path}: images has shape {x.shape} and dtype {x.dtype}, not a run's uint8 "
            "(N, 1 or 3, S, S)"
        )
    if not (len(labels) == len(run.groups) == len(x)):
        raise SourceError(f"{path}: {len(x)} images but {len(labels)} labels, {len(run.ids)} ids")
    if labels.min() < 0 or labels.max() >= len(names):
        raise SourceError(f"{path}: labels outside 0..{len(names) - 1} ({', '.join(names)})")
    stack = x[:, 0] if x.shape[1] == 1 else x.transpose(0, 2, 3, 1)  # resize_stack's layout
    mode = "L" if x.shape[1] == 1 else "RGB"
    return ImageSet(
        images=_resized(path, [stack], size, channels),
        labels=labels,
        class_names=names,
        groups=run.groups.astype(str),
        ids=run.ids.astype(str),
        split=run.split,
        source=str(path),
        info={
            "kind": "npz",
            "sizes": {f"{x.shape[3]}x{x.shape[2]}": len(x)},
            "modes": {mode: len(x)},
        },
    )


def load_npz(path: Path, size: int, channels: int) -> ImageSet:
    """Every split present in the archive, resized, with `split` set from the array names."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
    except OSError as error:
        raise SourceError(f"{path}: cannot read ({error.strerror or error})") from error
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # numpy's own error on such
        # a file ends "If you trust the file you can load it unsafely": advice we never want
        kind = "a single .npy array" if head.startswith(b"\x93NUMPY") else "not a zip archive"
        raise SourceError(
            f"{path}: not a .npz archive ({kind}; an .npz is a zip of arrays, as np.savez writes)"
        )
    try:
        archive = np.load(path, allow_pickle=False)
        files = set(archive.files)
    except Exception as error:  # noqa: BLE001 - any decode failure is the same user error
        raise SourceError(f"{path}: not a readable .npz archive ({error})") from error
    parts = [s for s in SPLITS if f"{s}_images" in files]
    if not parts and RUN_ARRAYS <= files:
        return _run_images(path, archive, size, channels)
    if not parts:
        raise SourceError(
            f"{path}: no train_images/val_images/test_images arrays inside, nor the images, "
            "labels, class_names, ids and groups of a gaunet run's train_images.npz"
        )
    arrays, labels, split, ids, sizes = [], [], [], [], {}
    for part in parts:
        x, y = _read_part(archive, path, part)
        arrays.append(x)
        labels.append(y)
        split += [part] * len(x)
        ids += [f"{part}/{i:06d}" for i in range(len(x))]
        key = f"{x.shape[2]}x{x.shape[1]}"
        sizes[key] = sizes.get(key, 0) + len(x)
    labels_all = np.concatenate(labels)
    names = _stored_class_names(path, archive) or known_class_names(path)
    class_names = _check_labels(path, labels_all, names)
    non_finite = sum(count_non_finite(x) for x in arrays)
    arrays, depth_note = _one_scale(path, arrays)
    images = _resized(path, arrays, size, channels)
    ids_all = np.asarray(ids)
    mode = "L" if arrays[0].ndim == 3 or arrays[0].shape[3] == 1 else "RGB"
    info = {"kind": "npz", "sizes": sizes, "modes": {mode: len(ids_all)}}
    notes = {NON_FINITE_NOTE: non_finite} if non_finite else {}
    notes.update(depth_note)
    if notes:  # one line in every command's skip summary, as for other changed images
        info["notes"] = notes
    return ImageSet(
        images=images,
        labels=labels_all,
        class_names=class_names,
        groups=ids_all.copy(),
        ids=ids_all,
        split=np.asarray(split),
        source=str(path),
        info=info,
    )
