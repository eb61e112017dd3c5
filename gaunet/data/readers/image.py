"""Ordinary images (PNG, JPEG, TIFF, BMP) -> one decoded 2D frame.

Pillow reads every mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F), with OpenCV as a fallback for
the TIFF flavours Pillow cannot open (float64, float RGB). Large JPEGs are decoded at a reduced
DCT scale (`draft`) since they are shrunk to S x S anyway.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gaunet.data.prepare import bit_depth, resize_to, sixteen_bit_to_uint8
from gaunet.data.readers.items import Frame, ReadOptions, SkipFile

# Pillow's bomb warning is replaced by the check in read_image, which skips and reports; its TIFF
# metadata warnings on damaged files are noise next to the problem line (decoding runs in
# threads, so a scoped catch_warnings would not be safe).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", category=UserWarning, module="PIL.TiffImagePlugin")


EXIF_ORIENTATION = 0x0112
MULTI_PAGE_NOTE = (
    "multi-page file (TIFF, GIF): only its first page is read; save each page as its own "
    "file to use the others"
)


def read_image(path: Path, options: ReadOptions) -> Frame:
    """PNG/JPEG/TIFF/BMP, 8- or 16-bit, any mode -> one Frame."""
    pages = 1
    try:
        # from an open file, not the path: Pillow memory-maps raw TIFF/BMP files opened by
        # path, and maps a TIFF turned on its side (Orientation 5-8) at its turned size, so
        # its grey pixels came out scrambled into stripes
        with open(path, "rb") as handle, Image.open(handle) as image:
            mode, shape = image.mode, f"{image.width}x{image.height}"
            limit = Image.MAX_IMAGE_PIXELS
            if limit and image.width * image.height > limit:
                raise Image.DecompressionBombError(f"{shape} pixels exceeds {limit}")
            deep = _opencv_decode(path) if _sixteen_bit_colour(image) else None
            if deep is not None and deep.dtype == np.uint16:
                array, mode = deep, f"{mode};16"  # Pillow would keep only the high byte
                if image.format == "PNG":  # OpenCV turns TIFFs itself, but not PNGs
                    array = _oriented(array, image.getexif().get(EXIF_ORIENTATION, 1))
            else:
                array = _pil_array(image, options.size)
            pages = getattr(image, "n_frames", 1)
    except Image.DecompressionBombError as error:
        raise SkipFile(
            f"image too large ({error}; decoding it would need about 4 bytes per pixel of "
            "memory, as PNG/TIFF/BMP cannot be decoded at a reduced size); raise "
            "PIL.Image.MAX_IMAGE_PIXELS if it is trusted and memory allows"
        ) from error
    except UnidentifiedImageError as error:
        array, mode, shape = _opencv_fallback(path, "not a readable image (unknown or damaged)")
        if array is None:
            raise SkipFile(mode) from error
    except OSError as error:
        if "truncated" in str(error).lower():
            raise SkipFile(f"truncated image ({error})") from error
        array, mode, shape = _opencv_fallback(path, f"cannot be decoded ({error})")
        if array is None:
            raise SkipFile(mode) from error
    if min(array.shape[:2]) < 2:
        raise SkipFile(f"image is {shape} pixels, too small to use")
    depth = 0
    if array.dtype == np.uint16 or (mode == "I" and path.suffix.lower() == ".png"):
        # 16-bit PNG/TIFF (Pillow mode I;16; older Pillow reads 16-bit PNG as mode I): by the
        # depth this image's values use; the source is brought to one depth once every file
        # is read (build.one_depth), with its note
        depth = 0 if options.window is not None else bit_depth(array)
        array, _ = sixteen_bit_to_uint8(array, options.window)
    note = MULTI_PAGE_NOTE if pages > 1 else ""
    try:
        image = resize_to(array, options.size, options.channels)
        stretched = _stretched_range(array)
        return Frame(image, mode=mode, shape=shape, note=note, depth=depth, value_range=stretched)
    except ValueError as error:
        raise SkipFile(str(error)) from error


def _pil_array(image: Image.Image, size: int) -> np.ndarray:
    """Pillow image -> array keeping 16-bit and float depth; palette and CMYK become RGB."""
    if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK", "YCbCr"):
        image.draft(image.mode, (size, size))  # decode at >= S x S, not at full size
    image.load()
    image = _reduced(image, size)
    if image.getexif().get(EXIF_ORIENTATION, 1) != 1:  # a phone or camera JPEG turned on
        image = ImageOps.exif_transpose(image)  # its side: shown as a viewer shows it
    mode = image.mode
    if mode in ("1", "LA"):
        return np.asarray(image.convert("L"))
    if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        return np.asarray(image.convert("RGBA" if mode.startswith("P") else "RGB"))[..., :3]
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    return np.asarray(image)


def _oriented(array: np.ndarray, orientation: object) -> np.ndarray:
    """`array` turned by its EXIF orientation (2..8) as ImageOps.exif_transpose turns an
    image: for the 16-bit colour PNGs OpenCV decodes, where it ignores the eXIf tag."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a),
    }.get(orientation if isinstance(orientation, int) else 1)
    return np.ascontiguousarray(turned(array)) if turned else array


REDUCE_ABOVE = 1 << 24  # pixels (16.7 MP): larger decoded images are box-reduced at once
REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F", "CMYK")  # modes Image.reduce accepts


def _reduced(image: Image.Image, size: int) -> Image.Image:
    """A large decoded image box-reduced by an integer factor, keeping both sides >= S.

    PNG, TIFF and BMP cannot be decoded at a reduced size, but shrinking right after decoding
    means no full-size numpy copy (nor Pillow's intermediate bytes) is ever made: a 9400 x 9400
    RGB PNG peaks at about 0.45 GB instead of 0.95 GB. The result is shrunk to S x S anyway."""
    factor = min(image.width, image.height) // size
    if image.width * image.height <= REDUCE_ABOVE or factor < 2 or image.mode not in REDUCIBLE:
        return image
    return image.reduce(factor)


def _stretched_range(array: np.ndarray) -> tuple[float, float] | None:
    """(lowest, highest) finite value of a float or signed-integer image, which to_uint8
    stretches to 0..255 on its own; build.one_range then gives the source one range. None for
    unsigned images and floats within [0, 1] (those are scaled by 255, the same for all)."""
    if array.dtype.kind not in "fi":
        return None
    values = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    if array.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        return None
    return low, high


def _sixteen_bit_colour(image: Image.Image) -> bool:
    """A 16-bit-per-sample colour (or grey+alpha) PNG/TIFF: Pillow decodes these as 8-bit
    RGB/RGBA/LA by keeping each sample's high byte, so 12-bit data stored in 16 bits would come
    out 16x too dark; OpenCV reads them at full depth instead."""
    if image.mode not in ("RGB", "RGBA", "LA") or not image.tile:
        return False
    args = image.tile[0].args
    raw = args if isinstance(args, str) else (args[0] if args else "")
    return isinstance(raw, str) and ";16" in raw


def _opencv_fallback(path: Path, reason: str) -> tuple[np.ndarray | None, str, str]:
    """OpenCV reads some TIFF variants Pillow cannot (float64, float RGB), quietly."""
    with open(path, "rb") as handle:
        if handle.read(4) not in (b"II*\0", b"MM\0*"):  # only real TIFF content
            return None, reason, ""
    array = _opencv_decode(path)
    if array is None:
        return None, reason, ""
    channels = 1 if array.ndim == 2 else array.shape[2]
    return array, f"TIFF {array.dtype} x{channels}", f"{array.shape[1]}x{array.shape[0]}"


def _opencv_decode(path: Path) -> np.ndarray | None:
    """The file at its stored depth, RGB order (alpha dropped), or None; quietly."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # the problem line says it
    data = np.fromfile(path, dtype=np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if array is None or array.size == 0:
        return None
    if array.ndim == 3 and array.shape[2] >= 3:
        array = array[..., 2::-1] if array.shape[2] == 3 else array[..., [2, 1, 0]]
    elif array.ndim == 3 and array.shape[2] == 2:  # grey + alpha
        array = array[..., 0]
    return array
