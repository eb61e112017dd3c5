"""Bug hunt (run records): loss curves from garbled metrics, a results.csv cut in its last
column, an unreadable last.pt among the snapshots, NaN against an infinite score, and a run's
checkpoints folder given to load_generator."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from gaunet.downstream.results_file import read_results, write_rows
from gaunet.downstream.snapshots import choose_snapshot, snapshot_candidates
from gaunet.downstream.stats import METRICS
from gaunet.errors import GaunetWarning
from gaunet.report.curves import plot_losses, read_metrics


def _metrics(run: Path, records: list[dict]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_null_step_is_skipped_not_a_traceback(tmp_path: Path) -> None:
    """`"step": null` passed the step check and the next record's comparison raised TypeError."""
    _metrics(tmp_path, [{"step": 5, "loss_d": 1.0}, {"step": None}, {"step": 10, "loss_d": 2.0}])
    assert [r["step"] for r in read_metrics(tmp_path)] == [5, 10]


def test_null_values_are_left_out_of_the_curves(tmp_path: Path) -> None:
    """A null loss or time in a record made plot_losses raise TypeError (None / 60)."""
    run = tmp_path / "run"
    _metrics(
        run,
        [
            {"step": 1, "elapsed_seconds": 60, "loss_d": 1.0, "loss_g": 2.0},
            {"step": 2, "elapsed_seconds": None, "loss_d": 1.0, "loss_g": 2.0},
            {"step": 3, "elapsed_seconds": 180, "loss_d": None, "loss_g": 2.0},
        ],
    )
    out = plot_losses([run], tmp_path / "losses.png")
    assert out.read_bytes().startswith(b"\x89PNG")


def _cell(seconds: str) -> list[dict]:
    common = {"classifier": "svm", "arm": "none", "fraction": "0.5", "seed": "0", "value": "0.8"}
    extra = {"n_real": "10", "n_extra": "0", "epochs_run": "1", "best_epoch": "1"}
    return [{**common, **extra, "metric": m, "seconds": seconds} for m in METRICS]


def test_a_row_cut_in_its_last_column_is_not_a_finished_cell(tmp_path: Path) -> None:
    """A write cut inside `seconds` left a row with every column: the cell read as finished,
    its time cut short (12.345 s read as 12.3), kept for good by the resume's rewrite."""
    path = tmp_path / "results.csv"
    write_rows(path, _cell("12.345"), "w")
    assert len(read_results(path)) == len(METRICS)
    path.write_bytes(path.read_bytes()[:-4])  # ...,12.3
    assert read_results(path) == []
    write_rows(path, read_results(path), "w")  # as the benchmark's resume does
    write_rows(path, _cell("12.345"), "a")  # then the recomputed cell
    rows = read_results(path)
    assert len(rows) == len(METRICS) and {r["seconds"] for r in rows} == {"12.345"}


def test_an_unreadable_last_pt_leaves_the_periodic_snapshots(tmp_path: Path) -> None:
    """A damaged last.pt made --select-snapshot fail outright, where a resume or `gaunet
    generate` of the run skip it for the newest periodic file."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("step-000200.pt", "step-000400.pt"):
        (folder / name).write_bytes(name.encode())
    (folder / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.warns(GaunetWarning, match="last.pt"):
        candidates = snapshot_candidates(tmp_path)
    assert [c["step"] for c in candidates] == [200, 400]


@pytest.mark.parametrize(
    ("criterion", "key", "worst"), [("fd-val", "fd_val", "inf"), ("cas-val", "cas_val_auc", "-inf")]
)
def test_nan_ranks_after_an_infinite_score(criterion: str, key: str, worst: str) -> None:
    """NaN and the worst number tied, and the tie went to the later step: the NaN one."""
    scores = [{"step": 1, key: float(worst)}, {"step": 2, key: float("nan")}]
    assert choose_snapshot(scores, criterion)["step"] == 1


def test_load_generator_takes_a_runs_checkpoints_folder(tmp_path: Path) -> None:
    """RUN/checkpoints failed as "RUN/checkpoints/checkpoints: no checkpoint found"."""
    from train_helpers import tiny_train

    from gaunet.trained_generator import load_generator

    before = torch.get_num_threads()
    try:
        run = tiny_train(tmp_path / "run", steps=2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            gen = load_generator(Path(run) / "checkpoints", device="cpu")
        assert gen.step == load_generator(run, device="cpu").step == 2
        assert len(gen.train_images) > 0  # the run's, beside its checkpoints folder
    finally:
        torch.set_num_threads(before)
