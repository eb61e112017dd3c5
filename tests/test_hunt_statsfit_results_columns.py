"""results.csv written by a newer version, with a column this version does not know: a rerun
reads its finished cells and rewrites the file in this version's layout, instead of failing in
csv.DictWriter with "dict contains fields not in fieldnames"."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from gaunet.downstream.results_file import COLUMNS, read_results, write_rows
from gaunet.downstream.stats import METRICS


def _newer_file(path: Path) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[*COLUMNS[:6], "device", *COLUMNS[6:]])
    writer.writeheader()
    for metric in METRICS:
        row = dict.fromkeys(COLUMNS, "")
        row.update(classifier="svm", arm="none", fraction="0.5", seed="0", metric=metric)
        writer.writerow({**row, "value": "0.750000", "seconds": "1.0", "device": "cuda:0"})
    path.write_text(text.getvalue())


def test_a_newer_versions_extra_column_is_read_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    _newer_file(path)
    rows = read_results(path)
    assert len(rows) == len(METRICS)
    write_rows(path, rows, "w")  # as _run_grid does before the cells left; before: ValueError
    write_rows(path, [dict(rows[0], seed="1")], "a")  # an appended row lines up with the header
    again = list(csv.DictReader(io.StringIO(path.read_text())))
    assert list(again[0]) == list(COLUMNS)
    assert [r["value"] for r in again] == ["0.750000"] * (len(METRICS) + 1)
    assert again[-1]["seed"] == "1" and again[-1]["seconds"] == "1.0"
    assert len(read_results(path)) == len(METRICS)  # the cut-short cell of seed 1 is not whole
