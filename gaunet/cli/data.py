"""`gaunet data inspect SOURCE` and `gaunet data prepare NAME --root DIR --out DIR`."""

from __future__ import annotations

import argparse

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
