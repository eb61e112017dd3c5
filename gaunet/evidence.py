"""The measured results gaunet's output quotes, from one file: gaunet/evidence.yaml, written by
benchmarks/write_evidence.py from docs/results and checked against it by
tests/test_evidence.py. Text in code says what to try and why; the numbers come from here, so
a rerun that changes a number changes it everywhere."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

EVIDENCE = Path(__file__).with_name("evidence.yaml")
_WORDS = "zero one two three four five six seven eight nine ten".split()


@cache
def evidence() -> dict[str, Any]:
    """The whole file, read once."""
    return yaml.safe_load(EVIDENCE.read_text())


def gain(key: str, metric: str) -> str:
    """A measured gain as the advice writes it: `+1.2` (percentage points)."""
    return f"{evidence()[key][metric]['mean']:+.1f}"


def significant(key: str, metric: str) -> bool:
    """Whether that gain's 95 % interval is above 0."""
    return bool(evidence()[key][metric]["significant"])


def subsets(key: str) -> str:
    """How many subsets a pooled result covers, in words up to ten (`nine subsets`)."""
    count = int(evidence()[key]["subsets"])
    return f"{_WORDS[count] if count < len(_WORDS) else count} subsets"


def spread(key: str = "subset_spread") -> str:
    """The range of a gain's movement between subsets, in points: `3.1-4.2`."""
    record = evidence()[key]
    return f"{record['smallest']:.1f}-{record['largest']:.1f}"


def pa_range(kind: str, key: str = "filter_pa") -> str:
    """A measured range of class fidelity, `0.61-0.78` (kind: unfiltered or filtered)."""
    record = evidence()[key][f"pa_{kind}"]
    return f"{record['low']:.2f}-{record['high']:.2f}"
