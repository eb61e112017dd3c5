"""`gaunet generate` exports pixels and labels only: no input metadata, opaque source ids, safe
folder names for hostile class names, and the --max-copy-rate near-copy filter."""

from __future__ import annotations

import csv
import json
import struct

import numpy as np
import pytest
import torch
import yaml
from data_helpers import make_dicom, pattern
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from train_helpers import tiny_train

from gaunet.cli import main as cli_main
from gaunet.data import ImageSet, load_source
from gaunet.data.ids import lookup
from gaunet.errors import GaunetError
from gaunet.generate import generate_dataset
from gaunet.privacy import folder_names
from gaunet.trained_generator import TrainedGenerator

SECRET = "JOHN-DOE-4711"


def _chunks(png: bytes) -> list[str]:
    """The chunk types of a PNG file, in order."""
    types, offset = [], 8
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        types.append(kind.decode("ascii"))
        offset += 12 + length
    return types


def _tree_with_metadata(root):
    """Two classes of JPEG (EXIF), PNG (text chunks) and DICOM (patient tags) files whose names
    and metadata carry a patient identifier."""
    for c, name in enumerate(("benign", "malignant")):
        (root / name).mkdir(parents=True)
        for k in range(4):
            image = Image.fromarray(pattern(10 * c + k, 20))
            exif = Image.Exif()
            exif[0x013B] = SECRET  # Artist
            exif[0x010E] = f"patient {SECRET}"  # ImageDescription
            image.save(root / name / f"{SECRET}_{k}.jpg", exif=exif)
            text = PngInfo()
            text.add_text("Patient", SECRET)
            image.save(root / name / f"{SECRET}_{k}.png", pnginfo=text)
        pixels = pattern(c + 7, 20).astype(np.uint16)
        make_dicom(root / name / f"{SECRET}.dcm", pixels, patient_id=SECRET)
    return root


@pytest.fixture(scope="module")
def metadata_run(tmp_path_factory):
    root = _tree_with_metadata(tmp_path_factory.mktemp("src") / "tree")
    return tiny_train(tmp_path_factory.mktemp("priv") / "run", steps=1, data=str(root))


def test_outputs_carry_no_metadata_or_source_names(metadata_run, tmp_path):
    manifest = generate_dataset(metadata_run, tmp_path / "syn", per_class=3)
    files = sorted((tmp_path / "syn").rglob("*"))
    assert {p.name for p in files if p.is_file()} >= {"manifest.csv", "000000.png"}
    for path in files:
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and b"DICM" not in data, path
            assert SECRET not in path.as_posix()
        if path.suffix == ".png":
            assert set(_chunks(data)) <= {"IHDR", "IDAT", "IEND"}, (path, _chunks(data))
            with Image.open(path) as image:
                assert not image.info and not image.getexif()
    assert not (tmp_path / "syn" / "source_ids.csv").exists()
    rows = list(csv.DictReader(manifest.open()))
    assert all(len(r["source_id"]) == 12 and "." not in r["source_id"] for r in rows)

    generate_dataset(metadata_run, tmp_path / "named", per_class=1, keep_source_names=True)
    with open(tmp_path / "named" / "source_ids.csv", newline="") as handle:
        mapping = {r["source_id"]: r["train_id"] for r in csv.DictReader(handle)}
    # training ids are opaque from the moment the data is read (gaunet.data.ids): even on
    # request the file holds no name; whoever has the data maps them back to files
    assert SECRET not in "".join(mapping.values())
    source = yaml.safe_load((metadata_run / "config.yaml").read_text())["data"]
    files = lookup(source, mapping.values())
    assert set(files) == set(mapping.values()) and all(SECRET in f for f in files.values())


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        # names that sanitise to one folder (ignoring case) get a hash of their own name
        (
            ["../../etc", "a/b", "a_b", "A_B"],
            ["etc", "a_b-c14cddc0", "a_b-648fa9b3", "A_B-6c1908f9"],
        ),
        (
            ["..", ".", "", "/"],
            ["class-5ec1f7e7", "class-cdb4ee2a", "class-e3b0c442", "class-8a5edab2"],
        ),
        (["Benign", "benign"], ["Benign-26aa03ca", "benign-56aea2f1"]),
        (["a", "a-ca978112", "a-2"], ["a", "a-ca978112", "a-2"]),
        (["C:\\win", "new\nline", "ok-name.v2"], ["C_win", "new_line", "ok-name.v2"]),
    ],
)
def test_folder_names_are_safe_and_distinct(names, expected):
    assert folder_names(names) == expected


def test_hostile_class_names_stay_inside_the_output_and_map_back(tmp_path):
    names = ["../../escape", "..", "a/b", "a_b"]
    images = np.stack([pattern(i, 16)[None] for i in range(16)])
    labels = np.arange(16) % 4
    data = ImageSet(
        images, labels, names, np.arange(16).astype(str), np.arange(16).astype(str),
        np.full(16, "train"), source="hostile",
    )  # fmt: skip
    run = tiny_train(tmp_path / "work" / "run", steps=1, data=data)
    out = tmp_path / "work" / "out"
    generate_dataset(run, out, per_class=2)  # 2: a class folder of 1 image is not read back
    written = [p for p in (tmp_path / "work").rglob("*.png") if "samples" not in p.parts]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written) and len(written) == 8
    assert not (tmp_path / "escape").exists() and not list(tmp_path.glob("*.png"))
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert sorted({r["class"] for r in rows}) == sorted(names) and len(rows) == 8
    assert len({r["path"].split("/")[0] for r in rows}) == 4
    assert sorted(load_source(out, size=16, channels=1).class_names) == sorted(names)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("copy") / "run", steps=1)


def _copying_sample(every: int):
    """A "generator" that returns its conditioning (training) image for every `every`-th item
    and fresh noise otherwise."""

    def sample(self, class_index, n, seed=0, conditioning=None, start=0):
        rows = self.conditioning_rows(class_index, n, seed, start)
        out = torch.from_numpy(self.train_images.images[rows]).float() / 127.5 - 1.0
        for k in range(n):
            if (start + k) % every:
                noise = np.random.default_rng(start + k).uniform(-1, 1, out.shape[1:])
                out[k] = torch.from_numpy(noise).float()
        return out

    return sample


def _report(folder):
    return json.loads((folder / "copy_filter.json").read_text())


def test_copies_are_dropped_and_replaced(run, tmp_path, monkeypatch):
    monkeypatch.setattr(TrainedGenerator, "sample", _copying_sample(every=2))
    generate_dataset(run, tmp_path / "strict", per_class=4, max_copy_rate=0.0, batch_size=3)
    report = _report(tmp_path / "strict")
    assert report["dropped"] == 8 and report["written"] == 8 and report["candidates"] == 16
    assert "real test -> train" in report["threshold_rule"]
    for counts in report["per_class"].values():
        assert counts == {
            "requested": 4, "candidates": 8, "dropped": 4, "near_copies_kept": 0, "written": 4
        }  # fmt: skip
    numbers = sorted(int(p.stem) for p in (tmp_path / "strict").rglob("*.png"))
    assert numbers == [1, 1, 3, 3, 5, 5, 7, 7]  # the odd (non-copy) candidates
    train = {im.tobytes() for im in np.load(run / "train_images.npz")["images"]}
    syn = load_source(tmp_path / "strict", size=16, channels=1)
    assert not any(im.tobytes() in train for im in syn.images)

    generate_dataset(run, tmp_path / "half", per_class=4, max_copy_rate=0.5)
    half = _report(tmp_path / "half")
    assert half["dropped"] == 0 and half["written"] == 8
    assert {c["near_copies_kept"] for c in half["per_class"].values()} == {2}

    unfiltered = generate_dataset(run, tmp_path / "plain", per_class=4)
    assert not (unfiltered.parent / "copy_filter.json").exists()


def test_a_memorising_generator_is_refused(run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(TrainedGenerator, "sample", _copying_sample(every=1))
    with pytest.raises(GaunetError, match="near-copy"):
        generate_dataset(run, tmp_path / "none", per_class=2, max_copy_rate=0.0)
    assert _report(tmp_path / "none")["dropped"] == 16  # 4x per class, both classes
    args = ["generate", "--run", str(run), "--out", str(tmp_path / "cli"), "--per-class", "2"]
    assert cli_main([*args, "--max-copy-rate", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "copy filter: dropped 14 of 16 candidates" in printed
    assert "classes short of --per-class" in printed
    assert cli_main([*args, "--max-copy-rate", "1.5"]) == 2


@pytest.mark.parametrize("held_out", [False, True])
def test_identical_images_do_not_pull_the_copy_threshold_to_zero(held_out):
    """A source storing images twice (brain_tumor_mri: 19 %) puts them at distance 0 from a
    training image; the threshold is set without them, so copies are still caught."""
    from gaunet.privacy import CopyFilter

    rng = np.random.default_rng(0)
    train = rng.integers(0, 255, (40, 1, 16, 16), dtype=np.uint8)
    if held_out:
        reference = rng.integers(0, 255, (20, 1, 16, 16), dtype=np.uint8)
        reference[:4] = train[:4]  # 20 % of the test split is training images
    else:
        reference = None
        train[30:35] = train[:5]  # 5 images stored twice: 25 % at distance 0
    copy_filter = CopyFilter(train=train, max_rate=0.0, reference=reference)
    assert copy_filter.threshold > 0
    assert "left out" in copy_filter.rule
    copies = train[5:10].copy()
    assert copy_filter.near_copies(copies).all()
    assert not copy_filter.near_copies(rng.integers(0, 255, (10, 1, 16, 16), np.uint8)).any()
