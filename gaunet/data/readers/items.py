"""The records every reader shares: what to read (Item, ReadOptions), what came out (Frame),
and how a file or a source is refused (SkipFile, SourceError).

This module imports no reader, so every reader and the dispatcher above them (decode.py) can
import it; build.py turns a list of Items into an ImageSet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaunet.errors import GaunetError


class SourceError(GaunetError, ValueError):
    """A source that cannot be used at all; the message names the file and the problem."""


@dataclass(frozen=True)
class ReadOptions:
    """Reader settings that change pixels, hence part of the cache key.

    window: (center, width) for DICOM, NIfTI and 16-bit PNG/TIFF intensities; None uses the
    file's own window (DICOM), the volume's 0.5-99.5 percentile range (NIfTI) or the bit depth
    the values use (16-bit images). skip_blank: drop near-empty slices.
    """

    size: int = 256
    channels: int = 3
    window: tuple[float, float] | None = None
    skip_blank: bool = False


@dataclass(frozen=True)
class Item:
    """One labelled file (or one slice of a volume when `slice_index` is set)."""

    path: Path
    item_id: str
    class_name: str
    group: str | None = None
    split: str | None = None
    slice_index: int | None = None


@dataclass
class Frame:
    """One decoded 2D image from a file: uint8 (C, S, S), plus what the file looked like."""

    image: np.ndarray
    suffix: str = ""
    group: str | None = None
    mode: str = ""
    shape: str = ""
    note: str = ""  # something the user should know about this image (no file names)
    depth: int = 0  # 16-bit data scaled by the depth its values use (8..16); 0 otherwise
    # float or signed data stretched from this (lowest, highest) to 0..255; None otherwise
    value_range: tuple[float, float] | None = None


def safe_text(text: str) -> str:
    """Printable on one line: non-UTF-8 bytes as \\xNN, control characters as \\n, \\t, ..."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class SkipFile(Exception):
    """Raised by decoders: this file is skipped, the message says why."""
