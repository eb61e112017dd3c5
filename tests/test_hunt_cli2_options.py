"""Command-line options that were silently dropped, accepted as nonsense, or refused naming an
option the command does not have: each is now one line, exit 2, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import PHANTOM, tiny_train

from gaunet.cli import main


def _one_error(err: str, command: str, *needles: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"gaunet {command}: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_demo_seed_is_named_as_seed(tmp_path: Path, capsys) -> None:
    # was "--split-seed must be ...; --subset-seed must be ...": options demo does not have
    assert main(["demo", "--data", PHANTOM, "--out", str(tmp_path / "d"), "--seed", "-1"]) == 2
    line = _one_error(capsys.readouterr().err, "demo", "--seed must be in 0..", "not -1")
    assert "--split-seed" not in line and "--subset-seed" not in line
    assert not (tmp_path / "d").exists()


def test_demo_refuses_an_empty_features_list(tmp_path: Path, capsys) -> None:
    # as `gaunet evaluate --features ,` does; the demo trained and then evaluated with no metric
    assert main(["demo", "--data", PHANTOM, "--out", str(tmp_path / "d"), "--features", ","]) == 2
    _one_error(capsys.readouterr().err, "demo", "--features lists nothing")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("command", ["demo", "pool"])
def test_an_empty_out_is_refused_not_the_working_folder(
    command: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    # `--out "$DIR"` with DIR unset filled the working folder
    monkeypatch.chdir(tmp_path)
    args = {
        "demo": ["demo", "--data", PHANTOM, "--steps", "1", "--out", ""],
        "pool": ["pool", "--benchmarks", "a", "b", "--out", ""],
    }[command]
    assert main(args) == 2
    _one_error(capsys.readouterr().err, command, "--out is empty")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--protocol", "--gen-init-from"])
def test_benchmark_refuses_an_empty_protocol_or_init_from(
    option: str, tmp_path: Path, capsys
) -> None:
    # `--protocol ""` ran the command's own defaults and `--gen-init-from ""` random weights,
    # in silence (as train's --config "" and --init-from "" were; train refuses those)
    out = tmp_path / "bench"
    args = ["benchmark", "--data", PHANTOM, "--out", str(out), "--size", "16", option, ""]
    assert main(args) == 2
    _one_error(capsys.readouterr().err, "benchmark", f"{option} is empty")
    assert not out.exists()


def test_compare_refuses_a_figure_no_viewer_opens(tmp_path: Path, capsys) -> None:
    # --per-class 1000000 sampled 2 x 10^6 images, then drew a canvas of 10^8 px height
    run = tiny_train(tmp_path / "run", steps=1)
    out = tmp_path / "grid.png"
    assert main(["compare", "--runs", str(run), "--out", str(out), "--per-class", "1000000"]) == 2
    _one_error(capsys.readouterr().err, "compare", "--per-class 1000000", "rows per class fit")
    assert not out.exists()
    assert main(["compare", "--runs", str(run), "--out", str(out), "--per-class", "2"]) == 0


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--seed", "-1"], "--seed must be in 0.."),  # was a numpy traceback, exit 1
        (["--window", "nan,400"], "must be finite"),  # was accepted
        (["--size", "0"], "--size must be at least 2"),
    ],
)
def test_data_inspect_ranges(extra: list[str], needle: str, capsys) -> None:
    assert main(["data", "inspect", PHANTOM, "--quiet", *extra]) == 2
    _one_error(capsys.readouterr().err, "data", needle)


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--size", "0"], "--size must be at least 2"),  # read every image, pinned OUT to 0
        (["--seed", "-1"], "--seed must be in 0.."),  # a numpy traceback
        (["--slice-step", "0"], "--slice-step must be at least 1"),  # silently 1
        (["--negatives-per-series", "-1"], "--negatives-per-series must be at least 0"),
        (["--patch", "0"], "--patch must be at least 1"),
    ],
)
def test_data_prepare_ranges_before_anything_is_written(
    extra: list[str], needle: str, tmp_path: Path, capsys
) -> None:
    root = tmp_path / "download"
    for name in ("benign", "malignant", "normal"):
        (root / name).mkdir(parents=True)
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "busi", "--root", str(root), "--out", str(out), *extra]) == 2
    _one_error(capsys.readouterr().err, "data", needle)
    assert not out.exists()
