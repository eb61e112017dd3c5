"""results.csv -> summary.json, summary.md (laid out like the paper's Table III) and the plot.

W/O is the `none` arm; every other arm is a W row. A gain is the paired per-seed difference
W - W/O of the same classifier and fraction, with its t-interval and paired t-test p-value.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from gaunet.downstream.advice import (
    ceiling_lines,
    copies_caution,
    next_steps,
    one_generator_note,
    typical_caution,
)
from gaunet.downstream.arms import COMBINED, COPIES, TYPICAL_COPIES
from gaunet.downstream.gains import (  # noqa: F401 - CLIPPED: the tables' mark, read by tests
    BASELINE,
    CLASSIC,
    CLIPPED,
    LABELS,
    POINTS,
    accuracy_verdict,
    deciding_key,
    gain_text,
    is_generator_arm,
    is_nan,
    metric_cell,
)
from gaunet.downstream.stats import METRICS, paired_difference, t_interval
from gaunet.io import finite_values, write_atomic, write_json


def _references(arm: str) -> dict[str, str]:
    """The arms a W row is also compared with: `classic` for combined arms, and the `copies`
    control of the same kind (with or without classic) for generator and run arms."""
    references = {"gain_vs_classic": CLASSIC} if arm.endswith(COMBINED) else {}
    suffix = COMBINED if arm.endswith(COMBINED) else ""
    if arm not in (BASELINE, CLASSIC) and not arm.startswith(COPIES):
        references["gain_vs_copies"] = COPIES + suffix
    if is_generator_arm(arm):
        references["gain_vs_typical_copies"] = TYPICAL_COPIES + suffix  # where it ran
    return references


def _paired(mine: dict[int, float], other: dict[int, float]) -> dict | None:
    seeds = sorted(set(mine) & set(other))
    if not seeds:
        return None
    return paired_difference(
        np.asarray([mine[s] for s in seeds]), np.asarray([other[s] for s in seeds])
    )


def summarise(rows: list[dict], order: dict[str, list]) -> list[dict]:
    """One entry per classifier x fraction x arm: metric t-intervals and gains over `none`
    (and over `classic` / the `copies` control where those arms ran)."""
    values: dict[tuple, dict[int, float]] = defaultdict(dict)
    seconds: dict[tuple, dict[int, float]] = defaultdict(dict)  # a cell's time, on each metric row
    for row in rows:
        key = (row["classifier"], float(row["fraction"]), row["arm"], row["metric"])
        values[key][int(row["seed"])] = float(row["value"])
        if row.get("seconds") not in (None, ""):  # older folders may lack it
            seconds[key[:3]][int(row["seed"])] = float(row["seconds"])
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
                    gain = _paired(mine, base) if arm != BASELINE else None
                    if gain:
                        entry["gain"][metric] = gain
                    for name, reference in _references(arm).items():
                        other = values.get((classifier, fraction, reference, metric), {})
                        gain = _paired(mine, other)
                        if gain:
                            entry.setdefault(name, {})[metric] = gain
                times = list(seconds.get((classifier, fraction, arm), {}).values())
                if times:
                    entry["cell_seconds"] = {
                        "cells": len(times),
                        "median": float(np.median(times)),
                        "total": float(np.sum(times)),
                    }
                if entry["metrics"]:
                    entries.append(entry)
    return entries


def md_cell(text: str) -> str:
    """A name as one Markdown table cell: a `|` in it (a run arm is named after its folder,
    `run:a|b`) would split the cell and shift every later column."""
    return str(text).replace("|", r"\|")


def cell_time_lines(entries: list[dict]) -> list[str]:
    """What the cells cost, so a user can plan more seeds or arms: per row, the median and
    total seconds of its cells (training and testing one classifier, results.csv's
    `seconds`). Cells run side by side (`--jobs`) each count their own time."""
    timed = [e for e in entries if e.get("cell_seconds")]
    if not timed:
        return []
    cells = sum(e["cell_seconds"]["cells"] for e in timed)
    total = sum(e["cell_seconds"]["total"] for e in timed)
    lines = [
        "",
        f"Time per cell (training and testing one classifier on one seed): {cells} cells, "
        f"{total / 60:.1f} min in all (cells run side by side each count their own time).",
        "",
        "| Classifier | Fraction | Arm | Cells | Median (s) | Total (min) |",
        "|---|---|---|---|---|---|",
    ]
    for e in timed:
        time = e["cell_seconds"]
        lines.append(
            f"| {md_cell(e['classifier'])} | {e['fraction']:g} | {md_cell(e['arm'])} | {time['cells']} | "
            f"{time['median']:.1f} | {time['total'] / 60:.1f} |"
        )
    return lines


def verdict_lines(entries: list[dict]) -> list[str]:
    """One sentence per W row (and per combined arm against classic alone, and per generator
    arm against its `copies` control), from the paired accuracy gain: the same function and
    wording as the demo report's verdicts."""
    lines = []
    for entry in entries:
        if entry["arm"] == BASELINE:
            continue
        keys = ["gain", "gain_vs_classic"] if entry.get("gain_vs_classic") else ["gain"]
        if is_generator_arm(entry["arm"]) and entry.get("gain_vs_copies"):
            keys.append("gain_vs_copies")
        for key in keys:
            lines.append(f"- fraction {entry['fraction']:g}: {accuracy_verdict(entry, key)[1]}")
    return lines


def _main_table(entries: list[dict], flags: list[bool]) -> list[str]:
    """Table III: per classifier and fraction, the W/O row and a W row per arm."""
    lines = [
        "| Classifier | Fraction | Arm | | Acc | Pre | Rec | AUC | Gain Acc (pp) | Gain AUC (pp) "
        "| n |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries:
        tag = "W/O" if entry["arm"] == BASELINE else "W"
        cells = [metric_cell(entry["metrics"].get(m), flags) for m in METRICS]
        gains = [gain_text(entry["gain"].get(m), flags) for m in ("accuracy", "auc")]
        n = max(s["n"] for s in entry["metrics"].values())
        lines.append(
            f"| {md_cell(entry['classifier'])} | {entry['fraction']:g} | {md_cell(entry['arm'])} | {tag} | "
            + " | ".join(cells + gains)
            + f" | {n} |"
        )
    return lines


def _reference_table(entries: list[dict], flags: list[bool], key: str, against: str) -> list[str]:
    """W rows against another arm (`classic`, or the `copies` control); empty without them."""
    compared = [e for e in entries if e.get(key)]
    if not compared:
        return []
    lines = [
        "",
        f"{against} (paired per seed, percentage points):",
        "",
        "| Classifier | Fraction | Arm | Gain Acc (pp) | Gain AUC (pp) | n |",
        "|---|---|---|---|---|---|",
    ]
    for entry in compared:
        vs = entry[key]
        lines.append(
            f"| {md_cell(entry['classifier'])} | {entry['fraction']:g} | {md_cell(entry['arm'])} | "
            f"{gain_text(vs.get('accuracy'), flags)} | {gain_text(vs.get('auc'), flags)} | "
            f"{max(v['n'] for v in vs.values())} |"
        )
    return lines


def _detectable_table(entries: list[dict]) -> list[str]:
    """The smallest gain each W row could detect, in the comparison judging it; [] if none."""
    detectable = [e for e in entries if e.get(deciding_key(e))]
    if not detectable:
        return []
    lines = [
        "",
        "Smallest gain each row could detect, in percentage points (80 % power, 95 % level, from "
        "its spread over seeds; a true gain below it is likely to come out not significant):",
        "",
        "| Classifier | Fraction | Arm | Against | Acc (pp) | AUC (pp) |",
        "|---|---|---|---|---|---|",
    ]
    for entry in detectable:
        key = deciding_key(entry)
        mde = [entry[key].get(m, {}).get("mde", float("nan")) for m in ("accuracy", "auc")]
        text = [CLASSIC if key == "gain_vs_classic" else BASELINE]
        text += ["-" if is_nan(v) else f"{v * POINTS:.1f}" for v in mde]
        lines.append(
            f"| {md_cell(entry['classifier'])} | {entry['fraction']:g} | {md_cell(entry['arm'])} | "
            + " | ".join(text)
            + " |"
        )
    return lines


def snapshot_lines(selections: list[dict]) -> list[str]:
    """Which snapshot each generator arm sampled (--select-snapshot), against its last one."""
    lines = []
    for record in selections:
        chosen, snapshots = record["chosen"], record["snapshots"]
        key = "cas_val_auc" if record["criterion"] == "cas-val" else "fd_val"
        last = max(snapshots, key=lambda s: s["step"])
        real = record.get("real", {}).get(key)  # absent from records of older versions
        yardstick = "" if real is None else f"; the real training images {real:.3g}"
        lines.append(
            f"- `{record['name']}`: step {chosen['step']} of {last['step']} "
            f"({key} {chosen[key]:.3g}; the last snapshot {last[key]:.3g}{yardstick}; "
            f"{len(snapshots)} compared)"
        )
    if not lines:
        return []
    yardstick = []
    if any("real" in record for record in selections):
        yardstick = [
            "",
            "The real training images' score is the yardstick: the same measurement made on "
            "the images the generator learnt from. FD features are learnt from those images, "
            "which favours them; a snapshot that teaches a classifier less than they do "
            "(cas_val_auc) adds no class evidence of its own.",
        ]
    return [
        "",
        "Generator images come from the snapshot `--select-snapshot "
        f"{selections[0]['criterion']}` chose among those of the second half of training "
        "(scores in generators/*-selection.json):",
        "",
        *lines,
        *yardstick,
    ]


def _protocol_line(settings: dict) -> list[str]:
    """The header's line naming `--protocol` and the values the command line changed."""
    name, changes = settings.get("protocol"), settings.get("protocol_changes")
    if not name:
        return []
    if changes is None:  # a folder of an older version, which did not record them
        return ["", f"Protocol: `{name}` (options on the command line override its values)."]
    return ["", f"Protocol: `{name}`; changed on the command line: {'; '.join(changes) or 'none'}."]


def summary_markdown(
    entries: list[dict], settings: dict, selections: list[dict] | None = None
) -> str:
    """Table III layout: per classifier and fraction, a W/O row (none) and a W row per arm."""
    flags: list[bool] = []  # set by every interval clipped to its range, for the note below
    lines = [
        "# Downstream benchmark: with (W) and without (W/O) extra training images",
        "",
        f"Data: `{settings['data']}` at {settings['size']} px; seeds: {settings['seeds']}; "
        "metrics (0-1): mean ± half-width of the 95 % t-interval over seeds. Gain: paired "
        "W - W/O per seed in percentage points (pp), ± 95 % CI, paired t-test p. Validation "
        "and test images are real only.",
        *_protocol_line(settings),
        "",
        *_main_table(entries, flags),
        *_reference_table(
            entries, flags, "gain_vs_classic", "Combined arms against `classic` alone"
        ),
        *_reference_table(
            entries,
            flags,
            "gain_vs_copies",
            "Generator arms (and the `more-real` and `typical-copies` arms, where run) against "
            "the `copies` control (the same count of plain copies of the real images, same "
            "weight and smoothing): what the generated, new or chosen images add",
        ),
        *_reference_table(
            entries,
            flags,
            "gain_vs_typical_copies",
            "Generator arms against `typical-copies` (what --filter-pool keeps from copies of "
            "the real images: the ones its scorer is surest of): more than choosing typical "
            "real images",
        ),
    ]
    ceiling = ceiling_lines(entries, flags)  # before the note, which its intervals may need
    if any(flags):
        lines += [
            "",
            f"{CLIPPED} The t-interval passed the metric's range (0-1, or ±100 pp for a gain) and "
            "is shown as [low, high] clipped to it: with few seeds a symmetric interval is only "
            "a rough guide.",
        ]
    verdicts = verdict_lines(entries)
    if verdicts:
        seeds = settings["seeds"]
        keys = ("gain", "gain_vs_classic", "gain_vs_copies")  # the verdicts' comparisons
        paired = {(e.get(k) or {}).get("accuracy", {}).get("n") for e in entries for k in keys}
        fewest = min(paired - {None}, default=seeds)  # a folder whose cells have not all finished
        over = f"{seeds} seed{'s' if seeds != 1 else ''}"
        over = over if fewest >= seeds else f"as few as {fewest} of the {over}"
        lines += [
            "",
            f"Verdicts (accuracy, paired over {over}; p < 0.05 is needed for better or worse):",
            "",
            *verdicts,
        ]
    lines += next_steps(entries, settings)
    lines += copies_caution(entries)
    lines += typical_caution(entries, settings)
    lines += ceiling
    lines += snapshot_lines(selections or [])
    lines += one_generator_note(entries, settings)
    lines += _detectable_table(entries)
    lines += cell_time_lines(entries)
    return "\n".join(lines) + "\n"


def plot_gain(entries: list[dict], path: Path, metric: str = "accuracy") -> None:
    """Gain (W - W/O) vs training fraction, one panel per classifier, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gaunet.report.curves import literal

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
            axis.errorbar(x, y, yerr=err, marker="o", capsize=3, label=literal(arm))
        axis.axhline(0.0, color="grey", linewidth=0.8)
        axis.set_xscale("log")
        fractions = sorted({e["fraction"] for e in entries})
        axis.set_xticks(fractions, [f"{f:g}" for f in fractions])
        axis.minorticks_off()
        axis.set_title(literal(classifier))
        axis.set_xlabel("fraction of the training split")
        axis.set_ylabel(f"{LABELS[metric]} gain (W - W/O)")
        if arms:
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_reports(
    out: Path,
    rows: list[dict],
    order: dict[str, list],
    settings: dict,
    selections: list[dict] | None = None,
) -> None:
    """summary.json, summary.md and gain_vs_fraction.png from the rows of results.csv;
    `selections`: the snapshot records of the generator arms (each with its `name`)."""
    entries = summarise(rows, order)
    summary = {"settings": settings, "baseline": BASELINE, "entries": entries}
    write_json(out / "summary.json", finite_values(summary))
    write_atomic(
        out / "summary.md", summary_markdown(entries, settings, selections).encode(), False
    )
    plot_gain(entries, out / "gain_vs_fraction.png")
