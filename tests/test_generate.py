import csv
import hashlib

import numpy as np
import pytest
import torch
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.cli import main as cli_main
from gaunet.data import load_source
from gaunet.errors import GaunetError
from gaunet.generate import MANIFEST_COLUMNS, generate_dataset


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("gen") / "run", steps=3)


def _digests(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.png"))
    }


def test_same_seed_same_files_and_batch_size_does_not_matter(run, tmp_path):
    generate_dataset(run, tmp_path / "a", per_class=5, seed=4, batch_size=2)
    generate_dataset(run, tmp_path / "b", per_class=5, seed=4, batch_size=64)
    generate_dataset(run, tmp_path / "c", per_class=5, seed=5)
    a, b, c = (_digests(tmp_path / k) for k in "abc")
    assert len(a) == 10 and a == b
    assert a != c
    assert (tmp_path / "a/manifest.csv").read_text() == (tmp_path / "b/manifest.csv").read_text()


def test_manifest_and_files_feed_back_into_the_loader(run, tmp_path):
    manifest = generate_dataset(run, tmp_path / "syn", per_class=3, seed=0)
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == MANIFEST_COLUMNS and len(rows) == 6
    sha = hashlib.sha256((run / "checkpoints" / "last.pt").read_bytes()).hexdigest()
    assert {r["checkpoint_sha256"] for r in rows} == {sha}
    with np.load(run / "train_images.npz") as saved:
        train_ids = set(saved["ids"])
    opaque = {hashlib.sha256(i.encode()).hexdigest()[:12] for i in train_ids}
    assert {r["source_id"] for r in rows} <= opaque
    data = load_source(tmp_path / "syn", size=16, channels=1)
    assert len(data) == 6
    assert data.class_names == ["round-smooth", "spiculated-irregular"]
    assert data.class_counts() == {"round-smooth": 3, "spiculated-irregular": 3}
    assert data.images.shape == (6, 1, 16, 16)


def test_keep_source_names_maps_ids(run, tmp_path):
    generate_dataset(run, tmp_path / "syn", per_class=2, keep_source_names=True)
    with open(tmp_path / "syn" / "source_ids.csv", newline="") as handle:
        mapping = {r["source_id"]: r["train_id"] for r in csv.DictReader(handle)}
    assert all(hashlib.sha256(v.encode()).hexdigest()[:12] == k for k, v in mapping.items())


def test_npz_format_is_a_medmnist_source(run, tmp_path):
    generate_dataset(run, tmp_path / "npz", per_class=2, fmt="npz")
    data = load_source(tmp_path / "npz" / "synthetic.npz", size=16, channels=1)
    assert len(data) == 4 and sorted(data.labels.tolist()) == [0, 0, 1, 1]


def test_load_generator_samples_in_range_and_reproducibly(run):
    gen = load_generator(run, device="cpu")
    assert (gen.size, gen.channels, gen.model_name) == (16, 1, "gaunet")
    assert gen.class_names == ["round-smooth", "spiculated-irregular"]
    first = gen.sample(1, 4, seed=9)
    assert first.shape == (4, 1, 16, 16) and first.dtype == torch.float32
    assert first.min() >= -1 and first.max() <= 1
    torch.testing.assert_close(gen.sample(1, 4, seed=9), first)
    assert not torch.allclose(gen.sample(1, 4, seed=10), first)
    own = gen.sample(0, 2, seed=0, conditioning=torch.zeros(2, 1, 16, 16))
    assert own.shape == (2, 1, 16, 16)
    raw = load_generator(run / "checkpoints" / "last.pt", device="cpu", use_ema=False)
    assert not torch.allclose(raw.sample(1, 4, seed=9), first)
    with pytest.raises(GaunetError, match="out of range"):
        gen.sample(5, 1)


def test_cli_generate_and_train(run, tmp_path):
    assert (
        cli_main(["generate", "--run", str(run), "--out", str(tmp_path / "o"), "--per-class", "1"])
        == 0
    )
    assert len(list((tmp_path / "o").rglob("*.png"))) == 2
    assert cli_main(["generate", "--run", str(tmp_path / "none"), "--out", str(tmp_path / "x"), "--per-class", "1"]) == 2  # fmt: skip
    args = ["train", "--data", "phantom:n=6", "--out", str(tmp_path / "r"), "--steps", "1", "--size", "16", "--quiet", "--set", "g_width=4", "--set", "d_growth=4", "--set", "d_stem=4", "--set", "tensorboard=false"]  # fmt: skip
    assert cli_main(args) == 0
    assert (tmp_path / "r" / "checkpoints" / "last.pt").is_file()
    assert cli_main(args) == 2  # refuses to overwrite; says to use --resume
    assert (
        cli_main(["train", "--out", str(tmp_path / "r"), "--resume", "--steps", "2", "--quiet"])
        == 0
    )
