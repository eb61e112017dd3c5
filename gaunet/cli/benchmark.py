"""`gaunet benchmark`: classifiers trained with (W) and without (W/O) extra images."""

from __future__ import annotations

import argparse

from gaunet.cli import comma_list

ORDER = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="train classifiers with and without synthetic images; mean, 95%% CI, paired gain",
        description=(
            "Grid of classifier x arm x fraction x seed on one SOURCE. Writes results.csv, "
            "summary.md (Table III layout), summary.json and gain_vs_fraction.png to --out. "
            "Rerunning with the same --out skips finished cells."
        ),
    )
    parser.add_argument("--data", required=True, help="SOURCE (phantom, .npz, folder, CSV, ...)")
    parser.add_argument("--out", required=True, help="benchmark folder (created; resumable)")
    parser.add_argument(
        "--classifiers",
        default="resnet18,svm",
        help="comma list of resnet18, resnet50, densenet161, efficientnet-lite0, svm, "
        "svm-features (default: resnet18,svm)",
    )
    parser.add_argument(
        "--arms",
        default="none,classic",
        help="comma list of none, classic, gaunet, gan, cgan or run folders (default: none,classic)",
    )
    parser.add_argument("--fractions", default="0.1,0.25,0.5,1.0", help="training-split fractions")
    parser.add_argument("--seeds", type=int, default=5, help="classifier seeds 0..N-1 (default 5)")
    parser.add_argument("--epochs", type=int, default=30, help="max epochs (default 30)")
    parser.add_argument(
        "--patience", type=int, default=8, help="early stop after N epochs without val-loss gain"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--select",
        choices=("loss", "auc"),
        default="loss",
        help="validation criterion for early stopping and the kept weights (default: loss)",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (paper: 1e-3)")
    parser.add_argument("--size", type=int, default=28, help="image side in pixels (default 28)")
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    parser.add_argument(
        "--width", type=float, default=1.0, help="channel-width multiplier of the networks"
    )
    parser.add_argument(
        "--synthetic-ratio",
        type=float,
        default=1.0,
        help="extra images per class, as a multiple of that class's real training count",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (default: torch's choice; 1 is faster on a busy machine)",
    )
    parser.add_argument("--subset-seed", type=int, default=0, help="seed of the nested subsets")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of a made split")
    parser.add_argument("--gen-config", default="cpu-tiny", help="generator config preset")
    parser.add_argument("--gen-steps", type=int, default=None, help="generator training steps")
    parser.add_argument("--gen-minutes", type=float, default=None, help="generator time budget")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
    from gaunet.downstream.fit import FitSettings
    from gaunet.downstream.subsets import parse_fractions
    from gaunet.errors import GaunetError

    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    if args.seeds < 1 or args.epochs < 1:
        raise GaunetError("--seeds and --epochs must be at least 1")
    settings = BenchmarkSettings(
        data=str(args.data),
        classifiers=comma_list(args.classifiers),
        arms=comma_list(args.arms),
        fractions=parse_fractions(args.fractions),
        seeds=args.seeds,
        size=args.size,
        channels=args.channels,
        split_seed=args.split_seed,
        subset_seed=args.subset_seed,
        synthetic_ratio=args.synthetic_ratio,
        width=args.width,
        fit=FitSettings(
            epochs=args.epochs,
            patience=args.patience,
            batch_size=args.batch_size,
            lr=args.lr,
            select=args.select,
        ),
        gen_config=args.gen_config,
        gen_steps=args.gen_steps,
        gen_minutes=args.gen_minutes,
    )
    out = Path(args.out)
    results = run_benchmark(settings, out)
    print(f"results: {results}\nsummary: {out / 'summary.md'}")
    print((out / "summary.md").read_text())
    return 0
