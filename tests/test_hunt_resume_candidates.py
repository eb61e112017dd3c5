"""Which checkpoint a load with fallback tries first must not depend on the order the file
system lists a folder in: of two files of one step (`step-200.pt` and `step-000200.pt`) the
trainer's own name comes first, else the first by name, as downstream/snapshots.py picks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gaunet.training.checkpoint import candidates, load_checkpoint, save_checkpoint


def _state(step: int, mark: float) -> dict:
    return {"step": step, "w": torch.full((4,), mark)}


@pytest.mark.parametrize("listing", [sorted, lambda found: sorted(found, reverse=True)])
def test_candidates_prefer_the_trainers_name_whatever_the_listing_order(
    tmp_path, monkeypatch, listing
):
    folder = tmp_path / "checkpoints"
    save_checkpoint(_state(100, 1.0), [folder / "step-000100.pt"])
    save_checkpoint(_state(200, 2.0), [folder / "step-000200.pt"])
    save_checkpoint(_state(200, 3.0), [folder / "step-200.pt"])
    save_checkpoint(_state(200, 4.0), [folder / "step-0200.pt"])
    real_glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter(listing(real_glob(self, pattern))))
    names = [p.name for p in candidates(folder)]
    assert names == ["step-000200.pt", "step-0200.pt", "step-200.pt", "step-000100.pt"]
    state, loaded, _ = load_checkpoint(folder)
    assert loaded.name == "step-000200.pt" and float(state["w"][0]) == 2.0
