"""One arm against another arm of another benchmark folder, per subset, pooled over subsets.

`gaunet pool --against` compares the same arm of two folders; this compares two different arms
(e.g. a generator's `gaunet+classic` against the `copies+classic` control run in its own
folder) whose folders share subset seeds and classifier seeds, so the cells pair by seed:

    .venv/bin/python benchmarks/arm_difference.py --arm gaunet+classic --against-arm copies+classic \
        --pairs runs/aug/breastmnist-sel:runs/aug/breastmnist-copies \
                runs/aug-s1/breastmnist-fdval:runs/aug-s1/breastmnist-copies

Prints, per metric, each subset's mean paired difference (points) and the t-interval over
subsets; `--json FILE` keeps them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gaunet.downstream.pooled import pooled_stat
from gaunet.downstream.results_file import read_results

METRICS = ("accuracy", "auc")


def _values(folder: Path, arm: str, classifier: str) -> dict[tuple[int, str], float]:
    """(seed, metric) -> value of one arm's finished cells."""
    rows = read_results(folder / "results.csv")
    return {
        (int(r["seed"]), r["metric"]): float(r["value"])
        for r in rows
        if r["arm"] == arm and r["classifier"] == classifier
    }


def subset_difference(a: dict, b: dict, metric: str) -> float:
    """Mean over the seeds both arms finished of (a - b), in points."""
    seeds = sorted(s for s, m in a if m == metric and (s, metric) in b)
    if not seeds:
        raise SystemExit(f"no seed finished in both arms for {metric}")
    return 100.0 * float(np.mean([a[(s, metric)] - b[(s, metric)] for s in seeds]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", required=True, help="arm of the first folder of each pair")
    parser.add_argument("--against-arm", required=True, help="arm of the second folder")
    parser.add_argument("--pairs", nargs="+", required=True, help="DIR_A:DIR_B, one per subset")
    parser.add_argument("--classifier", default="resnet18")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    pairs = [tuple(Path(p) for p in text.split(":", 1)) for text in args.pairs]
    result = {"arm": args.arm, "against_arm": args.against_arm, "pairs": args.pairs}
    for metric in METRICS:
        per_subset = [
            subset_difference(
                _values(a, args.arm, args.classifier),
                _values(b, args.against_arm, args.classifier),
                metric,
            )
            for a, b in pairs
        ]
        stat = pooled_stat([v / 100.0 for v in per_subset]) if len(pairs) > 1 else {}
        result[metric] = {"per_subset_points": per_subset, **stat}
        shown = ", ".join(f"{v:+.1f}" for v in per_subset)
        if stat:
            mean, half = 100 * stat["mean"], 100 * stat["half"]
            shown += f"; {mean:+.1f} [{mean - half:+.1f}, {mean + half:+.1f}] p={stat['p']:.2g}"
        print(f"{args.arm} - {args.against_arm}, {metric} (points): {shown}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
