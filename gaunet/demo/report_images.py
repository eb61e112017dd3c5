"""Sections 4 and 6 of the demo report: how good the synthetic images are, each number with
what it means in plain words, and whether the generator copies its training images."""

from __future__ import annotations

import html
from typing import Any

from gaunet.demo.layout import DemoFolder, read_if_done
from gaunet.metrics.domain_trust import domain_note
from gaunet.metrics.report import verdicts_html
from gaunet.metrics.verdict import image_verdicts
from gaunet.report.html import MODEL_NAMES, img, table


def _missing(value: Any) -> bool:
    """None (not measured) or NaN (not measurable, e.g. a class with one real image)."""
    return value is None or (isinstance(value, float) and value != value)


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if _missing(value) else f"{value:.{digits}f}"


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
    if _missing(stat.get("value")):
        return "n/a"
    ci = stat.get("ci95")
    return f"{stat['value']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{stat['value']:.3f}"


def _metric_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(metric, value, sample sizes, meaning) rows of one evaluate result."""
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
             f"~{MEANINGS['PA']} Here the ceiling is {_num(ceiling)}.{beside}"),
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
            if not _missing(diversity.get("ratio"))
            else "n/a (no class has two different real training images to compare the draws "
            f"with; {_num(diversity.get('within_source'), 4)} between draws)"
        )
        rows.append(("noise diversity", value, sizes, f"~{MEANINGS['diversity']}"))
    return rows


def metrics_section(folder: DemoFolder, models: list[str]) -> str:
    parts = [
        "<h2>4. How good are the synthetic images?</h2><p>Each synthetic set is compared with "
        "real <b>test</b> images it never saw. Brackets are 95 % bootstrap intervals; ± after "
        "KID is its spread over random subsets of half the images. The verdicts below each "
        "table are computed from these numbers (thresholds: docs/metrics.md).</p>"
    ]
    for model in models:
        result = read_if_done(folder.metrics(model))
        if result is None:
            parts.append(f"<p>{MODEL_NAMES.get(model, model)}: not evaluated yet</p>")
            continue
        rows = [list(r) for r in _metric_rows(result)]
        parts.append(f"<h3>{MODEL_NAMES.get(model, model)}</h3>")
        parts.append(table(["metric", "value", "sample sizes", "what it means"], rows))
        parts.append(verdicts_html(result))
    return "".join(parts)


def copies_section(folder: DemoFolder, models: list[str]) -> str:
    parts = [
        "<h2>6. Is the generator copying its training images?</h2><p>For every synthetic image "
        "the closest training image is found; shown are the closest pairs (synthetic | nearest "
        "training image, with their distance). Identical-looking pairs would mean memorization "
        "(see the copy rate above).</p>"
    ]
    for model in models:
        result = read_if_done(folder.metrics(model))
        copies = [v for v in image_verdicts(result) if v.topic == "copies"] if result else []
        for v in copies:  # the same sentence as in section 4, from the same function
            parts.append(
                f"<p class='note'><b>{MODEL_NAMES.get(model, model)}:</b> "
                f"{html.escape(v.message)}</p>"
            )
        for space in ("pixel", "domain"):
            path = folder.evaluation(model) / f"closest-pairs-{space}.png"
            if path.is_file():
                parts.append(f"<h3>{MODEL_NAMES.get(model, model)}, {space} space</h3>")
                parts.append(img(path, f"closest pairs {model} {space}"))
    return "".join(parts)
