"""gaunet.downstream.results_file: a results.csv cut off mid-write (a full disk, a kill) loses
no finished cell, the cut cell is recomputed, and the next cell's rows are read whole."""

from __future__ import annotations

import pytest

from gaunet.downstream.results_file import COLUMNS, read_results, write_rows
from gaunet.downstream.stats import METRICS


def _cell(arm: str, seed: int) -> list[dict]:
    return [
        {"classifier": "resnet18", "arm": arm, "fraction": "0.25", "seed": str(seed),
         "metric": metric, "value": f"0.{seed}{i}1234", "n_real": "137", "n_extra": "0",
         "epochs_run": "20", "best_epoch": "7", "seconds": "61.5"}
        for i, metric in enumerate(METRICS)
    ]  # fmt: skip


def _cells(rows: list[dict]) -> set[tuple]:
    return {(r["arm"], int(r["seed"])) for r in rows}


@pytest.mark.parametrize("cut", [1, 9, 20, 24, 30, 37, 45])  # bytes left of the last row
def test_a_row_cut_off_mid_write_drops_its_cell_and_spares_the_next(tmp_path, cut):
    path = tmp_path / "results.csv"
    write_rows(path, _cell("none", 0), "w")
    write_rows(path, _cell("classic", 1), "a")
    data = path.read_bytes()
    last_row = data.rstrip(b"\r\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_row + cut])  # the classic cell's last row, cut

    assert _cells(read_results(path)) == {("none", 0)}  # no crash; the cut cell is left to redo
    write_rows(path, _cell("copies", 2), "a")
    rows = read_results(path)
    assert _cells(rows) == {("none", 0), ("copies", 2)}
    assert [r["value"] for r in rows if r["arm"] == "copies"] == [
        r["value"] for r in _cell("copies", 2)
    ]


def test_replacing_the_file_keeps_the_header_and_the_rows(tmp_path):
    path = tmp_path / "results.csv"
    write_rows(path, _cell("none", 0) + _cell("classic", 1), "w")
    write_rows(path, _cell("none", 0), "w")
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert _cells(read_results(path)) == {("none", 0)}
    assert not list(tmp_path.glob(".results.csv.tmp*"))


def test_a_file_from_before_a_column_was_added_still_reads(tmp_path):
    """Rows of a file whose header lacks a later column are whole rows, not cut-off ones."""
    path = tmp_path / "results.csv"
    old = [c for c in COLUMNS if c != "seconds"]
    lines = [",".join(old)] + [",".join(row[c] for c in old) for row in _cell("none", 3)]
    path.write_text("\n".join(lines) + "\n")
    assert _cells(read_results(path)) == {("none", 3)}
