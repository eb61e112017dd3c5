"""The demo's report: one self-contained HTML file (PNGs inlined as base64) built from the demo
folder alone, so it can be mailed or opened offline. Every number comes with what it means in
plain words, and the downstream verdict is computed from the paired difference's interval and
p-value, never written by hand."""

from __future__ import annotations

import base64
import html
import json
import platform
from pathlib import Path
from typing import Any

from gaunet.metrics.report import verdicts_html
from gaunet.metrics.verdict import image_verdicts

MODEL_NAMES = {"gaunet": "GAU-Net", "gan": "GAN", "cgan": "cGAN"}
CLASSIFIER_NAMES = {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "svm": "SVM"}
ALPHA = 0.05
CELL_CLASSES = {"~": "text", "^": "name"}
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:1.5em
auto;padding:0 1em;color:#1f2328;line-height:1.45}
h1{margin-bottom:0.1em}h2{border-bottom:2px solid #d0d7de;padding-bottom:0.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:0.6em 0 1.2em;font-size:14px}
td,th{border:1px solid #d0d7de;padding:4px 9px;text-align:right;vertical-align:top;
white-space:nowrap}th{background:#f6f8fa}td:first-child,th:first-child,td.name{text-align:left}
img.zoom{image-rendering:pixelated}
td.text{text-align:left;color:#444;max-width:520px;white-space:normal}tr.wo td{background:#fafafa}
.verdict{background:#eef6ee;border-left:5px solid #2da44e;padding:0.6em 1em;margin:0.8em 0}
.verdict.none,.verdict.note{background:#f6f8fa;border-color:#8c959f}.verdict.worse,
.verdict.unusable{background:#fff1f0;border-color:#cf222e}.verdict.warning{background:#fff8c5;
border-color:#bf8700}.note{color:#57606a;font-size:90%}img{max-width:100%;border:1px solid #eee}
pre{background:#f6f8fa;padding:0.8em;overflow-x:auto;font-size:13px}code{font-size:92%}
"""


def _name(arm: str) -> str:
    """Display name of a benchmark arm (`run:gaunet` is the demo's GAU-Net run)."""
    if arm.endswith("+classic"):
        return f"{_name(arm.removesuffix('+classic'))} + classic augmentation"
    model = arm.removeprefix("run:")
    if arm == "none":
        return "none (real images only)"
    if arm == "classic":
        return "classic augmentation"
    return f"{MODEL_NAMES.get(model, model)} images"


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def verdict(
    classifier: str, arm: str, gain: dict | None, against: str = "real images only"
) -> tuple[str, str]:
    """(kind, sentence) for the accuracy gain W - W/O (or, with `against`, over another arm):
    kind is better, worse or none."""
    who = f"{CLASSIFIER_NAMES.get(classifier, classifier)} with {_name(arm)}"
    if against != "real images only":
        who += f", against {against}"
    if not gain or gain.get("mean") is None:
        return "none", f"{who}: no paired results, so no verdict."
    mean, half, p, n = gain["mean"] * 100, gain.get("half"), gain.get("p"), gain.get("n", 0)
    if p is None:
        why = (
            "only one seed" if n < 2 else "every seed gave the same difference (the classifier "
            "is deterministic on the same images, so the seeds are not independent repeats)"
        )  # fmt: skip
        return "none", (
            f"{who}: {mean:+.1f} accuracy points against {against}, but {why}; "
            "no significant difference can be claimed."
        )
    spread = f"{mean:+.1f} ± {half * 100:.1f} points, 95 % CI; paired t-test p = {p:.2g}, {n} seeds"
    if p < ALPHA and mean > 0:
        return "better", f"{who}: augmentation helped by {mean:.1f} ± {half * 100:.1f} " + (
            f"accuracy points (95 % CI; paired t-test p = {p:.2g}, {n} seeds)."
        )
    if p < ALPHA and mean < 0:
        return "worse", f"{who}: augmentation hurt, by {-mean:.1f} ± {half * 100:.1f} " + (
            f"accuracy points (95 % CI; paired t-test p = {p:.2g}, {n} seeds)."
        )
    return "none", f"{who}: no significant difference ({spread})."


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
    return verdict(entry["classifier"], entry["arm"], entry["gain"].get("accuracy"))[1]


def _img(path: Path, alt: str, zoom: int = 1) -> str:
    """The PNG inlined as base64; `zoom` enlarges small pixel images without smoothing."""
    if not path.is_file():
        return f"<p class='note'>({html.escape(alt)}: not produced)</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    size = ""
    if zoom > 1:
        from PIL import Image

        with Image.open(path) as image:
            size = f' class="zoom" width="{min(image.width * zoom, 1060)}"'
    return f'<p><img alt="{html.escape(alt)}"{size} src="data:image/png;base64,{data}"></p>'


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    """Cells are HTML already (escape text before); a cell starting with '~' is prose, one
    starting with '^' a left-aligned name."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f"<td class='{CELL_CLASSES[c[0]]}'>{c[1:]}</td>"
            if c[:1] in CELL_CLASSES
            else f"<td>{c}</td>"
            for c in row
        )
        css = f" class='{classes[i]}'" if classes and classes[i] else ""
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _grouping(summary: dict) -> str:
    """What the split promises about leakage: the same words as gaunet.data.splits."""
    if summary["groups"] >= summary["images"]:
        return (
            "each image is its own group (the source names no patient), so no image is in two "
            "splits, but near-duplicate images of one patient may be: leakage between them "
            "cannot be ruled out."
        )
    return "no group (patient, lesion or volume named by the source) is in two splits."


def _dataset_section(folder: Path, settings: dict) -> str:
    summary = _read(folder / "inspect" / "summary.json")
    subset = _read(folder / "subset.json")
    if summary is None:
        return "<h2>1. The data</h2><p>not inspected yet</p>"
    splits = ("train", "val", "test", "total")
    rows = [
        [html.escape(c)] + [str(summary["counts"][s][c]) for s in splits]
        for c in summary["classes"]
    ]
    rows.append(["<b>all</b>"] + [f"<b>{sum(summary['counts'][s].values())}</b>" for s in splits])
    text = (
        f"<h2>1. The data</h2><p><code>{html.escape(summary['source'])}</code> "
        f"({html.escape(summary['kind'])}): {summary['images']} images, "
        f"{len(summary['classes'])} classes, {summary['groups']} patients/groups, resized to "
        f"{summary['size']}×{summary['size']} px with {summary['channels']} channel(s). Split: "
        f"{html.escape(summary['split'])}; {_grouping(summary)} "
        f"{summary['skipped']} file(s) skipped.</p>"
        + _table(["class", "train", "validation", "test", "total"], rows)
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
        text
        + "<p>Random examples of each class:</p>"
        + _img(folder / "inspect" / "contact-sheet.png", "contact sheet")
    )


def _training_section(folder: Path, models: list[str]) -> str:
    rows = []
    for model in models:
        info = _read(folder / "runs" / model / "run.json") or {}
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
        "<code>cpu-tiny</code> preset (32 px, narrow), time-boxed for a laptop; the paper trains "
        "256 px models on a GPU for much longer, so expect blurry images here.</p>"
        + _table(["model", "training images", "steps", "minutes", "images/s", "rollbacks"], rows)
        + "<p>Adversarial losses do not fall steadily like a classifier's: the critic's loss "
        "(a Wasserstein estimate plus gradient penalty) and the generator's loss trade off. "
        "Look for curves that stay finite and bounded; judge quality by the images and metrics "
        "below, not by the loss.</p>"
        + _img(folder / "figures" / "training-curves.png", "training curves")
    )


def _images_section(folder: Path, models: list[str]) -> str:
    columns = " | ".join(MODEL_NAMES.get(m, m) for m in models)
    return (
        f"<h2>3. Generated images</h2><p>Like the paper's Figure 2: each row starts with a real "
        f"training image, followed by what each model generated for that row (real | {columns}). "
        "GAU-Net is conditioned on the real image, so its output should be related to it but "
        "not a copy; GAN and cGAN (when trained) ignore it and draw any image of the class.</p>"
        + _img(folder / "figures" / "figure2-grid.png", "figure 2 grid", zoom=2)
    )


MEANINGS = {
    "FID": "How far the synthetic images are from real test images, as seen by the Inception "
    "network (trained on everyday photos). 0 = same distribution; lower is better. Inflated by "
    "small samples: compare only numbers computed on equally many images.",
    "FD_domain": "Same formula as FID but in the features of a small classifier trained on this "
    "dataset's real training images, so it is not an FID. Lower is better.",
    "KID": "Kernel version of the distance above; unbiased for small samples, about 0 when the "
    "two sets come from the same distribution. Lower is better.",
    "precision": "Share of synthetic images that look like some real image (realism). 1 is best.",
    "recall": "Share of real images that some synthetic image resembles (variety). 1 is best.",
    "density": "How tightly synthetic images cluster around real ones; about 1 when matched.",
    "coverage": "Share of real images with a synthetic image close by; low means missing modes.",
    "PA": "Share of synthetic images that a classifier trained on real images puts in the class "
    "they were generated for. Compare with its accuracy on real test images (the ceiling).",
    "copy": "Share of synthetic images closer to a training image than 95 % of real test images "
    "are: about 0.05 for a generator that makes new images, near 1 if it copies.",
    "diversity": "How much images drawn with different noise from the same conditioning image "
    "differ, relative to how much different real images differ. Near 0: the generator ignores "
    "its noise, so each training image yields essentially one new image however many are "
    "drawn; about 1: as varied as real images.",
}


def _ci(stat: dict) -> str:
    ci = stat.get("ci95")
    return f"{stat['value']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{stat['value']:.3f}"


def _metric_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(metric, value, sample sizes, meaning) rows of one evaluate result."""
    from gaunet.metrics.verdict import domain_note

    note = domain_note(result)
    beside = f" <b>{html.escape(note.capitalize())}.</b>" if note else ""
    rows = []
    for key, entry in result["features"].items():
        if not entry.get("available"):
            reason = html.escape(entry.get("reason", ""))
            label = "FID" if key == "inception" else f"FD_{key}"
            rows.append((label, "not computed", "", f"~{reason}"))
            continue
        name, overall = entry["metric_name"], entry["overall"]
        sizes = f"{overall['n_real']} real / {overall['n_synthetic']} synthetic"
        space = "Inception" if key == "inception" else key
        meaning = MEANINGS["FID" if name == "FID" else "FD_domain"]
        meaning += beside if key == "domain" else ""
        rows.append((name, _num(overall[name], 2), sizes, f"~{meaning}"))
        kid = overall.get("KID")
        if kid:
            # every subset holds all images when both sets are small: then there is no spread
            spread = f" ± {kid['std']:.4f}" if kid["std"] > 0 else ""
            value = f"{kid['mean']:.4f}{spread}"
            rows.append((f"KID ({space})", value, sizes, f"~{MEANINGS['KID']}"))
        for metric, stat in (overall.get("PRDC") or {}).items():
            if metric in MEANINGS:
                meaning = MEANINGS[metric] + (beside if key == "domain" else "")
                rows.append((f"{metric} ({space})", _ci(stat), sizes, f"~{meaning}"))
    if "PA" in result:
        pa = result["PA"]
        ceiling = pa["real_reference_accuracy"]["value"]
        rows.append(
            ("PA (class fidelity)", _ci(pa), f"{pa['n']} synthetic",
             f"~{MEANINGS['PA']} Here the ceiling is {ceiling:.3f}.{beside}"),
        )  # fmt: skip
    for space, audit in result.get("memorization", {}).items():
        value = _ci({"value": audit["copy_rate"], "ci95": audit.get("ci95")})
        sizes = f"{audit['n_synthetic']} synthetic vs {audit['n_train']} train"
        meaning = MEANINGS["copy"] + (beside if space == "domain" else "")
        rows.append((f"copy rate ({space})", value, sizes, f"~{meaning}"))
    diversity = result.get("noise_diversity")
    if diversity:
        sizes = f"{diversity['draws']} draws x {diversity['sources']} images per class"
        value = (
            f"{diversity['ratio']:.3f} ({diversity['within_source']:.4f} between draws / "
            f"{diversity['real_pairs']:.4f} between real images)"
        )
        rows.append(("noise diversity", value, sizes, f"~{MEANINGS['diversity']}"))
    return rows


def _metrics_section(folder: Path, models: list[str]) -> str:
    parts = [
        "<h2>4. How good are the synthetic images?</h2><p>Each synthetic set is compared with "
        "real <b>test</b> images it never saw. Brackets are 95 % bootstrap intervals; ± after "
        "KID is its spread over random subsets of half the images. The verdicts below each "
        "table are computed from these numbers (thresholds: docs/metrics.md).</p>"
    ]
    for model in models:
        result = _read(folder / "evaluate" / model / "metrics.json")
        if result is None:
            parts.append(f"<p>{MODEL_NAMES.get(model, model)}: not evaluated yet</p>")
            continue
        rows = [list(r) for r in _metric_rows(result)]
        parts.append(f"<h3>{MODEL_NAMES.get(model, model)}</h3>")
        parts.append(_table(["metric", "value", "sample sizes", "what it means"], rows))
        parts.append(verdicts_html(result))
    return "".join(parts)


def _cell(stat: dict | None, scale: float = 1.0, sign: bool = False) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    mean = f"{stat['mean'] * scale:+.1f}" if sign else f"{stat['mean'] * scale:.3f}"
    if stat.get("half") is None:
        return mean
    return f"{mean} ± {stat['half'] * scale:.{1 if sign else 3}f}"


def chance_note(summary: dict, test_counts: dict[str, int]) -> str:
    """A warning when a W/O classifier is no better than always answering the largest class:
    then the subset was too small for it to learn within the budget, and no gain can show."""
    chance = max(test_counts.values()) / max(1, sum(test_counts.values()))
    stuck = [
        CLASSIFIER_NAMES.get(e["classifier"], e["classifier"])
        for e in summary["entries"]
        if e["arm"] == "none" and e["metrics"]["accuracy"]["mean"] <= chance + 0.02
    ]
    if not stuck:
        return ""
    return (
        f"{' and '.join(stuck)} trained on real images alone scored at chance level (always "
        f"answering the largest class gives accuracy {chance:.3f} on this test split): with so "
        "few images and epochs it did not learn, so this comparison cannot show a gain either "
        "way. Try a larger --fraction, more --epochs, or more --seeds."
    )


def _downstream_section(folder: Path) -> str:
    summary = _read(folder / "downstream" / "summary.json")
    head = "<h2>5. Do the synthetic images help a classifier?</h2>"
    if summary is None:
        return head + "<p>not run yet</p>"
    settings = summary["settings"]
    fit = settings.get("fit", {})
    rows, classes = [], []
    for e in summary["entries"]:
        m, g = e["metrics"], e["gain"].get("accuracy")
        p = "-" if not g or g.get("p") is None else f"{g['p']:.2g}"
        n = max((s["n"] for s in m.values()), default=0)
        rows.append(
            [CLASSIFIER_NAMES.get(e["classifier"], e["classifier"]),
             "^" + html.escape(_name(e["arm"])), "^W/O" if e["arm"] == "none" else "^W",
             *(_cell(m.get(k)) for k in ("accuracy", "precision", "recall", "auc")),
             _cell(g, 100, sign=True), p, str(n)]
        )  # fmt: skip
        classes.append("wo" if e["arm"] == "none" else "")
    verdicts = [verdict(e["classifier"], e["arm"], e["gain"].get("accuracy")) for e in
                _gain_entries(summary)]  # fmt: skip
    verdicts += [
        verdict(e["classifier"], e["arm"], e["gain_vs_classic"].get("accuracy"),
                against="classic augmentation alone")
        for e in summary["entries"] if e.get("gain_vs_classic")
    ]  # fmt: skip
    boxes = "".join(f"<div class='verdict {k}'>{html.escape(t)}</div>" for k, t in verdicts)
    inspected = _read(folder / "inspect" / "summary.json")
    warning = chance_note(summary, inspected["counts"]["test"]) if inspected else ""
    return (
        head + f"<p>Like the paper's Table III: each classifier is trained {settings['seeds']} "
        f"times (seeds) on the low-data subset <b>without</b> (W/O) and <b>with</b> (W) extra "
        f"images, at {settings['size']} px, up to {fit.get('epochs', '?')} epochs with early "
        "stopping on the real validation split, and tested on the real test split. Values are "
        "mean ± half-width of the 95 % interval over seeds. The gain is the paired per-seed "
        "difference in accuracy, in percentage points (W − W/O), tested with a paired t-test. "
        "With a handful of seeds only large effects can be detected.</p>"
        + _table(
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
        + f"<h3>Verdict</h3>{boxes}"
        + (f"<p class='note'><b>Caution:</b> {html.escape(warning)}</p>" if warning else "")
    )


def _copies_section(folder: Path, models: list[str]) -> str:
    parts = [
        "<h2>6. Is the generator copying its training images?</h2><p>For every synthetic image "
        "the closest training image is found; shown are the closest pairs (synthetic | nearest "
        "training image, with their distance). Identical-looking pairs would mean memorization "
        "(see the copy rate above).</p>"
    ]
    for model in models:
        result = _read(folder / "evaluate" / model / "metrics.json")
        copies = [v for v in image_verdicts(result) if v.topic == "copies"] if result else []
        for v in copies:  # the same sentence as in section 4, from the same function
            parts.append(
                f"<p class='note'><b>{MODEL_NAMES.get(model, model)}:</b> "
                f"{html.escape(v.message)}</p>"
            )
        for space in ("pixel", "domain"):
            path = folder / "evaluate" / model / f"closest-pairs-{space}.png"
            if path.is_file():
                parts.append(f"<h3>{MODEL_NAMES.get(model, model)}, {space} space</h3>")
                parts.append(_img(path, f"closest pairs {model} {space}"))
    return "".join(parts)


def render_report(folder: str | Path) -> str:
    """The whole report of one demo folder as an HTML string."""
    from gaunet.demo import reproduce_commands

    folder = Path(folder)
    state = _read(folder / "demo.json") or {"settings": {}, "steps": {}}
    settings = state["settings"]
    models = ["gaunet"] + (["gan", "cgan"] if settings.get("baselines") else [])
    steps = state.get("steps", {})
    num_classes = len((_read(folder / "inspect" / "summary.json") or {}).get("classes", [])) or 2
    summary = _read(folder / "downstream" / "summary.json")
    answer = headline(summary) if summary else "the downstream step has not run yet"
    images = _read(folder / "evaluate" / "gaunet" / "metrics.json")
    if images:
        first = image_verdicts(images)[0]
        image_box = (
            f"<div class='verdict {first.level}'><b>The GAU-Net images:</b> "
            f"{html.escape(first.message)} <i>Next:</i> {html.escape(first.next_step)}</div>"
        )
    else:
        image_box = ""
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
        + image_box
        + "<p>What the demo did, step by step:</p>"
        + _table(["step", "seconds", "result"], step_rows)
        + _dataset_section(folder, settings)
        + _training_section(folder, models)
        + _images_section(folder, models)
        + _metrics_section(folder, models)
        + _downstream_section(folder)
        + _copies_section(folder, models)
        + "<h2>7. Run it on your own data</h2><p>Every file the demo used is in "
        f"<code>{html.escape(str(folder))}</code>. These commands reproduce each part:</p>"
        f"<pre>{html.escape(reproduce_commands(settings, num_classes))}</pre></html>"
    )


def write_report(folder: str | Path) -> Path:
    """Write FOLDER/report.html (via a temporary name) and return its path."""
    path = Path(folder) / "report.html"
    partial = path.with_suffix(".html.partial")
    partial.write_text(render_report(folder), encoding="utf-8")
    partial.replace(path)
    return path
