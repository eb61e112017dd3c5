"""benchmarks/compare_checkpoints.py: equal checkpoints compare equal; one changed value, or one
tensor missing from a side, is named."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compare_checkpoints import main  # noqa: E402

from gaunet.training.checkpoint import save_checkpoint  # noqa: E402


def _save(path: Path, state: dict) -> Path:
    save_checkpoint(state, [path])
    return path


def test_equal_and_differing_checkpoints(tmp_path: Path, capsys) -> None:
    state = {"step": 3, "generator": {"w": torch.arange(4.0)}, "opt_g": {"state": [torch.ones(2)]}}
    first = _save(tmp_path / "a.pt", state)
    assert main([str(first), str(_save(tmp_path / "b.pt", state))]) == 0
    assert capsys.readouterr().out.strip().endswith("2 tensors, 0 differ")
    changed = {**state, "generator": {"w": torch.tensor([0.0, 1.0, 2.0, 3.0000002])}}
    assert main([str(first), str(_save(tmp_path / "c.pt", changed))]) == 1
    assert "differs: /generator/w" in capsys.readouterr().out
    fewer = {"step": 3, "generator": state["generator"]}
    assert main([str(first), str(_save(tmp_path / "d.pt", fewer))]) == 1
    assert "differs: /opt_g/state[0]" in capsys.readouterr().out
