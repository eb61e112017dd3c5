"""training/memory.py's lower bound on absurd values: a `--batch-size` (or network width) past a
float's range raised an OverflowError traceback from the estimate's float product, instead of
the one-line refusal that `--size 100000` gets."""

from __future__ import annotations

import pytest
import torch
from train_helpers import tiny_train

from gaunet.config import load_config
from gaunet.errors import GaunetError
from gaunet.training.memory import check_memory, estimate_bytes

HUGE = 10**400  # past a float (about 1.8e308); 10**305 x the rest: an inf product


@pytest.mark.parametrize(
    "override",
    [{"batch_size": HUGE}, {"d_growth": HUGE}, {"d_stem": HUGE}, {"batch_size": 10**305}],
)
def test_huge_values_are_refused_in_one_line(override):
    cfg = load_config("cpu-tiny", override)
    image_bytes, step_bytes = estimate_bytes(cfg, 10)
    assert step_bytes >= 2**64  # still far above any memory: refused, not waved through
    with pytest.raises(GaunetError, match="lower --size or --batch-size"):
        check_memory(cfg, torch.device("cpu"), 10)


def test_a_huge_batch_size_leaves_no_run_folder(tmp_path):
    with pytest.raises(GaunetError, match="needs about"):
        tiny_train(tmp_path / "run", steps=1, batch_size=HUGE)
    assert not (tmp_path / "run").exists()
