"""One arm against another arm of another benchmark folder, per subset, pooled over subsets.

`gaunet pool --against` compares the same arm of two folders; this compares two different arms
(e.g. a generator's `gaunet+classic` against the `copies+classic` control run in its own
folder) whose folders share subset seeds and classifier seeds, so the cells pair by seed:

    .venv/bin/python benchmarks/arm_difference.py --arm gaunet+classic --against-arm copies+classic \
        --pairs runs/aug/breastmnist-sel:runs/aug/breastmnist-copies \
                runs/aug-s1/breastmnist-fdval:runs/aug-s1/breastmnist-copies

Prints, per metric, each subset's mean paired difference (points) and the t-interval over
subsets; `--json FILE` keeps them (`per_subset_points` in points; `mean`, `half`, `low`,
`high`, `per_subset` and `mde` in fractions, as pooled.json). The two folders of a pair must
hold the same images and subset (benchmark.json's data, split and subset seed; split.csv where
both have it); the first folders of the pairs must differ only in their subset seed, and so
must the second ones (the recipe pooled is one recipe). Seeds whose value is NaN in either arm
are left out of that subset's mean, as in summary.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gaunet.downstream.pooled import _check_same_split, check_poolable, pooled_stat
from gaunet.downstream.results_file import read_results
from gaunet.errors import GaunetError
from gaunet.io import finite_values, write_json

METRICS = ("accuracy", "auc")
INPUTS = ("results.csv", "benchmark.json", "summary.json", "split.csv")


def _values(
    folder: Path, arm: str, classifier: str, fraction: float | None = None
) -> dict[tuple[int, str], float]:
    """(seed, metric) -> value of one arm's finished cells (of `fraction`, which must be given
    where the folder holds that arm at several fractions: their cells would overwrite each
    other)."""
    rows = [
        r
        for r in read_results(folder / "results.csv")
        if r["arm"] == arm and r["classifier"] == classifier
    ]
    fractions = sorted({float(r["fraction"]) for r in rows})
    if fraction is None and len(fractions) > 1:
        raise SystemExit(
            f"{folder}: {arm} ran at fractions {', '.join(f'{f:g}' for f in fractions)}; "
            "give --fraction"
        )
    return {
        (int(r["seed"]), r["metric"]): float(r["value"])
        for r in rows
        if fraction is None or float(r["fraction"]) == fraction
    }


def subset_difference(a: dict, b: dict, metric: str) -> float:
    """Mean over the seeds both arms finished, with a finite value in both, of (a - b), in
    points."""
    seeds = sorted(s for s, m in a if m == metric and (s, metric) in b)
    if not seeds:
        raise SystemExit(f"no seed finished in both arms for {metric}")
    differences = [a[(s, metric)] - b[(s, metric)] for s in seeds]
    finite = [d for d in differences if np.isfinite(d)]
    if not finite:
        raise SystemExit(f"no seed has a finite {metric} in both arms")
    return 100.0 * float(np.mean(finite))


def _settings(folder: Path) -> dict | None:
    path = folder / "benchmark.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"{path}: unreadable ({error})") from None


def check_pairs(pairs: list[tuple[Path, Path]]) -> None:
    """Refuse pairs of different images or subsets, a folder given twice, and columns that mix
    recipes (the checks of `gaunet pool`, on each folder's benchmark.json where it has one)."""
    for column in zip(*pairs):
        names = [folder.resolve() for folder in column]
        if len(set(names)) != len(names):
            raise SystemExit(f"a folder is given in two pairs: {', '.join(map(str, column))}")
    settings = [[_settings(folder) for folder in pair] for pair in pairs]
    try:
        for column, recorded in zip(zip(*pairs), zip(*settings)):
            if len(column) > 1 and None not in recorded:
                check_poolable(list(column), list(recorded))
        for (a, b), (mine, theirs) in zip(pairs, settings):
            if None in (mine, theirs):
                continue
            if mine.get("subset_seed", 0) != theirs.get("subset_seed", 0):
                raise GaunetError(
                    f"{a}:{b}: subset seeds {mine.get('subset_seed', 0)} and "
                    f"{theirs.get('subset_seed', 0)}; pair the folders of one subset"
                )
            _check_same_split([a], [b], [{"settings": mine}], [{"settings": theirs}])
    except GaunetError as error:
        raise SystemExit(str(error)) from None


def _parse_pair(text: str) -> tuple[Path, Path]:
    if ":" not in text:
        raise SystemExit(f"--pairs {text}: give DIR_A:DIR_B")
    a, b = text.split(":", 1)
    return Path(a), Path(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", required=True, help="arm of the first folder of each pair")
    parser.add_argument("--against-arm", required=True, help="arm of the second folder")
    parser.add_argument("--pairs", nargs="+", required=True, help="DIR_A:DIR_B, one per subset")
    parser.add_argument("--classifier", default="resnet18")
    parser.add_argument("--fraction", type=float, default=None, help="where folders hold several")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    pairs = [_parse_pair(text) for text in args.pairs]
    check_pairs(pairs)
    if args.json is not None:  # checked before anything is computed
        inputs = {(f / name).resolve() for pair in pairs for f in pair for name in INPUTS}
        if args.json.resolve() in inputs or args.json.is_dir():
            raise SystemExit(f"--json {args.json}: an input of the comparison; give another file")
    result = {"arm": args.arm, "against_arm": args.against_arm, "pairs": args.pairs}
    for metric in METRICS:
        per_subset = [
            subset_difference(
                _values(a, args.arm, args.classifier, args.fraction),
                _values(b, args.against_arm, args.classifier, args.fraction),
                metric,
            )
            for a, b in pairs
        ]
        stat = pooled_stat([v / 100.0 for v in per_subset]) if len(pairs) > 1 else {}
        result[metric] = {"per_subset_points": per_subset, **stat}
        shown = ", ".join(f"{v:+.1f}" for v in per_subset)
        if stat and np.isfinite(stat["half"]):
            mean, half = 100 * stat["mean"], 100 * stat["half"]
            shown += f"; {mean:+.1f} [{mean - half:+.1f}, {mean + half:+.1f}] p={stat['p']:.2g}"
        elif stat:
            shown += f"; {100 * stat['mean']:+.1f}, no interval (every subset gave the same)"
        print(f"{args.arm} - {args.against_arm}, {metric} (points): {shown}")
    if args.json:
        write_json(args.json, finite_values(result))  # atomic; NaN as null, as pooled.json


if __name__ == "__main__":
    main()
