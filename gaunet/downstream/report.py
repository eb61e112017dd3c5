"""results.csv -> summary.json, summary.md (laid out like the paper's Table III) and the plot.

W/O is the `none` arm; every other arm is a W row. A gain is the paired per-seed difference
W - W/O of the same classifier and fraction, with its t-interval and paired t-test p-value.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

# the control arm (copies), the ceiling arm (more-real) and the combined suffix, whose rows
# are also compared with classic alone
from gaunet.downstream.arms import COMBINED, COPIES, MORE_REAL
from gaunet.downstream.stats import METRICS, paired_difference, t_interval
from gaunet.io import write_json

BASELINE = "none"
CLASSIC = "classic"
LABELS = {"accuracy": "Acc", "precision": "Pre", "recall": "Rec", "auc": "AUC"}


def _references(arm: str) -> dict[str, str]:
    """The arms a W row is also compared with: `classic` for combined arms, and the `copies`
    control of the same kind (with or without classic) for generator and run arms."""
    references = {"gain_vs_classic": CLASSIC} if arm.endswith(COMBINED) else {}
    if arm not in (BASELINE, CLASSIC) and not arm.startswith(COPIES):
        references["gain_vs_copies"] = COPIES + COMBINED if arm.endswith(COMBINED) else COPIES
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
                    gain = _paired(mine, base) if arm != BASELINE else None
                    if gain:
                        entry["gain"][metric] = gain
                    for name, reference in _references(arm).items():
                        other = values.get((classifier, fraction, reference, metric), {})
                        gain = _paired(mine, other)
                        if gain:
                            entry.setdefault(name, {})[metric] = gain
                if entry["metrics"]:
                    entries.append(entry)
    return entries


RANGE = (0.0, 1.0)  # every metric here (accuracy, macro precision/recall, AUC)
POINTS = 100.0  # gains are shown in percentage points
CLIPPED = "†"


def _nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _interval(
    mean: float, half: float, low: float, high: float, scale: float, digits: int, sign: str = ""
) -> tuple[str, bool]:
    """`mean ± half`, or `mean [low, high]†` with the interval clipped to [low, high] when the
    t-interval passes the metric's range (a symmetric interval over few seeds can)."""

    def number(value: float) -> str:
        return f"{value * scale:{sign}.{digits}f}"

    if mean - half >= low - 1e-12 and mean + half <= high + 1e-12:
        return f"{number(mean)} ± {half * scale:.{digits}f}", False
    bounds = f"[{number(max(low, mean - half))}, {number(min(high, mean + half))}]"
    return f"{number(mean)} {bounds}{CLIPPED}", True


def _cell(stat: dict | None, flags: list[bool]) -> str:
    """A metric's mean ± half-width of its 95 % t-interval, on the metric's scale."""
    if not stat or _nan(stat["mean"]):
        return "-"
    if _nan(stat["half"]):
        return f"{stat['mean']:.3f}"
    text, clipped = _interval(stat["mean"], stat["half"], *RANGE, scale=1.0, digits=3)
    flags.append(clipped)
    return text


def _gain(stat: dict | None, flags: list[bool]) -> str:
    """A paired gain W - W/O in percentage points, ± its 95 % CI, with the paired t-test p."""
    if not stat or _nan(stat["mean"]):
        return "-"
    p = "" if _nan(stat["p"]) else f" (p={stat['p']:.2g})"
    if _nan(stat["half"]):
        return f"{stat['mean'] * POINTS:+.1f} pp{p}"
    width = RANGE[1] - RANGE[0]  # a difference of two metrics lies in [-width, width]
    text, clipped = _interval(stat["mean"], stat["half"], -width, width, POINTS, 1, sign="+")
    flags.append(clipped)
    return f"{text} pp{p}"


def _for_verdict(stat: dict | None) -> dict | None:
    """A gain as the report's `verdict` reads it (summary.json's form: NaN as None)."""
    if stat is None:
        return None
    return {k: None if _nan(v) else v for k, v in stat.items()}


def _accuracy_verdict(entry: dict, key: str = "gain") -> tuple[str, str]:
    """(kind, sentence) of an entry's paired accuracy gain: `key` "gain" (against `none`) or
    "gain_vs_classic" (a combined arm against classic alone)."""
    from gaunet.report.html import verdict

    against = "classic augmentation alone" if key == "gain_vs_classic" else "real images only"
    gain = _for_verdict((entry.get(key) or {}).get("accuracy"))
    return verdict(entry["classifier"], entry["arm"], gain, against=against)


def verdict_lines(entries: list[dict]) -> list[str]:
    """One sentence per W row (and per combined arm against classic alone), from the paired
    accuracy gain: the same function and wording as the demo report's verdicts."""
    lines = []
    for entry in entries:
        if entry["arm"] == BASELINE:
            continue
        keys = ["gain", "gain_vs_classic"] if entry.get("gain_vs_classic") else ["gain"]
        for key in keys:
            lines.append(f"- fraction {entry['fraction']:g}: {_accuracy_verdict(entry, key)[1]}")
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
        cells = [_cell(entry["metrics"].get(m), flags) for m in METRICS]
        gains = [_gain(entry["gain"].get(m), flags) for m in ("accuracy", "auc")]
        n = max(s["n"] for s in entry["metrics"].values())
        lines.append(
            f"| {entry['classifier']} | {entry['fraction']:g} | {entry['arm']} | {tag} | "
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
            f"| {entry['classifier']} | {entry['fraction']:g} | {entry['arm']} | "
            f"{_gain(vs.get('accuracy'), flags)} | {_gain(vs.get('auc'), flags)} | "
            f"{max(v['n'] for v in vs.values())} |"
        )
    return lines


def _ceiling_lines(entries: list[dict], flags: list[bool]) -> list[str]:
    """What new real images (`more-real`) gave: the most a generator's images could give. When
    even they are not a significant gain, no generator comparison can show one either."""
    lines = []
    for entry in entries:
        if not entry["arm"].startswith(MORE_REAL):
            continue
        gains = entry.get(_deciding_key(entry), {})
        if not gains:
            continue
        against = "classic alone" if entry["arm"].endswith(COMBINED) else "none"
        shown = ", ".join(f"{LABELS[m]} {_gain(gains.get(m), flags)}" for m in ("accuracy", "auc"))
        above = [m for m in ("accuracy", "auc") if _low(gains.get(m)) > 0]
        if above:
            judged = (
                f"a significant gain in {' and '.join(LABELS[m] for m in above)}: a generator's "
                "images can at best approach it"
            )
        else:
            judged = (
                "**not significant even for new real images**, so with these seeds and this "
                "test split no generator's images could be shown to help here: add seeds or "
                "test images before reading the generator rows"
            )
        lines.append(
            f"- {entry['classifier']}, fraction {entry['fraction']:g}: `{entry['arm']}` against "
            f"{against}: {shown}; {judged}."
        )
    if not lines:
        return []
    return [
        "",
        "Ceiling (`more-real`: as many extra images as a generator arm adds, but new real "
        "training images left out of the subset):",
        "",
        *lines,
    ]


def _one_generator_note(entries: list[dict], settings: dict) -> list[str]:
    """Intervals over classifier seeds hide the generator's own randomness: say so wherever a
    generator's images are judged."""
    if not _generator_entries(entries):
        return []
    seed = settings.get("subset_seed", 0)
    return [
        "",
        f"Each generator arm is one trained generator on one subset (subset seed {seed}); the "
        "intervals cover classifier seeds only. Retraining the same recipe on another subset of "
        "the same size moved a gain by 2-5 points on BreastMNIST (docs/augmentation.md), so "
        "before relying on a gain, measure it over several subsets: `gaunet benchmark "
        "--subset-seeds 0,1,2` (or `gaunet pool` over folders run with different "
        "`--subset-seed`) gives an interval that includes the generator's own randomness.",
    ]


def _generator_entries(entries: list[dict]) -> list[dict]:
    """The W rows whose images come from a generator (not none, classic, copies, more-real)."""
    controls = (BASELINE, CLASSIC, COPIES, MORE_REAL)
    return [e for e in entries if not e["arm"].removesuffix(COMBINED).startswith(controls)]


def _next_steps(entries: list[dict], settings: dict) -> list[str]:
    """When no generator arm helped (accuracy, p < 0.05: alone against none, combined against
    classic alone), say so and what the measurements in docs/augmentation.md suggest next."""
    generated = _generator_entries(entries)
    if not generated:
        return []
    # the comparison that decides: alone against none, combined against classic alone
    kinds = [_accuracy_verdict(e, _deciding_key(e))[0] for e in generated]
    if "better" in kinds:
        return []
    steps = []
    if "worse" in kinds:
        steps.append("Do not add the images of an arm that hurt.")
    if settings.get("select_snapshot", "last") == "last":
        steps.append(
            "Sample a better snapshot: `--select-snapshot fd-val` (the generator then keeps a "
            "snapshot every tenth of its steps). On BreastMNIST it beat the last snapshot on "
            "top of classic augmentation by +1.2 accuracy and +2.0 AUC points over nine "
            "subsets, though its images added no more than plain copies of the real images "
            "(docs/augmentation.md)."
        )
    ceiling = [e for e in entries if e["arm"].startswith(MORE_REAL)]
    if not ceiling and any(e["fraction"] < 1 for e in generated):
        steps.append(
            "Measure the ceiling: add `more-real,more-real+classic` to `--arms` (new real "
            "training images the subset left out, as many as the generator adds). On "
            "PneumoniaMNIST at 10 % (470 images) even they gave no significant gain, so no "
            "generator could have been shown to help there (docs/augmentation.md)."
        )
    elif ceiling and not any(
        _low(e.get(_deciding_key(e), {}).get(m)) > 0 for e in ceiling for m in ("accuracy", "auc")
    ):
        steps.append(
            "Even new real images (`more-real`) did not help significantly here: no "
            "generator's images can be shown to help with these seeds and this test split. "
            "Add seeds, or judge the generator at a smaller fraction where the ceiling shows."
        )
    # measured for the images alone only
    if not settings.get("gen_init_from") and any("+" not in e["arm"] for e in generated):
        steps.append(
            "Used without classic augmentation: start the generator from one pretrained on a "
            "larger dataset, of your modality if you have one (`--gen-init-from RUN`, RUN "
            "trained with `gaunet train` at the same preset). On BreastMNIST a generator "
            "pretrained on PneumoniaMNIST made the images alone add +1.9 AUC points over nine "
            "subsets (accuracy +0.4, not significant), but nothing on top of classic "
            "augmentation (docs/augmentation.md)."
        )
    steps += [
        "Train the generator longer (`--gen-steps`), or elsewhere on a GPU and pass its run "
        "folder as an arm (`--arms none,RUN,classic,RUN+classic`): at the CPU budgets "
        "measured (2,000 steps at 28 px, 1,000 at 64 px) no recipe's images helped alone on "
        "three datasets (docs/augmentation.md).",
    ]
    classic = [e for e in entries if e["arm"] == CLASSIC]
    if any(_accuracy_verdict(e)[0] == "better" for e in classic):
        steps.append("Classic augmentation alone helped here: use it meanwhile.")
    elif not classic:
        steps.append(
            "Compare with classic augmentation, the bar any generator has to clear: "
            "`--arms none,classic,gaunet,gaunet+classic`."
        )
    return [
        "",
        "No generator arm improved accuracy significantly (alone against real images only, "
        "or on top of classic augmentation against classic alone). What to try next:",
        "",
        *[f"- {step}" for step in steps],
    ]


# why a generator's gain needs the copies control (measured: docs/augmentation.md)
COPIES_EVIDENCE = (
    "On BreastMNIST, copies on top of classic augmentation gained +0.9 accuracy and +1.5 AUC "
    "points over classic alone (nine subsets), as much as the best GAU-Net images "
    "(docs/augmentation.md)"
)


def uncontrolled_gains(entries: list[dict]) -> list[str]:
    """Generator arms that helped by their deciding comparison (alone against none, combined
    against classic alone) with no `copies` control compared with them: extra images also
    mean more optimiser steps per epoch, and plain copies of the real images gained as much."""
    return list(
        dict.fromkeys(
            e["arm"]
            for e in _generator_entries(entries)
            if not e.get("gain_vs_copies") and _accuracy_verdict(e, _deciding_key(e))[0] == "better"
        )
    )


def _copies_caution(entries: list[dict]) -> list[str]:
    """uncontrolled_gains, said in summary.md with the arms that would settle them."""
    helped = uncontrolled_gains(entries)
    if not helped:
        return []
    arms = ", ".join(f"`{arm}`" for arm in helped)
    return [
        "",
        f"Before relying on the gain of {arms}: add the `copies` control (`--arms "
        "...,copies,copies+classic`), the same number of plain copies of the real images. "
        f"{COPIES_EVIDENCE}: a gain over `none` or `classic` alone is not yet a gain of the "
        "generated images.",
    ]


def _deciding_key(entry: dict) -> str:
    """The comparison that judges an arm: alone against none ("gain"), a combined arm
    (`X+classic`) against classic alone ("gain_vs_classic")."""
    return "gain_vs_classic" if entry["arm"].endswith(COMBINED) else "gain"


def _low(stat: dict | None) -> float:
    """Lower end of a gain's 95 % interval (-inf when unknown)."""
    if not stat or _nan(stat["mean"]) or _nan(stat["half"]):
        return float("-inf")
    return stat["mean"] - stat["half"]


def _detectable_table(entries: list[dict]) -> list[str]:
    """The smallest gain each W row could detect; empty when no row has a gain."""
    detectable = [e for e in entries if e["gain"]]
    if not detectable:
        return []
    lines = [
        "",
        "Smallest gain each row could detect, in percentage points (80 % power, 95 % "
        "level, from its spread over seeds; a true gain below it is likely to come out not "
        "significant):",
        "",
        "| Classifier | Fraction | Arm | Acc (pp) | AUC (pp) |",
        "|---|---|---|---|---|",
    ]
    for entry in detectable:
        mde = [entry["gain"].get(m, {}).get("mde", float("nan")) for m in ("accuracy", "auc")]
        text = ["-" if _nan(v) else f"{v * POINTS:.1f}" for v in mde]
        lines.append(
            f"| {entry['classifier']} | {entry['fraction']:g} | {entry['arm']} | "
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
        "",
        *_main_table(entries, flags),
        *_reference_table(
            entries, flags, "gain_vs_classic", "Combined arms against `classic` alone"
        ),
        *_reference_table(
            entries,
            flags,
            "gain_vs_copies",
            "Generator (and `more-real`) arms against the `copies` control (the same count "
            "of plain copies of the real images, same weight and smoothing): what the "
            "generated images add",
        ),
    ]
    ceiling = _ceiling_lines(entries, flags)  # before the note, which its intervals may need
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
        lines += [
            "",
            f"Verdicts (accuracy, paired over {seeds} seed{'s' if seeds != 1 else ''}; p < 0.05 "
            "is needed for better or worse):",
            "",
            *verdicts,
        ]
    lines += _next_steps(entries, settings)
    lines += _copies_caution(entries)
    lines += ceiling
    lines += snapshot_lines(selections or [])
    lines += _one_generator_note(entries, settings)
    lines += _detectable_table(entries)
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


def without_nan(value: object) -> object:
    """The same nested JSON value with NaN as None (JSON has no NaN)."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nan(v) for v in value]
    return value


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
    write_json(out / "summary.json", without_nan(summary))
    (out / "summary.md").write_text(summary_markdown(entries, settings, selections))
    plot_gain(entries, out / "gain_vs_fraction.png")
