"""Train variants of a preset for the same number of steps and compare their samples: speed,
FD/KID against the real test split, and noise diversity (does the output change with z?).

    .venv/bin/python benchmarks/preset_ablation.py --data ../shared/data/breastmnist.npz \
        --out /tmp/ablation --config cpu-tiny --steps 600 --jobs 2 \
        --variant base= --variant stem_down=d_stem_down=1 \
        --variant stem_down+noise=d_stem_down=1,decoder_noise_stages=2

A variant is NAME=key=value,key=value (empty after NAME= for the preset as it is). Each trains
with `gaunet train` in OUT/NAME (an interrupted run resumes), `--jobs` at a time, one torch
thread each; then `gaunet generate` and `gaunet evaluate --run` per variant (distribution
metrics and noise diversity). Writes OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

GAUNET = [sys.executable, "-m", "gaunet"]


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, settings = text.partition("=")
    return name, [s for s in settings.split(",") if s]


def train_command(args: argparse.Namespace, name: str, settings: list[str]) -> list[str]:
    run = args.out / name
    command = [*GAUNET, "train", "--data", args.data, "--out", str(run), "--config", args.config]
    command += ["--steps", str(args.steps), "--seed", str(args.seed), "--quiet"]
    for setting in [*settings, "num_threads=1"]:
        command += ["--set", setting]
    if (run / "checkpoints").exists():
        command.append("--resume")
    return command


def finished(run: Path) -> bool:
    info = run / "run.json"
    return info.exists() and json.loads(info.read_text()).get("finished", False)


def train_all(args: argparse.Namespace, variants: dict[str, list[str]]) -> None:
    pending = [name for name in variants if not finished(args.out / name)]
    running: dict[str, subprocess.Popen] = {}
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            log = (args.out / f"{name}.log").open("a")
            running[name] = subprocess.Popen(
                train_command(args, name, variants[name]), stdout=log, stderr=subprocess.STDOUT
            )
            print(f"training {name}", flush=True)
        for name, process in list(running.items()):
            if process.poll() is not None:
                del running[name]
                if process.returncode:
                    raise SystemExit(f"{name}: gaunet train exited {process.returncode}")
                print(f"trained {name}", flush=True)
        time.sleep(2)


def evaluate_variant(args: argparse.Namespace, name: str) -> dict:
    run = args.out / name
    synthetic = args.out / f"{name}-synthetic"
    report = args.out / f"{name}-evaluate.json"
    if not (synthetic / "manifest.csv").exists():
        subprocess.run(
            [*GAUNET, "generate", "--run", str(run), "--out", str(synthetic)]
            + ["--per-class", str(args.per_class), "--seed", str(args.seed)],
            check=True,
        )
    if not report.exists():
        subprocess.run(
            [*GAUNET, "evaluate", "--real", args.data, "--synthetic", str(synthetic)]
            + ["--run", str(run), "--features", args.features, "--json", str(report)]
            + ["--seed", str(args.seed)],
            check=True,
        )
    info = json.loads((run / "run.json").read_text())
    metrics = json.loads(report.read_text())
    return {
        "steps": info["steps"],
        "wall_seconds": info["wall_seconds"],
        "seconds_per_step": info["wall_seconds"] / max(info["steps"], 1),
        "evaluate": metrics,
        "noise_diversity": metrics["noise_diversity"],
    }


def markdown(results: dict, variants: dict[str, list[str]]) -> str:
    lines = [
        "| variant | settings | s / step | features | FD | KID | precision | recall | PA "
        "| copy rate (pixel) | noise diversity: ratio (within source / real pairs) "
        "| distance to source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        e, d = r["evaluate"], r["noise_diversity"]
        pa = e.get("PA", {}).get("value")
        copy_rate = e.get("memorization", {}).get("pixel", {}).get("copy_rate")
        for extractor, m in e.get("features", {}).items():
            if not m.get("available"):
                continue
            o = m["overall"]
            kid, pr = o.get("KID") or {}, o.get("PRDC") or {}
            lines.append(
                f"| {name} | {', '.join(variants[name]) or '(preset)'} "
                f"| {r['seconds_per_step']:.2f} | {extractor} | {fmt(o.get(m['metric_name']))} "
                f"| {fmt(kid.get('mean'), 4)} | {fmt(value(pr, 'precision'))} "
                f"| {fmt(value(pr, 'recall'))} | {fmt(pa)} | {fmt(copy_rate, 3)} "
                f"| {d['ratio']:.3f} ({d['within_source']:.4f} / {d['real_pairs']:.4f}) "
                f"| {d['to_source']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def value(metrics: dict, name: str) -> float | None:
    return (metrics.get(name) or {}).get("value")


def fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", default="cpu-tiny")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--features", default="domain")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=K=V,...")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    variants = dict(parse_variant(v) for v in args.variant)
    train_all(args, variants)
    results = {name: evaluate_variant(args, name) for name in variants}
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    table = markdown(results, variants)
    (args.out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
