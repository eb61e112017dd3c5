"""A benchmark folder's results.csv: one row per (cell, metric), appended as each cell ends.

A cell is (classifier, arm, fraction, seed). Rows of a cell cut off mid-write (a full disk, a
kill) are dropped on reading, so a rerun recomputes that cell and skips every finished one;
is_finished says whether any cell is left. The file is only ever appended to, starting on a line
of its own, or replaced whole and atomically: no write can lose a finished cell.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gaunet.downstream.arms import Arm, parse_arms
from gaunet.downstream.stats import METRICS
from gaunet.downstream.subsets import stored_fractions
from gaunet.errors import GaunetError
from gaunet.io import write_atomic

if TYPE_CHECKING:
    from gaunet.downstream.benchmark import BenchmarkSettings

COLUMNS = (
    "classifier", "arm", "fraction", "seed", "metric", "value",
    "n_real", "n_extra", "epochs_run", "best_epoch", "seconds",
)  # fmt: skip


def read_results(path: Path) -> list[dict]:
    """Rows of complete cells; a cell cut off mid-write is dropped so it is recomputed."""
    if not path.is_file():
        return []
    # errors="replace": a write cut inside a multi-byte character (an arm named after a run
    # folder) leaves a row that is dropped below, not a file that cannot be read
    text = path.read_bytes().decode("utf-8", errors="replace")
    if not text.endswith("\n"):  # every write ends its rows: the last one was cut off, maybe
        text = text[: text.rfind("\n") + 1]  # in its last column (seconds), which still parsed
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as error:
        raise _not_results(path, str(error)) from None
    missing = [c for c in COLUMNS[:6] if c not in (reader.fieldnames or COLUMNS)]
    if missing:  # edited, or not a results file: its rows cannot be told apart
        raise _not_results(path, f"its header has no {', '.join(missing)} column")
    by_cell: dict[tuple, list[dict]] = {}
    for row in rows:
        key = _whole_row_key(row)
        if key is not None:
            by_cell.setdefault(key, []).append(row)
    return [r for cell in by_cell.values() if len(cell) == len(METRICS) for r in cell]


def _not_results(path: Path, cause: str) -> GaunetError:
    return GaunetError(
        f"{path}: not a results file gaunet benchmark can read ({cause}); restore it, or move it "
        "away to compute every cell again"
    )


def check_settings_file(out: Path) -> None:
    """benchmark.json must be present where results.csv holds finished cells: without it a
    rerun could not tell whether they were made with its settings (pin_settings refuses one
    that cannot be read)."""
    if not (Path(out) / "benchmark.json").exists() and read_results(Path(out) / "results.csv"):
        raise GaunetError(
            f"{out}: results.csv holds finished cells but benchmark.json, the settings they "
            "were made with, is missing; restore it, or use another --out"
        )


def _whole_row_key(row: dict) -> tuple | None:
    """A row's cell, or None for a row cut short (missing columns, an unreadable fraction or
    seed) or run into another (extra fields, which DictReader files under None)."""
    if None in row or None in row.values():  # DictReader's marks of too many and too few
        return None
    try:
        float(row["value"])
        return cell_key(row)
    except ValueError:
        return None


def cell_key(row: dict) -> tuple:
    return (row["classifier"], row["arm"], float(row["fraction"]), int(row["seed"]))


def write_rows(path: Path, rows: list[dict], mode: str) -> None:
    """Mode "w": replace the file, atomically (a kill mid-write leaves the old one). Mode "a":
    append, first ending a line a cut-off write left open, so no new row joins it. Columns
    other than COLUMNS (rows read from a newer version's file) are left out: the file is
    rewritten in this version's layout, which the rows appended after it follow."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore")
    if mode == "w" or not path.is_file():
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(path, text.getvalue().encode(), durable=False)
        return
    writer.writerows(rows)
    with open(path, "rb+") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end:
            handle.seek(end - 1)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write(text.getvalue().encode())


def grid_cells(settings: BenchmarkSettings, arms: list[Arm]) -> list[tuple[str, Arm, float, int]]:
    """Every (classifier, arm, fraction, seed) cell of the grid, in the order they run."""
    return [
        (classifier, arm, fraction, seed)
        for fraction in settings.fractions
        for arm in arms
        for seed in range(settings.seeds)
        for classifier in settings.classifiers
    ]


def cells_left(cells: list[tuple[str, Arm, float, int]], rows: list[dict]) -> list[tuple]:
    """The cells of `cells` whose rows `rows` (read_results) do not hold yet."""
    done = {cell_key(row) for row in rows}
    return [c for c in cells if (c[0], c[1].name, c[2], c[3]) not in done]


def is_finished(settings: BenchmarkSettings, out: Path) -> bool:
    """Whether out/results.csv holds every cell of the grid, so a rerun only rewrites the
    reports: a resumed `--subset-seeds` counts such folders as done before it starts, and its
    bar's rate and time left come from the folders that still run."""
    # as run_benchmark stores them: a finished cell of 1/3 is found under 0.333333
    stored = replace(settings, fractions=stored_fractions(settings.fractions))
    cells = grid_cells(stored, parse_arms(settings.arms))
    return not cells_left(cells, read_results(Path(out) / "results.csv"))
