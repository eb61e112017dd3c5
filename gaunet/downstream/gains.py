"""How a benchmark gain is written and judged: the cells and gains of summary.md's tables (with
their intervals clipped to the metric's range), the accuracy verdict of a row, and which
comparison decides an arm. Shared by the tables (report.py) and the advice (advice.py)."""

from __future__ import annotations

import numpy as np

from gaunet.downstream.arms import COMBINED, COPIES, MORE_REAL, TYPICAL_COPIES
from gaunet.report.html import p_text

BASELINE = "none"
CLASSIC = "classic"
LABELS = {"accuracy": "Acc", "precision": "Pre", "recall": "Rec", "auc": "AUC"}


RANGE = (0.0, 1.0)  # every metric here (accuracy, macro precision/recall, AUC)
POINTS = 100.0  # gains are shown in percentage points
CLIPPED = "†"


def is_nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def interval_text(
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


def metric_cell(stat: dict | None, flags: list[bool]) -> str:
    """A metric's mean ± half-width of its 95 % t-interval, on the metric's scale."""
    if not stat or is_nan(stat["mean"]):
        return "-"
    if is_nan(stat["half"]):
        return f"{stat['mean']:.3f}"
    text, clipped = interval_text(stat["mean"], stat["half"], *RANGE, scale=1.0, digits=3)
    flags.append(clipped)
    return text


def gain_text(stat: dict | None, flags: list[bool]) -> str:
    """A paired gain W - W/O in percentage points, ± its 95 % CI, with the paired t-test p."""
    if not stat or is_nan(stat["mean"]):
        return "-"
    p = "" if is_nan(stat["p"]) else f" (p={p_text(stat['p'])})"
    if is_nan(stat["half"]):
        return f"{stat['mean'] * POINTS:+.1f} pp{p}"
    width = RANGE[1] - RANGE[0]  # a difference of two metrics lies in [-width, width]
    text, clipped = interval_text(stat["mean"], stat["half"], -width, width, POINTS, 1, sign="+")
    flags.append(clipped)
    return f"{text} pp{p}"


def for_verdict(stat: dict | None) -> dict | None:
    """A gain as the report's `verdict` reads it (summary.json's form: NaN as None)."""
    if stat is None:
        return None
    return {k: None if is_nan(v) else v for k, v in stat.items()}


def against_text(entry: dict, key: str) -> str:
    """What a comparison `key` of an entry is against, in the verdict's words."""
    if key == "gain_vs_classic":
        return "classic augmentation alone"
    if key == "gain_vs_copies":
        combined = " with classic augmentation" if entry["arm"].endswith(COMBINED) else ""
        return f"plain copies of the real images{combined}"
    return "real images only"


def accuracy_verdict(entry: dict, key: str = "gain") -> tuple[str, str]:
    """(kind, sentence) of an entry's paired accuracy gain: `key` "gain" (against `none`),
    "gain_vs_classic" (a combined arm against classic alone) or "gain_vs_copies" (against the
    `copies` control of its kind)."""
    from gaunet.report.html import verdict

    gain = for_verdict((entry.get(key) or {}).get("accuracy"))
    return verdict(
        entry["classifier"],
        entry["arm"],
        gain,
        against=against_text(entry, key),
        at_top=at_top(entry, key),
    )


def at_top(entry: dict, key: str, metric: str = "accuracy") -> bool:
    """Whether a row and the arm its comparison `key` is against were both at the metric's top
    (1.0) on every paired seed, two or more (one seed proves no ceiling): the row's mean is 1.0
    over the paired seeds and the paired gain is 0, so neither more seeds nor any extra image
    can show a gain there."""
    mine = (entry.get("metrics") or {}).get(metric) or {}
    gain = (entry.get(key) or {}).get(metric) or {}
    if is_nan(mine.get("mean")) or is_nan(gain.get("mean")) or gain.get("n", 0) < 2:
        return False
    return mine["mean"] >= RANGE[1] - 1e-12 and abs(gain["mean"]) < 1e-12


def helped(entry: dict) -> bool:
    """Whether an arm helped: better by its deciding comparison and, where the `copies` control
    ran beside it, better than that control too (a gain plain copies match is not the
    generated images')."""
    if accuracy_verdict(entry, deciding_key(entry))[0] != "better":
        return False
    return (
        not entry.get("gain_vs_copies") or accuracy_verdict(entry, "gain_vs_copies")[0] == "better"
    )


def copies_matched(entries: list[dict]) -> list[str]:
    """Where some generator arm helped (so summary.md gives no "what to try next", which says
    it otherwise), the rows that helped by their deciding comparison but not beyond the
    `copies` control beside them: that gain is not shown to be the generated images'."""
    generated = generator_entries(entries)
    if not any(helped(e) for e in generated):
        return []
    matched = [
        f"`{e['arm']}` ({e['classifier']} at fraction {e['fraction']:g})"
        for e in generated
        if e.get("gain_vs_copies") and not helped(e)
        and accuracy_verdict(e, deciding_key(e))[0] == "better"
    ]  # fmt: skip
    if not matched:
        return []
    return [
        "",
        f"{', '.join(matched)} helped, but not significantly more than the same number of plain "
        "copies of the real images: that gain is not shown to be the generated images'.",
    ]


def uncontrolled_where(entries: list[dict], arm: str) -> str:
    """Where an arm's gain lacks the `copies` control, when elsewhere in the grid (another
    fraction or classifier) it has one: the caution must not read as about those rows too."""
    rows = [e for e in entries if e["arm"] == arm]
    if all(not e.get("gain_vs_copies") for e in rows):
        return ""
    bare = [
        e
        for e in rows
        if not e.get("gain_vs_copies") and accuracy_verdict(e, deciding_key(e))[0] == "better"
    ]
    where = ", ".join(f"{e['classifier']} at fraction {e['fraction']:g}" for e in bare)
    return f" ({where})" if where else ""


def deciding_key(entry: dict) -> str:
    """The comparison that judges an arm: alone against none ("gain"), a combined arm
    (`X+classic`) against classic alone ("gain_vs_classic")."""
    return "gain_vs_classic" if entry["arm"].endswith(COMBINED) else "gain"


def lower_end(stat: dict | None) -> float:
    """Lower end of a gain's 95 % interval (-inf when unknown)."""
    if not stat or is_nan(stat["mean"]) or is_nan(stat["half"]):
        return float("-inf")
    return stat["mean"] - stat["half"]


def upper_end(stat: dict | None) -> float:
    """Upper end of a gain's 95 % interval (+inf when unknown)."""
    if not stat or is_nan(stat["mean"]) or is_nan(stat["half"]):
        return float("inf")
    return stat["mean"] + stat["half"]


def is_generator_arm(arm: str) -> bool:
    """Whether an arm's images come from a generator (not none, classic, copies,
    typical-copies, more-real), with or without `+classic`."""
    controls = (BASELINE, CLASSIC, COPIES, TYPICAL_COPIES, MORE_REAL)
    return not arm.removesuffix(COMBINED).startswith(controls)


def generator_entries(entries: list[dict]) -> list[dict]:
    """The W rows whose images come from a generator (`is_generator_arm`)."""
    return [e for e in entries if is_generator_arm(e["arm"])]
