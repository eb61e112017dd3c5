"""DICOM (pydicom) and NIfTI (nibabel) files -> 2D frames with display intensities.

DICOM: stored values -> modality values (RescaleSlope/Intercept; in enhanced multi-frame files
each frame's Pixel Value Transformation) -> window (given, else the file's WindowCenter/
WindowWidth or Frame VOI LUT, else its VOI LUT table, else the image's own range) ->
MONOCHROME1 inverted so that bright always means dense. Multi-frame files give one frame per
slice. PatientID is the group.
NIfTI: the volume is reoriented to RAS and cut into axial (z) slices; intensities are scaled
once per volume (window if given, else the 0.5-99.5 percentile range), so slices stay
comparable. NaN/inf voxels count as the lowest value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaunet.data.prepare import resize_to
from gaunet.data.readers.items import Frame, ReadOptions, SkipFile

BLANK_LEVEL = 13  # uint8 level (5 % of range) a pixel must exceed to count as content
BLANK_FRACTION = 0.01  # a slice with less than 1 % content pixels is blank


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of [low, high] to [0, 255], clipped; non-finite values become 0."""
    values = np.where(np.isfinite(values), values, low)
    span = max(high - low, 1e-12)
    return np.clip(np.rint((values - low) / span * 255.0), 0, 255).astype(np.uint8)


def _file_window(dataset) -> tuple[float, float] | None:
    """The file's (WindowCenter, WindowWidth), or None when either is absent, empty (as
    de-identification tools leave them), not a number, or the width is not positive."""
    try:
        center, width = _first(dataset.get("WindowCenter")), _first(dataset.get("WindowWidth"))
    except (TypeError, ValueError, IndexError):
        return None
    return (center, width) if np.isfinite(center) and np.isfinite(width) and width > 0 else None


def _voi_lut(values: np.ndarray, dataset) -> np.ndarray | None:
    """The file's VOI LUT Sequence applied (CR/DX files give their view as a table instead of a
    window), as 0..255 by the table's output depth; None when there is no usable table. Without
    it such files fell back to each image's own min..max, unlike the view they were made with."""
    if "VOILUTSequence" not in dataset or not len(dataset.VOILUTSequence):
        return None
    from pydicom.pixels import apply_voi

    try:
        item = dataset.VOILUTSequence[0]
        bits = int(item.LUTDescriptor[2])
        shown = apply_voi(np.rint(values).astype(np.int64), dataset)
    except Exception:  # noqa: BLE001 - a malformed table: the image's own range, as before
        return None
    if not 1 <= bits <= 16 or shown is values:
        return None
    return shown.astype(np.float64) * (255.0 / (2**bits - 1))


def _first(value: object) -> float:
    """WindowCenter/Width may be multi-valued; the first is the default view."""
    if (
        isinstance(value, (list, tuple))
        or hasattr(value, "__getitem__")
        and not isinstance(value, (str, bytes))
    ):
        value = value[0]
    return float(value)


def read_dicom(path: Path, options: ReadOptions) -> list[Frame]:
    """A DICOM file -> one Frame per frame; raises SkipFile when it has no usable pixels."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError as error:
        raise SkipFile("not a readable DICOM file (no DICOM header / 'DICM' marker)") from error
    except (EOFError, OSError, ValueError) as error:
        raise SkipFile(f"not a readable DICOM file ({error})") from error
    if "PixelData" not in dataset:
        raise SkipFile("DICOM file without pixel data")
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # noqa: BLE001 - codec missing, bad length, ...
        raise SkipFile(f"DICOM pixel data cannot be decoded ({error})") from error
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(dataset.get("SamplesPerPixel", 1))
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    stack = pixels if frames > 1 else pixels[None]
    group = str(dataset.get("PatientID", "") or "") or None
    shape = f"{stack.shape[2]}x{stack.shape[1]}"
    if min(stack.shape[1:3]) < 2:  # as for ordinary images: no picture to resize
        raise SkipFile(f"image is {shape} pixels, too small to use")
    if photometric == "PALETTE COLOR" and samples == 1:  # stored values index a colour table
        stack, samples = _palette_rgb(stack, dataset), 3
    if samples > 1:  # colour (RGB / YBR already converted by pydicom): no window applies
        return [
            Frame(resize_to(f, options.size, options.channels), f"#{k}" if frames > 1 else "",
                  group, f"DICOM {photometric}", shape)
            for k, f in enumerate(stack)
        ]  # fmt: skip
    values = _frame_rescale(stack, dataset)
    if values is None:
        values = apply_modality_lut(stack, dataset).astype(np.float64)
    if options.window is not None:
        center, width = options.window
    elif (window := _file_window(dataset) or _group_window(dataset)) is not None:
        center, width = window
    elif (shown := _voi_lut(values, dataset)) is not None:  # CR/DX: a table, not a window
        center, width, values = 127.5, 255.0, shown
    else:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise SkipFile("DICOM pixel data has no finite values")
        low, high = float(finite.min()), float(finite.max())
        center, width = (low + high) / 2, high - low
    # bounds, not center +- width/2: a uniform image (width 0) is black, as with NIfTI and
    # ordinary images, not mid-grey
    low, high = (center - width / 2, center + width / 2) if width else (center, center)
    scaled = _scale(values, low, high)
    if photometric == "MONOCHROME1":
        scaled = 255 - scaled
    return [
        Frame(resize_to(f, options.size, options.channels), f"#{k}" if frames > 1 else "",
              group, f"DICOM {photometric}", shape)
        for k, f in enumerate(scaled)
    ]  # fmt: skip


def _groups(dataset, name: str) -> list:
    """Enhanced multi-frame files (CT, MR, PET) keep rescale and window in functional groups:
    for each frame its per-frame item of `name`, else the shared one, else None."""
    shared = dataset.get("SharedFunctionalGroupsSequence")
    common = shared[0].get(name) if shared else None
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    found = []
    for frame in per_frame or [None]:
        own = frame.get(name) if frame is not None else None
        sequence = own or common
        found.append(sequence[0] if sequence else None)
    return found


def _frame_rescale(stack: np.ndarray, dataset) -> np.ndarray | None:
    """Modality values of an enhanced multi-frame file, each frame by its own Pixel Value
    Transformation (pydicom applies only a top-level RescaleSlope/Intercept); None otherwise."""
    items = _groups(dataset, "PixelValueTransformationSequence")
    if not any(item is not None and "RescaleSlope" in item for item in items):
        return None
    if len(items) == 1:
        items = items * len(stack)
    if len(items) != len(stack):
        raise SkipFile(f"{len(items)} per-frame functional groups for {len(stack)} frames")
    values = stack.astype(np.float64)
    for k, item in enumerate(items):
        if item is not None and "RescaleSlope" in item:
            values[k] = values[k] * float(item.RescaleSlope) + float(
                item.get("RescaleIntercept", 0)
            )
    return values


def _group_window(dataset) -> tuple[float, float] | None:
    """An enhanced multi-frame file's window (Frame VOI LUT, shared or the first frame's), used
    for every frame so that slices stay comparable (as for NIfTI volumes)."""
    item = next((i for i in _groups(dataset, "FrameVOILUTSequence") if i is not None), None)
    return _file_window(item) if item is not None else None


def _palette_rgb(stack: np.ndarray, dataset) -> np.ndarray:
    """PALETTE COLOR indices -> uint8 RGB through the file's colour table (16-bit table entries
    by their full range), not the indices shown as grey levels."""
    from pydicom.pixels import apply_color_lut

    try:
        rgb = apply_color_lut(stack, dataset)
    except Exception as error:  # noqa: BLE001 - missing or malformed table
        raise SkipFile(
            f"PALETTE COLOR DICOM whose colour table cannot be used ({error})"
        ) from error
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(rgb.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    return rgb


def is_blank(slice_uint8: np.ndarray) -> bool:
    """Fewer than 1 % of pixels above 5 % intensity: air, padding, the ends of a scan."""
    return float((slice_uint8 > BLANK_LEVEL).mean()) < BLANK_FRACTION


NIFTI_ORDER_NOTE = (
    "NIfTI volume not stored foot to head: its slices are numbered (ids `#z`, the `slice` "
    "column) after reorientation to RAS, from the feet up, not in the file's own order"
)


def read_nifti(path: Path, options: ReadOptions, slice_index: int | None = None) -> list[Frame]:
    """A NIfTI volume -> its axial slices (or only `slice_index`), ids suffixed `#z`."""
    import nibabel as nib

    try:
        stored = nib.load(str(path))
        reordered = nib.aff2axcodes(stored.affine)[2] != "S"  # third axis not foot -> head
        axes = list(stored.shape)
        while len(axes) > 3 and axes[-1] == 1:  # (x, y, z, 1, 1): one volume
            axes.pop()
        series = ""
        if len(axes) == 4:  # a time series or channels: the first volume (only it read), said
            series = f"NIfTI 4D series: only the first of its {axes[3]} volumes is read"
            first = stored.dataobj[(slice(None),) * 3 + (0,) * (len(stored.shape) - 3)]
            stored = nib.Nifti1Image(np.asarray(first), stored.affine)
        image = nib.as_closest_canonical(stored)
        volume = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as error:  # noqa: BLE001 - nibabel raises many types for bad files
        raise SkipFile(f"not a readable NIfTI volume ({error})") from error
    while volume.ndim > 3 and volume.shape[-1] == 1:
        volume = volume[..., 0]
    if volume.ndim == 2:
        volume = volume[..., None]
    if volume.ndim != 3 or min(volume.shape[:2]) < 2:
        raise SkipFile(f"NIfTI volume of shape {volume.shape} has no 2D axial slices")
    finite = volume[np.isfinite(volume)]
    if finite.size == 0:
        raise SkipFile("NIfTI volume has no finite voxel values (all NaN/inf)")
    if options.window is not None:
        center, width = options.window
        low, high = center - width / 2, center + width / 2
    else:
        low, high = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
        if high <= low:
            low, high = float(finite.min()), float(finite.max())
    depth = volume.shape[2]
    indices = range(depth)
    if slice_index is not None:
        if not 0 <= slice_index < depth:
            raise SkipFile(f"slice {slice_index} is outside the volume's 0..{depth - 1}")
        indices = [slice_index]
    shape = f"{volume.shape[0]}x{volume.shape[1]}x{depth}"
    frames = []
    for z in indices:
        # RAS voxel axes (x right, y anterior): rotate so anterior is up, as radiologists view.
        plane = np.rot90(_scale(volume[:, :, z], low, high))
        if options.skip_blank and slice_index is None and is_blank(plane):
            continue
        image_2d = resize_to(np.ascontiguousarray(plane), options.size, options.channels)
        note = "; ".join(text for text in (NIFTI_ORDER_NOTE * reordered, series) if text)
        frames.append(Frame(image_2d, f"#{z}", None, "NIfTI", shape, note))
    if not frames:
        raise SkipFile("every axial slice of the volume is blank")
    return frames
