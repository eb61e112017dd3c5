"""Renderings given names from users' data and folders: a class name that holds a newline (or
`<`, `&`), two class names alike at their start, and two runs whose folders share a name, side
by side in `gaunet compare`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from train_helpers import tiny_train

from gaunet.cli import main
from gaunet.data.phantom import make_phantom
from gaunet.report.compare_grid import HEADER_HEIGHT, LABEL_WIDTH, PAD, compare_grid, tile_side
from gaunet.report.curves import plot_losses
from gaunet.trained_generator import load_generator

CLASSES = ["round\nsmooth", "<spiculated> & co"]


def _npz_run(root: Path, names: list[str]) -> Path:
    """A GAU-Net run on an npz whose class_names are `names` (a manifest's quoted class column
    keeps a newline too; a class folder's name is escaped when read)."""
    images, labels, _, _ = make_phantom(6, 2, size=16, seed=0)
    data = root / "data.npz"
    np.savez(data, train_images=images, train_labels=labels, class_names=np.array(names))
    return tiny_train(root / "run", steps=1, data=str(data))


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory) -> Path:
    return _npz_run(tmp_path_factory.mktemp("odd-names"), CLASSES)


def test_a_class_name_with_a_newline_is_drawn_not_a_traceback(odd_run, tmp_path, capsys):
    """Pillow refuses to measure multiline text: the grid was a ValueError traceback."""
    out = tmp_path / "grid.png"
    assert main(["compare", "--runs", str(odd_run), "--out", str(out), "--per-class", "1"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert Image.open(out).size[0] > 0


def test_a_run_folder_name_with_a_newline_labels_its_column(odd_run, tmp_path, capsys):
    """Two runs of one model are labelled with their folder names, newline included."""
    second = tmp_path / "run\n2"
    shutil.copytree(odd_run, second)
    out = tmp_path / "grid.png"
    argv = ["compare", "--runs", str(odd_run), str(second), "--out", str(out), "--per-class", "1"]
    assert main(argv) == 0
    assert Image.open(out).size[0] > 0


def test_rows_of_classes_alike_at_their_start_are_told_apart(tmp_path_factory, tmp_path):
    """Both names were cut to "adenocarcinoma-g...": two classes' rows read the same."""
    names = ["adenocarcinoma-grade-1", "adenocarcinoma-grade-2"]
    run = _npz_run(tmp_path_factory.mktemp("alike-names"), names)
    out = compare_grid([load_generator(run, device="cpu")], tmp_path / "grid.png", per_class=1)
    canvas = np.asarray(Image.open(out).convert("L"))
    tile = tile_side(16)
    tops = [HEADER_HEIGHT + PAD + row * (tile + PAD) for row in (0, 1)]
    labels = [canvas[top : top + tile, :LABEL_WIDTH] for top in tops]
    assert not np.array_equal(labels[0], labels[1])


def _run(folder: Path, loss: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"model": "gaunet"}))
    records = [{"step": s, "elapsed_seconds": s, "loss_d": loss, "loss_g": loss} for s in (1, 2)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_curves_of_runs_with_the_same_label_are_told_apart(tmp_path: Path, monkeypatch) -> None:
    """seed0/gaunet and seed1/gaunet both read "gaunet": two lines, one legend entry twice. They
    get their place in --runs, as the grid's columns do."""
    runs = [_run(tmp_path / f"seed{s}" / "gaunet", float(s)) for s in (0, 1)]
    runs.append(_run(tmp_path / "other", 5.0))
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig) or close(fig))
    plot_losses(runs, tmp_path / "curves.png")
    for ax in figures[0].axes:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["gaunet #1", "gaunet #2", "gaunet (other)"]
