"""`gaunet generate --run RUN --out DIR --per-class N [--seed S] [--checkpoint FILE] ...`"""

from __future__ import annotations

import argparse

from gaunet.cli import add_threads_argument, use_thread_option, user_path

ORDER = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="write a synthetic labelled image folder from a trained run",
        description=(
            "Write DIR/<class>/<id>.png (8-bit, the run's size and channels) and DIR/manifest.csv "
            "(path,label,class,source_id,seed,checkpoint_sha256,folder,noise_scale), conditioned on "
            "training-split images only. DIR is itself a SOURCE. The same seed gives identical "
            "files, whatever --batch-size, on one machine and --threads count."
        ),
    )
    parser.add_argument(
        "--run", required=True, type=user_path, help="run folder written by gaunet train"
    )
    parser.add_argument("--out", required=True, type=user_path, help="output folder")
    parser.add_argument(
        "--per-class",
        type=int,
        required=True,
        help="images per class (at least 1; refused before anything is written when an upper "
        "estimate of the files' size does not fit in 90%% of the free disk)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the noise and of the conditioning images"
    )
    parser.add_argument(
        "--checkpoint",
        type=user_path,
        help="one of the run's checkpoint files, RUN/checkpoints/*.pt (default: the run's newest "
        "good)",
    )
    parser.add_argument(
        "--format",
        choices=("png", "npz"),
        default="png",
        help="PNG files per class, or one synthetic.npz (MedMNIST layout)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="images per step (speed only, never the files)"
    )
    parser.add_argument("--device", help="auto (default), cpu, cuda, ...")
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--keep-source-names",
        action="store_true",
        help="also write source_ids.csv mapping each opaque source_id to the training image id",
    )
    parser.add_argument(
        "--max-copy-rate",
        type=float,
        metavar="R",
        help=(
            "drop synthetic images that are near-copies of training images (pixel nearest "
            "neighbour closer than the memorization audit's threshold) beyond a share R of "
            "--per-class, draw replacements, and write copy_filter.json with the counts; "
            "0 drops every near-copy"
        ),
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=1.0,
        metavar="S",
        help=(
            "multiply every noise vector by S (default: 1, as trained). A GAU-Net generator "
            "trained on a few hundred images uses its noise weakly: S > 1 spreads the draws of "
            "one conditioning image (docs/augmentation.md, 'Noise scale'); the manifest records S"
        ),
    )
    parser.add_argument(
        "--filter-pool",
        type=int,
        default=1,
        metavar="K",
        help=(
            "K > 1: draw K x --per-class images of each class and keep the --per-class that a "
            "small CNN trained on the run's training images assigns to their class most "
            "confidently (as `gaunet benchmark --filter-pool K`), with filter.json giving the "
            "confidences; 1 (default) keeps every draw. Combines with --max-copy-rate 0 only"
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from contextlib import nullcontext

    from gaunet.errors import GaunetError
    from gaunet.generate import generate_dataset
    from gaunet.interrupts import said_on_interrupt
    from gaunet.privacy import summary_line
    from gaunet.progress import silenced

    if args.per_class < 1:
        raise GaunetError("--per-class must be at least 1")
    if args.batch_size < 1:
        raise GaunetError("--batch-size must be at least 1")
    from gaunet.config import seed_problem

    if seed_problem(args.seed, "--seed"):  # named by its option, as compare and train do
        raise GaunetError(seed_problem(args.seed, "--seed"))
    if not 0 < args.noise_scale < float("inf"):
        raise GaunetError(
            f"--noise-scale {args.noise_scale}: noise scale must be a positive number"
        )
    from gaunet.device import resolve_device

    use_thread_option(args.threads, resolve_device(args.device or "auto").type, "gaunet generate")
    advice = (
        f"the images this generation wrote were removed ({args.out} holds no part-generation); "
        "rerun the same command, which starts it again"
    )
    with silenced() if args.quiet else nullcontext(), said_on_interrupt(advice):
        manifest = generate_dataset(
            args.run,
            args.out,
            args.per_class,
            seed=args.seed,
            checkpoint=args.checkpoint,
            fmt=args.format,
            batch_size=args.batch_size,
            device=args.device,
            keep_source_names=args.keep_source_names,
            max_copy_rate=args.max_copy_rate,
            noise_scale=args.noise_scale,
            filter_pool=args.filter_pool,
        )
    if args.max_copy_rate is not None:
        report = json.loads((manifest.parent / "copy_filter.json").read_text())
        print(summary_line(report))
    if args.filter_pool > 1:
        from gaunet.class_filter import conditioning_line

        report = json.loads((manifest.parent / "filter.json").read_text())
        print(
            f"kept {report['kept']} of {report['candidates']} candidates: mean confidence in "
            f"the intended class {report['mean_confidence_kept']:.2f} kept, "
            f"{report['mean_confidence_all']:.2f} over all (filter.json)"
        )
        print(conditioning_line(report["conditioning_images"], report["per_class"]))
    print(f"wrote {manifest}")
    return 0
