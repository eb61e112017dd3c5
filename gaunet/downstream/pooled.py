"""Gains pooled over subset seeds: is a generator's gain a property of the recipe, or of one draw?

A benchmark folder holds one subset and one trained generator, so its intervals cover classifier
seeds only. On BreastMNIST, retraining the same recipe on another subset of the same size moved
a gain by 2-5 points (docs/augmentation.md), and two gains at p < 0.05 failed to replicate. Here
each folder (one per subset seed) gives one number per comparison, d_s = its mean paired gain
over classifier seeds. The pooled gain is the mean of the d_s, its interval the Student-t
interval over them (k - 1 degrees of freedom for k subsets) and p the one-sample t-test of the
d_s against 0. With the same classifier seeds in every folder, the spread of the d_s holds both
the generator's and the classifier seeds' randomness; with 2 subsets the interval is wide
(t = 12.7), as the evidence is. The validation and test images are the same in every folder
(one split), so the interval does not cover the sampling of the test set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from gaunet.downstream.benchmark import (
    PIN_DEFAULTS,
    PINNED,
    RUN_FOLDER_KEYS,
    generator_settings,
)
from gaunet.downstream.report import md_cell
from gaunet.downstream.stats import METRICS, paired_difference
from gaunet.errors import GaunetError
from gaunet.io import finite_values, write_atomic, write_json
from gaunet.locking import folder_lock
from gaunet.report.html import p_text

GAIN_KEYS = {
    "gain": "vs none",
    "gain_vs_classic": "vs classic",
    "gain_vs_copies": "vs copies",
    "gain_vs_typical_copies": "vs typical copies",
}
# the settings that change results (benchmark.json's pinned ones) must match, except this one;
# arms, classifiers, fractions and seeds may differ (the rows every folder has are pooled)
VARYING = ("subset_seed",)
POINTS = 100.0


def check_poolable(folders: list[Path], settings: list[dict]) -> None:
    """Folders pool only if they differ in the subset seed alone."""
    if len(folders) < 2:
        raise GaunetError("pooling needs at least 2 benchmark folders (one per subset seed)")
    seeds = [s.get("subset_seed", 0) for s in settings]
    if len(set(seeds)) != len(seeds):
        raise GaunetError(
            "pooled folders must have different subset seeds, got "
            + ", ".join(f"{f}: {s}" for f, s in zip(folders, seeds))
        )
    settings = [{**PIN_DEFAULTS, **s} for s in settings]  # folders older than a setting
    first = settings[0]
    snapshots_matter = first.get("select_snapshot", "last") != "last"
    for folder, other in zip(folders[1:], settings[1:]):
        for key in sorted((set(first) | set(other)) & set(PINNED)):
            if key in VARYING:
                continue
            a, b = first.get(key), other.get(key)
            if key == "gen_config":  # by the settings each folder recorded, else resolved now
                a, b = (_recorded_config(x, snapshots_matter) for x in (first, other))
                if isinstance(a, dict) and isinstance(b, dict):
                    a, b = ({k: x[k] for k in a.keys() & b.keys()} for x in (a, b))
            if a != b:
                raise GaunetError(
                    f"{folder}: setting {key!r} is {other.get(key)!r}, but {first.get(key)!r} "
                    f"in {folders[0]}; only the subset seed may differ between pooled folders"
                )


def pooled_stat(per_subset: list[float]) -> dict:
    """The per-subset mean gains against 0: the same t-interval, p and detectable gain as a
    paired difference over seeds, with subsets as the unit."""
    values = np.asarray(per_subset, dtype=np.float64)
    result = paired_difference(values, np.zeros_like(values))
    result["per_subset"] = [float(v) for v in values]
    return result


def _recorded_config(settings: dict, snapshots_matter: bool) -> Any:
    """A folder's generator config as the settings it recorded when it ran (a file edited
    since, under the same name, is not what trained it); older folders: resolved now. Keys
    a gaunet of one folder has and the other's lacks are not compared."""
    recorded = settings.get("gen_config_resolved")
    if not isinstance(recorded, dict):
        return generator_settings(settings.get("gen_config"), snapshots_matter)
    return {k: v for k, v in recorded.items() if snapshots_matter or k not in RUN_FOLDER_KEYS}


def _keyed(summaries: list[dict]) -> list[dict]:
    return [
        {(e["classifier"], float(e["fraction"]), e["arm"]): e for e in s["entries"]}
        for s in summaries
    ]


def unpooled(summaries: list[dict]) -> list[tuple]:
    """(classifier, fraction, arm) rows some folders have and others lack: not pooled."""
    keyed = _keyed(summaries)
    every = set.intersection(*(set(k) for k in keyed))
    return sorted(set().union(*(set(k) for k in keyed)) - every)


def pool_entries(summaries: list[dict]) -> list[dict]:
    """One entry per classifier x fraction x arm present in every summary, with each gain key's
    per-metric pooled statistics (see the module docstring)."""
    keyed = _keyed(summaries)
    pooled = []
    for key in keyed[0]:
        if not all(key in k for k in keyed[1:]):
            continue
        entries = [k[key] for k in keyed]
        out: dict[str, Any] = {"classifier": key[0], "fraction": key[1], "arm": key[2]}
        for gain_key in GAIN_KEYS:
            for metric in METRICS:
                means = [((e.get(gain_key) or {}).get(metric) or {}).get("mean") for e in entries]
                if any(m is None for m in means):
                    if any(m is not None for m in means):  # some subsets have it: say so
                        out.setdefault("unpooled", []).append(f"{GAIN_KEYS[gain_key]} {metric}")
                    continue
                out.setdefault(gain_key, {})[metric] = pooled_stat(means)
        if any(k in out for k in GAIN_KEYS):
            pooled.append(out)
    return pooled


def difference_summaries(summaries: list[dict], others: list[dict]) -> list[dict]:
    """Per subset, the mean gains of `summaries` minus those of `others` (the same subset, e.g.
    the same generators' last snapshot): pooled, the effect of what differs between them."""
    differences = []
    for mine, theirs in zip(summaries, others):
        keyed = _keyed([theirs])[0]
        entries = []
        for entry in mine["entries"]:
            other = keyed.get((entry["classifier"], float(entry["fraction"]), entry["arm"]))
            if other is None:
                continue
            difference = {k: entry[k] for k in ("classifier", "fraction", "arm")}
            for gain_key in GAIN_KEYS:
                for metric, stat in (entry.get(gain_key) or {}).items():
                    base = ((other.get(gain_key) or {}).get(metric) or {}).get("mean")
                    if stat.get("mean") is not None and base is not None:
                        change = {"mean": stat["mean"] - base}
                        difference.setdefault(gain_key, {})[metric] = change
            entries.append(difference)
        differences.append({"settings": mine.get("settings", {}), "entries": entries})
    return differences


def _points(stat: dict) -> str:
    mean, half = POINTS * stat["mean"], POINTS * stat["half"]
    if not np.isfinite(half):
        return f"{mean:+.1f}"
    p = "" if not np.isfinite(stat["p"]) else f" p={p_text(stat['p'])}"
    return f"{mean:+.1f} [{mean - half:+.1f}, {mean + half:+.1f}]{p}"


def verdict(stat: dict, what: str) -> str:
    """A sentence on one pooled gain that says what the subsets support."""
    low, high = stat["mean"] - stat["half"], stat["mean"] + stat["half"]
    k = stat["n"]
    if not np.isfinite(stat["half"]) and k < 2:
        return f"{what}: one subset only; nothing about the recipe can be said."
    if not np.isfinite(stat["half"]):
        return (
            f"{what}: the {k} subsets gave the same gain, so they give no interval; "
            "nothing is shown (add subsets)."
        )
    signs = {np.sign(v) for v in stat["per_subset"] if v != 0}
    mixed = "; the subsets disagree in sign" if len(signs) > 1 else ""
    if low > 0:
        return f"{what}: a gain over the {k} subsets (interval over subsets above 0{mixed})."
    if high < 0:
        return f"{what}: a loss over the {k} subsets (interval over subsets below 0{mixed})."
    return f"{what}: not shown over the {k} subsets (interval includes 0{mixed})."


def _seed_note(seeds: list[int], counts: list, against: bool) -> str:
    """A sentence where the folders (or a folder and its --against one) ran different numbers
    of classifier seeds, which the pooled numbers would otherwise hide; else ""."""
    if len({str(n) for n in counts}) < 2 and not any(" vs " in str(n) for n in counts):
        return ""
    listed = ", ".join(f"subset {s}: {n}" for s, n in zip(seeds, counts))
    pair = ", these folders vs the --against ones" if against else ""
    unpaired = ", and a difference of two means over different seeds is not paired by seed"
    return (
        f" The folders ran different numbers of classifier seeds ({listed}{pair}); each "
        "subset's mean counts the same in the pooled gain however many seeds it rests on"
        + (unpaired if against else "")
        + "."
    )


def pooled_markdown(
    entries: list[dict],
    folders: list[Path],
    seeds: list[int],
    missing: list[tuple] = (),
    against: list[Path] = (),
    seed_counts: list = (),
    unfinished: list[Path] = (),
) -> str:
    difference = (
        [
            "Each number is a difference: the gain in these folders minus the gain in "
            + ", ".join(f"`{f}`" for f in against)
            + ", subset by subset.",
            "",
        ]
        if against
        else []
    )
    lines = [
        "# Gains pooled over subset seeds" + (" (differences)" if against else ""),
        "",
        *difference,
        f"{len(folders)} benchmark folders, subset seeds {', '.join(map(str, seeds))}: "
        + ", ".join(f"`{f}`" for f in folders)
        + ". Each subset gives its mean paired gain over classifier seeds; the pooled gain is "
        "their mean, in percentage points, with the 95 % Student-t interval over subsets "
        f"(df = {len(folders) - 1}) and the one-sample t-test p. This interval includes the "
        "generator's own randomness, which one folder's interval does not.",
        "",
        "| Classifier | Fraction | Arm | Compared | Metric | per subset (pp) | pooled (pp) |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for e in entries:
        for gain_key, label in GAIN_KEYS.items():
            for metric in ("accuracy", "auc"):
                stat = e.get(gain_key, {}).get(metric)
                if not stat:
                    continue
                per = ", ".join(f"{POINTS * v:+.1f}" for v in stat["per_subset"])
                names = f"| {md_cell(e['classifier'])} | {e['fraction']:g} | {md_cell(e['arm'])} |"
                lines.append(f"{names} {label} | {metric} | {per} | {_points(stat)} |")
                what = f"{e['classifier']} f={e['fraction']:g} {e['arm']} {label} ({metric})"
                verdicts.append("- " + verdict(stat, what))
    k = len(folders)
    advice = (
        f"With {k} subsets the interval uses t = {scipy_stats.t.ppf(0.975, k - 1):.1f}; with "
        f"{2 * k} it would use {scipy_stats.t.ppf(0.975, 2 * k - 1):.1f}. A gain seen on one "
        "subset alone is not evidence for the recipe: add subset seeds (`gaunet benchmark "
        "--subset-seeds`) before relying on it."
    )
    if missing:
        rows = "; ".join(f"{c} f={f:g} {a}" for c, f, a in missing)
        advice += f" Not pooled (absent from some folders): {rows}."
    partial = [
        f"{e['classifier']} f={e['fraction']:g} {e['arm']} {what}"
        for e in entries
        for what in e.get("unpooled", [])
    ]
    if unfinished:
        advice += (
            " Unfinished: "
            + ", ".join(f"`{f}`" for f in unfinished)
            + " began a later run with other settings (benchmark.json) that has not finished;"
            " the numbers pooled are of the earlier run's summary.json. Finish it "
            "(`gaunet benchmark --out` again) to pool what it now holds."
        )
    if partial:
        advice += f" Not pooled (no mean gain in some folders): {'; '.join(partial)}."
    advice += _seed_note(seeds, seed_counts, bool(against))
    return "\n".join(lines + ["", "Verdicts:", "", *verdicts, "", advice]) + "\n"


def _is_summary(summary: Any) -> bool:
    """Whether `summary` has the shape pooling reads: settings and keyed entries."""
    if not isinstance(summary, dict) or not isinstance(summary.get("settings", {}), dict):
        return False
    entries = summary.get("entries")
    keys = ("classifier", "fraction", "arm")
    return isinstance(entries, list) and all(
        isinstance(e, dict) and all(k in e for k in keys) for e in entries
    )


def _read_summaries(folders: list[Path]) -> list[dict]:
    summaries = []
    for folder in folders:
        path = folder / "summary.json"
        if not path.is_file():
            raise GaunetError(f"{path}: missing; run `gaunet benchmark --out {folder}` first")
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise GaunetError(f"{path}: unreadable ({error})") from None
        if not _is_summary(summary):
            raise GaunetError(
                f"{path}: not the summary.json of a `gaunet benchmark` folder (no 'entries' of "
                "classifier, fraction and arm)"
            )
        summaries.append(summary)
    check_poolable(folders, [s.get("settings", {}) for s in summaries])
    return summaries


def _unfinished(folders: list[Path], summaries: list[dict]) -> list[Path]:
    """Folders whose benchmark.json differs from the settings their summary.json was made
    with: a later run (more seeds, arms or fractions) began there and has not finished, so the
    summary pooled is of the earlier run."""
    stale = []
    for folder, summary in zip(folders, summaries):
        try:
            pinned = json.loads((folder / "benchmark.json").read_text())
        except (OSError, ValueError):  # absent (a summary alone) or unreadable: nothing to say
            continue
        if pinned != summary.get("settings", {}):
            stale.append(folder)
    return stale


def _check_same_split(
    folders: list[Path], against: list[Path], summaries: list[dict], others: list[dict]
) -> None:
    """A folder and its --against folder must hold the same images in the same split (their
    split.csv files, else the data and split seed they record): otherwise each subset's
    difference compares two different training sets, and the pooled numbers look like a
    lever's effect. Any other setting may differ: it is the lever."""
    for folder, other, mine, theirs in zip(folders, against, summaries, others):
        splits = [f / "split.csv" for f in (folder, other)]
        if all(path.is_file() for path in splits):
            same = splits[0].read_bytes() == splits[1].read_bytes()
            what = "split.csv"
        else:
            keys = ("data", "split_seed")
            mine, theirs = mine.get("settings", {}), theirs.get("settings", {})
            same = all(mine.get(k) == theirs.get(k) for k in keys)
            what = "data and split seed"
        if not same:
            raise GaunetError(
                f"--against {other}: its {what} differs from {folder}'s, so the two hold "
                "different images or splits and their difference is no lever's effect; give "
                "folders of the same data, split seed and subset seed"
            )


def write_pooled(out: Path, folders: list[Path], against: list[Path] | None = None) -> Path:
    """OUT/pooled.json and OUT/pooled.md from finished benchmark folders; returns pooled.md.
    With `against` (one folder per subset, in the same subset-seed order), the pooled numbers
    are the per-subset differences folders minus against."""
    folders = [Path(f) for f in folders]
    against = [Path(f) for f in against or []]
    if against and len(against) != len(folders):  # before either is read: the plain count
        raise GaunetError(
            f"--against gives {len(against)} folders for {len(folders)} --benchmarks folders: "
            "give one per pooled folder, in the same subset-seed order"
        )
    summaries = _read_summaries(folders)
    seeds = [s.get("settings", {}).get("subset_seed", 0) for s in summaries]
    # classifier seeds per folder (with --against, "10 vs 5" where a pair's differ)
    counts: list = [s.get("settings", {}).get("seeds") for s in summaries]
    missing = unpooled(summaries)
    unfinished = _unfinished(folders, summaries)
    if against:
        for folder, other in zip(folders, against):
            if folder.resolve() == other.resolve():
                raise GaunetError(
                    f"--against {other} is the --benchmarks folder it is paired with: its "
                    "differences are all 0; give the folders of the other setting"
                )
        others = _read_summaries(against)
        unfinished += _unfinished(against, others)
        missing = unpooled(summaries + others)  # rows of one side only are named too
        theirs = [s.get("settings", {}).get("seeds") for s in others]
        counts = [a if a == b else f"{a} vs {b}" for a, b in zip(counts, theirs)]
        their_seeds = [s.get("settings", {}).get("subset_seed", 0) for s in others]
        if their_seeds != seeds:
            raise GaunetError(
                f"--against folders have subset seeds {their_seeds}, but {seeds} are pooled: "
                "give one per pooled folder, in the same order"
            )
        _check_same_split(folders, against, summaries, others)
        summaries = difference_summaries(summaries, others)
    entries = pool_entries(summaries)
    record = {
        "folders": [str(f) for f in folders],
        "against": [str(f) for f in against],
        "subset_seeds": seeds,
        "classifier_seeds": counts,
        "unfinished": [str(f) for f in unfinished],
        "entries": entries,
    }
    text = pooled_markdown(entries, folders, seeds, missing, against, counts, unfinished)
    with folder_lock(out, "pool") as out:  # made here; a second writer into `out` is refused
        write_json(out / "pooled.json", finite_values(record))
        write_atomic(out / "pooled.md", text.encode(), durable=False)
    return out / "pooled.md"
