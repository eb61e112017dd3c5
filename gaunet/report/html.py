"""HTML pieces any gaunet report can use: one stylesheet, inlined PNGs (so a report is one
self-contained file that can be mailed or opened offline), tables, display names, and the
downstream verdict sentence, computed from the paired difference's interval and p-value, never
written by hand."""

from __future__ import annotations

import base64
import html
from pathlib import Path

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


def arm_name(arm: str) -> str:
    """Display name of a benchmark arm (`run:gaunet` is the demo's GAU-Net run)."""
    if arm.endswith("+classic"):
        return f"{arm_name(arm.removesuffix('+classic'))} + classic augmentation"
    model = arm.removeprefix("run:")
    if arm == "none":
        return "none (real images only)"
    if arm == "classic":
        return "classic augmentation"
    if arm == "copies":  # the control arm: extra optimiser steps without new images
        return "plain copies of the real images"
    if arm == "typical-copies":  # the filter's control
        return "copies of the real images the filter's classifier finds most typical"
    return f"{MODEL_NAMES.get(model, model)} images"


def verdict(
    classifier: str,
    arm: str,
    gain: dict | None,
    against: str = "real images only",
    at_top: bool = False,
) -> tuple[str, str]:
    """(kind, sentence) for the accuracy gain W - W/O (or, with `against`, over another arm):
    kind is better, worse or none. `at_top`: both arms scored 1.0 on every seed compared, so
    a gain of 0 on every seed is neither chance nor determinism (gains.at_top)."""
    who = f"{CLASSIFIER_NAMES.get(classifier, classifier)} with {arm_name(arm)}"
    if against != "real images only":
        who += f", against {against}"
    if not gain or gain.get("mean") is None:
        return "none", f"{who}: no paired results, so no verdict."
    mean, half, p, n = gain["mean"] * 100, gain.get("half"), gain.get("p"), gain.get("n", 0)
    if p is None:
        why = (
            "only one seed" if n < 2
            else "accuracy was 1.0 on every seed compared, with and without these images, so no "
            "gain was possible and more seeds cannot change that" if at_top
            else "every seed gave the same difference (the classifier is deterministic on the "
            "same images, so the seeds are not independent repeats)" if classifier.startswith("svm")
            else "every seed gave the same difference, by chance (a network's seeds differ: add "
            "seeds)"
        )  # fmt: skip
        return "none", (
            f"{who}: {mean:+.1f} accuracy points against {against}, but {why}; "
            "no significant difference can be claimed."
        )
    spread = (
        f"{mean:+.1f} ± {half * 100:.1f} points, 95 % CI; paired t-test p = {p_text(p)}, {n} seeds"
    )
    if p < ALPHA and mean > 0:
        return "better", f"{who}: augmentation helped by {mean:.1f} ± {half * 100:.1f} " + (
            f"accuracy points (95 % CI; paired t-test p = {p_text(p)}, {n} seeds)."
        )
    if p < ALPHA and mean < 0:
        return "worse", f"{who}: augmentation hurt, by {-mean:.1f} ± {half * 100:.1f} " + (
            f"accuracy points (95 % CI; paired t-test p = {p_text(p)}, {n} seeds)."
        )
    return "none", f"{who}: no significant difference ({spread})."


def img(path: Path, alt: str, zoom: int = 1) -> str:
    """The PNG inlined as base64; `zoom` enlarges small pixel images without smoothing."""
    if not path.is_file():
        return f"<p class='note'>({html.escape(alt)}: not produced)</p>"
    from PIL import Image

    try:  # an empty or cut-short PNG (a write killed midway) is named, not shown as a blank
        with Image.open(path) as image:
            image.load()
            width = image.width
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return (
            f"<p class='note'>({html.escape(alt)}: {html.escape(path.name)} is empty or "
            "damaged; delete it and rerun the command that writes it)</p>"
        )
    size = f' class="zoom" width="{min(width * zoom, 1060)}"' if zoom > 1 else ""
    return f'<p><img alt="{html.escape(alt)}"{size} src="data:image/png;base64,{data}"></p>'


def table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
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


def p_text(p: float) -> str:
    """A p-value in 2 significant digits, or as many more as keep it off "0.05" (0.0496 and
    0.0504 both read "0.05" in 2, 0.04999 in 3, but fall on either side of the verdict)."""
    if p == 0.05:
        return "0.05"
    return next(t for d in range(2, 18) if (t := f"{p:.{d}g}") != "0.05")
