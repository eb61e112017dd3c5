"""`gaunet pool --benchmarks DIR DIR ... --out DIR`: gains pooled over subset seeds."""

from __future__ import annotations

import argparse

from gaunet.cli import user_path

ORDER = 65


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pool",
        help="pool the gains of benchmark folders that differ only in --subset-seed",
        description=(
            "One benchmark folder is one subset and one trained generator, so its intervals "
            "cover classifier seeds only. Given folders of the same benchmark run with "
            "different --subset-seed, write OUT/pooled.md and OUT/pooled.json: per comparison, "
            "each subset's mean gain and the t-interval over subsets, which includes the "
            "generator's own randomness. `gaunet benchmark --subset-seeds` does this itself."
        ),
    )
    parser.add_argument(
        "--benchmarks",
        nargs="+",
        required=True,
        type=user_path,
        help="finished benchmark folders (2 or more)",
    )
    parser.add_argument(
        "--against",
        nargs="+",
        type=user_path,
        default=None,
        help="one folder per --benchmarks folder, same subset seeds in the same order: pool the "
        "per-subset differences of the gains (e.g. a lever against the same generators without it)",
    )
    parser.add_argument(
        "--out", required=True, type=user_path, help="folder for pooled.md and pooled.json"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gaunet.downstream.pooled import write_pooled
    from gaunet.errors import GaunetError

    if not str(args.out).strip():  # an unset shell variable: pooled.* would land in the cwd
        raise GaunetError("--out is empty; name the folder for pooled.md and pooled.json")

    pooled = write_pooled(Path(args.out), [Path(f) for f in args.benchmarks], args.against)
    print(f"wrote {pooled}")
    print(pooled.read_text())
    return 0
