"""Arms: parsing, per-fraction generator training and caching, provenance of synthetic images.

`FakeGenerators` stands in for gaunet.training.train / gaunet.generate.generate_dataset with
the same signatures and files (split.csv, manifest.csv, PNGs), so these tests need no GAN.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import FakeGenerators

from gaunet.data import ImageSet, assign_split, load_source, read_split
from gaunet.downstream.arms import parse_arms, per_class_targets
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.downstream.provenance import check_provenance
from gaunet.downstream.subsets import nested_subsets
from gaunet.errors import GaunetError
from gaunet.trained_generator import opaque_id


def phantom(size: int = 16) -> ImageSet:
    return assign_split(load_source("phantom:n=20", size=size, channels=1), seed=0)


def train_subset(data: ImageSet, fraction: float) -> ImageSet:
    train = data.where_split("train")
    subset = train.subset(nested_subsets(train.labels, [fraction])[fraction])
    subset.split = np.full(len(subset), "train")
    return subset


def test_parse_arms(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "split.csv").write_text("id,group,label,class,split\n")
    arms = parse_arms(["none", "classic", "gaunet", str(tmp_path / "run")])
    assert [a.kind for a in arms] == ["none", "classic", "generator", "run"]
    for bad in (["vae"], ["none", "none"], [str(tmp_path)]):
        with pytest.raises(GaunetError):
            parse_arms(bad)


def test_per_class_targets_follow_the_ratio() -> None:
    assert per_class_targets(np.array([0, 0, 0, 0, 1, 1]), 3, 1.5).tolist() == [6, 3, 0]


def test_generator_is_trained_on_the_subset_once_and_cached(tmp_path: Path) -> None:
    data = phantom()
    subset = train_subset(data, 0.5)
    fake = FakeGenerators()
    arm = parse_arms(["gaunet"])[0]
    arms = GeneratorArms(tmp_path, ratio=1.0, train_fn=fake.train, generate_fn=fake.generate)
    images, labels, manifest = arms.extra_images(arm, 0.5, subset)
    assert len(fake.trained) == 1
    assert set(fake.trained[0].ids) == set(subset.ids)
    assert set(fake.trained[0].split) == {"train"}
    assert np.bincount(labels).tolist() == np.bincount(subset.labels).tolist()
    assert images.shape[1:] == subset.images.shape[1:] and images.dtype == np.uint8
    assert manifest.parent.parent == tmp_path / "synthetic"
    # a fresh helper on the same folder reuses the recorded run and the written images
    again = GeneratorArms(tmp_path, ratio=1.0, train_fn=fake.train, generate_fn=fake.generate)
    again.extra_images(arm, 0.5, subset)
    assert len(fake.trained) == 1


def test_a_moved_benchmark_folder_reuses_its_generator(tmp_path: Path) -> None:
    """The record names the run by the path it was trained at; after the benchmark folder
    moves (another checkout, another machine) the run beside the record is used, not retrained."""
    subset = train_subset(phantom(), 0.5)
    fake = FakeGenerators()
    arm = parse_arms(["gaunet"])[0]
    first = GeneratorArms(tmp_path / "a", ratio=1.0, train_fn=fake.train, generate_fn=fake.generate)
    _, labels, _ = first.extra_images(arm, 0.5, subset)
    shutil.move(tmp_path / "a", tmp_path / "b")
    moved = GeneratorArms(tmp_path / "b", ratio=1.0, train_fn=fake.train, generate_fn=fake.generate)
    _, again, manifest = moved.extra_images(arm, 0.5, subset)
    assert len(fake.trained) == 1 and len(fake.calls) == 1
    assert manifest.is_relative_to(tmp_path / "b") and again.tolist() == labels.tolist()
    # a record whose run is gone and has no folder beside it is an error that says what to do
    for folder in (tmp_path / "b" / "generators").iterdir():
        if folder.is_dir():
            shutil.rmtree(folder)
    fresh = GeneratorArms(tmp_path / "b", ratio=1.0, train_fn=fake.train, generate_fn=fake.generate)
    with pytest.raises(GaunetError, match="delete the record to train the generator again"):
        fresh.extra_images(arm, 0.5, subset)


def test_each_class_gets_only_the_images_it_needs(tmp_path: Path) -> None:
    """An imbalanced subset: the generator is asked for each class's own count (ratio x n_c),
    not the largest class's count for every class."""
    data = phantom()
    subset = train_subset(data, 1.0)
    keep = (
        np.flatnonzero(subset.labels == 1)[:2].tolist()
        + np.flatnonzero(subset.labels == 0).tolist()
    )
    subset = subset.subset(np.asarray(sorted(keep)))
    counts = np.bincount(subset.labels).tolist()
    assert counts[0] != counts[1]
    fake = FakeGenerators()
    arms = GeneratorArms(tmp_path, ratio=2.0, train_fn=fake.train, generate_fn=fake.generate)
    _, labels, manifest = arms.extra_images(parse_arms(["gaunet"])[0], 1.0, subset)
    with open(manifest, newline="") as handle:
        generated = np.bincount([int(row["label"]) for row in csv.DictReader(handle)])
    assert generated.tolist() == [2 * n for n in counts] == np.bincount(labels).tolist()


def test_interrupted_generator_training_is_resumed(tmp_path: Path) -> None:
    subset = train_subset(phantom(), 1.0)
    fake = FakeGenerators()
    folder = tmp_path / "generators" / "gan-f1-s0"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.pt").write_bytes(b"")
    fake.started[str(folder)] = subset
    arms = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate, gen_steps=5)
    arms.extra_images(parse_arms(["gan"])[0], 1.0, subset)
    assert fake.calls[0]["resume"] is True and fake.calls[0]["steps"] == 5
    assert fake.calls[0]["overrides"]["model"] == "gan"


def test_run_folder_arm_only_for_its_own_training_subset(tmp_path: Path) -> None:
    data = phantom()
    fake = FakeGenerators()
    run = fake.train(data, tmp_path / "run")  # trained on the whole train split (fraction 1)
    arm = parse_arms([str(run)])[0]
    arms = GeneratorArms(tmp_path / "bench", train_fn=fake.train, generate_fn=fake.generate)
    _, labels, _ = arms.extra_images(arm, 1.0, train_subset(data, 1.0))
    assert len(labels) == len(data.where_split("train"))
    with pytest.raises(GaunetError, match="not the fraction 0.5"):
        arms.extra_images(arm, 0.5, train_subset(data, 0.5))


def test_provenance_refuses_validation_or_test_images(tmp_path: Path) -> None:
    data = phantom()
    subset = train_subset(data, 1.0)
    allowed = set(subset.ids)
    fake = FakeGenerators()
    run = fake.train(subset, tmp_path / "run")
    manifest = fake.generate(run, tmp_path / "synthetic", per_class=3)
    check_provenance(manifest, run, allowed)
    # a generator whose training rows include validation images
    leaky_rows = data.subset(data.split != "test")
    leaky_rows.split = np.full(len(leaky_rows), "train")
    leaky = fake.train(leaky_rows, tmp_path / "leaky")
    assert set(read_split(leaky / "split.csv")) > allowed
    with pytest.raises(GaunetError, match="outside the training subset"):
        check_provenance(manifest, leaky, allowed)
    # a manifest row conditioned on a test image
    rows = list(csv.DictReader(open(manifest, newline="")))
    rows[0]["source_id"] = opaque_id(data.where_split("test").ids[0])
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(GaunetError, match="not a training-subset image"):
        check_provenance(manifest, run, allowed)


@pytest.mark.parametrize(("model", "passed"), [("gaunet", True), ("gan", False), ("cgan", False)])
def test_gen_init_from_reaches_only_the_gaunet_generators(
    tmp_path: Path, model: str, passed: bool
) -> None:
    """--gen-init-from: each gaunet arm's training run starts from the given run (an absolute
    path, so the record stays valid from another working directory); a DCGAN baseline cannot
    start from GAU-Net weights and trains from scratch."""
    subset = train_subset(phantom(), 1.0)
    fake = FakeGenerators()
    arms = GeneratorArms(
        tmp_path, train_fn=fake.train, generate_fn=fake.generate, gen_init_from="pretrained"
    )
    arms.extra_images(parse_arms([model])[0], 1.0, subset)
    overrides = fake.calls[0]["overrides"]
    if passed:
        assert overrides["init_from"] == str((Path.cwd() / "pretrained").resolve())
    else:
        assert "init_from" not in overrides
