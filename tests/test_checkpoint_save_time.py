"""benchmarks/checkpoint_save_time.py: a short run with its saves timed, the line it prints."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from train_helpers import PHANTOM, TINY

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import checkpoint_save_time  # noqa: E402


def test_every_save_of_the_run_is_timed(capsys) -> None:
    sets = [f"--set={key}={value}" for key, value in {**TINY, "checkpoint_every": 2}.items()]
    line = checkpoint_save_time.main(
        ["--data", PHANTOM, "--config", "cpu-tiny", "--steps", "5", *sets]
    )
    assert capsys.readouterr().out.strip() == line
    match = re.fullmatch(
        r"cpu-tiny (\d+) bytes, saves ([\d. ]+) s, ([\d.]+)% of checkpoint_minutes 10", line
    )
    assert match, line
    assert int(match[1]) > 10_000  # the networks, optimisers and EMA of the tiny preset
    assert len(match[2].split()) == 3  # steps 2 and 4, and the end (5)


def test_the_original_save_is_put_back() -> None:
    from gaunet.training import loop

    before = loop.save_checkpoint
    checkpoint_save_time.timed_saves(PHANTOM, "cpu-tiny", {**TINY}, 1)
    assert loop.save_checkpoint is before
