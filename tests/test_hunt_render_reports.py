"""The rendered reports tell the numbers as they are: an estimate and its interval to the same
decimals, an interval clipped to the metric's range as summary.md clips it, a run that logged
nothing named in the loss curves, and a wide per-class chart kept inside the page."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from gaunet.demo.layout import DemoFolder
from gaunet.demo.report import _cell, _downstream_section
from gaunet.demo.report_images import _ci, _metric_rows
from gaunet.downstream.gains import CLIPPED
from gaunet.metrics.report import STYLE, _fmt, _pa_section
from gaunet.report.curves import plot_losses


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        ({"value": 0.04878, "ci95": [0.028, 0.052]}, "0.049 [0.028, 0.052]"),
        ({"value": 0.5, "ci95": [0.35, 0.65]}, "0.500 [0.350, 0.650]"),
        ({"value": 0.0, "ci95": [0.0, 0.0]}, "0.000 [0.000, 0.000]"),
        ({"value": 1.0, "ci95": None}, "1.000"),
        ({"value": float("nan"), "ci95": None}, "n/a"),
    ],
)
def test_an_estimate_and_its_interval_have_the_same_decimals(stat: dict, expected: str) -> None:
    assert _fmt(stat) == expected
    assert _ci(stat) == expected  # the demo report writes the same number the same way


def test_the_evaluate_report_pa_table_matches_the_demo_report() -> None:
    pa = {
        "value": 0.5, "ci95": [0.35, 0.65], "n": 40,
        "per_class": {"a": {"value": 0.0, "ci95": [0.0, 0.0], "n": 20}},
        "real_reference_accuracy": {"value": 0.75, "ci95": [0.633, 0.85], "per_class": {}},
    }  # fmt: skip
    text = "".join(_pa_section(pa, ""))
    assert "0.500 [0.350, 0.650]" in text and "0.750 [0.633, 0.850]" in text
    assert ">0.5 [" not in text and ">0 [" not in text


def test_an_interval_past_the_metric_range_is_clipped_as_in_summary_md() -> None:
    assert _cell({"mean": 0.98, "half": 0.05}) == f"0.980 [0.930, 1.000]{CLIPPED}"
    assert _cell({"mean": 0.8, "half": 0.05}) == "0.800 ± 0.050"
    assert _cell({"mean": 0.9, "half": 0.2}, 100, sign=True) == "+90.0 [+70.0, +100.0]" + CLIPPED
    assert _cell({"mean": 0.02, "half": 0.01}, 100, sign=True) == "+2.0 ± 1.0"


def test_the_demo_table_explains_a_clipped_interval(tmp_path: Path) -> None:
    accuracy = {"mean": 0.98, "half": 0.05, "n": 3}
    summary = {
        "settings": {"seeds": 3, "size": 16, "fit": {"epochs": 5}},
        "baseline": "none",
        "entries": [{"classifier": "resnet18", "arm": "none", "metrics": {"accuracy": accuracy},
                     "gain": {}}],
    }  # fmt: skip
    (tmp_path / "downstream").mkdir()
    (tmp_path / "downstream" / "summary.json").write_text(json.dumps(summary))
    text = _downstream_section(DemoFolder(tmp_path))
    assert f"0.980 [0.930, 1.000]{CLIPPED}" in text
    assert f"{CLIPPED} The interval passed the metric's range" in text


def test_a_ceiling_that_was_not_measured_reads_n_a() -> None:
    result = {
        "features": {},
        "PA": {"value": 0.5, "ci95": None, "n": 4, "real_reference_accuracy": {"value": None}},
    }
    rows = _metric_rows(result)
    assert "Here the ceiling is n/a." in rows[0][3]


def _run(folder: Path, lines: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"model": "gaunet"}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return folder


def test_a_run_with_no_logged_records_is_named_in_the_curves(tmp_path: Path, monkeypatch) -> None:
    logged = _run(tmp_path / "logged", [{"step": 5, "elapsed_seconds": 6.0, "loss_d": 1.0,
                                         "loss_g": 2.0}])  # fmt: skip
    empty = _run(tmp_path / "empty", [])  # e.g. a rollback to step 0 truncated every record
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig) or close(fig))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "No artists with labels found" legend warning
        plot_losses([logged, empty], tmp_path / "curves.png")
        plot_losses([empty], tmp_path / "empty.png")
    for figure, named in zip(figures, (["gaunet (logged)", "gaunet (empty)"], ["gaunet (empty)"])):
        for ax, key in zip(figure.axes, ("loss_d", "loss_g")):
            legend = [t.get_text() for t in ax.get_legend().get_texts()]
            assert legend[-1] == f"gaunet (empty): no {key} logged"
            assert [text.split(":")[0] for text in legend] == named


def test_the_evaluate_report_keeps_a_wide_per_class_chart_inside_the_page() -> None:
    assert "img{max-width:100%}" in STYLE
