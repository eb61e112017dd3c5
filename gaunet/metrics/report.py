"""Self-contained HTML report of one `evaluate` result: tables, a per-class bar chart and the
closest synthetic-train pairs, every figure inlined as base64 PNG so the file travels alone."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.io import write_atomic

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}.note{color:#666;font-size:90%}"
    ".verdict{border-left:5px solid #8c959f;background:#f6f8fa;padding:0.4em 0.8em;margin:0.4em 0}"
    ".verdict.unusable{border-color:#cf222e;background:#fff1f0}"
    ".verdict.warning{border-color:#bf8700;background:#fff8c5}"
    ".verdict.ok{border-color:#2da44e;background:#eef6ee}"
    "img{max-width:100%}"  # the per-class chart widens with the classes: kept inside the page
)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return "n/a"
    if isinstance(value, dict) and "value" in value:
        # a rate or share with its interval: both to 3 decimals (as the demo report writes them)
        # so "0.05 [0.028, 0.052]" never shows the estimate coarser or finer than its bounds
        point = value["value"]
        text = "n/a" if _fmt(point) == "n/a" else f"{point:.3f}"
        ci = value.get("ci95")
        return f"{text} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and text != "n/a" else text
    if isinstance(value, dict) and "mean" in value:
        if not value["std"] > 0:  # one subset, or every subset was the whole (tiny) set
            why = "one subset" if value.get("subsets", 2) < 2 else "too few images"
            return f"{value['mean']:.4g} (no spread: {why})"
        # significant figures, as the terminal writes it: a KID of 3e-05 read "0.0000"
        return f"{value['mean']:.4g} &plusmn; {value['std']:.2g}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def verdicts_html(result: dict[str, Any]) -> str:
    """The verdicts of gaunet.metrics.verdict as coloured boxes (shared with the demo report)."""
    from gaunet.metrics.verdict import image_verdicts

    boxes, given = [], []
    for v in image_verdicts(result):
        new = v.next_step and not any(v.next_step in g for g in given)
        step = f"<br><i>Next:</i> {html.escape(v.next_step)}" if new else ""
        given.append(v.next_step)
        boxes.append(
            f"<div class='verdict {v.level}'><b>{html.escape(v.level)}</b> "
            f"({html.escape(v.topic)}): {html.escape(v.message)}{step}</div>"
        )
    return "".join(boxes)


def _feature_section(name: str, entry: dict[str, Any], note: str = "") -> str:
    if not entry.get("available"):
        return f"<h3>{html.escape(name)}</h3><p>unavailable: {html.escape(entry['reason'])}</p>"
    metric = entry["metric_name"]
    header = [
        "set",
        "n real",
        "n synthetic",
        metric,
        "KID",
        "precision",
        "recall",
        "density",
        "coverage",
    ]
    rows = []
    for label, part in [("all", entry["overall"]), *entry["per_class"].items()]:
        prdc = part["PRDC"] or {}
        rows.append(
            [
                label,
                part["n_real"],
                part["n_synthetic"],
                part[metric],
                part["KID"],
                *(prdc.get(m) for m in ("precision", "recall", "density", "coverage")),
            ]
        )
    described = html.escape(json.dumps(entry["extractor"]))
    beside = f"<p><b>{html.escape(note)}</b></p>" if note and name == "domain" else ""
    return (
        f"<h3>{metric} ({html.escape(name)})</h3>{beside}{_table(header, rows)}"
        f"<p class='note'>{described}</p>"
    )


def per_class_chart(result: dict[str, Any]) -> bytes | None:
    """Bars per class: PA and, for the first available extractor, recall and coverage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = result["classes"]
    series: dict[str, list[float]] = {}
    if "PA" in result:
        series["PA"] = [result["PA"]["per_class"].get(c, {}).get("value", np.nan) for c in classes]
    for name, entry in result["features"].items():
        if entry.get("available"):
            for metric in ("precision", "recall", "coverage"):
                series[f"{metric} ({name})"] = [
                    (entry["per_class"][c]["PRDC"] or {}).get(metric, {}).get("value", np.nan)
                    for c in classes
                ]
            break
    if not series:
        return None
    figure, ax = plt.subplots(figsize=(max(5, 1.6 * len(classes) * len(series) / 2), 3.2))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        ax.bar(np.arange(len(classes)) + i * width, values, width, label=label)
    from gaunet.report.curves import literal

    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, [literal(c) for c in classes])
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("per-class fidelity and coverage")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def render_html(result: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>gaunet evaluate</title>"
        f"<style>{STYLE}</style><h1>Evaluation of synthetic images</h1>"
    ]
    sources = result["sources"]
    parts.append(
        f"<p>real: <code>{html.escape(sources['real'])}</code> (reference split "
        f"<b>{html.escape(result['reference_split'])}</b>), synthetic: "
        f"<code>{html.escape(sources['synthetic'])}</code></p>"
    )
    from gaunet.metrics.domain_trust import domain_note

    note = domain_note(result)
    samples = {k: v for k, v in result["samples"].items() if not isinstance(v, dict)}
    parts.append(_table(list(samples), [list(samples.values())]))
    parts.append("<h2>Verdict</h2>" + verdicts_html(result))
    parts.append("<h2>Distribution metrics</h2>")
    parts += [_feature_section(name, entry, note) for name, entry in result["features"].items()]
    if "PA" in result:
        parts += _pa_section(result["PA"], note)
    chart = per_class_chart(result)
    if chart:
        parts.append(_img(chart, "per-class bar chart"))
    parts += _memorization_section(result["memorization"], note)
    if "noise_diversity" in result:
        parts.append(_diversity_section(result["noise_diversity"]))
    return "\n".join(parts)


def _pa_section(pa: dict[str, Any], note: str) -> list[str]:
    rows = [["all", pa["n"], pa, pa["real_reference_accuracy"]]]
    rows += [
        [c, v["n"], v, pa["real_reference_accuracy"]["per_class"].get(c)]
        for c, v in pa["per_class"].items()
    ]
    parts = ["<h2>PA (class fidelity)</h2>"]
    if note:
        parts.append(f"<p><b>{html.escape(note)}</b></p>")
    parts.append(_table(["class", "n synthetic", "PA [95% CI]", "real accuracy"], rows))
    return parts


def _memorization_section(audits: dict[str, Any], note: str) -> list[str]:
    parts = ["<h2>Memorization audit</h2>"]
    if note and "domain" in audits:
        parts.append(f"<p>domain space: <b>{html.escape(note)}</b></p>")
    rows = [
        [
            space,
            a["n_synthetic"],
            a["threshold"],
            {"value": a["copy_rate"], "ci95": a["ci95"]},
            a["synthetic_to_train"]["median"],
            a["test_to_train"]["median"],
        ]
        for space, a in audits.items()
    ]
    parts.append(
        _table(
            [
                "space",
                "n synthetic",
                "threshold",
                "copy rate [95% CI]",
                "median synth->train",
                "median test->train",
            ],
            rows,
        )
    )
    for space, audit in audits.items():
        why = audit.get("threshold_note")  # why the training images set it, when they did
        line = html.escape(f"{space} threshold: {audit.get('threshold_rule', '')}")
        parts.append(f"<p>{line}{f' <b>({html.escape(why)})</b>' if why else ''}</p>")
    for space, audit in audits.items():
        if audit.get("figure") and Path(audit["figure"]).is_file():
            parts.append(f"<h3>closest pairs, {html.escape(space)} space</h3>")
            parts.append(_img(Path(audit["figure"]).read_bytes(), f"closest pairs {space}"))
    return parts


def _diversity_section(d: dict[str, Any]) -> str:
    """Does the generator's output change with its noise? (gaunet.metrics.diversity)"""
    rows = [["all", d["within_source"], d["real_pairs"], d["ratio"], d["to_source"]]]
    rows += [
        [c, v["within_source"], v["real_pairs"], v["ratio"], v["to_source"]]
        for c, v in d["per_class"].items()
    ]
    header = ["class", "between draws", "between real images", "ratio", "draw to its source"]
    scale = d.get("noise_scale", 1.0)
    scale_note = f" Measured with every noise vector multiplied by {scale:g}." if scale != 1 else ""
    return (
        "<h2>Noise diversity</h2>"
        f"<p>{d['draws']} noise draws for each of {d['sources']} conditioning images per class, "
        "mean absolute pixel difference in [0, 1] units. A ratio near 0 means the generator "
        "barely uses its noise: each training image yields essentially one new image, however "
        f"many are drawn.{scale_note}</p>" + _table(header, rows)
    )


def result_json(result: dict[str, Any]) -> str:
    """The result as strict JSON (`--json`): NaN or inf (noise diversity of a class with one
    training image) as null, numpy numbers as plain ones."""
    from gaunet.io import finite_values, jsonable

    return json.dumps(finite_values(result), indent=2, default=jsonable, allow_nan=False)


def write_report(result: dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render_html(result).encode("utf-8"), durable=False)
    return path
