"""`gaunet demo [--data SOURCE] [--out DIR] [--minutes M | --steps N]`: the whole pipeline in one command."""

from __future__ import annotations

import argparse
from typing import Any

from gaunet.cli import add_device_argument, comma_list, size_help, user_path

ORDER = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="inspect, train, generate, evaluate, benchmark and report, in one command",
        description=(
            "Runs the whole of gaunet on SOURCE (default `auto`: BreastMNIST, 780 breast "
            "ultrasound images, when breastmnist.npz is found in $GAUNET_DEMO_DATA, "
            "~/.medmnist/ or shared/data/ beside the working folder; else the built-in phantom; "
            "no download): inspect the data, split it, train GAU-Net (cpu-tiny, time-boxed) on a "
            "low-data subset of the training split, generate images, evaluate them (FID when the "
            "Inception weights are installed, FD_domain, KID, PRDC, PA, copy rate) and say "
            "whether they are usable, train classifiers with and without the extra images, and "
            "write DIR/report.html. Its budgets are sized to finish in under 10 minutes on a "
            "2-core CPU (measured times: docs/demo.md). Rerunning the same command continues an "
            "interrupted demo: finished steps are skipped."
        ),
    )
    parser.add_argument(
        "--data",
        default="auto",
        help="SOURCE: auto, phantom, .npz, folder, CSV, ... (default: auto)",
    )
    parser.add_argument("--out", default="demo", type=user_path, help="output folder")
    parser.add_argument(
        "--minutes",
        "--train-minutes",
        type=float,
        default=3.0,
        action=_Given,
        help="GAU-Net training budget in minutes (as `gaunet train --minutes`)",
    )
    parser.add_argument(
        "--steps",
        "--train-steps",
        dest="train_steps",
        type=int,
        help="a generator step budget instead of --minutes (as `gaunet train --steps`; "
        "default: none, --minutes decides)",
    )
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.25,
        help="share of the training split kept as the low-data subset",
    )
    parser.add_argument("--size", type=int, default=32, help=size_help())
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3), help="image channels")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, subset and training")
    parser.add_argument(
        "--baselines", action="store_true", help="also train GAN and cGAN with the same budget"
    )
    parser.add_argument(
        "--eval-images",
        type=int,
        default=100,
        help="real test and synthetic images compared by the metrics",
    )
    parser.add_argument("--features", default="inception,domain", help="metric feature extractors")
    parser.add_argument(
        "--classifiers",
        default="resnet18,svm",
        help="downstream classifiers",
    )
    parser.add_argument("--seeds", type=int, default=3, help="classifier seeds")
    parser.add_argument("--epochs", type=int, default=10, help="max classifier epochs")
    parser.add_argument("--width", type=float, default=0.5, help="classifier width multiplier")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: fastest on a busy machine; 0: torch's choice; "
        "docs/performance.md)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="processes running the downstream cells at once (the same results as one); "
        "0: one per usable CPU, at most 4",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="also the copies+classic control arm: is a gain over classic the images' own?",
    )
    add_device_argument(parser, "the generator, the metrics and the classifiers")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


class _Given(argparse.Action):
    """Stores the value and which option gave it (`given_minutes`): --minutes has a default,
    so only this tells a --minutes typed beside --steps, which would be ignored."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        namespace.given_minutes = option_string


def run(args: argparse.Namespace) -> int:
    from gaunet.demo import Demo, DemoSettings
    from gaunet.device import resolve_device
    from gaunet.errors import GaunetError

    given = getattr(args, "given_minutes", None)
    if given and args.train_steps is not None:
        raise GaunetError(
            f"give {given} or --steps, not both: --steps replaces the time budget "
            f"({given} {args.minutes:g} would be ignored)"
        )
    from gaunet.config import seed_problem

    if not str(args.out).strip():  # an unset shell variable: the demo would fill this folder
        raise GaunetError("--out is empty; name the demo folder (default: demo)")
    if seed_problem(args.seed, "--seed"):  # else named as the benchmark's --split-seed
        raise GaunetError(seed_problem(args.seed, "--seed"))
    if not comma_list(args.features):  # as `gaunet evaluate` refuses it: no metric at all
        raise GaunetError(f"--features lists nothing: {args.features!r}")
    resolve_device(args.device)  # `cuda` without CUDA: refused before anything is written
    settings = DemoSettings(
        data=str(args.data),
        out=str(args.out),
        minutes=args.minutes,
        train_steps=args.train_steps,
        fraction=args.fraction,
        size=args.size,
        channels=args.channels,
        seed=args.seed,
        baselines=args.baselines,
        eval_images=args.eval_images,
        features=comma_list(args.features),
        classifiers=comma_list(args.classifiers),
        seeds=args.seeds,
        epochs=args.epochs,
        width=args.width,
        threads=args.threads,
        jobs=args.jobs,
        control=args.control,
        device=args.device,
    )
    report = Demo(settings).run()
    print(f"report: {report}")
    return 0
