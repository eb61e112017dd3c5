"""The short "files skipped" summary every command that reads a SOURCE prints, as `data inspect`
does: how many, the first few lines, and where the full list is. Also the reader's notes about
images it read but changed (16-bit data scaled by the depth it uses)."""

from __future__ import annotations

import sys
from pathlib import Path

from gaunet.data.imageset import ImageSet

SKIPPED_FILE = "skipped-files.txt"
SHOWN = 5


def skip_summary(
    data: ImageSet,
    out: str | Path | None = None,
    name: str = SKIPPED_FILE,
    limit: int = SHOWN,
) -> str | None:
    """A few lines about the files `data` skipped (and the reader's notes), or None when there is
    nothing to say. With `out`, the full list is written to out/`name` (file paths in
    clear: it is for the person who fixes the files) and the summary says so, or an earlier
    list there is removed when nothing was skipped; without, it points to `gaunet data inspect
    SOURCE`."""
    lines: list[str] = []
    problems = data.problems
    if out is not None and not problems:  # a rerun that skips nothing: no earlier run's list
        (Path(out) / name).unlink(missing_ok=True)
    if problems:
        if out is not None:
            target = Path(out) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(f"{p}\n" for p in problems), encoding="utf-8")
            where = f"all in {target}"
        else:
            where = f"all: gaunet data inspect {data.source}"
        lines.append(f"{len(problems)} file(s) skipped in {data.source} ({where}):")
        lines += [f"  {p}" for p in problems[:limit]]
        if len(problems) > limit:
            lines.append(f"  ... and {len(problems) - limit} more")
    for note, count in data.info.get("notes", {}).items():
        lines.append(f"note: {count} image(s) in {data.source}: {note}")
    return "\n".join(lines) if lines else None


def print_skip_summary(
    data: ImageSet, out: str | Path | None = None, name: str = SKIPPED_FILE
) -> str | None:
    """`skip_summary` printed to stderr (nothing when there is nothing to say); returns it."""
    text = skip_summary(data, out, name)
    if text:
        print(text, file=sys.stderr, flush=True)
    return text
