"""`gaunet data inspect SOURCE` and `gaunet data prepare NAME --root DIR --out DIR`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

ORDER = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="inspect a SOURCE, or prepare one of the paper's datasets from its download"
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    from gaunet.data.inspect import add_inspect_parser
    from gaunet.data.recipes import add_prepare_parser

    add_inspect_parser(sub)
    add_prepare_parser(sub)
    for action in sub.choices.values():  # both read images, with a bar per pass
        action.add_argument("--quiet", action="store_true", help="no progress bars")
        action.set_defaults(func=_checked(action.get_default("func")))


def _checked(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`func` after the numeric options' ranges, named as typed, before any image is read:
    a negative --seed was a numpy traceback, `prepare --size 0` failed on every image and left
    OUT pinned to size 0, and `--slice-step 0` or `--window nan,400` were silently used."""

    def run(args: argparse.Namespace) -> int:
        import math

        from gaunet.config import seed_problem
        from gaunet.errors import GaunetError

        problems = []
        if args.size < 2:  # (organ crops are prepared at 6 px in tests; 1 px is no image)
            problems.append(f"--size must be at least 2 pixels, not {args.size}")
        if seed_problem(args.seed, "--seed"):
            problems.append(seed_problem(args.seed, "--seed"))
        if getattr(args, "window", None):
            from gaunet.data.sources import parse_window

            if not all(map(math.isfinite, parse_window(args.window) or ())):
                problems.append(f"--window {args.window!r}: center and width must be finite")
        for option, least in (("slice_step", 1), ("patch", 1), ("negatives_per_series", 0)):
            value = getattr(args, option, least)
            if value < least:
                flag = "--" + option.replace("_", "-")
                problems.append(f"{flag} must be at least {least}, not {value}")
        if problems:
            raise GaunetError("; ".join(problems))
        return func(args)

    return run
