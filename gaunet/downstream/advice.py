"""What summary.md tells a user to do with a result: the ceiling (`more-real`) read against
the generator rows, the caution that one generator is one draw, what to try next when no
generator arm helped, and the `copies` control a generator's gain needs. The tables are in
report.py; the measured effects quoted here come from docs/augmentation.md."""

from __future__ import annotations

from gaunet.downstream.arms import COMBINED, MORE_REAL, TYPICAL_COPIES
from gaunet.downstream.gains import (
    CLASSIC,
    LABELS,
    accuracy_verdict,
    at_top,
    copies_matched,
    deciding_key,
    gain_text,
    generator_entries,
    helped,
    is_nan,
    lower_end,
    uncontrolled_where,
    upper_end,
)
from gaunet.evidence import evidence, gain, significant, spread, subsets

# the measured results quoted below (gaunet/evidence.yaml)
FDVAL, TRANSFER = "fdval_vs_last_combined", "transfer_alone"
COPIES_KEY, CEILING = "copies_combined_vs_classic", "pneumoniamnist_ceiling"
LONG_COMBINED, LONG_ALONE = "paper_budget_combined_vs_copies", "paper_budget_alone_vs_copies"
FILTER_ALONE = "paper_budget_filter_alone_vs_copies"
FILTER_COMBINED = "paper_budget_filter_combined_vs_copies"
FILTER_TYPICAL = "paper_budget_filter_alone_vs_typical"


def ceiling_lines(entries: list[dict], flags: list[bool]) -> list[str]:
    """What new real images (`more-real`) gave: the most a generator's images could give. When
    even they are not a significant gain, no generator comparison can show one either."""
    lines = []
    for entry in entries:
        if not entry["arm"].startswith(MORE_REAL):
            continue
        gains = entry.get(deciding_key(entry), {})
        if not gains:
            continue
        against = "classic alone" if entry["arm"].endswith(COMBINED) else "none"
        shown = ", ".join(
            f"{LABELS[m]} {gain_text(gains.get(m), flags)}" for m in ("accuracy", "auc")
        )
        above = [m for m in ("accuracy", "auc") if lower_end(gains.get(m)) > 0]
        key = deciding_key(entry)
        if not above and not _has_interval(gains):
            judged = (
                "only one seed, so no interval: add seeds before reading the generator rows"
                if max(g.get("n", 0) for g in gains.values()) < 2
                else "without the extra images it was already at 1.0 on every seed, so no extra "
                "images can show a gain and more seeds cannot change that: judge the generator "
                "at a smaller fraction or on a harder test split"
                if all(
                    at_top(entry, key, m)  # (an AUC undefined on a one-class test split: aside)
                    for m in ("accuracy", "auc")
                    if not is_nan((gains.get(m) or {}).get("mean"))
                )
                else "every seed gave the same difference (the classifier is deterministic on "
                "the same images), so there is no interval and more seeds cannot change it: "
                "judge the ceiling with a network's rows or over several subsets "
                "(`--subset-seeds`)"
                if entry["classifier"].startswith("svm")  # a network's seeds differ
                else "every seed gave the same difference, by chance, so there is no interval: "
                "add seeds before reading the generator rows"
            )
        elif above:
            judged = (
                f"a significant gain in {' and '.join(LABELS[m] for m in above)}: a generator's "
                "images can at best approach it"
            )
        elif below := [m for m in ("accuracy", "auc") if upper_end(gains.get(m)) < 0]:
            judged = (
                f"**new real images did significantly worse** in "
                f"{' and '.join(LABELS[m] for m in below)}, which more training images should "
                "not do: check the test split and the subset (or add seeds) before reading the "
                "generator rows"
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


def _has_interval(gains: dict) -> bool:
    """Whether a comparison has an interval in accuracy or AUC (not: one seed, or the same
    difference on every seed)."""
    return any(
        gains.get(m) and not is_nan(gains[m]["mean"]) and not is_nan(gains[m]["half"])
        for m in ("accuracy", "auc")
    )


def _where(groups: list[tuple], everywhere: bool) -> str:
    """`here`, or the classifier and fraction pairs a line is about."""
    if everywhere:
        return "here"
    return "for " + ", ".join(f"{c} at fraction {f:g}" for c, f in groups)


def _ceiling_steps(entries: list[dict], generated: list[dict]) -> list[str]:
    """Measure the ceiling where no `more-real` row ran, and say where even it showed no gain,
    per classifier and fraction (a multi-fraction grid must not mix them)."""
    groups = list(dict.fromkeys((e["classifier"], e["fraction"]) for e in generated))
    ceiling = [e for e in entries if e["arm"].startswith(MORE_REAL)]
    measured = {(e["classifier"], e["fraction"]) for e in ceiling}
    missing = sorted({f for c, f in groups if f < 1 and (c, f) not in measured})
    steps = []
    if missing:
        at = "" if not ceiling else f" at fraction {', '.join(f'{f:g}' for f in missing)}"
        steps.append(
            f"Measure the ceiling{at}: add `more-real,more-real+classic` to `--arms` (new real "
            "training images the subset left out, as many as the generator adds). "
            f"{_ceiling_evidence()} (docs/augmentation.md)."
        )
    flat = []
    for group in groups:
        rows = [e for e in ceiling if (e["classifier"], e["fraction"]) == group]
        gains = [e.get(deciding_key(e), {}) for e in rows]
        if not any(_has_interval(g) for g in gains):
            continue  # not run here, or no interval to judge (the ceiling line says which)
        if not any(lower_end(g.get(m)) > 0 for g in gains for m in ("accuracy", "auc")):
            flat.append(group)
    if flat:
        steps.append(
            f"Even new real images (`more-real`) did not help significantly "
            f"{_where(flat, len(flat) == len(groups))}: no generator's images can be shown to "
            "help there with these seeds and this test split. Add seeds, or judge the "
            "generator at a smaller fraction where the ceiling shows."
        )
    return steps


def one_generator_note(entries: list[dict], settings: dict) -> list[str]:
    """Intervals over classifier seeds hide the generator's own randomness: say so wherever a
    generator's images are judged."""
    if not generator_entries(entries):
        return []
    seed = settings.get("subset_seed", 0)
    return [
        "",
        f"Each generator arm is one trained generator on one subset (subset seed {seed}); the "
        "intervals cover classifier seeds only. Retrained on other subsets of the same size, "
        f"one recipe's gain spread over {spread()} points on BreastMNIST "
        f"({subsets('subset_spread')}; docs/augmentation.md), so before relying on a gain, "
        "measure it over several subsets: `gaunet benchmark --subset-seeds 0,1,2` (or `gaunet pool` over folders run with different "
        "`--subset-seed`) gives an interval that includes the generator's own randomness.",
    ]


def next_steps(entries: list[dict], settings: dict) -> list[str]:
    """When no generator arm helped (accuracy, p < 0.05: alone against none, combined against
    classic alone), say so and what the measurements in docs/augmentation.md suggest next."""
    generated = generator_entries(entries)
    if not generated:
        return []
    if any(helped(e) for e in generated):
        return []
    if all(at_top(e, deciding_key(e)) for e in generated):  # no lever can raise a perfect score
        return [
            "",
            "No generator arm could improve accuracy: what each was compared with was already "
            "at 1.0 on every seed compared. What to do next:",
            "",
            "- Judge the generator at a smaller fraction (`--fractions`) or on a harder task, "
            "where the real images alone fall short.",
        ]
    # the comparison that decides: alone against none, combined against classic alone
    kinds = [accuracy_verdict(e, deciding_key(e))[0] for e in generated]
    matched = [e for e, kind in zip(generated, kinds) if kind == "better"]  # not over copies
    steps = []
    unjudged = [e for e in generated if not e.get(deciding_key(e))]  # `none` or classic not run
    if unjudged:
        arms = ", ".join(f"`{a}`" for a in dict.fromkeys(e["arm"] for e in unjudged))
        steps.append(
            f"{arms} had nothing to be judged against: add `none` to `--arms` for a "
            "generator's images alone, `classic` for `X+classic`."
        )
        if len(unjudged) == len(generated):  # nothing measured: no advice on the generator yet
            return ["", "No generator arm could be judged. What to do next:", "", f"- {steps[0]}"]
    if "worse" in kinds:
        steps.append("Do not add the images of an arm that hurt.")
    if settings.get("select_snapshot", "last") == "last":
        # the benchmark refuses --select-snapshot with --filter-pool > 1: say to drop it
        instead = int(settings.get("filter_pool") or 1) > 1
        steps.append(
            "Sample a better snapshot: `--select-snapshot fd-val`"
            + (" instead of `--filter-pool`, with which it does not combine" if instead else "")
            + " (the generator then keeps a snapshot every tenth of its steps). On "
            "BreastMNIST, on top of classic "
            f"augmentation, it gave {_quoted(FDVAL, 'accuracy')} accuracy and "
            f"{_quoted(FDVAL, 'auc')} AUC points against the last snapshot over "
            f"{subsets(FDVAL)}, though its images added no more than plain copies of the real "
            "images (docs/augmentation.md)."
        )
    steps += _ceiling_steps(entries, generated)
    alone = any("+" not in e["arm"] for e in generated)
    if alone and int(settings.get("filter_pool") or 1) <= 1:
        steps.append(_filter_step(int(settings.get("synthetic_draws") or 1) > 1))
    # measured for the images alone only; the benchmark passes it to its `gaunet` arms only
    if not settings.get("gen_init_from") and any(e["arm"] == "gaunet" for e in generated):
        steps.append(
            "Used without classic augmentation: start the generator from one pretrained on a "
            "larger dataset, of your modality if you have one (`--gen-init-from RUN`, RUN "
            "trained with `gaunet train` at the same preset). On BreastMNIST a generator "
            f"pretrained on PneumoniaMNIST made the images alone add {gain(TRANSFER, 'auc')} "
            f"AUC points over {subsets(TRANSFER)} (accuracy {gain(TRANSFER, 'accuracy')}"
            f"{'' if significant(TRANSFER, 'accuracy') else ', not significant'}), but nothing "
            "on top of classic augmentation (docs/augmentation.md)."
        )
    steps.append(_longer_training_step())
    classic = [e for e in entries if e["arm"] == CLASSIC]
    if classic_helped := [e for e in classic if accuracy_verdict(e)[0] == "better"]:
        where = ", ".join(
            f"{e['classifier']} at fraction {e['fraction']:g}" for e in classic_helped
        )
        where = "" if len(classic_helped) == len(classic) else f" ({where}; not elsewhere)"
        steps.append(f"Classic augmentation alone helped here{where}: use it meanwhile.")
    elif not classic:
        steps.append(
            "Compare with classic augmentation, the bar any generator has to clear: "
            "`--arms none,classic,gaunet,gaunet+classic`."
        )
    if matched:
        arms = ", ".join(f"`{arm}`" for arm in dict.fromkeys(e["arm"] for e in matched))
        head = (
            f"No generator arm's images improved accuracy significantly beyond the `copies` "
            f"control: {arms} helped (alone against real images only, or on top of classic "
            "augmentation against classic alone), but not significantly more than the same "
            "number of plain copies of the real images, so that gain is not shown to be the "
            "generated images'. What to try next:"
        )
    else:
        head = (
            "No generator arm improved accuracy significantly (alone against real images only, "
            "or on top of classic augmentation against classic alone). What to try next:"
        )
    return ["", head, "", *[f"- {step}" for step in steps]]


def _quoted(key: str, metric: str) -> str:
    """A measured gain with `(not significant)` where its interval includes 0."""
    return gain(key, metric) + ("" if significant(key, metric) else " (not significant)")


def _filter_step(draws: bool = False) -> str:
    """Class-confidence filtering, measured on the paper-budget generators: it moved the images
    alone, not on top of classic augmentation. `draws`: the folder used --synthetic-draws,
    which the benchmark refuses beside --filter-pool."""
    shown = significant(FILTER_ALONE, "accuracy")
    verdict = "" if shown else ", not significant"
    auc = "" if significant(FILTER_ALONE, "auc") else ", not significant"
    lead = "a lead to confirm on your data" if shown else "no gain shown; judge it on your data"
    without = ", without `--synthetic-draws`, with which it does not combine" if draws else ""
    return (
        "For the images alone, try keeping the third of three times as many images that "
        "a CNN trained on your real images is surest of (`--filter-pool 3`, with the last "
        f"snapshot{without}). With generators trained for the paper's 5,000 epochs the filtered images "
        f"alone gave {gain(FILTER_ALONE, 'accuracy')} accuracy points against plain copies over "
        f"{subsets(FILTER_ALONE)} of BreastMNIST{verdict} (AUC {gain(FILTER_ALONE, 'auc')}"
        f"{auc}), {gain(FILTER_TYPICAL, 'accuracy')} against copies of the real images the "
        f"filter's CNN finds most typical over {subsets(FILTER_TYPICAL)}"
        f"{'' if significant(FILTER_TYPICAL, 'accuracy') else ', not significant'}, and "
        f"{_quoted(FILTER_COMBINED, 'accuracy')} on top of classic augmentation against "
        f"copies+classic (docs/augmentation.md): {lead}, with the `copies` and "
        "`typical-copies` controls. `gaunet generate --filter-pool 3` writes such images for "
        "your own training."
    )


def _longer_training_step() -> str:
    """Training longer is the obvious next step; the paper's budget was measured, so say what it
    gave against the copies control before a user spends hours on it."""
    helped = any(
        significant(key, metric)
        for key in (LONG_COMBINED, LONG_ALONE)
        for metric in ("accuracy", "auc")
    )
    lead = "Train the generator longer" if helped else "Training longer alone is unlikely to help"
    return (
        f"{lead}: with the paper's budget of 5,000 epochs (cpu-tiny preset at 28 px) the images "
        f"gave {gain(LONG_COMBINED, 'accuracy')} accuracy and {gain(LONG_COMBINED, 'auc')} AUC "
        "points over the same number of plain copies on top of classic augmentation, and "
        f"{gain(LONG_ALONE, 'accuracy')} accuracy alone, over {subsets(LONG_COMBINED)} of "
        f"BreastMNIST{'' if helped else ', none significant'} (docs/augmentation.md). To try "
        "it at a larger width, train with the `paper` preset for that budget on a GPU "
        "(`--gen-config paper --gen-steps N`, or `gaunet train` and the run folder as an arm: "
        "`--arms none,RUN,classic,RUN+classic,copies,copies+classic`), judged against `copies`."
    )


def copies_evidence() -> str:
    """Why a generator's gain needs the copies control (measured: docs/augmentation.md)."""
    return (
        f"On BreastMNIST, copies on top of classic augmentation gained {gain(COPIES_KEY, 'accuracy')} "
        f"accuracy and {gain(COPIES_KEY, 'auc')} AUC points over classic alone "
        f"({subsets(COPIES_KEY)}), as much as the best GAU-Net images (docs/augmentation.md)"
    )


def _ceiling_evidence() -> str:
    """What new real images gave on PneumoniaMNIST, where even they could not help."""
    acc, auc = (gain(CEILING, m) for m in ("accuracy", "auc"))
    fraction = f"{evidence()[CEILING]['fraction'] * 100:g} %"
    if significant(CEILING, "accuracy") or significant(CEILING, "auc"):
        return f"On PneumoniaMNIST at {fraction} they gave {acc} accuracy and {auc} AUC points"
    return (
        f"On PneumoniaMNIST at {fraction} even they gave no significant gain ({acc} accuracy, "
        f"{auc} AUC points), so no generator could have been shown to help there"
    )


def uncontrolled_gains(entries: list[dict]) -> list[str]:
    """Generator arms that helped by their deciding comparison (alone against none, combined
    against classic alone) with no `copies` control compared with them: extra images also
    mean more optimiser steps per epoch, and plain copies of the real images gained as much."""
    return list(
        dict.fromkeys(
            e["arm"]
            for e in generator_entries(entries)
            if not e.get("gain_vs_copies") and accuracy_verdict(e, deciding_key(e))[0] == "better"
        )
    )


def copies_caution(entries: list[dict]) -> list[str]:
    """uncontrolled_gains, said in summary.md with the arms that would settle them."""
    uncontrolled, lines = uncontrolled_gains(entries), copies_matched(entries)
    if not uncontrolled:
        return lines
    arms = ", ".join(f"`{arm}`{uncontrolled_where(entries, arm)}" for arm in uncontrolled)
    return lines + [
        "",
        f"Before relying on the gain of {arms}: add the `copies` control (`--arms "
        "...,copies,copies+classic`), the same number of plain copies of the real images. "
        f"{copies_evidence()}: a gain over `none` or `classic` alone is not yet a gain of the "
        "generated images.",
    ]


def typical_caution(entries: list[dict], settings: dict) -> list[str]:
    """With --filter-pool, a generator arm that beat the `copies` control may owe it to the
    filter's choice of typical images: the `typical-copies` control would tell."""
    if int(settings.get("filter_pool") or 1) <= 1:
        return []
    # the control of an arm's own kind, classifier and fraction: `typical-copies` says nothing
    # of `X+classic`, which it would be judged against only as `typical-copies+classic`
    ran = {(e["classifier"], e["fraction"], e["arm"]) for e in entries}
    beat = [
        e["arm"]
        for e in generator_entries(entries)
        if lower_end((e.get("gain_vs_copies") or {}).get("accuracy")) > 0
        and (
            e["classifier"],
            e["fraction"],
            TYPICAL_COPIES + COMBINED * e["arm"].endswith(COMBINED),
        )
        not in ran
    ]
    if not beat:
        return []
    arms = ", ".join(f"`{arm}`" for arm in dict.fromkeys(beat))
    return [
        "",
        f"{arms} beat the `copies` control with `--filter-pool`, which chooses the images a "
        "classifier finds most typical: add `typical-copies,typical-copies+classic` to `--arms` "
        "(copies of the real images that filter would choose) to see whether the generated "
        "images add more than that choice (docs/augmentation.md, \"Is the filter's gain the "
        "generator's?\").",
    ]
