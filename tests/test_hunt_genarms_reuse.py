"""Generator arms: a helper reused for another folder, and a copied folder's own generator."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from downstream_helpers import FakeGenerators

from gaunet.data import ImageSet, assign_split, load_source
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.subsets import nested_subsets


def _subset(fraction: float, seed: int) -> ImageSet:
    data = assign_split(load_source("phantom:n=20", size=16, channels=1), seed=0)
    train = data.where_split("train")
    subset = train.subset(nested_subsets(train.labels, [fraction], seed=seed)[fraction])
    subset.split = np.full(len(subset), "train")
    return subset


def test_a_helper_reconfigured_for_another_folder_does_not_reuse_its_images(
    tmp_path: Path,
) -> None:
    """run_benchmark(arms_helper=...) reconfigures one helper per folder (out, subset seed,
    ratio): the second folder must get its own generator and images, not the first's."""
    fake = FakeGenerators()
    arm = parse_arms(["gaunet"])[0]
    helper = GeneratorArms(tmp_path / "a", train_fn=fake.train, generate_fn=fake.generate)
    first = _subset(0.5, seed=0)
    helper.extra_images(arm, 0.5, first)
    helper.out, helper.subset_seed, helper.ratio = tmp_path / "b", 1, 2.0
    second = _subset(0.5, seed=1)
    assert set(second.ids) != set(first.ids)
    _, labels, manifest = helper.extra_images(arm, 0.5, second)
    assert len(fake.trained) == 2 and set(fake.trained[1].ids) == set(second.ids)
    assert manifest.is_relative_to(tmp_path / "b")
    assert np.bincount(labels).tolist() == (2 * np.bincount(second.labels)).tolist()


def test_a_copied_folder_uses_its_own_generator_not_the_original(tmp_path: Path) -> None:
    """A benchmark folder copied (docs: `cp -r .../generators`) keeps a record naming the
    original's run; while that path exists the copy must still read the run beside its record,
    or it follows the original when that one is retrained in place."""
    fake = FakeGenerators()
    arm = parse_arms(["gaunet"])[0]
    subset = _subset(0.5, seed=0)
    a = GeneratorArms(tmp_path / "a", train_fn=fake.train, generate_fn=fake.generate)
    a.extra_images(arm, 0.5, subset)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "synthetic")
    own = tmp_path / "b" / "generators" / "gaunet-f0.5-s0"
    fake.runs[str(own)] = fake.runs[str(tmp_path / "a" / "generators" / "gaunet-f0.5-s0")]
    used: list[Path] = []

    def generate(run: Path, out: Path, **kwargs: object) -> Path:
        used.append(Path(run))
        return fake.generate(run, out, **kwargs)

    b = GeneratorArms(tmp_path / "b", train_fn=fake.train, generate_fn=generate)
    b.extra_images(arm, 0.5, subset)
    assert used == [own] and len(fake.trained) == 1
