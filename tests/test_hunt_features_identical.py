"""RGB copies of grey real images (or grey copies of RGB-stored grey ones) are real images pixel
for pixel, as every extractor sees them (grey replicated to 3 channels): `identical_to_real`
counted none of them, so the "these are real images" verdict was missed."""

import dataclasses

import numpy as np

from gaunet.data import load_source
from gaunet.metrics.identical import identical_to_real


def _sets():
    real = load_source("phantom:n=12,classes=2,seed=0", size=16, channels=1)
    reference = real.subset(np.arange(0, len(real), 2))
    return real, reference


def test_rgb_copies_of_grey_real_images_are_identical():
    real, reference = _sets()
    rgb = dataclasses.replace(real, images=np.repeat(real.images, 3, axis=1))
    assert identical_to_real(real, reference, rgb) == {
        "n": len(real), "of": len(real), "in_reference": len(reference), "blank": 0,
    }  # fmt: skip


def test_grey_copies_of_rgb_stored_real_images_are_identical():
    real, reference = _sets()
    rgb_real = dataclasses.replace(real, images=np.repeat(real.images, 3, axis=1))
    rgb_reference = dataclasses.replace(reference, images=np.repeat(reference.images, 3, axis=1))
    assert identical_to_real(rgb_real, rgb_reference, real)["n"] == len(real)


def test_blank_frames_are_never_real_images_pixel_for_pixel():
    """A collapsed generator's black frames equal the black slices of a real set, but are not
    real images: counted, they made the verdict UNUSABLE (copies) with the advice to check
    that --synthetic is not the real data."""
    real, reference = _sets()
    real_images = real.images.copy()
    real_images[:3] = 0
    real = dataclasses.replace(real, images=real_images)
    fake_images = real.images.copy()  # 3 blank frames, then 9 real images copied
    fake = dataclasses.replace(real, images=fake_images)
    assert identical_to_real(real, reference, fake)["n"] == len(real) - 3
