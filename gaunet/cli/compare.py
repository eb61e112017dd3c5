"""`gaunet compare --runs RUN_A RUN_B ... --out FIG.png [--per-class K] [--losses CURVES.png]`"""

from __future__ import annotations

import argparse

from gaunet.cli import add_device_argument, user_path

ORDER = 40


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="side-by-side samples of several runs (the paper's Figure 2)",
        description=(
            "Write a PNG grid: one row per real training image of the first run (K per class), "
            "that image first, then one sample per run, each column labelled with its model. "
            "GAU-Net runs are conditioned on the row's image; gan/cgan draw a sample of its class. "
            "Runs must share classes, size and channels. The same --seed on the same device gives "
            "the same figure."
        ),
    )
    parser.add_argument(
        "--runs", nargs="+", required=True, type=user_path, help="run folders (gaunet train)"
    )
    parser.add_argument("--out", required=True, type=user_path, help="PNG to write")
    parser.add_argument("--per-class", type=int, default=2, help="rows per class (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="choice of real images and noise")
    add_device_argument(
        parser,
        "the generators",
        ". The noise is drawn on the CPU on any device, so a GPU's figure differs from the "
        "CPU's only by rounding",
    )
    parser.add_argument(
        "--losses",
        metavar="PNG",
        type=user_path,
        help="also plot each run's losses over wall-clock minutes",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gaunet.config import seed_problem
    from gaunet.errors import GaunetError
    from gaunet.report.compare_grid import compare_grid
    from gaunet.trained_generator import load_generator

    # checked before any run is loaded (a grid of several generators takes a while)
    if seed_problem(args.seed, "--seed"):
        raise GaunetError(seed_problem(args.seed, "--seed"))
    for option, path in (("--out", args.out), ("--losses", args.losses)):
        if path and (Path(path).suffix.lower() != ".png" or Path(path).is_dir()):
            raise GaunetError(f"{option} {path}: give a PNG file to write (ending in .png)")
    if args.losses and Path(args.losses).resolve() == Path(args.out).resolve():
        raise GaunetError(
            f"--losses {args.losses} is the --out file: the curves would replace the grid; "
            "give them another file name"
        )
    # RUN/checkpoints is RUN (as load_generator takes it): one run, and its metrics.jsonl
    given, args.runs = args.runs, [_run_folder(run) for run in args.runs]
    if len({Path(run).resolve() for run in args.runs}) < len(args.runs):
        raise GaunetError(
            f"--runs names one run twice ({' '.join(given)}): its columns would be "
            "identical (same --seed, same noise)"
        )
    if args.per_class < 1:
        raise GaunetError(f"--per-class must be at least 1, not {args.per_class}")
    if args.losses:  # the curves' data, before minutes of loading and drawing the grid
        from gaunet.report.curves import read_metrics

        for run in args.runs:
            read_metrics(run)
    generators = [load_generator(run, device=args.device) for run in args.runs]
    _check_figure_height(generators, args.per_class)
    out = compare_grid(generators, args.out, per_class=args.per_class, seed=args.seed)
    print(f"wrote {out}")
    if args.losses:
        from gaunet.report.curves import plot_losses

        print(f"wrote {plot_losses(args.runs, args.losses)}")
    return 0


def _run_folder(run: str) -> str:
    """The run folder of `run` (training.run_folder.run_folder_of), as typed when it is one."""
    from pathlib import Path

    from gaunet.training.run_folder import run_folder_of

    folder = run_folder_of(Path(run))
    return run if folder == Path(run) else str(folder)


MAX_HEIGHT = 65_500  # px: the most that image viewers (and JPEG, WebP) take


def _check_figure_height(generators: list, per_class: int) -> None:
    """Refuse a --per-class whose figure no viewer opens, before minutes of sampling (one row
    per class and K; --per-class 1000000 sampled for hours, then ran out of memory)."""
    import numpy as np

    from gaunet.errors import GaunetError
    from gaunet.report.compare_grid import HEADER_HEIGHT, PAD, tile_side

    first = generators[0]
    classes = max(1, len(np.unique(first.train_images.labels)))
    row = tile_side(first.size) + PAD
    most = (MAX_HEIGHT - HEADER_HEIGHT - PAD) // (classes * row)
    if per_class > most:
        raise GaunetError(
            f"--per-class {per_class}: {classes} classes x {per_class} rows would make a figure "
            f"{HEADER_HEIGHT + classes * per_class * row + PAD:,} px tall; at most {most} rows "
            f"per class fit in {MAX_HEIGHT:,} px"
        )
