"""Issue 29 item 5 on the CPU: the GPU's item-5 folder turned into the numbers that
docs/augmentation.md needs.

    .venv/bin/python benchmarks/item5_report.py ITEM5 --data breastmnist.npz \
        [--size 28] [--device cpu] [--out ITEM5/item5.md]

ITEM5 is the folder `benchmarks/gpu_train_check.py` (stage item5) brings back: one
`gaunet benchmark --subset-seeds ... --stack-generators` run, subset-S/ per subset seed and the
gains pooled over them (pooled.json). The GPU measured the gains but no image metric, so for each
subset this runs `gaunet evaluate --features domain --run RUN` on that subset's generator and its
`gaunet` arm's images (FD_domain, KID, recall, PA, copy rate, noise diversity: the columns of
benchmarks/augmentation_gain.py), into subset-S/evaluate.json, and the real images that
generator trained on the same way (its train_images.npz as --synthetic, into
subset-S/evaluate-real.json: what real images of the same count score); a subset that has them
is not evaluated again, so a cut run continues. Then it writes OUT (markdown) and OUT with .json: per
subset the generator's training (steps, batch size, epochs = steps x batch / training images,
wall seconds) beside its image metrics, their means, and the pooled gains of the comparisons
item 5 asks about. The folder was copied from another machine, so the absolute paths recorded
inside it are stale: every file is found relative to ITEM5.

`--evaluate-only` writes the evaluations alone, for each subset whose generator has finished,
before its cells are done: once both JSONs exist the report no longer needs the generator's
checkpoint, so the folder can move to another machine without it (benchmarks/item5_cpu.sh).

`--earlier REPORT.json` joins subsets that an earlier run of this script reported and whose
folders are gone (a machine that did not keep `runs/`): their rows and per-subset gains are
taken as that report recorded them, and the gains are pooled again over all the subsets.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # a checkout, as gpu_train_check.py runs

from augmentation_gain import _find, _gain, evaluate_command  # noqa: E402

from gaunet.downstream.generator_arms import recorded_run  # noqa: E402
from gaunet.downstream.pooled import pooled_stat  # noqa: E402
from gaunet.errors import GaunetError  # noqa: E402
from gaunet.io import write_json  # noqa: E402

# (arm, gain key in pooled.json, what the row says): the comparisons of issue 29 item 5. A
# combined arm's "gain_vs_copies" is against copies+classic (gaunet/downstream/report.py).
COMPARISONS = [
    ("gaunet", "gain", "gaunet vs none"),
    ("gaunet", "gain_vs_copies", "gaunet vs copies"),
    ("gaunet+classic", "gain_vs_classic", "gaunet+classic vs classic"),
    ("gaunet+classic", "gain_vs_copies", "gaunet+classic vs copies+classic"),
    ("copies+classic", "gain_vs_classic", "copies+classic vs classic"),
    ("classic", "gain", "classic vs none"),
]
METRICS = ("accuracy", "auc")
# the per-subset columns: (key, header, format)
COLUMNS = [
    ("subset_seed", "subset seed", "{:d}"),
    ("steps", "G steps", "{:d}"),
    ("batch_size", "batch", "{:d}"),
    ("train_images", "train images", "{:d}"),
    ("epochs", "epochs", "{:.0f}"),
    ("wall_seconds", "G wall s", "{:.0f}"),
    ("precision", "precision", "{}"),
    ("fd_domain", "FD_domain", "{:.1f}"),
    ("kid", "KID (x1000)", "{:.2f}"),
    ("recall", "recall", "{:.3f}"),
    ("pa", "PA", "{:.3f}"),
    ("copy_rate", "copy rate (pixel)", "{:.3f}"),
    ("copy_rate_domain", "copy rate (domain)", "{:.3f}"),
    ("noise_diversity", "noise div.", "{:.3f}"),
]


class ReportError(Exception):
    """A folder lacks what the report needs; the message names the subset and the file."""


def subsets(item5: Path) -> list[Path]:
    """The subset-S folders, in the order of their seeds (subset-10 after subset-2)."""
    found = [p for p in item5.glob("subset-*") if p.is_dir()]
    if not found:
        raise ReportError(f"{item5}: no subset-* folder (is this the item5 benchmark folder?)")

    def seed(path: Path) -> tuple[int, str]:
        tail = path.name.removeprefix("subset-")
        return (int(tail), "") if tail.isdigit() else (sys.maxsize, tail)

    return sorted(found, key=seed)


def _need(subset: Path, path: Path, what: str) -> Path:
    if not path.exists():
        raise ReportError(f"{subset.name}: {path.relative_to(subset)} is missing ({what})")
    return path


def generator_records(subset: Path) -> list[Path]:
    """The gaunet arm's generator run records (generators/gaunet-*.json), not the snapshot
    selection scores beside them (gaunet-*-selection.json)."""
    return sorted(
        p
        for p in (subset / "generators").glob("gaunet-*.json")
        if not p.name.endswith("-selection.json")
    )


def locate(subset: Path) -> dict:
    """The subset's generator run folder and synthetic folder, and its seed; the run folder as
    `gaunet benchmark` finds it (the recorded path, else generators/<tag>/ beside the record:
    a GPU machine's absolute paths do not exist here); a ReportError names the subset and the
    first missing file."""
    records = generator_records(subset)
    if not records:
        raise ReportError(
            f"{subset.name}: no generators/gaunet-*.json (the gaunet arm's generator record)"
        )
    try:
        run = recorded_run(records[0])
    except GaunetError as error:
        raise ReportError(f"{subset.name}: {error}") from None
    _need(subset, run / "run.json", "the generator's run record")
    _need(subset, run / "config.yaml", "the generator's settings")
    if not all((subset / f"{name}.json").exists() for name in ("evaluate", "evaluate-real")):
        # evaluate's noise diversity samples the generator; once both JSONs exist the folder
        # may travel without its checkpoint (benchmarks/item5_cpu.sh save)
        _need(subset, run / "checkpoints" / "last.pt", "the generator's weights")
    manifests = sorted((subset / "synthetic").glob("gaunet-*/manifest.csv"))
    if not manifests:
        raise ReportError(
            f"{subset.name}: no synthetic/gaunet-*/manifest.csv (the gaunet arm's images)"
        )
    recorded = subset / "benchmark.json"
    seed = json.loads(recorded.read_text()).get("subset_seed") if recorded.exists() else None
    if seed is None:
        tail = subset.name.removeprefix("subset-")
        if not tail.isdigit():
            raise ReportError(f"{subset.name}: no benchmark.json and no seed in the folder name")
        seed = int(tail)
    return {"subset": subset, "seed": int(seed), "run": run, "synthetic": manifests[0].parent}


def evaluate(parts: dict, args: argparse.Namespace, real: bool = False) -> dict:
    """The image metrics of one subset's generator (subset-S/evaluate.json), or with `real` of
    the real images it trained on, scored the same way (subset-S/evaluate-real.json: the values
    the generator's are read against); each computed once: `gaunet evaluate` takes minutes on
    the CPU and its numbers do not change on a rerun."""
    subset = parts["subset"]
    name = "evaluate-real" if real else "evaluate"
    target = subset / f"{name}.json"
    if not target.exists():
        synthetic = parts["run"] / "train_images.npz" if real else parts["synthetic"]
        command = evaluate_command(
            args.data, synthetic, parts["run"], args.size, target, args.device
        )
        command += ["--quiet"]
        if args.domain_steps is not None:
            command += ["--domain-steps", str(args.domain_steps)]
        print("$", shlex.join(command), flush=True)
        log = subset / f"{name}.log"
        with log.open("w") as handle:
            done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT)
        if done.returncode != 0 or not target.exists():
            tail = "\n".join(log.read_text().splitlines()[-5:])
            raise ReportError(
                f"{subset.name}: gaunet evaluate failed (exit {done.returncode}), see {log}:\n"
                f"{tail}"
            )
    return json.loads(target.read_text())


def _value(value: object) -> float | None:
    """A metric as a number: evaluate.json keeps some as {"value": ...} or {"mean": ...}."""
    if isinstance(value, dict):
        value = value.get("value", value.get("mean"))
    return None if value is None else float(value)


def image_metrics(metrics: dict) -> dict:
    """FD_domain, KID, recall and PA of one evaluate.json, under the keys of
    benchmarks/augmentation_gain.py's row(); PA is class fidelity, the share of images the
    domain classifier assigns to their intended class."""
    return {
        "fd_domain": _value(_find(metrics, "FD_domain")),
        "kid": _value(_find(metrics, "KID")),
        "recall": _value(_find(metrics, "recall")),
        "pa": _value(metrics.get("PA")),
    }


def generator_row(parts: dict, metrics: dict) -> dict:
    """One subset's generator: how long it trained and what its images measure. Epochs are
    steps x batch size / the subset's training images, the unit item 5's budget is set in."""
    run = parts["run"]
    record = json.loads((run / "run.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    images = record.get("train_images")
    if images is None:  # an older run record: count the images the run kept
        import numpy as np

        with np.load(_need(parts["subset"], run / "train_images.npz", "its images")) as data:
            images = len(data["labels"])
    steps, batch = int(record["steps"]), int(config["batch_size"])
    memorization = metrics.get("memorization") or {}
    return {
        "subset": parts["subset"].name,
        "subset_seed": parts["seed"],
        "steps": steps,
        "steps_target": record.get("steps_target"),
        "status": record.get("status"),
        "batch_size": batch,
        "train_images": int(images),
        "epochs": steps * batch / int(images),
        "wall_seconds": record.get("wall_seconds"),
        "precision": record.get("precision"),
        **image_metrics(metrics),
        "copy_rate": _value((memorization.get("pixel") or {}).get("copy_rate")),
        "copy_rate_domain": _value((memorization.get("domain") or {}).get("copy_rate")),
        "noise_diversity": _value(_find(metrics, "ratio")),
        "domain_classifier_accuracy": _value(
            (metrics.get("domain_classifier") or {}).get("real_test_accuracy")
        ),
        "synthetic_images": (metrics.get("samples") or {}).get("synthetic"),
        "run": str(run.relative_to(parts["subset"].parent)),
        "synthetic": str(parts["synthetic"].relative_to(parts["subset"].parent)),
    }


# the image metrics of the subset's own real images (image_metrics' keys)
REAL_COLUMNS = [c for c in COLUMNS if c[0] in ("fd_domain", "kid", "recall", "pa")]


def real_row(parts: dict, metrics: dict) -> dict:
    """The subset's real training images, scored as its generator's images are: the floor of
    FD_domain and KID and the ceiling of recall and PA at this image count."""
    return {
        "subset_seed": parts["seed"],
        "images": (metrics.get("samples") or {}).get("synthetic"),
        **image_metrics(metrics),
    }


def means(rows: list[dict]) -> dict:
    """Each numeric column's mean over the subsets that have it."""
    out = {}
    for key, _, _ in COLUMNS[1:]:
        values = [r[key] for r in rows if isinstance(r.get(key), int | float)]
        out[key] = sum(values) / len(values) if values else None
    return out


def pooled_rows(pooled: dict) -> list[dict]:
    """The comparisons item 5 asks about, per classifier and fraction, from pooled.json: mean,
    95 % interval and p over subsets and the per-subset gains, in percentage points."""
    rows = []
    for entry in pooled["entries"]:
        for arm, key, label in COMPARISONS:
            if entry["arm"] != arm:
                continue
            for metric in METRICS:
                stat = (entry.get(key) or {}).get(metric)
                row = {
                    "classifier": entry["classifier"],
                    "fraction": entry["fraction"],
                    "comparison": label,
                    "arm": arm,
                    "key": key,
                    "metric": metric,
                }
                if stat:
                    row |= {
                        "mean": _points(stat["mean"]),
                        "low": _points(stat["low"]),  # None: the subsets gave no interval
                        "high": _points(stat["high"]),
                        "p": stat.get("p"),
                        "n": stat.get("n"),
                        "per_subset": [100 * v for v in stat["per_subset"]],
                    }
                rows.append(row)
    order = {label: k for k, (_, _, label) in enumerate(COMPARISONS)}
    return sorted(rows, key=lambda r: (r["classifier"], r["fraction"], order[r["comparison"]]))


def _points(value: float | None) -> float | None:
    """A fraction as percentage points; None stays None (JSON's NaN: no value)."""
    return None if value is None or not math.isfinite(value) else 100 * value


def _cell(value: object, form: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return form.format(round(value) if form == "{:d}" else value)


def markdown(report: dict) -> str:
    """The report docs/augmentation.md quotes from."""
    rows, mean = report["subsets"], report["mean"]
    lines = [
        "# Issue 29 item 5: generators per subset and pooled gains",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Date: {report['date']}. Folder: `{report['folder']}` ({len(rows)} subsets); "
        f"benchmark data as recorded: `{report['benchmark_data']}`; image metrics against "
        f"`{report['data']}` at {report['size']} px.",
        "",
        "## Generators",
        "",
        "Epochs = G steps x batch / the subset's training images; G wall s is the generator's "
        "training time from run.json (generators trained together share it). Image metrics from "
        "`gaunet evaluate --features domain --run` against the real test split (subset-S/"
        "evaluate.json); KID x1000; PA: share of synthetic images the domain classifier assigns "
        "to their intended class; noise div.: spread of noise draws of one conditioning image "
        "relative to two real images (0 = noise ignored).",
        "",
        "| " + " | ".join(header for _, header, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k), f) for k, _, f in COLUMNS) + " |")
    means_cells = [_cell(mean.get(k), "{:.0f}" if f == "{:d}" else f) for k, _, f in COLUMNS[1:]]
    lines.append("| mean | " + " | ".join(means_cells) + " |")
    accuracies = [r["domain_classifier_accuracy"] for r in rows]
    if any(a is not None for a in accuracies):
        lines += [
            "",
            "Domain classifier's real test accuracy: "
            + ", ".join(_cell(a, "{:.3f}") for a in accuracies)
            + ".",
        ]
    real = report.get("real") or []
    if real:
        lines += [
            "",
            "The same metrics for each subset's own real training images (the generator's "
            "train_images.npz as `--synthetic`: real images of the same count, the values the "
            "generator's are read against):",
            "",
            "| subset seed | images | " + " | ".join(h for _, h, _ in REAL_COLUMNS) + " |",
            "|" + "---|" * (len(REAL_COLUMNS) + 2),
        ]
        for row in real:
            cells = [_cell(row.get(k), f) for k, _, f in REAL_COLUMNS]
            lines.append(
                f"| {row['subset_seed']} | {_cell(row.get('images'), '{:d}')} | "
                + " | ".join(cells)
                + " |"
            )
    for earlier in report.get("earlier", []):
        lines += [
            "",
            f"Subset seeds {', '.join(map(str, earlier['subset_seeds']))} come from an earlier "
            f"report (`{earlier['report']}`, {earlier['date']}, folder `{earlier['folder']}`), "
            "whose folders are not here: their rows and per-subset gains are as it recorded "
            "them.",
        ]
    lines += [
        "",
        "## Pooled gains",
        "",
        f"From pooled.json (subset seeds {', '.join(map(str, report['pooled_subset_seeds']))}): "
        "per subset the mean paired gain over classifier seeds, pooled as their mean with the "
        "95 % t-interval over subsets and the one-sample t-test p, in percentage points.",
        "",
        "| classifier | fraction | comparison | metric | per subset (pp, seeds "
        f"{', '.join(map(str, report['pooled_subset_seeds']))}) | pooled (pp) |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["pooled"]:
        if "mean" in row:
            stat = {k: None if row[k] is None else row[k] / 100 for k in ("mean", "low", "high")}
            stat["p"] = row["p"]
            per, pooled = ", ".join(f"{v:+.1f}" for v in row["per_subset"]), _gain(stat)
        else:
            per, pooled = "-", "- (not in pooled.json)"
        lines.append(
            f"| {row['classifier']} | {row['fraction']:g} | {row['comparison']} | "
            f"{row['metric']} | {per} | {pooled} |"
        )
    evaluated = [r["subset_seed"] for r in rows]
    if sorted(evaluated) != sorted(report["pooled_subset_seeds"]):
        lines += [
            "",
            f"Note: the pooled gains cover subset seeds {report['pooled_subset_seeds']}, the "
            f"generator table {evaluated}.",
        ]
    return "\n".join(lines) + "\n"


def read_earlier(path: Path, seeds: list[int], size: int, data: str | None) -> dict:
    """An earlier report to join, checked before anything is evaluated: it must be this
    script's JSON, at the same image size and on the same data file, and share no subset seed
    with the folder's pooled.json."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReportError(f"--earlier {path}: not readable as JSON ({error})") from None
    missing = [k for k in ("subsets", "pooled", "pooled_subset_seeds", "size") if k not in earlier]
    if missing:
        raise ReportError(f"--earlier {path}: not an item5_report.py JSON (no {missing[0]!r})")
    if earlier["size"] != size:
        raise ReportError(f"--earlier {path}: its images were {earlier['size']} px, here {size}")
    theirs = Path(earlier.get("benchmark_data") or "").name
    if data is not None and theirs != Path(data).name:
        raise ReportError(f"--earlier {path}: its benchmark used {theirs!r}, this one {data!r}")
    shared = sorted(set(earlier["pooled_subset_seeds"]) & set(seeds))
    if shared:
        raise ReportError(f"--earlier {path}: subset seeds {shared} are in both; pool each once")
    return earlier


def _key(row: dict) -> tuple:
    return (row["classifier"], row["fraction"], row["comparison"], row["metric"])


def join_earlier(report: dict, earlier: dict, path: Path) -> dict:
    """`report` with an earlier report's subsets added: its rows beside this folder's, and each
    comparison pooled again over the subsets of both (the same t-interval as gaunet pool)."""
    theirs = {_key(row): row for row in earlier["pooled"]}
    seeds = sorted(report["pooled_subset_seeds"] + earlier["pooled_subset_seeds"])
    pooled = []
    for row in report["pooled"]:
        other = theirs.get(_key(row))
        if other is None or ("mean" in row) != ("mean" in other):
            raise ReportError(f"--earlier {path}: {' '.join(map(str, _key(row)))} is not in both")
        if "mean" in row:
            by_seed = dict(zip(report["pooled_subset_seeds"], row["per_subset"], strict=True))
            by_seed |= dict(zip(earlier["pooled_subset_seeds"], other["per_subset"], strict=True))
            stat = pooled_stat([by_seed[seed] for seed in seeds])
            row = row | {k: stat[k] for k in ("mean", "low", "high", "p", "n", "per_subset")}
        pooled.append(row)
    rows = sorted(report["subsets"] + earlier["subsets"], key=lambda r: r["subset_seed"])
    real = sorted(report["real"] + earlier.get("real", []), key=lambda r: r["subset_seed"])
    joined = {
        "report": str(path),
        "date": earlier.get("date"),
        "folder": earlier.get("folder"),
        "subset_seeds": earlier["pooled_subset_seeds"],
    }
    return report | {
        "subsets": rows,
        "mean": means(rows),
        "real": real,
        "pooled_subset_seeds": seeds,
        "pooled": pooled,
        "earlier": [*report.get("earlier", []), joined],
    }


def evaluate_finished(args: argparse.Namespace) -> list[Path]:
    """--evaluate-only: both evaluations of each subset whose generator has finished (it has
    a run record), before there is a pooled.json; the subsets evaluated."""
    finished = [s for s in subsets(args.item5) if generator_records(s)]
    found = [locate(subset) for subset in finished]
    for parts in found:
        evaluate(parts, args)
        evaluate(parts, args, real=True)
    return [parts["subset"] for parts in found]


def build(args: argparse.Namespace) -> dict:
    """Check every subset (and an --earlier report) first, so a missing file fails before
    minutes of evaluation; then evaluate each and gather the report."""
    item5 = args.item5
    pooled_path = item5 / "pooled.json"
    if not pooled_path.exists():
        raise ReportError(
            f"{pooled_path} is missing: pool the subsets first "
            f"(gaunet pool --benchmarks {item5}/subset-* --out {item5})"
        )
    pooled = json.loads(pooled_path.read_text())
    found = [locate(subset) for subset in subsets(item5)]
    recorded = found[0]["subset"] / "benchmark.json"
    data = json.loads(recorded.read_text()).get("data") if recorded.exists() else None
    earlier, seeds = [], list(pooled.get("subset_seeds", []))
    for path in args.earlier:
        earlier.append((path, read_earlier(path, seeds, args.size, data)))
        seeds += earlier[-1][1]["pooled_subset_seeds"]
    rows = [generator_row(parts, evaluate(parts, args)) for parts in found]
    real = [real_row(parts, evaluate(parts, args, real=True)) for parts in found]
    report = {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "folder": str(item5),
        "data": args.data,
        "benchmark_data": data,
        "size": args.size,
        "subsets": rows,
        "mean": means(rows),
        "real": real,
        "pooled_subset_seeds": pooled.get("subset_seeds", []),
        "pooled": pooled_rows(pooled),
    }
    for path, other in earlier:
        report = join_earlier(report, other, path)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("item5", type=Path, help="the item-5 benchmark folder (subset-S/ ...)")
    parser.add_argument(
        "--data", required=True, help="the real images the benchmark used (breastmnist.npz)"
    )
    parser.add_argument("--size", type=int, default=28, help="image side for evaluate (28)")
    parser.add_argument("--device", default="cpu", help="gaunet evaluate --device (cpu)")
    parser.add_argument("--out", type=Path, help="markdown report (default: ITEM5/item5.md)")
    parser.add_argument(
        "--domain-steps",
        type=int,
        help="gaunet evaluate --domain-steps (default: evaluate's own, as in the docs' tables; "
        "fewer only for a quick check)",
    )
    parser.add_argument(
        "--earlier",
        type=Path,
        action="append",
        default=[],
        metavar="REPORT.json",
        help="an earlier item5.json whose subsets join this report (their folders gone); "
        "repeatable",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="only write each subset's evaluate.json and evaluate-real.json (the part that "
        "needs the generator's checkpoint), before the cells are done and pooled",
    )
    args = parser.parse_args(argv)
    out = args.out or args.item5 / "item5.md"
    try:
        if args.evaluate_only:
            print("evaluated:", *evaluate_finished(args))
            return
        report = build(args)
    except ReportError as error:
        raise SystemExit(f"item5_report: {error}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), report)
    out.write_text(markdown(report))
    print(out)


if __name__ == "__main__":
    main()
