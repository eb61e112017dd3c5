"""--select-snapshot: a folder whose snapshot files were thinned after the choice (the large
periodic checkpoints deleted, last.pt kept) continues from the recorded pick's images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from downstream_helpers import one_quiet_thread
from test_snapshot_selection import _helper, _selection_setup

from gaunet.downstream.arms import parse_arms
from gaunet.downstream.snapshots import saved_choice


@pytest.fixture(autouse=True)
def _quiet_single_thread(monkeypatch: pytest.MonkeyPatch) -> object:
    with one_quiet_thread(monkeypatch):
        yield


def test_a_folder_thinned_to_one_snapshot_keeps_its_pick(tmp_path: Path) -> None:
    """Step 300 was chosen; deleting step-000200.pt and step-000300.pt left one candidate
    (last.pt = step 400), and the rerun refused: "1 snapshot(s) ... to choose from"."""
    subset, validation, fake, extractors = _selection_setup()
    first = _helper(tmp_path, fake, validation, extractors)
    images, _, _ = first.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    (run,) = [Path(r) for r in fake.runs]
    for step in (200, 300):
        (run / "checkpoints" / f"step-{step:06d}.pt").unlink()
    again = _helper(tmp_path, fake, validation, extractors)
    repeat, _, manifest = again.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    record = json.loads(next((tmp_path / "generators").glob("*-selection.json")).read_text())
    assert len(extractors) == 1 and record["chosen"]["step"] == 300
    assert np.array_equal(images, repeat) and manifest.parent == Path(record["chosen"]["images"])


def test_a_deleted_pick_is_not_replaced_by_another_snapshot(tmp_path: Path) -> None:
    """Two snapshots left, the pick's file gone but its images here: rescoring chose another
    snapshot, so the folder's new cells trained on other images than its finished ones."""
    here = [{"step": s, "checkpoint": f"/r/step-{s}.pt", "sha256": f"d{s}"} for s in (2, 3, 4)]
    saved = {"criterion": "fd-val", "chosen": here[1], "snapshots": here}

    def folder_of(candidate: dict) -> Path:
        return tmp_path / f"step-{candidate['step']}"

    left = [here[0], here[2]]
    assert saved_choice(saved, "fd-val", left, folder_of) is None  # no images: choose again
    (tmp_path / "step-3").mkdir()
    (tmp_path / "step-3" / "manifest.csv").write_text("path,label\n")
    assert saved_choice(saved, "fd-val", left, folder_of)[0] == tmp_path / "step-3"
    # a snapshot the record never scored (a retrained or extended run): choose again
    other = [*left, {"step": 5, "checkpoint": "/r/step-5.pt", "sha256": "d5"}]
    assert saved_choice(saved, "fd-val", other, folder_of) is None
    # the pick still here: its own checkpoint, wherever the run is now
    moved = [{**c, "checkpoint": c["checkpoint"].replace("/r", "/s")} for c in here[1:]]
    assert saved_choice(saved, "fd-val", moved, folder_of) == (
        tmp_path / "step-3",
        Path("/s/step-3.pt"),
    )


@pytest.mark.parametrize("damage", ["cut", "list", "chosen-text", "snapshot-without-step"])
def test_a_damaged_selection_record_is_scored_again(tmp_path: Path, damage: str) -> None:
    """A selection.json cut short (a full disk) or edited by hand was a JSON traceback on the
    rerun (filter_choices chose again on the same damage): now it is scored again and rewritten."""
    subset, validation, fake, extractors = _selection_setup()
    first = _helper(tmp_path, fake, validation, extractors)
    images, _, _ = first.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    path = next((tmp_path / "generators").glob("*-selection.json"))
    record = json.loads(path.read_text())
    damaged = {
        "cut": path.read_text()[:40],
        "list": "[1, 2]",
        "chosen-text": json.dumps({**record, "chosen": "step 300"}),
        "snapshot-without-step": json.dumps(
            {**record, "snapshots": [{"sha256": "x"}, *record["snapshots"]]}
        ),
    }[damage]
    path.write_text(damaged)
    again = _helper(tmp_path, fake, validation, extractors)
    repeat, _, _ = again.extra_images(parse_arms(["gaunet"])[0], 0.5, subset)
    assert np.array_equal(images, repeat)  # the same snapshot, chosen again
    assert json.loads(path.read_text())["chosen"]["step"] == record["chosen"]["step"]
    assert len(extractors) == 2  # it scored again
