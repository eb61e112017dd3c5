"""A generation stopped where nothing can clean up (kill -9, a power cut, a Ctrl-C while an
earlier generation was being removed) left PNGs without a manifest (or a manifest listing files
already gone), and every rerun was refused as if --out were a user's class-folder dataset. A
hidden marker written before generate touches the folder, removed once its manifest is written,
tells a stopped generation's leftovers from a dataset."""

from __future__ import annotations

import hashlib

import pytest
from train_helpers import tiny_train

from gaunet.errors import GaunetError
from gaunet.generate import generate_dataset
from gaunet.generation_setup import IN_PROGRESS


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("stopped") / "run", steps=2)


def _files(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_finished_generation_leaves_no_marker(run, tmp_path) -> None:
    generate_dataset(run, tmp_path / "gen", per_class=2, seed=1)
    assert not (tmp_path / "gen" / IN_PROGRESS).exists()


def test_a_killed_generations_images_are_replaced_not_refused(run, tmp_path) -> None:
    clean = tmp_path / "clean"
    generate_dataset(run, clean, per_class=2, seed=1)
    out = tmp_path / "killed"
    generate_dataset(run, out, per_class=3, seed=5)
    (out / "manifest.csv").unlink()  # what kill -9 before the manifest leaves: images alone
    (out / IN_PROGRESS).write_text("left by a killed generation\n")
    generate_dataset(run, out, per_class=2, seed=1)
    assert _files(out) == _files(clean)


def test_a_ctrl_c_while_removing_an_earlier_generation_is_recovered(run, tmp_path) -> None:
    clean = tmp_path / "clean"
    generate_dataset(run, clean, per_class=2, seed=1)
    out = tmp_path / "half"
    generate_dataset(run, out, per_class=3, seed=5)
    listed = sorted(out.glob("*/*.png"))
    for path in listed[: len(listed) // 2]:  # removed before the stop, the manifest still there
        path.unlink()
    (out / IN_PROGRESS).write_text("left by a stopped generation\n")
    generate_dataset(run, out, per_class=2, seed=1)
    assert _files(out) == _files(clean)


def test_without_the_marker_a_class_folder_dataset_is_still_refused(run, tmp_path) -> None:
    out = tmp_path / "data"
    (out / "benign").mkdir(parents=True)
    (out / "benign" / "0.png").write_bytes(b"image")
    with pytest.raises(GaunetError, match="holds images no gaunet generate manifest lists"):
        generate_dataset(run, out, per_class=2, seed=1)
    assert not (out / IN_PROGRESS).exists() and (out / "benign" / "0.png").read_bytes() == b"image"
