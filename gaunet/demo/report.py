"""The demo's report: one self-contained HTML file (PNGs inlined as base64) built from the demo
folder alone, so it can be mailed or opened offline. Every number comes with what it means in
plain words, and the downstream verdict is computed from the paired difference's interval and
p-value, never written by hand."""

from __future__ import annotations

import html
import platform
from pathlib import Path

from gaunet.demo.commands import reproduce_commands
from gaunet.demo.layout import DemoFolder, read_if_done
from gaunet.demo.report_images import copies_section, metrics_section
from gaunet.demo.settings import demo_models
from gaunet.downstream.advice import copies_evidence, uncontrolled_gains
from gaunet.downstream.arms import COPIES
from gaunet.downstream.gains import CLIPPED, RANGE, helped, interval_text
from gaunet.io import write_atomic
from gaunet.metrics.verdict import image_verdicts
from gaunet.report.html import (
    CLASSIFIER_NAMES,
    MODEL_NAMES,
    STYLE,
    arm_name,
    img,
    p_text,
    table,
    verdict,
)


def _gain_entries(summary: dict) -> list[dict]:
    return [e for e in summary["entries"] if e["arm"] != summary.get("baseline", "none")]


def headline(summary: dict) -> str:
    """The verdict for the generator arm of the first classifier: the demo's one-line answer."""
    entries = _gain_entries(summary)
    chosen = [e for e in entries if e["arm"].startswith("run:")] or entries
    if not chosen:
        return "no augmented arm was run"
    # a classifier whose seeds vary (a network) gives a testable answer; the SVM may not
    testable = [e for e in chosen if (e["gain"].get("accuracy") or {}).get("p") is not None]
    entry = (testable or chosen)[0]
    kind, sentence = verdict(entry["classifier"], entry["arm"], entry["gain"].get("accuracy"))
    if entry["classifier"] in _at_ceiling(summary):
        return (
            f"{sentence} Without extra images it already scored accuracy 1.000: no gain could show."
        )
    if kind == "better" and not (helped(entry) and entry.get("gain_vs_copies")):
        return sentence + " Not yet shown to be the generated images' own: see section 5."
    return sentence


def _at_ceiling(summary: dict) -> list[str]:
    """The classifiers that scored accuracy 1.000 on real images alone: no extra images can
    raise it, so their verdicts cannot show a gain, however many seeds (the verdict's "add
    seeds" for a network does not apply)."""
    return [
        e["classifier"]
        for e in summary["entries"]
        if e["arm"] == summary.get("baseline", "none")
        and ((e["metrics"].get("accuracy") or {}).get("mean") or 0) >= 1
    ]


def _grouping(summary: dict) -> str:
    """What the split promises about leakage: the same words as gaunet.data.splits."""
    if summary["groups"] >= summary["images"]:
        return (
            "each image is its own group (the source names no patient), so no image is in two "
            "splits (nor two identical copies of one), but near-duplicate images of one patient "
            "may be: leakage between them cannot be ruled out."
        )
    return "no group (patient, lesion or volume named by the source) is in two splits."


def _copies(summary: dict) -> str:
    """Identical images, as `gaunet data inspect` found them ("" for none or an old summary)."""
    found = summary.get("duplicates") or {}
    if not found.get("sets"):
        return ""
    text = f" {found['sets']} set(s) of identical images ({found['images']} images)"
    if summary["split"] == "official":
        text += f", {len(found['across_splits'])} of them across the official splits"
    else:
        text += ", each kept within one split"
    if found["conflicting_classes"]:
        text += (
            f"; <b>{len(found['conflicting_classes'])} hold one image under two classes</b>, "
            "a label error no classifier can get right"
        )
    return text + " (<code>gaunet data inspect</code> lists them)."


def _dataset_section(folder: DemoFolder, settings: dict) -> str:
    summary = read_if_done(folder.summary)
    subset = read_if_done(folder.subset)
    if summary is None:
        return "<h2>1. The data</h2><p>not inspected yet</p>"
    splits = ("train", "val", "test", "total")
    rows = [
        # "^": a name cell, so a class named "~5mm" or "^x" keeps its first character
        ["^" + html.escape(c)] + [str(summary["counts"][s][c]) for s in splits]
        for c in summary["classes"]
    ]
    rows.append(["<b>all</b>"] + [f"<b>{sum(summary['counts'][s].values())}</b>" for s in splits])
    text = (
        f"<h2>1. The data</h2><p><code>{html.escape(summary['source'])}</code> "
        f"({html.escape(summary['kind'])}): {summary['images']} images, "
        f"{len(summary['classes'])} classes, {summary['groups']} patients/groups, resized to "
        f"{summary['size']}×{summary['size']} px with {summary['channels']} channel(s). Split: "
        f"{html.escape(summary['split'])}; {_grouping(summary)} "
        f"{summary['skipped']} file(s) skipped.{_copies(summary)}</p>"
        + table(["class", "train", "validation", "test", "total"], rows)
    )
    if subset:
        counts = ", ".join(f"{html.escape(c)} {n}" for c, n in subset["counts"].items())
        text += (
            f"<p><b>Low-data setting.</b> The demo keeps {subset['fraction']:g} of the training "
            f"split: <b>{len(subset['ids'])} images</b> ({counts}). The generator is trained on "
            "these images only, and the classifiers below get these same images, with or "
            "without extra ones. Validation and test images are never used for training.</p>"
        )
    return (
        text + "<p>Random examples of each class:</p>" + img(folder.contact_sheet, "contact sheet")
    )


def _training_section(folder: DemoFolder, models: list[str], size: object = "?") -> str:
    rows = []
    for model in models:
        info = read_if_done(folder.run(model) / "run.json") or {}
        rows.append(
            [
                MODEL_NAMES.get(model, model), str(info.get("train_images", "?")),
                str(info.get("steps", "?")), f"{info.get('wall_seconds', 0) / 60:.1f}",
                f"{info.get('images_per_second') or 0:.0f}", str(info.get("rollbacks", 0)),
            ]
        )  # fmt: skip
    return (
        "<h2>2. Training the generator</h2><p>GAU-Net is a U-Net generator that turns a real "
        "image of a class into a new image of the same class, trained against a critic that "
        "judges pairs of same-class images (Chen et al., arXiv 2101.04793). Here it is the "
        f"<code>cpu-tiny</code> preset ({size} px, narrow), time-boxed for a laptop; the paper trains "
        "256 px models on a GPU for much longer, so expect blurry images here.</p>"
        + table(["model", "training images", "steps", "minutes", "images/s", "rollbacks"], rows)
        + "<p>Adversarial losses do not fall steadily like a classifier's: the critic's loss "
        "(a Wasserstein estimate plus gradient penalty) and the generator's loss trade off. "
        "Look for curves that stay finite and bounded; judge quality by the images and metrics "
        "below, not by the loss.</p>" + img(folder.curves, "training curves")
    )


def _images_section(folder: DemoFolder, models: list[str]) -> str:
    columns = " | ".join(MODEL_NAMES.get(m, m) for m in models)
    return (
        f"<h2>3. Generated images</h2><p>Like the paper's Figure 2: each row starts with a real "
        f"training image, followed by what each model generated for that row (real | {columns}). "
        "GAU-Net is conditioned on the real image, so its output should be related to it but "
        "not a copy; GAN and cGAN (when trained) ignore it and draw any image of the class.</p>"
        + img(folder.grid, "figure 2 grid", zoom=2)
    )


def _cell(stat: dict | None, scale: float = 1.0, sign: bool = False) -> str:
    """mean ± half, or, as summary.md writes it, [low, high]† clipped to the metric's range
    (0-1; -1 to 1 for a gain) when the t-interval passes it."""
    if not stat or stat.get("mean") is None:
        return "-"
    mean = f"{stat['mean'] * scale:+.1f}" if sign else f"{stat['mean'] * scale:.3f}"
    if stat.get("half") is None:
        return mean
    width = RANGE[1] - RANGE[0]
    low, high = (-width, width) if sign else RANGE
    digits, plus = (1, "+") if sign else (3, "")
    return interval_text(stat["mean"], stat["half"], low, high, scale, digits, plus)[0]


def chance_note(summary: dict, test_counts: dict[str, int]) -> str:
    """A warning when a W/O classifier is no better than always answering the largest class:
    then the subset was too small for it to learn within the budget, and no gain can show."""
    chance = max(test_counts.values()) / max(1, sum(test_counts.values()))
    stuck = [
        CLASSIFIER_NAMES.get(e["classifier"], e["classifier"])
        for e in summary["entries"]
        if e["arm"] == "none"
        and (mean := (e["metrics"].get("accuracy") or {}).get("mean")) is not None  # no cells
        and mean <= chance + 0.02
    ]
    if not stuck:
        return ""
    return (
        f"{' and '.join(stuck)} trained on real images alone scored at chance level (always "
        f"answering the largest class gives accuracy {chance:.3f} on this test split): with so "
        "few images and epochs it did not learn, so this comparison cannot show a gain either "
        "way. Try a larger --fraction, more --epochs, or more --seeds."
    )


def ceiling_note(summary: dict) -> str:
    """A warning when a W/O classifier already scored accuracy 1.000: its verdicts say "no
    significant difference" (a network's: "add seeds"), though no extra images could help."""
    top = [CLASSIFIER_NAMES.get(c, c) for c in _at_ceiling(summary)]
    if not top:
        return ""
    return (
        f"{' and '.join(top)} trained on real images alone already scored accuracy 1.000 on "
        "this test split: no extra images can raise it, so this comparison cannot show a gain, "
        "however many seeds. Try a smaller --fraction, or data its classifiers get wrong."
    )


# the control arm's description in a verdict: a gain over it is the generated images' own
COPIES_AGAINST = "plain copies of the real images with classic augmentation"


def _has_control(summary: dict) -> bool:
    return any(e["arm"].startswith(COPIES) for e in summary["entries"])


def control_caution(summary: dict) -> str:
    """A GAU-Net arm helped with no `copies` control compared with it (no `--control`, or the
    images alone, whose control the demo does not run): the gain may be the extra optimiser
    steps that extra images bring, not the images (gaunet.downstream.advice.uncontrolled_gains)."""
    helped = uncontrolled_gains(summary["entries"])  # each arm by its own copies comparison
    if not helped:
        return ""
    if _has_control(summary):  # --control ran copies+classic: the images alone have no control
        return (
            f"Before relying on the gain of {', '.join(map(arm_name, helped))}: the demo's "
            "--control compares the images with classic augmentation against copies with it, "
            "not the images alone against plain copies (gaunet benchmark --arms "
            f"none,copies,RUN does). {copies_evidence()}."
        )
    return (
        "Before relying on this gain, run the control: add --control to the demo command (or "
        "--arms ...,copies,copies+classic to gaunet benchmark). Extra images also mean more "
        f"optimiser steps per epoch. {copies_evidence()}."
    )


def _downstream_section(folder: DemoFolder) -> str:
    summary = read_if_done(folder.downstream_summary)
    head = "<h2>5. Do the synthetic images help a classifier?</h2>"
    if summary is None:
        return head + "<p>not run yet</p>"
    settings = summary["settings"]
    fit = settings.get("fit", {})
    rows, classes = [], []
    for e in summary["entries"]:
        m, g = e["metrics"], e["gain"].get("accuracy")
        p = "-" if not g or g.get("p") is None else p_text(g["p"])
        n = max((s["n"] for s in m.values()), default=0)
        rows.append(
            [CLASSIFIER_NAMES.get(e["classifier"], e["classifier"]),
             "^" + html.escape(arm_name(e["arm"])), "^W/O" if e["arm"] == "none" else "^W",
             *(_cell(m.get(k)) for k in ("accuracy", "precision", "recall", "auc")),
             _cell(g, 100, sign=True), p, str(n)]
        )  # fmt: skip
        classes.append("wo" if e["arm"] == "none" else "")
    verdicts = [verdict(e["classifier"], e["arm"], e["gain"].get("accuracy")) for e in
                _gain_entries(summary)]  # fmt: skip
    verdicts += [
        verdict(e["classifier"], e["arm"], e[key].get("accuracy"), against=against)
        for e in summary["entries"]
        for key, against in (("gain_vs_classic", "classic augmentation alone"),
                             ("gain_vs_copies", COPIES_AGAINST))
        if e.get(key) and not e["arm"].startswith(COPIES)
    ]  # fmt: skip
    boxes = "".join(f"<div class='verdict {k}'>{html.escape(t)}</div>" for k, t in verdicts)
    caution = control_caution(summary)
    if caution:
        boxes += f"<p class='note'><b>Caution:</b> {html.escape(caution)}</p>"
    inspected = read_if_done(folder.summary)
    warning = chance_note(summary, inspected["counts"]["test"]) if inspected else ""
    warning = " ".join(w for w in (warning, ceiling_note(summary)) if w)
    return (
        head + f"<p>Like the paper's Table III: each classifier is trained {settings['seeds']} "
        f"times (seeds) on the low-data subset <b>without</b> (W/O) and <b>with</b> (W) extra "
        f"images, at {settings['size']} px, up to {fit.get('epochs', '?')} epochs with early "
        "stopping on the real validation split, and tested on the real test split. Values are "
        "mean ± half-width of the 95 % interval over seeds. The gain is the paired per-seed "
        "difference in accuracy, in percentage points (W − W/O), tested with a paired t-test. "
        "With a handful of seeds only large effects can be detected."
        + (
            " <b>Plain copies of the real images</b> with classic augmentation are a control: "
            "extra images also mean more optimiser steps per epoch, so the generated images "
            "help only where they beat the copies."
            if _has_control(summary)
            else ""
        )
        + "</p>"
        + table(
            [
                "classifier",
                "extra training images",
                "",
                "accuracy",
                "precision",
                "recall",
                "AUC",
                "accuracy gain (points)",
                "p",
                "seeds",
            ],
            rows,
            classes,
        )  # fmt: skip
        + (
            f"<p class='note'>{CLIPPED} The interval passed the metric's range (0-1, or ±100 "
            "points for a gain) and is shown as [low, high] clipped to it.</p>"
            if any(CLIPPED in cell for row in rows for cell in row)
            else ""
        )
        + f"<h3>Verdict</h3>{boxes}"
        + (f"<p class='note'><b>Caution:</b> {html.escape(warning)}</p>" if warning else "")
    )


def _image_box(folder: DemoFolder) -> str:
    """The GAU-Net images' overall verdict, at the top (empty until they are evaluated)."""
    images = read_if_done(folder.metrics("gaunet"))
    if not images:
        return ""
    first = image_verdicts(images)[0]
    return (
        f"<div class='verdict {first.level}'><b>The GAU-Net images:</b> "
        f"{html.escape(first.message)} <i>Next:</i> {html.escape(first.next_step)}</div>"
    )


def render_report(folder: str | Path) -> str:
    """The whole report of one demo folder as an HTML string."""
    folder = DemoFolder(Path(folder))
    state = read_if_done(folder.state) or {"settings": {}, "steps": {}}
    settings = state["settings"]
    models = demo_models(bool(settings.get("baselines")))
    steps = state.get("steps", {})
    num_classes = len((read_if_done(folder.summary) or {}).get("classes", [])) or 2
    summary = read_if_done(folder.downstream_summary)
    answer = headline(summary) if summary else "the downstream step has not run yet"
    total = sum(step.get("seconds", 0) for step in steps.values())
    step_rows = [
        [html.escape(n), f"{v.get('seconds', 0):.0f}", f"~{html.escape(v.get('summary', ''))}"]
        for n, v in steps.items()
    ]
    machine = (
        f"{platform.machine()} CPU, {platform.system()}; torch threads {settings.get('threads')}"
    )
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>gaunet demo report</title>"
        f"<style>{STYLE}</style><h1>gaunet demo report</h1>"
        f"<p class='note'>data <code>{html.escape(str(settings.get('data')))}</code>; "
        f"{total / 60:.1f} minutes on {html.escape(machine)}</p>"
        f"<div class='verdict none'><b>In one sentence:</b> {html.escape(answer)}</div>"
        + _image_box(folder)
        + "<p>What the demo did, step by step:</p>"
        + table(["step", "seconds", "result"], step_rows)
        + _dataset_section(folder, settings)
        + _training_section(folder, models, settings.get("size", "?"))
        + _images_section(folder, models)
        + metrics_section(folder, models)
        + _downstream_section(folder)
        + copies_section(folder, models)
        + "<h2>7. Run it on your own data</h2><p>Every file the demo used is in "
        f"<code>{html.escape(str(folder.root))}</code>. These commands reproduce each part:</p>"
        f"<pre>{html.escape(reproduce_commands(settings, num_classes))}</pre></html>"
    )


def write_report(folder: str | Path) -> Path:
    """Write FOLDER/report.html (atomically: an interrupted write never looks finished) and
    return its path."""
    path = DemoFolder(Path(folder)).report
    write_atomic(path, render_report(folder).encode("utf-8"))
    return path
