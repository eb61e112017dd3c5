"""The pace of a `gaunet train` run (or of a generator a benchmark trains), running or stopped,
from its metrics.jsonl and run.json: the figures docs/augmentation.md gives for item 5.

    python benchmarks/run_pace.py RUN [RUN ...] [--from-step N] [--to-step M] [--intervals K]

For each RUN, one line: the last logged step of the run's target, seconds per step between
the log records at --from-step and --to-step (default: the last K log intervals), the median
interval's seconds per step beside it, and the hours left to the target at that pace.

The clock is the run's own `elapsed_seconds`: it leaves out the time between a stop and its
resume, but counts a process paused with SIGSTOP (the median shows such a pause: it stays near
the undisturbed pace while the mean grows). Steps logged again after a resume from an earlier
checkpoint replace the ones they repeat.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def logged_steps(metrics: Path) -> list[tuple[int, float]]:
    """(step, elapsed_seconds) of every log record, in step order; a record at or below an
    earlier step (a resume from an older checkpoint) drops the records it repeats."""
    records: list[tuple[int, float]] = []
    for line in metrics.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if "step" not in record or "elapsed_seconds" not in record:
            continue  # a rollback's or another kind of record
        step = int(record["step"])
        while records and records[-1][0] >= step:
            records.pop()
        records.append((step, float(record["elapsed_seconds"])))
    return records


def pace(
    run: Path, from_step: int | None = None, to_step: int | None = None, intervals: int = 10
) -> dict:
    """The figures of one run (see the module docstring); raises ValueError when the window
    holds fewer than two log records."""
    records = logged_steps(run / "metrics.jsonl")
    if to_step is not None:
        records = [r for r in records if r[0] <= to_step]
    window = [r for r in records if r[0] >= from_step] if from_step is not None else records
    if from_step is None:
        window = window[-(intervals + 1) :]
    if len(window) < 2:
        raise ValueError(f"{run}: fewer than two log records in the window")
    (first, start), (last, end) = window[0], window[-1]
    seconds_per_step = (end - start) / (last - first)
    per_interval = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(window, window[1:])]
    info = json.loads((run / "run.json").read_text())
    target = int(info.get("steps_target") or 0)
    left = max(target - records[-1][0], 0) * seconds_per_step / 3600 if target else None
    return {
        "run": str(run),
        "step": records[-1][0],
        "target": target or None,
        "from": first,
        "to": last,
        "seconds_per_step": seconds_per_step,
        "median_seconds_per_step": statistics.median(per_interval),
        "hours_left": left,
    }


def line(figures: dict) -> str:
    target = f" of {figures['target']}" if figures["target"] else ""
    left = figures["hours_left"]
    text = (
        f"{figures['run']}: step {figures['step']}{target}; steps {figures['from']}-"
        f"{figures['to']}: {figures['seconds_per_step']:.2f} s/step (median interval "
        f"{figures['median_seconds_per_step']:.2f})"
    )
    return text + (f"; {left:.2f} h left at that pace" if left is not None else "")


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    parser.add_argument("--from-step", type=int, default=None)
    parser.add_argument("--to-step", type=int, default=None)
    parser.add_argument("--intervals", type=int, default=10, help="without --from-step")
    args = parser.parse_args(argv)
    lines = []
    for run in args.runs:
        try:
            lines.append(line(pace(run, args.from_step, args.to_step, args.intervals)))
        except ValueError as error:  # a run too young for the window: said, the others go on
            lines.append(str(error))
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
