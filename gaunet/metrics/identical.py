"""Synthetic images that are real images, pixel for pixel (the `identical_to_real` entry).

`--synthetic` naming the real data, or a folder that mixes real images in, was scored by the
copy audit alone (a WARNING: "usable only with caution"), and its real test images, being the
reference split itself, made FD, KID and precision/recall look better than anything generated.
A generator never writes a real image byte for byte, so such images are counted here, exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gaunet.data.duplicates import blank_rows, identical_to_any
from gaunet.data.imageset import ImageSet
from gaunet.metrics.verdict_types import UNUSABLE, WARNING, Verdict

IDENTICAL_HIGH = 0.20  # this share of real images or more: the set is not a generated one


def identical_to_real(real: ImageSet, reference: ImageSet, synthetic: ImageSet) -> dict[str, Any]:
    """How many synthetic images equal a real image (any split), and one of the reference's.
    A grey set meets an RGB one as every extractor sees it, grey replicated to 3 channels: RGB
    copies of grey real images (or the reverse) are the same pixels, not new images."""
    fake, real_images, reference_images = _same_channels(
        synthetic.images, real.images, reference.images
    )
    # an image of one value (a blank frame a collapsed generator draws) equals a blank real
    # frame without being a real image: never a copy, as the data's duplicate sets count it
    drawn = ~blank_rows(fake)
    found = identical_to_any(fake, real_images) & drawn
    in_reference = identical_to_any(fake, reference_images) & drawn
    return {
        "n": int(found.sum()),
        "of": len(found),
        "in_reference": int(in_reference.sum()),
        "blank": int((~drawn).sum()),  # the share is of the others: a real set copied whole is
    }  # no less "not generated" for holding blank slices


def _same_channels(*sets: np.ndarray) -> list[np.ndarray]:
    """The sets as they are when their channel counts agree, else each grey one replicated."""
    if len({images.shape[1] for images in sets}) == 1:
        return list(sets)
    return [np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images for images in sets]


def identical_verdicts(result: dict[str, Any]) -> list[Verdict]:
    entry = result.get("identical_to_real") or {}
    n, of = entry.get("n", 0), entry.get("of", 0)
    if not n or not of:
        return []
    split = result.get("reference_split", "test")
    flattered = (
        f" ({entry['in_reference']} of them in the real {split} split they are compared with, "
        "which makes FD, KID, precision and recall look better than they are)"
        if entry.get("in_reference")
        else ""
    )
    blank = entry.get("blank", 0)  # absent from results of older versions
    aside = f" ({blank} blank frames aside)" if blank else ""
    return [
        Verdict(
            UNUSABLE if n / max(1, of - blank) >= IDENTICAL_HIGH else WARNING,
            "copies",
            f"{n} of the {of} synthetic images{aside} are real images, pixel for pixel"
            f"{flattered}: "
            "they are not generated images, and add nothing a copy of the real set would not.",
            "check that --synthetic names the generated folder, not the real data, and that no "
            "real image was copied into it",
        )
    ]


__all__ = ["identical_to_real", "identical_verdicts"]
