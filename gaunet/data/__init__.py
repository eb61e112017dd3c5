"""Data layer: every SOURCE becomes an ImageSet; splits and same-class pairs on top."""

from gaunet.data.imageset import ImageSet, Problem, from_unit_range, to_unit_range
from gaunet.data.skipped import print_skip_summary, skip_summary
from gaunet.data.sources import SourceError, load_source, parse_window
from gaunet.data.splits import apply_split, assign_split, make_split, read_split, write_split

__all__ = [
    "ImageSet",
    "Problem",
    "SourceError",
    "apply_split",
    "assign_split",
    "from_unit_range",
    "load_source",
    "make_split",
    "parse_window",
    "print_skip_summary",
    "read_split",
    "skip_summary",
    "to_unit_range",
    "write_split",
]
