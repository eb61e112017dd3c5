"""Issue 30: `gaunet train --resume` checks what it continues. A config.yaml edited away from
the checkpoint, a --set of a field that shapes the run, or a --data that is not the run's own
is one line (exit 2) and leaves the run folder as it was; budgets, cadence, threads and the
device may change (gaunet.training.resume_checks.RESUMABLE_CHANGES)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from train_helpers import PHANTOM, TINY, one_train_error_line, tiny_train

from gaunet.cli import main
from gaunet.errors import GaunetError
from gaunet.training import train
from gaunet.training.run_folder import TRAIN_IMAGES

TINY_SETS = [f"--set={key}={value}" for key, value in TINY.items()]


def _npz(path: Path, seed: int) -> Path:
    """A small MedMNIST-style archive (2 classes, 8 images per split) whose pixels follow seed."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for part in ("train", "val", "test"):
        arrays[f"{part}_images"] = rng.integers(0, 256, (8, 16, 16), dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(8) % 2)[:, None]
    np.savez(path, **arrays)
    return path


def _folder(path: Path, classes: tuple[str, ...]) -> Path:
    """A class-folder tree, 6 small PNGs per class."""
    rng = np.random.default_rng(len(classes))
    for name in classes:
        (path / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(path / name / f"{i}.png")
    return path


def _digests(run: Path) -> dict[str, str]:
    """sha256 of every file of the run folder (the lock file aside: it records its holder)."""
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != ".gaunet.lock"
    }


def _resume(run: Path, *extra: str) -> list[str]:
    return ["train", "--out", str(run), "--resume", "--quiet", *extra]


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step run on an .npz, trained once; each test works on a copy."""
    folder = tmp_path_factory.mktemp("base")
    data = _npz(folder / "data.npz", seed=0)
    return tiny_train(folder / "run", steps=2, data=str(data))


@pytest.fixture
def run(base_run: Path, tmp_path: Path) -> Path:
    shutil.copy(base_run.parent / "data.npz", tmp_path / "data.npz")
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


def _set_data(run: Path, data: Path) -> None:
    """Point the copied run at the copied .npz, as if it had been made from it."""
    with np.load(run / TRAIN_IMAGES) as archive:
        arrays = dict(archive)
    arrays["source_path"] = np.asarray(str(data.resolve()))
    np.savez_compressed(run / TRAIN_IMAGES, **arrays)


def test_a_hand_edited_config_yaml_is_refused_and_the_run_left_as_it_was(run: Path, capsys):
    """Case 2 of issue 30: g_width 4 -> 8 by hand was a 135-line size-mismatch traceback."""
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("g_width: 4\n", "g_width: 8\n"))
    before = _digests(run)
    assert main(_resume(run, "--steps", "3")) == 2
    line = one_train_error_line(capsys.readouterr().err, "config.yaml says g_width 8")
    assert "trained with g_width 4" in line and "checkpoints/last.pt" in line
    assert _digests(run) == before  # the checkpoint's sha256 among them


def test_every_differing_field_is_named(run: Path, capsys):
    config = run / "config.yaml"
    text = config.read_text().replace("d_stem: 4\n", "d_stem: 6\n")
    config.write_text(text.replace("lr_g: 0.0001\n", "lr_g: 0.001\n"))
    assert main(_resume(run, "--steps", "3")) == 2
    one_train_error_line(
        capsys.readouterr().err, "d_stem 6", "lr_g 0.001", "d_stem 4", "lr_g 0.0001"
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--set", "g_width=16"], "g_width from 4 to 16"),
        (["--size", "32"], "size from 16 to 32"),
        (["--seed", "5"], "seed from 0 to 5"),
        (["--set", "lr_d=0.5", "--set", "n_critic=3"], "n_critic from 2 to 3, lr_d from"),
        (["--set", "precision=bf16"], "precision from 'auto' to 'bf16'"),
        (["--model", "cgan"], "model from 'gaunet' to 'cgan'"),
    ],
)
def test_a_resume_refuses_to_change_what_shapes_the_run(run, capsys, flags, named):
    before = _digests(run)
    assert main(_resume(run, "--steps", "3", *flags)) == 2
    one_train_error_line(capsys.readouterr().err, named, "a resume may change only")
    assert _digests(run) == before


def test_the_same_value_again_is_no_change(run: Path):
    """The demo and the benchmark resume with all their settings given again."""
    flags = ["--size", "16", "--seed", "0", "--set", "g_width=4", "--batch-size", "4"]
    assert main(_resume(run, "--steps", "3", *flags)) == 0


def test_budgets_cadence_and_threads_may_change(run: Path):
    flags = ["--steps", "4", "--set", "log_every=3", "--set", "sample_every=2", "--threads", "1"]
    assert main(_resume(run, *flags, "--device", "cpu")) == 0
    assert json.loads((run / "run.json").read_text())["steps"] == 4
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["log_every"], config["sample_every"], config["device"]) == (3, 2, "cpu")


def test_the_python_api_refuses_the_same(run: Path):
    with pytest.raises(GaunetError, match="g_width from 4 to 16"):
        train(None, run, overrides={"g_width": 16}, steps=3, resume=True, progress=False)


def test_resume_with_other_data_is_refused(run: Path, tmp_path: Path, capsys):
    """Case 3 of issue 30: --data was silently ignored. Another file (same name elsewhere, and
    other pixels), phantom, or a changed file at the run's own path: each one line."""
    _set_data(run, tmp_path / "data.npz")
    before = _digests(run)
    other = _npz(tmp_path / "other.npz", seed=1)
    assert main(_resume(run, "--steps", "3", "--data", str(other))) == 2
    one_train_error_line(
        capsys.readouterr().err, str(other), str((tmp_path / "data.npz").resolve())
    )
    assert main(_resume(run, "--steps", "3", "--data", PHANTOM)) == 2
    one_train_error_line(capsys.readouterr().err, "is not the data this run trained on")
    _npz(tmp_path / "data.npz", seed=2)  # the run's own file, rewritten with other pixels
    assert main(_resume(run, "--steps", "3", "--data", str(tmp_path / "data.npz"))) == 2
    one_train_error_line(capsys.readouterr().err, "has changed since this run was made from it")
    assert _digests(run) == before


def test_resume_with_its_own_data_goes_on(run: Path, tmp_path: Path, monkeypatch):
    """The same file, named relatively from another folder: accepted, and the run continues."""
    _set_data(run, tmp_path / "data.npz")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(_resume(run, "--steps", "3", "--data", "../data.npz")) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["steps"] == 3 and info["data_fingerprint"].startswith("bytes:")


def test_a_copy_of_the_data_at_another_path_is_refused(run: Path, tmp_path: Path, capsys):
    """The same content at another path is refused too (as gaunet benchmark does): the path is
    part of what the run records; the message says --data is not needed."""
    _set_data(run, tmp_path / "data.npz")
    shutil.copy(tmp_path / "data.npz", tmp_path / "copy.npz")
    assert main(_resume(run, "--steps", "3", "--data", str(tmp_path / "copy.npz"))) == 2
    one_train_error_line(capsys.readouterr().err, "resume without --data")


def test_class_folders_with_other_classes_are_refused(tmp_path: Path, capsys):
    data = _folder(tmp_path / "images", ("benign", "malignant"))
    run = tiny_train(tmp_path / "run", steps=2, data=str(data))
    assert main(_resume(run, "--steps", "3", "--data", str(data))) == 0  # the same folder
    _folder(tmp_path / "images", ("normal",))  # a third class appears
    assert main(_resume(run, "--steps", "4", "--data", str(data))) == 2
    one_train_error_line(capsys.readouterr().err, str(data), "has changed")
    assert json.loads((run / "run.json").read_text())["steps"] == 3


def test_a_run_folder_without_a_fingerprint_is_checked_by_its_path(run: Path, tmp_path, capsys):
    """Run folders made before issue 30 record no fingerprint: the path alone is compared."""
    with np.load(run / TRAIN_IMAGES) as archive:
        arrays = {k: v for k, v in archive.items() if not k.startswith("source_")}
    np.savez_compressed(run / TRAIN_IMAGES, **arrays)
    config = yaml.safe_load((run / "config.yaml").read_text())
    other = _npz(tmp_path / "other.npz", seed=1)
    assert main(_resume(run, "--steps", "3", "--data", str(other))) == 2
    one_train_error_line(capsys.readouterr().err, str(other), config["data"])
    assert main(_resume(run, "--steps", "3", "--data", config["data"])) == 0


def test_resume_with_the_same_phantom_goes_on(tmp_path: Path, capsys):
    run = tiny_train(tmp_path / "run", steps=2)
    assert main(_resume(run, "--steps", "3", "--data", PHANTOM)) == 0
    assert main(_resume(run, "--steps", "4", "--data", "phantom:n=13,classes=2")) == 2
    one_train_error_line(capsys.readouterr().err, "phantom:n=13,classes=2", PHANTOM)


def test_another_spelling_of_a_setting_is_no_change(tmp_path: Path, monkeypatch) -> None:
    """`init_from` the same run by another name (relative, absolute) and `diffaugment` with other
    spaces were refused as changes; another run or another policy order still is (the order
    sets the draws)."""
    from gaunet.config import TrainConfig
    from gaunet.training.resume_checks import fixed_field_changes

    (tmp_path / "pre").mkdir()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    base = TrainConfig(init_from="pre", diffaugment="translation,color").to_dict()

    def changes(**after):
        return [name for name, _, _ in fixed_field_changes(base, {**base, **after})]

    assert changes(init_from=str(tmp_path / "pre"), diffaugment="translation, color") == []
    assert changes(init_from="./pre/") == []
    assert changes(init_from="other") == ["init_from"]
    assert changes(diffaugment="color,translation") == ["diffaugment"]
