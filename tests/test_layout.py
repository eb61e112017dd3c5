"""The layout stays livable (issue 31): no module in gaunet/ over 400 lines, so each stays one
topic a reader can hold (docs/architecture.md). A module that grows past it is split along its
seam, as report.py (tables / gains / advice) and generate.py (loading a run / writing a
dataset) were."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gaunet"
LIMIT = 400
MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_module_is_over_the_limit(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= LIMIT, f"{path.relative_to(PACKAGE)} has {lines} lines; split it along a seam"


def test_the_check_sees_the_package() -> None:
    assert len(MODULES) > 50 and (PACKAGE / "training" / "graphs.py") in MODULES
