"""gaunet.downstream.filter_choices: what --filter-pool keeps (and the typical-copies control)
is chosen once and read back when the folder continues, where the filter's CNN (trained anew,
perhaps on another device) could choose other images for the new cells."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import FakeGenerators, one_quiet_thread

from gaunet.data import ImageSet, assign_split, load_source
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.subsets import nested_subsets


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def _subset() -> ImageSet:
    data = assign_split(load_source("phantom:n=24", size=16, channels=1), seed=0)
    train = data.where_split("train")
    subset = train.subset(nested_subsets(train.labels, [0.5])[0.5])
    subset.split = np.full(len(subset), "train")
    return subset


def _noisy(seed: int):
    """A scorer whose confidences depend on `seed`: another seed keeps other candidates, as
    the filter's CNN trained on another device may."""

    def scorer_fn(train: ImageSet):
        def score(images: np.ndarray) -> np.ndarray:
            p = np.random.default_rng([seed, len(images)]).uniform(0.05, 0.95, len(images))
            return np.stack([p, 1 - p], 1)

        return score

    return scorer_fn


def _refuse(train: ImageSet):
    raise AssertionError("the filter's CNN was trained again")


def _filtered(out: Path, fake: FakeGenerators, scorer_fn) -> tuple[np.ndarray, np.ndarray, Path]:
    helper = GeneratorArms(
        out, filter_pool=3, train_fn=fake.train, generate_fn=fake.generate, scorer_fn=scorer_fn
    )
    return helper.extra_images(parse_arms(["gaunet"])[0], 0.5, _subset())


def test_kept_images_are_read_back_in_a_moved_folder(tmp_path: Path) -> None:
    fake = FakeGenerators()
    images, labels, _ = _filtered(tmp_path / "a", fake, _noisy(0))
    shutil.move(tmp_path / "a", tmp_path / "b")
    again, again_labels, manifest = _filtered(tmp_path / "b", fake, _refuse)
    np.testing.assert_array_equal(again, images)  # the same images, in the same order
    np.testing.assert_array_equal(again_labels, labels)
    assert tmp_path / "b" in manifest.parents


def test_a_choice_that_no_longer_matches_is_made_again(tmp_path: Path) -> None:
    fake = FakeGenerators()
    first, _, manifest = _filtered(tmp_path, fake, _noisy(0))
    record = manifest.parent / "filter.json"
    written = json.loads(record.read_text())
    assert written["manifest_sha256"] and len(written["kept_candidates"]) == len(first)
    calls = []

    def counted(train: ImageSet):
        calls.append(1)
        return _noisy(1)(train)

    record.write_text(json.dumps({**written, "manifest_sha256": "other images"}))
    second, _, _ = _filtered(tmp_path, fake, counted)
    assert calls == [1]  # chosen again, by the new scorer
    assert not np.array_equal(second, first)  # which keeps other candidates
    assert json.loads(record.read_text())["manifest_sha256"] == written["manifest_sha256"]
    record.write_text("{not json")  # a damaged record: chosen again, not a traceback
    _filtered(tmp_path, fake, counted)
    assert calls == [1, 1]
    written = json.loads(record.read_text())
    short = {**written, "kept_candidates": written["kept_candidates"][:2]}
    record.write_text(json.dumps(short))  # too few for the wanted counts: chosen again
    third, _, _ = _filtered(tmp_path, fake, counted)
    assert calls == [1, 1, 1] and len(third) == len(first)


def test_typical_copies_are_read_back(tmp_path: Path) -> None:
    subset = _subset()
    first = GeneratorArms(tmp_path, filter_pool=3, scorer_fn=_noisy(0))
    images, labels = first.typical_copies(0.5, subset)
    again = GeneratorArms(tmp_path, filter_pool=3, scorer_fn=_refuse)
    repeat, repeat_labels = again.typical_copies(0.5, subset)
    np.testing.assert_array_equal(repeat, images)
    np.testing.assert_array_equal(repeat_labels, labels)
    other = GeneratorArms(tmp_path, filter_pool=3, ratio=0.5, scorer_fn=_noisy(0))
    half, _ = other.typical_copies(0.5, subset)  # other counts: chosen again
    assert len(half) < len(images)
