"""Does a generator lever make synthetic images help a classifier? One ablation table per dataset.

    .venv/bin/python benchmarks/augmentation_gain.py --dataset breastmnist --out /work/runs/aug \
        --variant base= --variant diffaug=diffaugment=translation,cutout,color \
        --variant weight0.5=@synthetic-weight=0.5

Each variant trains the generator (`--gen-config` preset plus the variant's `key=value` config
settings, written to OUT/configs/VARIANT.yaml) on the dataset's low-data fraction with
`gaunet benchmark`, which adds its images to ResNet-18's training set over `--seeds` classifier
seeds (arms none, classic, gaunet, gaunet+classic). `@flag=value` settings are passed to
`gaunet benchmark` instead (e.g. `@synthetic-weight=0.5`, `@filter-pool=3`,
`@synthetic-ratio=2`). `from=OTHER` reuses variant OTHER's trained generator (its generator
settings; for levers that only change how the images are used). The `none` and `classic` cells do not depend on the generator: they are
computed once in OUT/DATASET-reference and copied into each variant's folder (same split,
subset, seeds and classifier settings, so the copies are the cells the variant would compute).
Then `gaunet evaluate --run` measures the generator's images against the real test split
(FD_domain, KID, recall, PA, copy rate, noise diversity; one domain classifier per dataset, trained
on the real training split). Writes OUT/DATASET.md and OUT/DATASET.json; reruns skip finished
work.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from gaunet.io import write_json

GAUNET = [sys.executable, "-m", "gaunet"]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# the low-data settings of issue 14: source, training fraction, image size, channels
DATASETS = {
    "breastmnist": (SHARED / "breastmnist.npz", 0.25, 28, 1),
    "pneumoniamnist": (SHARED / "pneumoniamnist.npz", 0.1, 28, 1),
    "busi": (SHARED / "busi", 0.25, 64, 1),
}
ARMS = ("none", "classic", "gaunet", "gaunet+classic")


def parse_variant(text: str) -> tuple[str, dict[str, str], list[str]]:
    """NAME=key=value,@flag=value -> (name, config settings, benchmark flags)."""
    name, _, body = text.partition("=")
    settings, flags = {}, []
    for item in filter(None, body.split(",") if body else []):
        key, _, value = item.partition("=")
        if key.startswith("@"):
            flags += [f"--{key[1:]}", value]
        else:
            settings[key] = value
    return name, settings, flags


def benchmark_command(args: argparse.Namespace, out: Path, arms: list[str], extra: list[str]):
    data, fraction, size, channels = DATASETS[args.dataset]
    command = [*GAUNET, "benchmark", "--data", str(data), "--out", str(out)]
    command += ["--classifiers", "resnet18", "--width", str(args.width), "--arms", ",".join(arms)]
    command += ["--fractions", f"{fraction:g}", "--seeds", str(args.seeds), "--epochs"]
    command += [str(args.epochs), "--size", str(size), "--channels", str(channels)]
    command += ["--threads", "1", "--subset-seed", str(args.subset_seed)]
    return command + ["--device", args.device, *extra]


def run(command: list[str], log: Path) -> None:
    print("$", " ".join(command), flush=True)
    with log.open("a") as handle:
        subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT)


def copy_reference_rows(reference: Path, out: Path) -> None:
    """The none/classic cells of the reference folder, for a variant folder not yet started."""
    target = out / "results.csv"
    if target.exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(reference / "results.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["arm"] in ("none", "classic")]
    with open(target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def gen_config(args: argparse.Namespace, name: str, settings: dict[str, str]) -> Path:
    preset = Path(__file__).resolve().parents[1] / "gaunet" / "configs" / f"{args.gen_config}.yaml"
    config = yaml.safe_load(preset.read_text())
    config.update({k: yaml.safe_load(v) for k, v in settings.items()})
    path = args.out / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def evaluate(args: argparse.Namespace, folder: Path) -> dict:
    """Distribution metrics and noise diversity of the generator arm's images."""
    data, _, size, channels = DATASETS[args.dataset]
    target = folder / "evaluate.json"
    if not target.exists():
        selection = selection_record(folder)
        if selection:  # --select-snapshot: the checkpoint and images the arm used
            run_folder = selection["chosen"]["checkpoint"]
            synthetic = Path(selection["chosen"]["images"])
        else:
            run_folder = str(generator_record(folder)["run"])
            synthetic = sorted((folder / "synthetic").glob("gaunet-*/manifest.csv"))[0].parent
        command = evaluate_command(data, synthetic, run_folder, size, target, args.device)
        run(command, folder / "evaluate.log")
    return json.loads(target.read_text())


def evaluate_command(
    data: str | Path, synthetic: Path, run_folder: str | Path, size: int, target: Path, device: str
) -> list[str]:
    """`gaunet evaluate` of a generator's images against the real test split, in the domain
    feature space, with noise diversity from its run, into `target` (JSON)."""
    command = [*GAUNET, "evaluate", "--real", str(data), "--synthetic", str(synthetic)]
    command += ["--features", "domain", "--run", str(run_folder), "--size", str(size)]
    return command + ["--json", str(target), "--device", device]


def generator_record(folder: Path) -> dict:
    """The variant's GAU-Net run record (generators/gaunet-*.json, not a selection record)."""
    records = sorted(
        p for p in (folder / "generators").glob("gaunet-*.json") if "-selection" not in p.name
    )
    return json.loads(records[0].read_text())


def selection_record(folder: Path) -> dict | None:
    """The --select-snapshot scores of the variant's generator, if it chose a snapshot."""
    found = sorted((folder / "generators").glob("gaunet-*-selection.json"))
    return json.loads(found[0].read_text()) if found else None


def _find(tree: object, key: str) -> object:
    """The first value stored under `key` anywhere in a nested JSON object."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for value in tree.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def row(name: str, folder: Path, metrics: dict) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    by_arm = {e["arm"]: e for e in summary["entries"]}
    steps = json.loads((Path(generator_record(folder)["run"]) / "run.json").read_text())
    selection = selection_record(folder)
    return {
        "variant": name,
        "steps": steps["steps"],
        # --select-snapshot: the step of the snapshot the images came from
        "chosen_step": selection["chosen"]["step"] if selection else None,
        "generator_seconds": steps["wall_seconds"],
        "fd_domain": _find(metrics, "FD_domain"),
        "kid": _find(metrics, "KID"),
        "recall": _find(metrics, "recall"),
        "copy_rate": _find(metrics, "copy_rate"),
        # class fidelity: share of images the domain classifier assigns to their intended class
        "pa": (metrics.get("PA") or {}).get("value"),
        "noise_diversity": _find(metrics, "ratio"),
        "gain": by_arm["gaunet"]["gain"],
        "combined_gain": by_arm["gaunet+classic"]["gain"],
        "combined_vs_classic": by_arm["gaunet+classic"].get("gain_vs_classic", {}),
        "classic_gain": by_arm["classic"]["gain"],
    }


def _chosen(row: dict) -> str:
    step = row.get("chosen_step")
    return "" if step is None else f" (sampled {step})"


def _number(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("value", value.get("mean"))
    return "-" if value is None else f"{float(value):.3f}"


def _gain(stat: dict | None) -> str:
    """`+1.2 [-0.3, +2.7] p=0.1`; the mean alone where there is no interval (no spread)."""
    if not stat or stat.get("mean") is None:
        return "-"
    p = stat.get("p")
    p = "" if p is None or p != p else f" p={p:.2g}"
    if stat.get("low") is None or stat.get("high") is None or stat["low"] != stat["low"]:
        return f"{100 * stat['mean']:+.1f} (no interval: no spread){p}"
    return f"{100 * stat['mean']:+.1f} [{100 * stat['low']:+.1f}, {100 * stat['high']:+.1f}]{p}"


def markdown(args: argparse.Namespace, rows: list[dict]) -> str:
    data, fraction, size, _ = DATASETS[args.dataset]
    lines = [
        f"# {args.dataset}: fraction {fraction:g}, {size} px, ResNet-18 width {args.width}, "
        f"{args.seeds} seeds, gains in accuracy/AUC points [95 % CI] vs none",
        "",
        "| variant | G steps | FD_domain | KID | recall | PA | copy rate | noise div. | gaunet Acc "
        "| gaunet AUC | +classic vs classic Acc | +classic vs classic AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        vs = r["combined_vs_classic"]
        lines.append(
            f"| {r['variant']} | {r['steps']}{_chosen(r)} | {_number(r['fd_domain'])} "
            f"| {_number(r['kid'])} "
            f"| {_number(r['recall'])} | {_number(r.get('pa'))} | {_number(r['copy_rate'])} "
            f"| {_number(r['noise_diversity'])} | {_gain(r['gain'].get('accuracy'))} "
            f"| {_gain(r['gain'].get('auc'))} | {_gain(vs.get('accuracy'))} "
            f"| {_gain(vs.get('auc'))} |"
        )
    if rows:
        classic = rows[0]["classic_gain"]
        lines += [
            "",
            f"classic alone vs none: Acc {_gain(classic.get('accuracy'))}, "
            f"AUC {_gain(classic.get('auc'))}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="breastmnist")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", action="append", default=[], help="NAME=key=value,...")
    parser.add_argument("--gen-config", default="cpu-tiny")
    parser.add_argument("--gen-steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument(
        "--subset-seed",
        type=int,
        default=0,
        help="seed of the low-data subset and of the generator's training (a replication: use "
        "another --out)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="where classifiers, generators and metrics run (gaunet benchmark/evaluate "
        "--device; default: auto, CUDA when available)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    reference = args.out / f"{args.dataset}-reference"
    run(
        benchmark_command(args, reference, ["none", "classic"], []),
        args.out / f"{args.dataset}-reference.log",
    )
    table = args.out / f"{args.dataset}.json"
    # rows of earlier invocations stay (another process may be running other variants)
    mine: dict = {}  # this invocation's rows: the others are read again before each write
    for text in args.variant or ["base="]:
        name, settings, flags = parse_variant(text)
        folder = args.out / f"{args.dataset}-{name}"
        copy_reference_rows(reference, folder)
        source = settings.pop("from", None)
        if source:  # the same generator: its run record, so the benchmark does not retrain
            settings = json.loads((args.out / "configs" / f"{source}.json").read_text())
            for record in (args.out / f"{args.dataset}-{source}" / "generators").glob("*.json"):
                if record.name.endswith("-selection.json"):
                    continue  # that variant's snapshot choice, not the generator
                (folder / "generators").mkdir(exist_ok=True)
                shutil.copy(record, folder / "generators" / record.name)
        (args.out / "configs").mkdir(parents=True, exist_ok=True)
        (args.out / "configs" / f"{name}.json").write_text(json.dumps(settings))
        config = gen_config(args, name, settings)
        extra = ["--gen-config", str(config), "--gen-steps", str(args.gen_steps), *flags]
        run(
            benchmark_command(args, folder, list(ARMS), extra),
            args.out / f"{args.dataset}-{name}.log",
        )
        mine[name] = row(name, folder, evaluate(args, folder))
        # the file's rows as they are now (another process may have rewritten a variant since
        # this one started: its start-time copy overwrote that, before 2026-12-07), then ours
        rows = {r["variant"]: r for r in json.loads(table.read_text())} if table.exists() else {}
        rows |= mine
        write_json(table, list(rows.values()))  # atomic: other variants may read it
        (args.out / f"{args.dataset}.md").write_text(markdown(args, list(rows.values())))
    print((args.out / f"{args.dataset}.md").read_text())


if __name__ == "__main__":
    main()
