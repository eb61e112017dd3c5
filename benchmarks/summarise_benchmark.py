"""Rebuild summary.{md,json,png} of a benchmark folder from every finished cell in results.csv.

Used when several `gaunet benchmark` commands with different arms or fractions wrote into one
folder (each command's own summary covers only its grid):

    .venv/bin/python benchmarks/summarise_benchmark.py DIR --arms none,classic,gaunet,gan,cgan \
        --classifiers svm,resnet18
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gaunet.downstream.report import write_reports
from gaunet.downstream.results_file import read_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="benchmark folder holding results.csv")
    parser.add_argument("--arms", required=True, help="arms in table order, comma-separated")
    parser.add_argument("--classifiers", required=True, help="classifiers, comma-separated")
    args = parser.parse_args()
    rows = read_results(args.out / "results.csv")
    order = {
        "classifiers": args.classifiers.split(","),
        "fractions": sorted({float(r["fraction"]) for r in rows}),
        "arms": args.arms.split(","),
    }
    record = json.loads((args.out / "benchmark.json").read_text())
    write_reports(args.out, rows, order, record)
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()
