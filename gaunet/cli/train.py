"""`gaunet train --data SOURCE --out RUN [--config PRESET|FILE] [--steps N | --minutes M] ...`"""

from __future__ import annotations

import argparse
import os

from gaunet.cli import size_help, user_path

ORDER = 20
# the config fields that have their own flag
FLAG_OF_FIELD = {
    "size": "--size",
    "channels": "--channels",
    "batch_size": "--batch-size",
    "model": "--model",
    "device": "--device",
    "num_threads": "--threads",
    "init_from": "--init-from",
    "seed": "--seed",
    "steps": "--steps",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a generator on a SOURCE into a run folder",
        description=(
            "Train the model named by the config (gaunet by default) on the train split of "
            "SOURCE. The run folder gets config.yaml, split.csv, checkpoints/, samples/, "
            "metrics.jsonl, TensorBoard events and run.json. Ctrl-C saves a checkpoint; "
            "--resume continues it exactly."
        ),
    )
    parser.add_argument(
        "--data",
        help="SOURCE (phantom, .npz, class folders, manifest CSV, ...); not needed with --resume",
    )
    parser.add_argument("--out", required=True, type=user_path, help="run folder")
    parser.add_argument(
        "--config",
        help="preset (paper, cpu-small, cpu-tiny) or YAML file (default: cpu-tiny; a --resume "
        "keeps the run's config.yaml)",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--steps",
        type=int,
        help="total generator steps of the run (default: the preset's `steps`; the preset's "
        "YAML says how long they take)",
    )
    budget.add_argument(
        "--minutes",
        type=float,
        help="wall-clock budget for this invocation instead of --steps (default: none)",
    )
    parser.add_argument("--size", type=int, help=size_help("the preset's", run="--resume"))
    parser.add_argument(
        "--channels", type=int, choices=(1, 3), help="image channels (default: the preset's)"
    )
    parser.add_argument("--batch-size", type=int, help="pairs per step (default: the preset's)")
    parser.add_argument("--model", help="model family: gaunet, gan, cgan (default: gaunet)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads, the same as --set num_threads=N (default: the preset's "
        "num_threads, 1 in the CPU presets: fastest on a busy machine; try 2 on an idle one)",
    )
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:1, ... (default: auto)")
    parser.add_argument(
        "--seed", type=int, help="seed of split, weights and sampling (default: the preset's, 0)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--init-from",
        metavar="RUN",
        type=user_path,
        help="start from the generator and critic weights of another run (a run folder or "
        "checkpoint; same preset and size), e.g. one pretrained on a larger dataset; "
        "the same as --set init_from=RUN (default: random weights, the paper's)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field (repeatable), e.g. --set n_critic=3; a flag of the "
        "same field (--size, --batch-size, --seed, --steps, ...) wins over it",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from gaunet.config import parse_overrides, seed_problem
    from gaunet.errors import GaunetError
    from gaunet.progress import silenced
    from gaunet.training import train

    sets = parse_overrides(args.overrides)
    named = {
        "size": args.size,
        "channels": args.channels,
        "batch_size": args.batch_size,
        "model": args.model,
        "device": args.device,
        "num_threads": args.threads,
        "init_from": args.init_from,
    }
    overrides = {**sets, **{k: v for k, v in named.items() if v is not None}}
    # the flags' ranges, named as the user wrote them (TrainConfig.validate checks the same
    # fields for the Python API); all before anything is read or written
    if args.threads is not None and args.threads < 0:
        raise GaunetError("--threads must be at least 0 (0: torch's default)")
    if args.steps is not None and args.steps < 1:
        raise GaunetError(f"--steps must be at least 1, not {args.steps}")
    if args.minutes is not None and not 0 < args.minutes < float("inf"):
        raise GaunetError(f"--minutes must be a number above 0, not {args.minutes}")
    if args.seed is not None and seed_problem(args.seed, "--seed"):
        raise GaunetError(seed_problem(args.seed, "--seed"))
    if args.batch_size is not None and args.batch_size < 2:
        raise GaunetError(f"--batch-size must be at least 2, not {args.batch_size}")
    if not str(args.out).strip():  # an unset shell variable: the run would fill this folder
        raise GaunetError("--out is empty; name the run folder")
    # the same for the flags whose empty value was a silent default: cpu-tiny for a `--config`,
    # random weights for an `--init-from` ("$PRETRAINED" unset trained without the transfer)
    if args.config is not None and not args.config.strip():
        raise GaunetError(
            "--config is empty; name a preset (cpu-small, cpu-tiny, paper) or a YAML file, or "
            "leave --config out for cpu-tiny"
        )
    if args.init_from is not None and not args.init_from.strip():
        raise GaunetError(
            "--init-from is empty; name a run folder or checkpoint, or leave --init-from out "
            "for random weights"
        )
    if not args.resume and not args.data:
        raise GaunetError("--data SOURCE is required (except with --resume)")
    if args.resume and args.config is not None:
        raise GaunetError(
            f"--config {args.config} does not apply to --resume: a resumed run keeps its "
            "config.yaml (a resume may change only its budget and how it runs: --steps, "
            "--minutes, --set device=..., ...)"
        )
    # a flag beats a --set of the same field (the flag is the narrower intent), and says so
    # (it used to win silently), on stdout beside the run's other output: a refusal stays one
    # line on stderr
    for field, flag in FLAG_OF_FIELD.items():
        value = {**named, "seed": args.seed, "steps": args.steps}[field]
        if value is not None and field in sets and not _same_value(field, value, sets[field]):
            print(f"note: {flag} {value} is used, not --set {field}={sets[field]}")
    with silenced() if args.quiet else nullcontext():
        out = train(
            args.data,
            args.out,
            config=args.config or "cpu-tiny",
            overrides=overrides,
            steps=args.steps,
            minutes=args.minutes,
            resume=args.resume,
            seed=args.seed,
            progress=not args.quiet,
        )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 alone reports
        print(
            f"run folder: {out}  (samples in {out / 'samples'}, generate with: "
            f"gaunet generate --run {out} --out DIR --per-class N)"
        )
    return 0


def _same_value(field: str, value: object, given: str) -> bool:
    """A flag's value and a --set's text for the same field, compared as what they name: a
    path as a path (`--init-from ~/src` is `--set init_from=~/src`), else as text."""
    if field == "init_from":
        return os.path.realpath(os.path.expanduser(str(value))) == os.path.realpath(
            os.path.expanduser(given)
        )
    return str(value) == given
