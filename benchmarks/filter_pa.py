"""Class fidelity with and without `--filter-pool`: for each generator run, `gaunet generate`
the same number of images per class unfiltered and filtered, score both with `gaunet evaluate
--features domain` against the real test split, and write PA (overall and per class),
FD_domain, the domain precision, recall and coverage (variety), copy rate and the number of
distinct conditioning images per class side by side. The
numbers gaunet's evaluate verdict quotes for low class fidelity (gaunet/evidence.yaml,
`filter_pa`) come from its JSON.

    .venv/bin/python benchmarks/filter_pa.py --data ../shared/data/breastmnist.npz \\
        --runs runs/item5-cpu/item5/subset-{2,3,4}/generators/gaunet-f0.25-s* \\
        --out runs/filter-pa --json docs/results/filter-pa-item5-subsets-2-4.json
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

GAUNET = [sys.executable, "-m", "gaunet"]


def _run(command: list[str]) -> None:
    print("$", shlex.join(command), flush=True)
    subprocess.run(command, check=True)


def measure(run: Path, pool: int, args: argparse.Namespace) -> dict:
    """Generate --per-class images per class with `--filter-pool pool`, evaluate them."""
    folder = Path(args.out) / f"{run.name}-p{pool}"
    _run([*GAUNET, "generate", "--run", str(run), "--out", str(folder), "--per-class",
          str(args.per_class), "--filter-pool", str(pool), "--device", args.device, "--quiet"])  # fmt: skip
    scores = folder.parent / f"{folder.name}.json"  # not with_suffix: "f0.25" holds a dot
    _run([*GAUNET, "evaluate", "--real", args.data, "--synthetic", str(folder), "--features",
          "domain", "--size", str(args.size), "--channels", str(args.channels), "--device",
          args.device, "--quiet", "--json", str(scores)])  # fmt: skip
    result = json.loads(scores.read_text())
    overall = result["features"]["domain"]["overall"]
    prdc = overall.get("PRDC") or {}  # None when a set is too small for its k neighbours
    return {
        "PA": result["PA"]["value"],
        "PA_per_class": {k: v["value"] for k, v in result["PA"]["per_class"].items()},
        "FD_domain": overall["FD_domain"],
        # variety: does keeping the surest images narrow them to the most typical ones?
        **{
            name: (prdc.get(name) or {}).get("value")
            for name in ("precision", "recall", "coverage")
        },
        "copy_rate_domain": result["memorization"]["domain"]["copy_rate"],
        # how many training images the kept ones were generated from: with little noise
        # diversity the draws of one conditioning image are nearly one image
        "distinct_sources": _distinct_sources(folder / "manifest.csv"),
        "domain_classifier_accuracy": result["PA"]["real_reference_accuracy"]["value"],
        "images": result["samples"]["synthetic"],
    }


def _distinct_sources(manifest: Path) -> dict[str, int]:
    """Class -> the number of different conditioning images among its generated images."""
    sources: dict[str, set[str]] = {}
    with open(manifest, newline="") as handle:
        for row in csv.DictReader(handle):
            sources.setdefault(row["class"], set()).add(row["source_id"])
    return {name: len(ids) for name, ids in sorted(sources.items())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the real SOURCE the runs trained on")
    parser.add_argument("--runs", nargs="+", required=True, help="gaunet train run folders")
    parser.add_argument("--out", required=True, help="folder for the images and evaluations")
    parser.add_argument("--json", required=True, help="the results file")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--pool", type=int, default=3)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    # run folders only: a glob such as generators/gaunet-f0.25-s* also matches the benchmark's
    # gaunet-f0.25-sN.json record beside each run
    runs = [run for run in map(Path, args.runs) if run.is_dir()]
    if not runs:
        parser.error(f"--runs: no run folder among {args.runs}")
    rows = []
    for run in runs:
        row = {"run": str(run)}
        for name, pool in (("unfiltered", 1), ("filtered", args.pool)):
            row[name] = measure(run, pool, args)
        rows.append(row)
        print(f"{run}: PA {row['unfiltered']['PA']:.3f} -> {row['filtered']['PA']:.3f}")
    report = {
        "command": shlex.join(["benchmarks/filter_pa.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "data": args.data,
        "per_class": args.per_class,
        "pool": args.pool,
        "runs": rows,
    }
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(args.json)


if __name__ == "__main__":
    main()
