"""report.curves.read_metrics: the loss records a resumed or killed run leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaunet.errors import GaunetError
from gaunet.report.curves import read_metrics


def write_lines(run: Path, lines: list[str]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([25, 50, 75], [25, 50, 75]),  # a plain run
        ([25, 50, 75, 50, 75, 100], [25, 50, 75, 100]),  # resumed from the step-25 checkpoint
        ([25, 50, 25, 50], [25, 50]),  # resumed twice over the same stretch
    ],
)
def test_each_step_once_and_in_order(tmp_path: Path, steps: list[int], expected: list[int]) -> None:
    write_lines(
        tmp_path, [json.dumps({"step": s, "loss_d": float(i)}) for i, s in enumerate(steps)]
    )
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == expected
    # the later record of a repeated step wins (it is the one the resumed run produced)
    assert records[-1]["loss_d"] == float(len(steps) - 1)


def test_line_cut_short_by_a_kill_is_ignored(tmp_path: Path) -> None:
    write_lines(tmp_path, [json.dumps({"step": 25}), '{"step": 50, "loss'])
    assert [r["step"] for r in read_metrics(tmp_path)] == [25]


def test_missing_metrics_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GaunetError, match="metrics.jsonl"):
        read_metrics(tmp_path)


def test_garbled_metrics_and_run_json_are_skipped_not_a_traceback(tmp_path: Path) -> None:
    """A metrics.jsonl with bytes that are not UTF-8, or a line of JSON that is no record, and a
    damaged run.json were tracebacks of `gaunet compare --losses`."""
    from gaunet.report.curves import run_label

    write_lines(tmp_path, [json.dumps({"step": 25}), "[1, 2]", '{"step": "x"}', "7"])
    with open(tmp_path / "metrics.jsonl", "ab") as handle:
        handle.write(b'{"step": 50, "lo\xff\n' + json.dumps({"step": 75}).encode() + b"\n")
    assert [r["step"] for r in read_metrics(tmp_path)] == [25, 75]
    (tmp_path / "run.json").write_text("{")
    assert run_label(tmp_path) == f"? ({tmp_path.name})"
    (tmp_path / "run.json").write_text("[1]")
    assert run_label(tmp_path) == f"? ({tmp_path.name})"


def test_a_figure_cut_off_mid_write_leaves_the_earlier_one(tmp_path: Path, monkeypatch) -> None:
    """savefig wrote straight to the file: a full disk or a kill left a truncated PNG."""
    from matplotlib.figure import Figure

    from gaunet.report.curves import plot_losses

    run = tmp_path / "run"
    write_lines(
        run,
        [
            json.dumps({"step": s, "elapsed_seconds": s, "loss_d": 1.0, "loss_g": 2.0})
            for s in (1, 2)
        ],
    )
    out = plot_losses([run], tmp_path / "losses.png")
    before = out.read_bytes()
    assert before.startswith(b"\x89PNG")

    def cut_off(self, target, **kwargs):
        target.write(b"\x89PNG half")  # what reached the target before the disk filled
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", cut_off)
    with pytest.raises(OSError):
        plot_losses([run], out)
    assert out.read_bytes() == before
