"""`align_classes`: synthetic classes are matched to the real ones by name, never by position."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.data import ImageSet
from gaunet.errors import GaunetError
from gaunet.metrics.evaluate import align_classes

REAL = ["benign", "malignant", "normal+benign"]


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


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["malignant", "benign"], [1, 1, 0, 0]),  # another order: by name, not position
        (["Malignant", "BENIGN"], [1, 1, 0, 0]),  # a folder renamed in another case
        (["normal_benign", "benign"], [2, 2, 0, 0]),  # gaunet generate's folder name
        (["benign", "malignant", "normal+benign"], [0, 0, 1, 1, 2, 2]),
    ],
)
def test_classes_are_matched_by_name(names: list[str], expected: list[int]) -> None:
    assert align_classes(_synthetic(names), REAL).tolist() == expected


def test_an_unknown_class_name_is_refused_not_paired_by_position() -> None:
    with pytest.raises(GaunetError, match="no real class named 'tumour'"):
        align_classes(_synthetic(["benign", "tumour"]), REAL)


def test_split_test_draws_the_reference_as_the_test_subset() -> None:
    """With --split test and --max-images, the reference and the test set are one sample: the
    output then has one real test accuracy, not two from two different subsets."""
    from gaunet.data import load_source
    from gaunet.metrics.evaluate import draw_sets

    real = load_source("phantom:n=120", size=8, channels=1)
    real.split = np.resize(np.asarray(["train", "train", "val", "test", "test"]), len(real))
    sets = draw_sets(real, _synthetic(["benign", "malignant"]), "test", max_images=10, seed=0)
    assert list(sets["reference"].ids) == list(sets["test"].ids) and len(sets["test"]) == 10
    other = draw_sets(real, _synthetic(["benign", "malignant"]), "val", max_images=10, seed=0)
    assert set(other["reference"].ids) <= set(real.where_split("val").ids)


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
