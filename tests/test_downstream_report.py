"""summary.md of `gaunet benchmark`: gains in percentage points, intervals kept inside the
metric's range (or flagged), and one verdict per W row in the demo report's words."""

from __future__ import annotations

import numpy as np
import pytest

from gaunet.downstream.report import CLIPPED, snapshot_lines, summarise, summary_markdown
from gaunet.downstream.stats import METRICS
from gaunet.report.html import verdict

ORDER = {"classifiers": ["resnet18", "svm"], "fractions": [0.5], "arms": ["none", "gaunet"]}
SETTINGS = {"data": "phantom", "size": 32, "seeds": 3}


def _rows(values: dict[tuple[str, str], list[float]]) -> list[dict]:
    rows = []
    for (classifier, arm), seeds in values.items():
        for seed, value in enumerate(seeds):
            for metric in METRICS:
                rows.append({"classifier": classifier, "fraction": 0.5, "arm": arm,
                             "metric": metric, "seed": seed, "value": value})  # fmt: skip
    return rows


def _entries() -> list[dict]:
    return summarise(
        _rows(
            {
                ("resnet18", "none"): [0.60, 0.62, 0.61],
                ("resnet18", "gaunet"): [0.70, 0.73, 0.71],  # a clear gain: ~ +10 points
                ("svm", "none"): [0.90, 0.99, 0.97],  # interval passes 1.0
                ("svm", "gaunet"): [0.90, 0.99, 0.97],  # same per seed: no p-value
            }
        ),
        ORDER,
    )


def test_gains_are_in_percentage_points() -> None:
    entries = _entries()
    text = summary_markdown(entries, SETTINGS)
    gain = next(e for e in entries if e["classifier"] == "resnet18" and e["arm"] == "gaunet")
    acc = gain["gain"]["accuracy"]
    assert 0.09 < acc["mean"] < 0.12  # summary.json keeps fractions
    row = next(line for line in text.splitlines() if line.startswith("| resnet18 | 0.5 | gaunet"))
    assert f"{acc['mean'] * 100:+.1f} ± {acc['half'] * 100:.1f} pp" in row
    assert "| resnet18 | 0.5 | none | W/O |" in text and "| svm | 0.5 | gaunet | W |" in text
    assert "Gain Acc (pp)" in text
    mde = f"{acc['mde'] * 100:.1f}"
    assert any(line.startswith("| resnet18 | 0.5 | gaunet |") and mde in line
               for line in text.split("Smallest gain")[1].splitlines())  # fmt: skip


def test_intervals_past_the_metric_range_are_clipped_and_flagged() -> None:
    entries = _entries()
    text = summary_markdown(entries, SETTINGS)
    svm = next(e for e in entries if e["classifier"] == "svm" and e["arm"] == "none")
    stat = svm["metrics"]["accuracy"]
    assert stat["high"] > 1.0  # the raw t-interval passes 1
    row = next(line for line in text.splitlines() if line.startswith("| svm | 0.5 | none | W/O"))
    assert f"{stat['mean']:.3f} [{stat['low']:.3f}, 1.000]{CLIPPED}" in row
    assert f"{CLIPPED} The t-interval passed the metric's range" in text
    narrow = summary_markdown(
        summarise(_rows({("resnet18", "none"): [0.60, 0.62, 0.61]}), ORDER), SETTINGS
    )
    assert CLIPPED not in narrow and "0.610 ± 0.025" in narrow


def test_one_verdict_per_w_row_in_the_reports_words() -> None:
    entries = _entries()
    text = summary_markdown(entries, SETTINGS)
    verdicts = text.split("Verdicts (accuracy, paired over 3 seeds")[1]
    for entry in entries:
        if entry["arm"] == "none":
            continue
        gain = {k: None if isinstance(v, float) and np.isnan(v) else v
                for k, v in entry["gain"]["accuracy"].items()}  # fmt: skip
        kind, sentence = verdict(entry["classifier"], entry["arm"], gain)
        assert f"- fraction 0.5: {sentence}" in verdicts
        assert kind == ("better" if entry["classifier"] == "resnet18" else "none")
    assert "helped by" in verdicts and "3 seeds" in verdicts
    assert "no significant difference can be claimed" in verdicts  # the deterministic SVM
    assert verdicts.count("- fraction") == 2


def test_ceiling_line_says_whether_even_new_real_images_help() -> None:
    arms = ["none", "classic", "more-real", "more-real+classic", "gaunet"]
    order = {"classifiers": ["resnet18"], "fractions": [0.5], "arms": arms}
    entries = summarise(
        _rows(
            {
                ("resnet18", "none"): [0.60, 0.62, 0.61, 0.63],
                ("resnet18", "classic"): [0.70, 0.66, 0.72, 0.69],
                ("resnet18", "more-real"): [0.70, 0.73, 0.71, 0.72],  # clear: ~ +10 points
                ("resnet18", "more-real+classic"): [0.69, 0.70, 0.70, 0.68],  # ~0 vs classic
                ("resnet18", "gaunet"): [0.61, 0.62, 0.60, 0.64],
            }
        ),
        order,
    )
    text = summary_markdown(entries, {**SETTINGS, "seeds": 4})
    ceiling = text.split("Ceiling (`more-real`")[1].split("Smallest gain")[0]
    alone, combined = [line for line in ceiling.splitlines() if line.startswith("- ")]
    assert "`more-real` against none" in alone and "a significant gain in Acc and AUC" in alone
    assert "`more-real+classic` against classic alone" in combined
    assert "not significant even for new real images" in combined
    without = summary_markdown(_entries(), SETTINGS)
    assert "Ceiling" not in without  # only when the arm ran


def test_a_ceiling_significantly_below_zero_is_not_called_not_significant() -> None:
    arms = ["none", "more-real"]
    order = {"classifiers": ["resnet18"], "fractions": [0.5], "arms": arms}
    rows = {
        ("resnet18", "none"): [0.70, 0.73, 0.71, 0.72],
        ("resnet18", "more-real"): [0.60, 0.62, 0.61, 0.63],  # ~ -10 points, every seed
    }
    text = summary_markdown(summarise(_rows(rows), order), {**SETTINGS, "seeds": 4})
    line = next(x for x in text.splitlines() if x.startswith("- ") and "`more-real` against" in x)
    assert "new real images did significantly worse** in Acc" in line
    assert "not significant even for new real images" not in line


def test_generator_arms_get_the_one_generator_note_and_controls_do_not() -> None:
    with_generator = summary_markdown(_entries(), {**SETTINGS, "subset_seed": 3})
    assert "one trained generator on one subset (subset seed 3)" in with_generator
    assert "--subset-seeds" in with_generator
    order = {"classifiers": ["resnet18"], "fractions": [0.5], "arms": ["none", "more-real"]}
    values = {("resnet18", "none"): [0.6, 0.62, 0.61], ("resnet18", "more-real"): [0.7, 0.7, 0.72]}
    controls_only = summary_markdown(summarise(_rows(values), order), SETTINGS)
    assert "one trained generator" not in controls_only


def _selection(criterion: str, key: str, real: float | None) -> dict:
    record = {
        "name": "gaunet-f0.25-s0-r1",
        "criterion": criterion,
        "chosen": {"step": 1400, key: 0.5},
        "snapshots": [{"step": 1400, key: 0.5}, {"step": 2000, key: 0.25}],
    }
    return record if real is None else {**record, "real": {key: real}}


@pytest.mark.parametrize(
    "criterion, key, real, expected",
    [
        ("fd-val", "fd_val", 0.125, "(fd_val 0.5; the last snapshot 0.25; the real training images 0.125; 2 compared)"),
        ("cas-val", "cas_val_auc", 0.75, "(cas_val_auc 0.5; the last snapshot 0.25; the real training images 0.75; 2 compared)"),
        # a record written before the yardstick was kept: no yardstick, no explanation
        ("fd-val", "fd_val", None, "(fd_val 0.5; the last snapshot 0.25; 2 compared)"),
    ],
)  # fmt: skip
def test_snapshot_lines_name_the_choice_beside_the_last_and_the_real_images(
    criterion: str, key: str, real: float | None, expected: str
) -> None:
    text = "\n".join(snapshot_lines([_selection(criterion, key, real)]))
    assert f"- `gaunet-f0.25-s0-r1`: step 1400 of 2000 {expected}" in text
    assert f"`--select-snapshot {criterion}` chose" in text
    assert ("is the yardstick" in text) == (real is not None)


def test_snapshot_lines_are_empty_without_a_selection() -> None:
    assert snapshot_lines([]) == []


NONE = [0.60, 0.62, 0.61, 0.63]
SAME = [0.61, 0.61, 0.62, 0.62]  # +0.0 on average, not significant
UP = [0.70, 0.73, 0.71, 0.72]  # about +10 points, every seed
DOWN = [0.50, 0.51, 0.49, 0.52]


@pytest.mark.parametrize(
    "arms, select, expected, unexpected",
    [
        # no gain, no classic arm: the snapshot lever and the classic comparison are suggested
        ({"gaunet": SAME}, "last", ["What to try next", "--select-snapshot fd-val", "--arms none,classic", "--gen-init-from RUN"], ["Do not add"]),
        # a clear gain: nothing to suggest
        ({"gaunet": UP}, "last", [], ["What to try next"]),
        # the snapshot was already selected: not suggested again
        ({"gaunet": SAME}, "fd-val", ["What to try next", "--gen-steps"], ["--select-snapshot fd-val"]),
        # classic helps, the images on top of it hurt
        # (the pretrained generator is suggested for images used alone, where it was measured)
        ({"classic": UP, "gaunet+classic": DOWN}, "last", ["Do not add", "Classic augmentation alone helped here"], ["--arms none,classic", "init_from"]),
        # only controls: no generator arm to judge
        ({"classic": SAME}, "last", [], ["What to try next"]),
        # no ceiling measured below fraction 1: measuring it is suggested
        ({"gaunet": SAME}, "last", ["Measure the ceiling", "more-real,more-real+classic"], ["Even new real images"]),
        # a ceiling that is itself no gain: the generator cannot be judged here
        ({"gaunet": SAME, "more-real": SAME}, "last", ["Even new real images (`more-real`) did not help"], ["Measure the ceiling"]),
        # a ceiling that shows: neither line
        ({"gaunet": SAME, "more-real": UP}, "last", ["What to try next"], ["Measure the ceiling", "Even new real images"]),
    ],
)  # fmt: skip
def test_no_generator_gain_says_what_to_try_next(
    arms: dict, select: str, expected: list[str], unexpected: list[str]
) -> None:
    rows = _rows({("resnet18", "none"): NONE, **{("resnet18", a): v for a, v in arms.items()}})
    order = {"classifiers": ["resnet18"], "fractions": [0.5], "arms": ["none", *arms]}
    text = summary_markdown(summarise(rows, order), {**SETTINGS, "select_snapshot": select})
    for phrase in expected:
        assert phrase in text
    for phrase in unexpected:
        assert phrase not in text


def test_classic_helping_for_one_classifier_is_said_for_that_one() -> None:
    rows = _rows(
        {("resnet18", "none"): NONE, ("resnet18", "classic"): UP, ("resnet18", "gaunet"): SAME,
         ("svm", "none"): NONE, ("svm", "classic"): SAME, ("svm", "gaunet"): SAME}
    )  # fmt: skip
    order = {"classifiers": ["resnet18", "svm"], "fractions": [0.5],
             "arms": ["none", "classic", "gaunet"]}  # fmt: skip
    text = summary_markdown(summarise(rows, order), {**SETTINGS, "select_snapshot": "last"})
    assert (
        "Classic augmentation alone helped here (resnet18 at fraction 0.5; not elsewhere)" in text
    )


def test_no_ceiling_is_suggested_at_fraction_one() -> None:
    """At fraction 1 there are no left-out training images to add, so no ceiling to measure."""
    rows = [
        {**row, "fraction": 1.0}
        for row in _rows({("resnet18", "none"): NONE, ("resnet18", "gaunet"): SAME})
    ]
    order = {"classifiers": ["resnet18"], "fractions": [1.0], "arms": ["none", "gaunet"]}
    text = summary_markdown(summarise(rows, order), {**SETTINGS, "select_snapshot": "last"})
    assert "What to try next" in text and "Measure the ceiling" not in text


@pytest.mark.parametrize(
    "arms, cautioned",
    [
        ({"gaunet": UP}, True),  # a gain and no control: caution
        ({"gaunet": UP, "copies": UP}, False),  # the control is there: its table answers
        ({"gaunet": SAME}, False),  # no gain: nothing to caution about
        ({"copies": UP}, False),  # the control itself is not a generator arm
    ],
)
def test_a_generator_gain_without_the_copies_control_gets_a_caution(
    arms: dict, cautioned: bool
) -> None:
    rows = _rows({("resnet18", "none"): NONE, **{("resnet18", a): v for a, v in arms.items()}})
    order = {"classifiers": ["resnet18"], "fractions": [0.5], "arms": ["none", *arms]}
    text = summary_markdown(summarise(rows, order), {**SETTINGS, "select_snapshot": "last"})
    assert ("add the `copies` control" in text) == cautioned


def test_pretrained_generator_is_not_suggested_twice() -> None:
    """A benchmark whose generators already started from a pretrained run is not told to."""
    rows = _rows({("resnet18", "none"): NONE, ("resnet18", "gaunet"): SAME})
    order = {"classifiers": ["resnet18"], "fractions": [0.5], "arms": ["none", "gaunet"]}
    settings = {**SETTINGS, "select_snapshot": "last", "gen_init_from": "/runs/pretrained"}
    text = summary_markdown(summarise(rows, order), settings)
    assert "What to try next" in text and "--gen-init-from" not in text


def test_cell_time_is_counted_once_per_cell_with_its_median_and_total() -> None:
    rows = _rows({("resnet18", "none"): [0.6, 0.6, 0.6], ("resnet18", "gaunet"): [0.7] * 3})
    for row in rows:  # every metric row of a cell carries the cell's seconds
        row["seconds"] = {"none": ["10.0", "30.0", "20.0"], "gaunet": ["5", "7", "60"]}[row["arm"]][
            row["seed"]
        ]
    entries = summarise(rows, ORDER)
    times = {e["arm"]: e["cell_seconds"] for e in entries}
    assert times["none"] == {"cells": 3, "median": 20.0, "total": 60.0}
    assert times["gaunet"] == {"cells": 3, "median": 7.0, "total": 72.0}
    text = summary_markdown(entries, SETTINGS)
    assert "6 cells, 2.2 min in all" in text
    assert "| resnet18 | 0.5 | gaunet | 3 | 7.0 | 1.2 |" in text


def test_no_cell_time_section_for_rows_without_seconds() -> None:
    entries = _entries()
    assert not any("cell_seconds" in e for e in entries)
    assert "Time per cell" not in summary_markdown(entries, SETTINGS)


def test_the_verdict_header_counts_the_seeds_paired_not_those_asked_for() -> None:
    """A folder whose cells have not all finished said "paired over 10 seeds" over lines that
    each rest on fewer."""
    entries = summarise(
        _rows(
            {
                ("resnet18", "none"): [0.60, 0.62, 0.61],
                ("resnet18", "gaunet"): [0.70, 0.73],  # seed 2 not finished yet
            }
        ),
        {**ORDER, "classifiers": ["resnet18"]},
    )
    text = summary_markdown(entries, SETTINGS)
    assert "Verdicts (accuracy, paired over as few as 2 of the 3 seeds;" in text
    assert "Verdicts (accuracy, paired over 3 seeds;" in summary_markdown(_entries(), SETTINGS)
