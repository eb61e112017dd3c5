"""Write gaunet/evidence.yaml: the measured results that gaunet's own output quotes (the advice
in summary.md), each read from its JSON in docs/results, so a rerun that changes a number
changes it everywhere. tests/test_evidence.py checks the file against the JSON files.

    .venv/bin/python benchmarks/write_evidence.py            # rewrite gaunet/evidence.yaml
    .venv/bin/python benchmarks/write_evidence.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
EVIDENCE = ROOT / "gaunet" / "evidence.yaml"
POINTS = 100.0

FILTER_COMMAND = (
    "gaunet benchmark --data ../shared/data/breastmnist.npz --out runs/item5-filter "
    "--subset-seeds 2,3,4 --filter-pool 3 ... with item 5's generators, then SUBSETS='0 1' with "
    "generators trained again for 5,352 steps (bash benchmarks/item5_cpu.sh filter), then gaunet "
    "pool --benchmarks runs/item5-filter/subset-{0,1,2,3,4} (docs/augmentation.md, 'Filtering "
    "the 5,000-epoch images' and 'Five subsets')"
)
# key -> (what it is, source JSON, arm, comparison, the commands that made the JSON)
GAINS = {
    "fdval_vs_last_combined": (
        "gaunet+classic with the snapshot chosen by validation FD against the same generators' "
        "last snapshot, on top of classic augmentation, pooled over BreastMNIST subsets",
        "pooled-breastmnist-fdval9-vs-last.json",
        "gaunet+classic",
        "gain",
        "gaunet pool --benchmarks $FDVAL --against $LAST --out runs/pooled/fdval9-vs-last "
        "(docs/augmentation.md, 'Which snapshot?', where FDVAL and LAST are set)",
    ),
    "transfer_alone": (
        "GAU-Net images alone (generator pretrained on PneumoniaMNIST, fine-tuned on each "
        "BreastMNIST subset) against real images only, pooled over subsets",
        "pooled-breastmnist-transfer9.json",
        "gaunet",
        "gain",
        "gaunet pool --benchmarks $(T 0 1 2 3 4 5 6 7 8) --out runs/pooled/transfer9 "
        "(docs/augmentation.md, 'A generator pretrained on another dataset', where T is set)",
    ),
    "copies_combined_vs_classic": (
        "plain copies of the real images on top of classic augmentation against classic alone, "
        "pooled over BreastMNIST subsets (the copies control)",
        "pooled-breastmnist-copies9.json",
        "copies+classic",
        "gain_vs_classic",
        "gaunet pool --benchmarks <the nine subsets' breastmnist-copies folders> --out "
        "runs/pooled/copies9 (docs/augmentation.md, 'Is the fd-val gain the images?')",
    ),
    "paper_budget_filter_alone_vs_copies": (
        "gaunet images alone with --filter-pool 3 (the third of a 3x pool a CNN trained on the "
        "subset's real images is surest of) against plain copies, generators trained for the "
        "paper's 5,000 epochs (cpu-tiny, 28 px), pooled over BreastMNIST subsets",
        "item5-cpu-filter3-five-subsets.json",
        "gaunet",
        "gain_vs_copies",
        FILTER_COMMAND,
    ),
    "paper_budget_filter_combined_vs_copies": (
        "gaunet+classic with --filter-pool 3 against copies+classic, generators trained for "
        "the paper's 5,000 epochs (cpu-tiny, 28 px), pooled over BreastMNIST subsets",
        "item5-cpu-filter3-five-subsets.json",
        "gaunet+classic",
        "gain_vs_copies",
        FILTER_COMMAND,
    ),
    "paper_budget_filter_alone_vs_typical": (
        "gaunet images alone with --filter-pool 3 against typical-copies (the filter's choice "
        "among 3 copies of each real image: copies of the real images its CNN is surest of), "
        "generators trained for the paper's 5,000 epochs (cpu-tiny, 28 px), pooled over "
        "BreastMNIST subsets",
        "item5-cpu-typical-five-subsets.json",
        "gaunet",
        "gain_vs_typical_copies",
        "gaunet benchmark --data ../shared/data/breastmnist.npz --out runs/item5-typical "
        "--subset-seeds 0,1,2,3,4 --filter-pool 3 --arms ...,typical-copies,typical-copies+classic "
        "with item 5's generators (bash benchmarks/item5_cpu.sh typical; docs/augmentation.md, "
        "'Is the filter's gain the generator's?')",
    ),
}
# the paper's budget (5,000 epochs) over subsets: benchmarks/item5_report.py's JSON, its pooled
# rows already in points; key -> (what it is, source JSON, comparison)
PAPER_BUDGET_COMMAND = (
    "gaunet benchmark --data ../shared/data/breastmnist.npz --fractions 0.25 --arms "
    "none,classic,gaunet,gaunet+classic,copies,copies+classic --seeds 10 --classifiers resnet18 "
    "--width 0.5 --epochs 20 --gen-config GEN --gen-steps 5352 --subset-seeds 0,1,2,3,4, then "
    "benchmarks/item5_report.py (GEN: cpu-tiny at batch 128; benchmarks/item5_cpu.sh runs both; "
    "docs/augmentation.md, 'Item 5 on the 2-core CPU instead')"
)
PAPER_BUDGET = {
    "paper_budget_combined_vs_copies": (
        "gaunet+classic against copies+classic with generators trained for the paper's 5,000 "
        "epochs (cpu-tiny preset at 28 px, batch 128), pooled over BreastMNIST subsets",
        "item5-cpu-five-subsets.json",
        "gaunet+classic vs copies+classic",
    ),
    "paper_budget_alone_vs_copies": (
        "gaunet images alone against the same number of plain copies with generators trained "
        "for the paper's 5,000 epochs (cpu-tiny preset at 28 px, batch 128), pooled over "
        "BreastMNIST subsets",
        "item5-cpu-five-subsets.json",
        "gaunet vs copies",
    ),
}
# class fidelity (PA) of generated images before and after --filter-pool (benchmarks/filter_pa.py):
# item 5's generators at the end of training, and the same generators at step 1,000 of 5,352
FILTER_PA = {
    "filter_pa": (
        "PA (domain classifier on the real test split) of 50 images per class from each of "
        "item 5's 5,000-epoch generators (BreastMNIST subsets 2-4), unfiltered and with "
        "--filter-pool 3",
        "filter-pa-item5-subsets-2-4.json",
        "gaunet generate --per-class 50 --filter-pool 1|3, then gaunet evaluate --features "
        "domain (benchmarks/filter_pa.py --data ../shared/data/breastmnist.npz --runs "
        "runs/item5-cpu/item5/subset-{2,3,4}/generators/gaunet-f0.25-s* --out runs/filter-pa "
        "--json docs/results/filter-pa-item5-subsets-2-4.json)",
    ),
    "filter_pa_step1000": (
        "the same as filter_pa with the same generators' snapshots at step 1,000 of 5,352 "
        "(934 epochs)",
        "filter-pa-item5-step1000-subsets-2-4.json",
        "gaunet generate --per-class 50 --filter-pool 1|3, then gaunet evaluate --features "
        "domain (bash benchmarks/item5_cpu.sh early 1000, then benchmarks/filter_pa.py --data "
        "../shared/data/breastmnist.npz --runs runs/item5-early-1000/generators/gaunet-f0.25-s* "
        "--out runs/filter-pa-early1000 --json "
        "docs/results/filter-pa-item5-step1000-subsets-2-4.json; docs/augmentation.md, 'The "
        "same generators a fifth of the way in')",
    ),
}
# a single benchmark's summary.json: the ceiling arm where even new real images did not help
CEILING = (
    "new real images (more-real) against none on PneumoniaMNIST at 10 %, 10 seeds",
    "augmentation-pneumoniamnist-more-real.json",
    "more-real",
    "gaunet benchmark --data ../shared/data/pneumoniamnist.npz --out "
    "runs/aug/pneumoniamnist-more-real --classifiers resnet18 --width 0.5 --arms "
    "none,classic,more-real,more-real+classic --fractions 0.1 --seeds 10 --epochs 20 --size 28 "
    "--channels 1 --threads 1 --subset-seed 0 (docs/augmentation.md, 'PneumoniaMNIST')",
)
# how far a gain moves between subsets: the per-subset range of the base recipe's rows
SPREAD = (
    "largest minus smallest per-subset gain of the base recipe's gaunet (against none) and "
    "gaunet+classic (against classic) rows, accuracy and AUC, over BreastMNIST subsets",
    "pooled-breastmnist-base.json",
    (("gaunet", "gain"), ("gaunet+classic", "gain_vs_classic")),
    "gaunet pool --benchmarks runs/aug/breastmnist-base runs/aug-s1/breastmnist-base "
    "runs/aug-s2/breastmnist-base --out runs/pooled/base (docs/augmentation.md, 'Several "
    "subsets, pooled')",
)


def _points(value: float) -> float:
    return round(value * POINTS, 1)


def _record(mean: float, low: float, high: float, p: float) -> dict:
    """A gain in points: mean, interval, p, and whether it is significant (interval above 0)."""
    return {
        "mean": round(mean, 1),
        "low": round(low, 1),
        "high": round(high, 1),
        "p": float(f"{p:.2g}"),
        "significant": bool(low > 0),
    }


def _gain(stat: dict) -> dict:
    """A pooled or per-benchmark gain of summary.json / pooled.json (fractions, +- half)."""
    mean, half = stat["mean"] * POINTS, stat["half"] * POINTS
    return _record(mean, mean - half, mean + half, stat["p"])


def _pooled_points(row: dict) -> dict:
    """A pooled row of benchmarks/item5_report.py (already in points)."""
    return _record(row["mean"], row["low"], row["high"], row["p"])


def _entry(data: dict, arm: str) -> dict:
    return next(e for e in data["entries"] if e["arm"] == arm)


def build() -> dict:
    """The evidence, read from docs/results."""
    evidence: dict = {}
    for key, (what, name, arm, comparison, command) in GAINS.items():
        data = json.loads((RESULTS / name).read_text())
        stats = _entry(data, arm)[comparison]
        evidence[key] = {
            "what": what,
            "source": f"docs/results/{name}",
            "command": command,
            "subsets": len(data["subset_seeds"]),
            "accuracy": _gain(stats["accuracy"]),
            "auc": _gain(stats["auc"]),
        }
    for key, (what, name, comparison) in PAPER_BUDGET.items():
        data = json.loads((RESULTS / name).read_text())
        rows = {r["metric"]: r for r in data["pooled"] if r["comparison"] == comparison}
        evidence[key] = {
            "what": what,
            "source": f"docs/results/{name}",
            "command": PAPER_BUDGET_COMMAND,
            "subsets": len(data["pooled_subset_seeds"]),
            **{metric: _pooled_points(rows[metric]) for metric in ("accuracy", "auc")},
        }
    for key, (what, name, command) in FILTER_PA.items():
        data = json.loads((RESULTS / name).read_text())
        values = {
            kind: [row[kind]["PA"] for row in data["runs"]] for kind in ("unfiltered", "filtered")
        }
        evidence[key] = {
            "what": what,
            "source": f"docs/results/{name}",
            "command": command,
            "runs": len(data["runs"]),
            **{
                f"pa_{kind}": {"low": round(min(v), 2), "high": round(max(v), 2)}
                for kind, v in values.items()
            },
        }
    what, name, arm, command = CEILING
    data = json.loads((RESULTS / name).read_text())
    entry = _entry(data, arm)
    evidence["pneumoniamnist_ceiling"] = {
        "what": what,
        "source": f"docs/results/{name}",
        "command": command,
        "fraction": entry["fraction"],
        "accuracy": _gain(entry["gain"]["accuracy"]),
        "auc": _gain(entry["gain"]["auc"]),
    }
    what, name, rows, command = SPREAD
    data = json.loads((RESULTS / name).read_text())
    ranges = [
        max(per) - min(per)
        for arm, comparison in rows
        for metric in ("accuracy", "auc")
        for per in [_entry(data, arm)[comparison][metric]["per_subset"]]
    ]
    evidence["subset_spread"] = {
        "what": what,
        "source": f"docs/results/{name}",
        "command": command,
        "subsets": len(data["subset_seeds"]),
        "smallest": _points(min(ranges)),
        "largest": _points(max(ranges)),
    }
    return evidence


HEADER = """\
# Measured results that gaunet's own output quotes (the advice in summary.md), one source for
# each number: written by benchmarks/write_evidence.py from the JSON files in docs/results and
# checked against them by tests/test_evidence.py. Do not edit by hand: rerun the script.
# Gains are in percentage points; `significant` means the 95 % interval is above 0.
"""


def render(evidence: dict) -> str:
    return HEADER + yaml.safe_dump(evidence, sort_keys=False, width=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        if EVIDENCE.read_text() != text:
            sys.exit(f"{EVIDENCE} is out of date: run benchmarks/write_evidence.py")
        return
    EVIDENCE.write_text(text)
    print(EVIDENCE)


if __name__ == "__main__":
    main()
