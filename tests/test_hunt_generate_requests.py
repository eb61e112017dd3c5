"""Bad generation requests refused with one GaunetError line, and nothing silently wrong."""

import shutil

import numpy as np
import pytest
import torch
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.errors import GaunetError
from gaunet.generate import generate_dataset


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("hunt") / "run", steps=2)


def test_a_noise_scale_too_large_for_the_network_is_refused_not_written_black(run, tmp_path):
    """A finite but huge scale overflows float32: NaN pixels, once written as black PNGs."""
    with pytest.raises(GaunetError, match="non-finite pixels"):
        generate_dataset(run, tmp_path / "out", per_class=2, noise_scale=1e300)
    assert not (tmp_path / "out/manifest.csv").exists()
    assert not list((tmp_path / "out").rglob("*.png"))


@pytest.mark.parametrize("bad", [{"seed": -1}, {"start": -3}])
def test_sample_refuses_a_negative_seed_or_start(run, bad):
    with pytest.raises(GaunetError, match=">= 0"):
        load_generator(run).sample(0, 4, **bad)


def test_sample_refuses_conditioning_of_the_wrong_size_and_takes_numpy(run):
    gen = load_generator(run)
    with pytest.raises(GaunetError, match="shape"):  # once: silently 12x12 images
        gen.sample(0, 3, conditioning=torch.zeros(3, gen.channels, 8, 8))
    x = np.zeros((3, gen.channels, gen.size, gen.size), np.float32)
    assert torch.equal(
        gen.sample(0, 3, conditioning=x), gen.sample(0, 3, conditioning=torch.tensor(x))
    )


def test_missing_train_images_refused_before_an_earlier_generation_is_removed(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    out = tmp_path / "out"
    generate_dataset(copy, out, per_class=2)
    before = sorted(p.name for p in out.rglob("*.png"))
    (copy / "train_images.npz").unlink()
    with pytest.raises(GaunetError, match="train_images.npz: missing"):
        generate_dataset(copy, out, per_class=2)
    assert (out / "manifest.csv").is_file()
    assert sorted(p.name for p in out.rglob("*.png")) == before
    with pytest.raises(GaunetError, match="train_images.npz: missing"):
        generate_dataset(copy, tmp_path / "new", per_class=2)
    assert not (tmp_path / "new").exists()


def test_a_run_json_that_is_not_an_object_does_not_crash_generation(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "run.json").write_text("[1]")
    assert generate_dataset(copy, tmp_path / "out", per_class=1).is_file()


def test_numpy_counts_work_and_other_counts_are_refused(run, tmp_path):
    a = generate_dataset(run, tmp_path / "a", per_class=np.int64(2)).read_text()
    b = generate_dataset(run, tmp_path / "b", per_class=2).read_text()
    assert a == b
    for bad in (2.5, [1.5, 2], "3", True):
        with pytest.raises(GaunetError, match="per_class"):
            generate_dataset(run, tmp_path / "c", per_class=bad)
    assert not (tmp_path / "c").exists()
