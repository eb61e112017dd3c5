"""Where each step of a demo writes: the one place that knows a demo folder's layout, shared by
the steps that write it and the report that reads it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DemoFolder:
    """The files of one demo folder (none of them need exist yet)."""

    root: Path

    @property
    def state(self) -> Path:
        """demo.json: the settings and each finished step's seconds and summary."""
        return self.root / "demo.json"

    @property
    def inspect(self) -> Path:
        return self.root / "inspect"

    @property
    def summary(self) -> Path:
        return self.inspect / "summary.json"

    @property
    def contact_sheet(self) -> Path:
        return self.inspect / "contact-sheet.png"

    @property
    def split(self) -> Path:
        return self.root / "split.csv"

    @property
    def subset(self) -> Path:
        return self.root / "subset.json"

    def run(self, model: str) -> Path:
        return self.root / "runs" / model

    @property
    def synthetic_root(self) -> Path:
        return self.root / "synthetic"

    def synthetic(self, model: str) -> Path:
        return self.synthetic_root / model

    def evaluation(self, model: str) -> Path:
        return self.root / "evaluate" / model

    def metrics(self, model: str) -> Path:
        return self.evaluation(model) / "metrics.json"

    @property
    def downstream(self) -> Path:
        return self.root / "downstream"

    @property
    def downstream_summary(self) -> Path:
        return self.downstream / "summary.json"

    @property
    def grid(self) -> Path:
        return self.root / "figures" / "figure2-grid.png"

    @property
    def curves(self) -> Path:
        return self.root / "figures" / "training-curves.png"

    @property
    def report(self) -> Path:
        return self.root / "report.html"


def read_if_done(path: Path) -> Any:
    """The JSON file a step wrote, or None while that step has not run."""
    return json.loads(path.read_text()) if path.is_file() else None
