"""The demo report's "run it on your own data" commands carry the demo's --seed and
--channels to every part (hunt: a demo with --seed 2 or --channels 3 printed part commands
that ran with seed 0 and one channel, so they reproduced another split and other numbers)."""

from __future__ import annotations

import shlex

from gaunet.cli import build_parser
from gaunet.demo import reproduce_commands


def test_part_commands_carry_seed_and_channels() -> None:
    text = reproduce_commands({"data": "x.npz", "seed": 2, "channels": 3}, num_classes=2)
    parser = build_parser()
    parsed = {
        line.split()[1]: parser.parse_args(shlex.split(line.split("  #")[0])[1:])
        for line in text.splitlines()
        if line.startswith("gaunet ")
    }
    assert parsed["demo"].seed == 2 and parsed["demo"].channels == 3
    assert parsed["data"].seed == 2 and parsed["data"].channels == 3
    assert parsed["train"].seed == 2 and parsed["train"].channels == 3
    assert parsed["compare"].seed == 2
    assert parsed["evaluate"].seed == 2 and parsed["evaluate"].channels == 3
    bench = parsed["benchmark"]
    assert (bench.split_seed, bench.subset_seed, bench.channels) == (2, 2, 3)
