"""results.csv -> summary.json, summary.md (laid out like the paper's Table III) and the plot.

W/O is the `none` arm; every other arm is a W row. A gain is the paired per-seed difference
W - W/O of the same classifier and fraction, with its t-interval and paired t-test p-value.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from gaunet.downstream.stats import METRICS, paired_difference, t_interval

BASELINE = "none"
LABELS = {"accuracy": "Acc", "precision": "Pre", "recall": "Rec", "auc": "AUC"}


def summarise(rows: list[dict], order: dict[str, list]) -> list[dict]:
    """One entry per classifier x fraction x arm: metric t-intervals and gains over `none`."""
    values: dict[tuple, dict[int, float]] = defaultdict(dict)
    for row in rows:
        key = (row["classifier"], float(row["fraction"]), row["arm"], row["metric"])
        values[key][int(row["seed"])] = float(row["value"])
    entries = []
    for classifier in order["classifiers"]:
        for fraction in order["fractions"]:
            for arm in order["arms"]:
                entry = {"classifier": classifier, "fraction": fraction, "arm": arm}
                entry["metrics"], entry["gain"] = {}, {}
                for metric in METRICS:
                    mine = values.get((classifier, fraction, arm, metric), {})
                    if not mine:
                        continue
                    entry["metrics"][metric] = t_interval(np.asarray(list(mine.values())))
                    base = values.get((classifier, fraction, BASELINE, metric), {})
                    seeds = sorted(set(mine) & set(base))
                    if arm != BASELINE and seeds:
                        entry["gain"][metric] = paired_difference(
                            np.asarray([mine[s] for s in seeds]),
                            np.asarray([base[s] for s in seeds]),
                        )
                if entry["metrics"]:
                    entries.append(entry)
    return entries


def _cell(stat: dict | None) -> str:
    if not stat or np.isnan(stat["mean"]):
        return "-"
    if np.isnan(stat["half"]):
        return f"{stat['mean']:.3f}"
    return f"{stat['mean']:.3f} ± {stat['half']:.3f}"


def _gain(stat: dict | None) -> str:
    if not stat or np.isnan(stat["mean"]):
        return "-"
    p = "" if np.isnan(stat["p"]) else f" (p={stat['p']:.3g})"
    return (
        f"{stat['mean']:+.3f} ± {stat['half']:.3f}{p}"
        if not np.isnan(stat["half"])
        else (f"{stat['mean']:+.3f}{p}")
    )


def summary_markdown(entries: list[dict], settings: dict) -> str:
    """Table III layout: per classifier and fraction, a W/O row (none) and a W row per arm."""
    lines = [
        "# Downstream benchmark: with (W) and without (W/O) extra training images",
        "",
        f"Data: `{settings['data']}` at {settings['size']} px; seeds: {settings['seeds']}; "
        "mean ± half-width of the 95 % t-interval over seeds. Gain: paired W - W/O per seed, "
        "± 95 % CI, paired t-test p. Validation and test images are real only.",
        "",
        "| Classifier | Fraction | Arm | | Acc | Pre | Rec | AUC | Gain Acc | Gain AUC | n |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries:
        tag = "W/O" if entry["arm"] == BASELINE else "W"
        cells = [_cell(entry["metrics"].get(m)) for m in METRICS]
        gains = [_gain(entry["gain"].get(m)) for m in ("accuracy", "auc")]
        n = max(s["n"] for s in entry["metrics"].values())
        lines.append(
            f"| {entry['classifier']} | {entry['fraction']:g} | {entry['arm']} | {tag} | "
            + " | ".join(cells + gains)
            + f" | {n} |"
        )
    return "\n".join(lines) + "\n"


def plot_gain(entries: list[dict], path: Path, metric: str = "accuracy") -> None:
    """Gain (W - W/O) vs training fraction, one panel per classifier, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classifiers = list(dict.fromkeys(e["classifier"] for e in entries))
    figure, axes = plt.subplots(
        1, max(1, len(classifiers)), figsize=(4.2 * max(1, len(classifiers)), 3.4), squeeze=False
    )
    for axis, classifier in zip(axes[0], classifiers):
        arms = dict.fromkeys(
            e["arm"] for e in entries if e["classifier"] == classifier and e["arm"] != BASELINE
        )
        for arm in arms:
            points = [
                (e["fraction"], e["gain"][metric])
                for e in entries
                if e["classifier"] == classifier and e["arm"] == arm and metric in e["gain"]
            ]
            if not points:
                continue
            x = [p[0] for p in points]
            y = [p[1]["mean"] for p in points]
            err = [0.0 if np.isnan(p[1]["half"]) else p[1]["half"] for p in points]
            axis.errorbar(x, y, yerr=err, marker="o", capsize=3, label=arm)
        axis.axhline(0.0, color="grey", linewidth=0.8)
        axis.set_xscale("log")
        fractions = sorted({e["fraction"] for e in entries})
        axis.set_xticks(fractions, [f"{f:g}" for f in fractions])
        axis.minorticks_off()
        axis.set_title(classifier)
        axis.set_xlabel("fraction of the training split")
        axis.set_ylabel(f"{LABELS[metric]} gain (W - W/O)")
        if arms:
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_reports(out: Path, rows: list[dict], order: dict[str, list], settings: dict) -> None:
    """summary.json, summary.md and gain_vs_fraction.png from the rows of results.csv."""
    entries = summarise(rows, order)

    def clean(value: object) -> object:  # JSON has no NaN
        if isinstance(value, float) and np.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    summary = {"settings": settings, "baseline": BASELINE, "entries": entries}
    (out / "summary.json").write_text(json.dumps(clean(summary), indent=2) + "\n")
    (out / "summary.md").write_text(summary_markdown(entries, settings))
    plot_gain(entries, out / "gain_vs_fraction.png")
