"""Loss curves of training runs from their metrics.jsonl: one panel per loss, one line per run,
against wall-clock minutes (the budget every model gets) so runs of different speeds line up."""

from __future__ import annotations

import io
import json
from pathlib import Path

from gaunet.errors import GaunetError, os_error
from gaunet.io import write_atomic


def literal(text: str) -> str:
    """`text` as matplotlib shows it verbatim: a `$` (a class or folder name such as `a_$x$`)
    would otherwise start mathtext, drawn wrong or refused with a ValueError at save time."""
    return str(text).replace("$", r"\$")


def read_metrics(run: str | Path) -> list[dict]:
    """The records of RUN/metrics.jsonl (one per log interval), in order."""
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        raise GaunetError(f"{path}: missing; is {run} a run folder that has logged a step?")
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        raise GaunetError(os_error(error, path, "cannot read")) from None
    records: list[dict] = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill mid-append, or garbled
            continue
        if not isinstance(record, dict):
            continue  # not a record a run logs
        step = record.get("step")
        if "step" in record and not _is_number(step, int):  # `"step": null` included
            continue
        # After a resume the steps logged since the last checkpoint are logged again: the
        # later record of a step wins, so each step appears once and in order.
        while records and step is not None and records[-1].get("step", -1) >= step:
            records.pop()
        records.append(record)
    return records


def _is_number(value: object, kind: type | tuple[type, ...] = (int, float)) -> bool:
    """A JSON number (not a bool, which is an int to Python, and not null or a string)."""
    return isinstance(value, kind) and not isinstance(value, bool)


def run_label(run: str | Path) -> str:
    """The run's model name (from run.json) and folder name."""
    try:
        info = json.loads((Path(run) / "run.json").read_text())
    except (OSError, ValueError):  # missing or damaged: the label does without
        info = {}
    model = str(info.get("model", "?")) if isinstance(info, dict) else "?"
    return f"{model} ({Path(run).name})" if model != Path(run).name else model


def _run_labels(runs: list[str | Path]) -> list[str]:
    """run_label of each run; a label several runs share (seed0/gaunet and seed1/gaunet both
    read "gaunet") gets the run's place in the list, as the grid's columns do."""
    labels = [run_label(run) for run in runs]
    return [
        f"{label} #{i}" if labels.count(label) > 1 else label for i, label in enumerate(labels, 1)
    ]


def plot_losses(
    runs: list[str | Path],
    out: str | Path,
    keys: tuple[str, ...] = ("loss_d", "loss_g"),
    x: str = "elapsed_seconds",
    title: str = "",
) -> Path:
    """PNG with one panel per key in `keys`; x is minutes (from `elapsed_seconds`) or, with
    x="step" / "images_seen", that column. A run lacking a key is named in its panel's legend
    as having logged none. Losses of different families are on different scales (WGAN critic
    vs BCE): compare their trends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for run, label in zip(runs, _run_labels(runs)):
        records = read_metrics(run)
        label = literal(label)
        for ax, key in zip(axes[0], keys):
            # numbers only: a garbled record's null or string would fail or skew the panel
            points = [
                (r[x], r[key]) for r in records if _is_number(r.get(x)) and _is_number(r.get(key))
            ]
            if not points:  # named in the legend, not silently missing (an empty metrics.jsonl)
                ax.plot([], [], linestyle="none", label=f"{label}: no {literal(key)} logged")
                continue
            xs, ys = zip(*points)
            if x == "elapsed_seconds":
                xs = [v / 60 for v in xs]
            ax.plot(xs, ys, label=label, linewidth=1, marker="." if len(xs) < 30 else None)
    for ax, key in zip(axes[0], keys):
        ax.set_title(key)
        ax.set_xlabel("minutes" if x == "elapsed_seconds" else x)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(literal(title))
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()  # whole or not at all: a full disk or a kill leaves no half figure
    fig.savefig(buffer, format=out.suffix[1:].lower() or "png", dpi=100)
    plt.close(fig)
    write_atomic(out, buffer.getvalue(), durable=False)
    return out
