"""benchmarks/filter_pa.py on a tiny run: both generations and evaluations happen, and the JSON
holds each one's PA, per-class PA and FD_domain as `gaunet evaluate` scored them."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from train_helpers import PHANTOM, tiny_train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import filter_pa  # noqa: E402


def test_unfiltered_and_filtered_are_scored_side_by_side(tmp_path):
    run = tiny_train(tmp_path / "run", steps=2)
    out, target = tmp_path / "pa", tmp_path / "pa.json"
    filter_pa.main(
        ["--data", PHANTOM, "--runs", str(run), "--out", str(out), "--json", str(target),
         "--per-class", "4", "--pool", "2", "--size", "16"]
    )  # fmt: skip
    report = json.loads(target.read_text())
    (row,) = report["runs"]
    assert (report["per_class"], report["pool"], row["run"]) == (4, 2, str(run))
    for kind, pool in (("unfiltered", 1), ("filtered", 2)):
        scored = json.loads((out / f"run-p{pool}.json").read_text())
        assert row[kind]["PA"] == scored["PA"]["value"]
        assert row[kind]["FD_domain"] == scored["features"]["domain"]["overall"]["FD_domain"]
        assert row[kind]["images"] == 8 and set(row[kind]["PA_per_class"]) == set(
            scored["PA"]["per_class"]
        )
    for kind, pool in (("unfiltered", 1), ("filtered", 2)):
        with open(out / f"run-p{pool}" / "manifest.csv") as handle:
            rows = list(csv.DictReader(handle))
        classes = {r["class"] for r in rows}
        sources = {c: len({r["source_id"] for r in rows if r["class"] == c}) for c in classes}
        assert row[kind]["distinct_sources"] == sources and len(sources) == 2
    assert (out / "run-p2" / "filter.json").is_file()
    assert not (out / "run-p1" / "filter.json").exists()
