"""Reports given hostile names and broken inputs: a `$` or `|` in a class or folder name, NaN
numbers, an empty PNG, two runs whose labels collide, --losses on the --out file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_helpers import tiny_train

from gaunet.cli import main
from gaunet.demo.layout import DemoFolder
from gaunet.demo.report import _dataset_section
from gaunet.demo.report_images import _metric_rows
from gaunet.downstream.report import plot_gain, summarise, summary_markdown
from gaunet.metrics.report import _diversity_section, per_class_chart
from gaunet.report.compare_grid import HEADER_HEIGHT, LABEL_WIDTH, PAD, compare_grid, tile_side
from gaunet.report.curves import plot_losses
from gaunet.report.html import img
from gaunet.trained_generator import load_generator


def _rows(arm: str, accuracies: list[float]) -> list[dict]:
    return [
        {"classifier": "resnet18", "arm": arm, "fraction": "0.25", "seed": s, "metric": m,
         "value": a, "seconds": 2.0}
        for s, a in enumerate(accuracies)
        for m in ("accuracy", "auc")
    ]  # fmt: skip


def _entries(arm: str) -> list[dict]:
    rows = _rows("none", [0.70, 0.71, 0.72]) + _rows(arm, [0.80, 0.82, 0.81])
    order = {"classifiers": ["resnet18"], "fractions": [0.25], "arms": ["none", arm]}
    return summarise(rows, order)


def test_a_pipe_in_a_run_arm_keeps_every_markdown_table_row_aligned() -> None:
    text = summary_markdown(_entries("run:a|b"), {"data": "x.npz", "size": 16, "seeds": 3})
    tables, table = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            table.append(line.replace("\\|", ""))  # an escaped pipe is no separator
        elif table:
            tables.append(table)
            table = []
    assert len(tables) >= 3 and "run:a\\|b" in text
    for rows in tables:
        assert len({row.count("|") for row in rows}) == 1, rows


def test_a_pipe_in_a_run_arm_keeps_the_pooled_table_aligned() -> None:
    """`gaunet pool` over folders with a run arm `run:a|b`: pooled.md's rows kept the pipe."""
    from gaunet.downstream.pooled import pool_entries, pooled_markdown

    summaries = [{"entries": _entries("run:a|b")} for _ in range(2)]
    text = pooled_markdown(pool_entries(summaries), [Path("s0"), Path("s1")], [0, 1])
    rows = [line.replace("\\|", "") for line in text.splitlines() if line.startswith("|")]
    assert "run:a\\|b" in text and len({row.count("|") for row in rows}) == 1, rows


def test_a_dollar_in_a_class_name_does_not_break_the_per_class_chart() -> None:
    classes = ["$a_$", "b"]
    stat = {"value": 0.5, "ci95": [0.4, 0.6]}
    result = {
        "classes": classes,
        "PA": {"per_class": {c: stat for c in classes}},
        "features": {
            "domain": {
                "available": True,
                "per_class": {c: {"PRDC": {m: stat for m in ("precision", "recall", "coverage")}}
                              for c in classes},
            }
        },
    }  # fmt: skip
    png = per_class_chart(result)
    assert png and png.startswith(b"\x89PNG")


def test_a_dollar_in_a_run_folder_name_does_not_break_the_loss_curves(tmp_path: Path) -> None:
    run = tmp_path / "x$_$"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"model": "gaunet"}))
    records = [{"step": s, "loss_d": 1.0 / s, "loss_g": -1.0, "elapsed_seconds": s} for s in (1, 2)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = plot_losses([run], tmp_path / "curves.png", title="price $5_$")
    assert Image.open(out).size[0] > 0


def test_a_dollar_in_a_run_arm_does_not_break_the_gain_plot(tmp_path: Path) -> None:
    plot_gain(_entries("run:x$_$"), tmp_path / "gain.png")
    assert Image.open(tmp_path / "gain.png").size[0] > 0


def test_nan_diversity_is_not_reported_as_a_number() -> None:
    nan = float("nan")
    diversity = {
        "within_source": 0.01, "to_source": 0.1, "real_pairs": nan, "ratio": nan, "draws": 8,
        "sources": 1, "seed": 0,
        "per_class": {"a": {"within_source": 0.01, "to_source": 0.1, "real_pairs": nan,
                            "ratio": nan}},
    }  # fmt: skip
    assert "nan" not in _diversity_section(diversity).replace("n/a", "")
    rows = _metric_rows({"features": {}, "noise_diversity": diversity})
    (row,) = [r for r in rows if r[0] == "noise diversity"]
    assert "nan" not in row[1].replace("n/a", "") and row[1].startswith("n/a")


def test_nan_distance_in_the_demo_table_reads_n_a() -> None:
    overall = {"n_real": 10, "n_synthetic": 10, "FD_domain": float("nan")}
    result = {"features": {"domain": {"available": True, "metric_name": "FD_domain",
                                      "overall": overall}}}  # fmt: skip
    (row,) = _metric_rows(result)
    assert row[1] == "n/a"


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + b"x" * 10])
@pytest.mark.parametrize("zoom", [1, 2])
def test_an_empty_or_damaged_png_is_named_not_crashed_on(tmp_path, content, zoom) -> None:
    path = tmp_path / "figure2-grid.png"
    path.write_bytes(content)
    text = img(path, "figure 2 grid", zoom=zoom)
    assert "base64" not in text and "empty or damaged" in text


def test_class_names_starting_with_a_table_marker_keep_it(tmp_path: Path) -> None:
    folder = DemoFolder(tmp_path)
    folder.inspect.mkdir()
    classes = ["~5mm", "^big & <b>"]
    counts = {c: 1 for c in classes}
    summary = {
        "source": "x.npz", "kind": "npz", "images": 8, "classes": classes,
        "counts": {s: counts for s in ("train", "val", "test", "total")}, "split": "official",
        "groups": 8, "size": 16, "channels": 1, "skipped": 0,
    }  # fmt: skip
    folder.summary.write_text(json.dumps(summary))
    text = _dataset_section(folder, {})
    assert ">~5mm</td>" in text and ">^big &amp; &lt;b&gt;</td>" in text


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two GAU-Net runs whose folder names differ only past what a column label can show."""
    root = tmp_path_factory.mktemp("hunt-runs")
    first = tiny_train(root / "exp-2024-01", steps=1)
    second = root / "exp-2024-02"
    shutil.copytree(first, second)
    return first, second


def test_columns_of_runs_with_alike_names_are_told_apart(two_runs, tmp_path: Path) -> None:
    generators = [load_generator(run, device="cpu") for run in two_runs]
    out = compare_grid(generators, tmp_path / "grid.png", per_class=1)
    canvas = np.asarray(Image.open(out).convert("L"))
    tile = tile_side(16)
    left = [LABEL_WIDTH + PAD + col * (tile + PAD) for col in (1, 2)]  # column 0: real
    heads = [canvas[:HEADER_HEIGHT, x : x + tile] for x in left]
    assert not np.array_equal(heads[0], heads[1])


def test_losses_onto_the_grid_file_is_refused(two_runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "grid.png"
    code = main(["compare", "--runs", *map(str, two_runs), "--out", str(out),
                 "--losses", str(tmp_path / "." / "grid.png")])  # fmt: skip
    assert code == 2
    assert "--losses" in capsys.readouterr().err
    assert not out.exists()


def test_a_grid_save_that_fails_midway_leaves_no_partial_png(two_runs, tmp_path, monkeypatch):
    """`gaunet demo` keeps a grid file that exists: a cut-short one must never be left."""

    def cut_short(self, fp, *args, **kwargs):
        if isinstance(fp, str | Path):
            Path(fp).write_bytes(b"\x89PNG\r\n\x1a\n")
        else:
            fp.write(b"\x89PNG\r\n\x1a\n")
        raise OSError("No space left on device")

    generators = [load_generator(two_runs[0], device="cpu")]
    monkeypatch.setattr(Image.Image, "save", cut_short)
    with pytest.raises(OSError):
        compare_grid(generators, tmp_path / "grid.png", per_class=1)
    assert not (tmp_path / "grid.png").exists()
