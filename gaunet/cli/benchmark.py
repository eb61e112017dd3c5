"""`gaunet benchmark`: classifiers trained with (W) and without (W/O) extra images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gaunet.cli import (
    add_device_argument,
    comma_list,
    size_help,
    use_thread_option,
    user_path,
)
from gaunet.cli._protocol import with_protocol
from gaunet.errors import GaunetError

if TYPE_CHECKING:
    pass

ORDER = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="train classifiers with and without synthetic images; mean, 95%% CI, paired gain",
        description=(
            "Grid of classifier x arm x fraction x seed on one SOURCE. Writes results.csv, "
            "summary.md (Table III layout), summary.json and gain_vs_fraction.png to --out. "
            "Rerunning with the same --out skips finished cells, so an interrupted benchmark "
            "(Ctrl-C) continues where it stopped."
        ),
    )
    parser.add_argument("--data", required=True, help="SOURCE (phantom, .npz, folder, CSV, ...)")
    parser.add_argument(
        "--out", required=True, type=user_path, help="benchmark folder (created; resumable)"
    )
    parser.add_argument(
        "--classifiers",
        default="resnet18,svm",
        help="comma list of resnet18, resnet50, densenet161, efficientnet-lite0, svm, svm-features",
    )
    parser.add_argument(
        "--arms",
        default="none,classic",
        help="comma list of none, classic, gaunet, gan, cgan, gaunet+classic (generator images "
        "plus on-the-fly classic augmentation; also gan+classic, cgan+classic), run folders, "
        "the control copies / copies+classic (plain copies of the real images in place "
        "of generated ones), typical-copies / typical-copies+classic (the control of "
        "--filter-pool K: copies of the real images its scorer is surest of, as the filter "
        "keeps them), and the ceiling more-real / more-real+classic (real training "
        "images from outside the fraction subset: the most new images could give; fractions "
        "below 1 only)",
    )
    parser.add_argument("--fractions", default="0.1,0.25,0.5,1.0", help="training-split fractions")
    parser.add_argument("--seeds", type=int, default=5, help="classifier seeds 0..N-1")
    parser.add_argument("--epochs", type=int, default=30, help="max epochs")
    parser.add_argument(
        "--patience", type=int, default=8, help="early stop after N epochs without val-loss gain"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="classifier batch size")
    parser.add_argument(
        "--select",
        choices=("loss", "auc"),
        default="loss",
        help="validation criterion for early stopping and the kept weights",
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (paper: 1e-3)")
    parser.add_argument("--size", type=int, default=28, help=size_help())
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3), help="image channels")
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
        "--synthetic-weight",
        type=float,
        default=1.0,
        help="networks: loss weight of a synthetic image relative to a real one",
    )
    parser.add_argument(
        "--synthetic-smoothing",
        type=float,
        default=0.0,
        help="networks: label smoothing of the synthetic images' targets, in [0, 1) (0: off)",
    )
    parser.add_argument(
        "--synthetic-schedule",
        choices=("mix", "pretrain"),
        default="mix",
        help="networks: mix = real and synthetic images together; pretrain = on the synthetic "
        "images first, then fine-tuned on the real ones",
    )
    parser.add_argument(
        "--filter-pool",
        type=int,
        default=1,
        help="K > 1: generate K x the images needed and keep those a CNN trained on the "
        "fraction's real training images assigns to their class most confidently (1: off)",
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=1.0,
        metavar="S",
        help="generator arms: multiply every noise vector by S when generating (default: 1, as "
        "trained); S > 1 spreads the draws of one conditioning image (docs/augmentation.md)",
    )
    parser.add_argument(
        "--synthetic-draws",
        type=int,
        default=1,
        metavar="K",
        help="generator arms, networks: generate K noise draws of every synthetic image and "
        "train each epoch on a different one, as classic augmentation draws a new transform "
        "each epoch (default: 1, the same images every epoch; the SVM gets the first draw)",
    )
    parser.add_argument(
        "--select-snapshot",
        choices=("last", "fd-val", "cas-val"),
        default="last",
        help="generator arms: sample the run's last checkpoint, or the snapshot whose images "
        "are closest to the real validation images (fd-val: Frechet distance in the features "
        "of a CNN trained on the fraction's images) or teach most about them (cas-val: "
        "validation AUC of a small CNN trained on that snapshot's images alone). The "
        "generator keeps a snapshot every steps / 10 (its config's periodic_every where that "
        "already gives 2 or more in the second half); with --gen-minutes, set periodic_every "
        "in the config. Scores go to OUT/generators/*-selection.json",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads; 0: torch's choice. 1 because on a busy 2-core machine two "
        "threads made a ResNet-18 step about twice as slow (measured: docs/guide.md); try "
        "more on an idle many-core machine",
    )
    add_device_argument(
        parser,
        "the networks, frozen features and generator arms",
        ". Not a pinned setting: a folder started on the CPU may be continued on a GPU; cells.jsonl records each cell's device. Pairing holds on any device; GPU numbers agree with CPU ones within the spread over seeds, not bit for bit",
    )
    parser.add_argument("--subset-seed", type=int, default=0, help="seed of the nested subsets")
    parser.add_argument(
        "--subset-seeds",
        default=None,
        metavar="S1,S2,...",
        help="run the grid once per subset seed (another subset, and another generator trained "
        "on it) into OUT/subset-S, then write OUT/pooled.md: gains pooled over the subsets, "
        "with an interval that includes the generator's own randomness (gaunet pool). 2 or "
        "more seeds (3 or more advised); replaces --subset-seed",
    )
    parser.add_argument(
        "--stack-generators",
        action="store_true",
        help="with --subset-seeds: train the subsets' generators at once, stacked in one "
        "process (their networks batched on a leading axis: one kernel serves all of them), "
        "before the cells. Each generator keeps its own run folder, seed and images; "
        "--gen-minutes is then the budget of the whole stack. For a GPU, where small models "
        "are bound by kernel launches; on a CPU it is no faster (docs/performance.md)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run N processes at once: N cells, or with --subset-seeds N subset folders (on a "
        "GPU, small classifier cells leave it idle between kernel launches; on a CPU, at most "
        "one per core). The results are those of one at a time",
    )
    parser.add_argument("--split-seed", type=int, default=0, help="seed of a made split")
    parser.add_argument(
        "--gen-config", default="cpu-tiny", help="generator preset of the gaunet/gan/cgan arms"
    )
    parser.add_argument(
        "--gen-steps",
        type=int,
        default=None,
        help="generator training steps (as `gaunet train --steps`; default: the preset's)",
    )
    parser.add_argument(
        "--gen-minutes",
        type=float,
        default=None,
        help="generator time budget in minutes (as `gaunet train --minutes`; default: none)",
    )
    parser.add_argument(
        "--gen-init-from",
        metavar="RUN",
        type=user_path,
        default=None,
        help="the gaunet arms' generators start from this run's weights (a run of the same "
        "--gen-config and --size, e.g. pretrained on a larger dataset; `gaunet train "
        "--init-from`) and are fine-tuned on each subset (default: random weights)",
    )
    parser.add_argument(
        "--protocol",
        metavar="NAME_OR_FILE",
        default=None,
        help="a protocol: option defaults from a YAML file, or a built-in one by name (paper: "
        "the paper's Table III for one dataset, gaunet/configs/protocols/paper.yaml); options "
        "given on the command line override it",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    parser.parse_known_args = with_protocol(parser, parser.parse_known_args)  # type: ignore


def check_out(args: argparse.Namespace) -> None:
    """The one check of the command line alone; the settings' own are check_benchmark_settings
    (settings_checks.py), which run_benchmark() meets from Python too."""
    if not str(args.out).strip():
        raise GaunetError("--out is empty")
    # empty (an unset shell variable): silently the command's defaults, or random weights
    for option, value in (("--protocol", args.protocol), ("--gen-init-from", args.gen_init_from)):
        if value is not None and not str(value).strip():
            raise GaunetError(f"{option} is empty; name it, or leave {option} out")
    from gaunet.io import refuse_out_inside_data

    refuse_out_inside_data(args.data, args.out, "its files (synthetic/, gain_vs_fraction.png)")
    out = Path(args.out).expanduser()
    if (out / "run.json").is_file() and not (out / "benchmark.json").is_file():
        raise GaunetError(
            f"--out {args.out} is a training run's folder (run.json): the benchmark would write "
            "its split.csv over the run's. Nothing written; choose another --out"
        )


def run(args: argparse.Namespace) -> int:
    from gaunet.device import resolve_device
    from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
    from gaunet.downstream.fit import FitSettings
    from gaunet.downstream.settings_checks import check_benchmark_settings
    from gaunet.downstream.subsets import parse_fractions

    if getattr(args, "protocol_error", None):
        raise GaunetError(args.protocol_error)
    device = resolve_device(args.device)  # `cuda` without CUDA: refused before any write
    use_thread_option(args.threads, device.type, "the benchmark")
    check_out(args)
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
        gen_init_from=args.gen_init_from or "",
        synthetic_weight=args.synthetic_weight,
        filter_pool=args.filter_pool,
        synthetic_smoothing=args.synthetic_smoothing,
        synthetic_schedule=args.synthetic_schedule,
        select_snapshot=args.select_snapshot,
        noise_scale=args.noise_scale,
        synthetic_draws=args.synthetic_draws,
        device=args.device,
        protocol=args.protocol or "",
        protocol_changes=getattr(args, "protocol_changes", []),
    )
    check_benchmark_settings(settings)  # every problem at once, before any folder or training
    out = Path(args.out)
    subset_seeds = _subset_seeds(args)
    try:
        if subset_seeds is None:
            results = run_benchmark(settings, out, jobs=args.jobs)
        else:
            from gaunet.downstream.subset_runs import run_subsets

            pooled = run_subsets(settings, out, subset_seeds, args.stack_generators, args.jobs)
            print(f"pooled over subset seeds {', '.join(map(str, subset_seeds))}: {pooled}")
            print(pooled.read_text())
            return 0
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (gaunet/interrupts.py)
        from gaunet.interrupts import exit_code, stopped_by

        # finished cells are in results.csv; a rerun skips them and redoes the cut one
        print(
            f"{stopped_by(stop)}: rerun the same command to continue (finished cells are kept "
            f"in {out})",
            file=sys.stderr,
        )
        return exit_code(stop)
    print(f"results: {results}\nsummary: {out / 'summary.md'}")
    print((out / "summary.md").read_text())
    return 0


def _subset_seeds(args: argparse.Namespace) -> list[int] | None:
    if args.jobs < 1:
        raise GaunetError("--jobs must be at least 1")
    if args.subset_seeds is None:
        if args.stack_generators:
            raise GaunetError(
                "--stack-generators trains the generators of several subsets together: give "
                "--subset-seeds too (e.g. --subset-seeds 0,1,2,3,4)"
            )
        return None
    try:
        seeds = [int(s) for s in comma_list(args.subset_seeds)]
    except ValueError:
        raise GaunetError(f"--subset-seeds {args.subset_seeds!r}: integers, e.g. 0,1,2") from None
    if len(set(seeds)) < 2 or len(set(seeds)) != len(seeds):
        raise GaunetError("--subset-seeds needs at least 2 different seeds (3 or more advised)")
    if min(seeds) < 0:
        raise GaunetError(f"--subset-seeds {args.subset_seeds!r}: seeds must be 0 or more")
    if args.subset_seed != 0:
        raise GaunetError("give --subset-seed or --subset-seeds, not both")

    from gaunet.downstream.arms import parse_arms

    runs = [arm.name for arm in parse_arms(comma_list(args.arms)) if arm.kind == "run"]
    if runs:
        raise GaunetError(
            f"--subset-seeds trains a generator per subset; a run folder ({runs[0]}) was trained "
            "on one subset only: give generator names (gaunet, gan, cgan) instead"
        )
    return seeds
