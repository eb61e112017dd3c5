"""load_generator / sample: a checkpoint of another run beside a run's training images, seeds
and arguments outside what sample() can number, conditioning images that are not [-1, 1]
floats, and a checkpoint written by another gaunet: each one GaunetError, never silently
wrong images or a bare TypeError/RuntimeError."""

import shutil

import numpy as np
import pytest
import torch
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.errors import GaunetError
from gaunet.generate import generate_dataset
from gaunet.training.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("loadgen") / "run", steps=2)


@pytest.fixture(scope="module")
def other_runs(tmp_path_factory):
    """A 3-class run and a 32x32 run: checkpoints that do not fit `run`'s training images."""
    root = tmp_path_factory.mktemp("loadgen-other")
    three = tiny_train(root / "three", steps=1, data="phantom:n=12,classes=3")
    big = tiny_train(root / "big", steps=1, size=32)
    return three, big


def _planted(run, source, tmp_path, name):
    """`run` copied, with `source`'s last checkpoint put in its checkpoints/ as `name`."""
    copy = tmp_path / "run"
    if not copy.exists():
        shutil.copytree(run, copy)
    for suffix in ("", ".sha256"):
        shutil.copy(
            source / "checkpoints" / f"last.pt{suffix}", copy / "checkpoints" / (name + suffix)
        )
    return copy, copy / "checkpoints" / name


@pytest.mark.parametrize("which", [0, 1], ids=["other-classes", "other-size"])
def test_a_checkpoint_of_another_run_is_not_sampled_on_this_runs_images(
    run, other_runs, tmp_path, which
):
    """Another run's checkpoint in RUN/checkpoints: its classes were conditioned on RUN's
    images of other classes (the 3-class one wrote files, and called its third class "never
    trained on"), or its size crashed in the network with a ValueError traceback."""
    copy, planted = _planted(run, other_runs[which], tmp_path, "other.pt")
    gen = load_generator(planted, device="cpu")
    with pytest.raises(GaunetError, match="train_images.npz"):
        gen.sample(0, 2)
    with pytest.raises(GaunetError, match="train_images.npz"):
        generate_dataset(copy, tmp_path / "out", 2, checkpoint=planted)
    assert not (tmp_path / "out").exists()
    # its own conditioning images still sample it
    own = torch.zeros(2, gen.channels, gen.size, gen.size)
    assert gen.sample(0, 2, conditioning=own).shape == own.shape


def test_the_runs_own_checkpoint_still_samples_as_before(run):
    gen = load_generator(run, device="cpu")
    a = gen.sample(1, 5, seed=3)
    assert torch.equal(a[2:], gen.sample(1, 3, seed=3, start=2))


@pytest.mark.parametrize("seed", [2**32, 2**32 + 5, 2**64])
def test_a_seed_beyond_the_tools_range_is_refused(run, seed):
    """SeedSequence splits a seed >= 2**32 into two words, so (seed 2**32 + s, class c, item 0)
    had the noise of (seed s, class 1, item c): another image's noise, silently."""
    gen = load_generator(run, device="cpu")
    with pytest.raises(GaunetError, match="seed"):
        gen.sample(0, 1, seed=seed)


def test_seed_edges_and_numpy_integers_are_taken(run):
    gen = load_generator(run, device="cpu")
    for seed in (0, 2**32 - 1):
        assert gen.sample(0, 2, seed=seed).shape == (2, 1, 16, 16)
    assert torch.equal(
        gen.sample(np.int64(1), np.int32(3), seed=np.uint32(7), start=np.int64(1)),
        gen.sample(1, 3, seed=7, start=1),
    )


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("round-smooth", 2), "class"),
        ((1.0, 2), "class"),
        ((0, 2.5), "n"),
        ((0, -1), "n"),
        ((0, 2, 1.5), "seed"),
        ((0, 2, 0, None, 1.5), "start"),
    ],
)
def test_arguments_that_are_not_whole_numbers_are_refused_by_name(run, args, word):
    """A class name gave "'<=' not supported", a float class "seed must be integer"."""
    gen = load_generator(run, device="cpu")
    with pytest.raises(GaunetError, match=word):
        gen.sample(*args)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.full((2, 1, 16, 16), 200, np.uint8), "uint8"),
        (np.full((2, 1, 16, 16), 200.0, np.float32), r"\[-1, 1\]"),
        (np.full((2, 1, 16, 16), np.nan, np.float32), "conditioning has non-finite"),
    ],
    ids=["uint8", "0-255-floats", "nan"],
)
def test_conditioning_that_is_not_unit_range_floats_is_refused(run, array, words):
    """uint8 0-255 images (what train_images holds) were taken as floats 0..255: images
    silently generated from a saturated input."""
    gen = load_generator(run, device="cpu")
    with pytest.raises(GaunetError, match=words):
        gen.sample(0, 2, conditioning=array)
    edge = np.concatenate([np.full((1, 1, 16, 16), -1.0), np.ones((1, 1, 16, 16))])
    assert gen.sample(0, 2, conditioning=edge.astype(np.float64)).shape == (2, 1, 16, 16)


def test_a_checkpoint_of_another_gaunet_version_is_refused_in_one_line(run, tmp_path):
    """A config field this gaunet does not know gave TypeError; weights that do not fit the
    network it builds gave load_state_dict's RuntimeError; no class names a KeyError."""
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    newer = {**state, "config": {**state["config"], "future_knob": 3}}
    save_checkpoint(newer, [tmp_path / "newer.pt"])
    with pytest.raises(GaunetError, match="future_knob"):
        load_generator(tmp_path / "newer.pt", device="cpu")
    other = {**state, "config": {**state["config"], "g_width": 6}}
    save_checkpoint(other, [tmp_path / "other.pt"])
    with pytest.raises(GaunetError, match="other.pt"):
        load_generator(tmp_path / "other.pt", device="cpu")
    bare = {k: v for k, v in state.items() if k != "class_names"}
    save_checkpoint(bare, [tmp_path / "bare.pt"])
    with pytest.raises(GaunetError, match="class_names"):
        load_generator(tmp_path / "bare.pt", device="cpu")
