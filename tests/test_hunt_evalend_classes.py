"""`align_classes`: each synthetic class folder is matched to a real class on its own, and a
refusal names only the folders that match no real class."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import ImageSet
from gaunet.errors import GaunetError
from gaunet.metrics.evaluate import align_classes

REAL = ["malignant", "normal+benign"]


def _synthetic(class_names: list[str]) -> ImageSet:
    labels = np.repeat(np.arange(len(class_names)), 2)
    return ImageSet(
        images=np.zeros((len(labels), 1, 4, 4), np.uint8),
        labels=labels,
        class_names=class_names,
        groups=np.arange(len(labels)).astype(str),
        ids=np.arange(len(labels)).astype(str),
        source="synthetic",
    )


def test_a_refusal_names_only_the_folder_without_a_real_class() -> None:
    """`normal_benign` is gaunet generate's folder of `normal+benign`: it was named as unknown
    beside the truly unknown folder."""
    with pytest.raises(GaunetError) as error:
        align_classes(_synthetic(["Malignant_x", "normal_benign"]), REAL)
    assert "no real class named 'Malignant_x')" in str(error.value)


def test_two_folders_of_one_class_are_said_to_be_that() -> None:
    with pytest.raises(GaunetError, match="'Malignant' and 'malignant' all name real class"):
        align_classes(_synthetic(["Malignant", "malignant", "normal_benign"]), REAL)


def test_a_folder_renamed_to_its_real_name_beside_a_generated_one_is_matched() -> None:
    """One folder renamed to its real name (with a space), the other as generate wrote it."""
    real = ["normal tissue", "tumour+cyst"]
    assert align_classes(_synthetic(["tumour_cyst", "normal tissue"]), real).tolist() == [
        1, 1, 0, 0,
    ]  # fmt: skip
