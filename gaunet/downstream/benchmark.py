"""The grid: classifier x arm x fraction x seed, one cell at a time, resumable.

Every arm uses the same split; the fraction subset comes from a subset seed independent of the
classifier seed (see subsets.py), and a classifier seed fixes its initialisation and batch
order, so W and W/O cells of one seed are paired. Each finished cell appends its metric rows to
results.csv; a rerun reads them and skips those cells. benchmark.json pins the settings that
change results, so a rerun with other settings is refused instead of mixing tables.

`device` (auto: CUDA when available) is where the networks train; it is not pinned, so a
folder started on the CPU can be continued on a GPU. Pairing holds on every device by
construction (fit.py): the network is initialised on the CPU under the seed, then moved; batch
order and augmentation come from a CPU generator. cells.jsonl records the device of each cell.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from gaunet.config import SECTIONS, ConfigError, load_config
from gaunet.config_checks import baseline_loss_problems
from gaunet.data import ImageSet, load_source, print_skip_summary, write_split
from gaunet.data.splits import folder_split
from gaunet.device import resolve_device
from gaunet.downstream.arms import (
    MORE_REAL,
    TYPICAL_COPIES,
    Arm,
    parse_arms,
    snapshot_overrides_for,
)
from gaunet.downstream.cells import Grid
from gaunet.downstream.classifiers import (
    check_classifiers,
)
from gaunet.downstream.fit import FitSettings
from gaunet.downstream.generator_arms import RESUME_HINT, GeneratorArms, TrainingJob
from gaunet.downstream.provenance import check_run_arms
from gaunet.downstream.report import write_reports
from gaunet.downstream.results_file import (
    cells_left,
    check_settings_file,
    grid_cells,
    read_results,
    write_rows,
)
from gaunet.downstream.settings_checks import check_benchmark_settings
from gaunet.downstream.snapshots import check_criterion
from gaunet.downstream.subsets import stored_fractions
from gaunet.errors import GaunetError
from gaunet.io import pin_settings
from gaunet.locking import folder_lock
from gaunet.progress import progress
from gaunet.training.warm_start import check_source

PINNED = (
    "data", "size", "channels", "split_seed", "subset_seed", "synthetic_ratio", "width", "fit",
    "gen_config", "gen_steps", "gen_minutes", "synthetic_weight", "filter_pool",
    "synthetic_smoothing", "synthetic_schedule", "select_snapshot", "noise_scale",
    "synthetic_draws", "gen_init_from",
)  # fmt: skip
# pinned settings added after folders were first written: a folder without them used these
PIN_DEFAULTS = {
    "synthetic_weight": 1.0, "filter_pool": 1, "synthetic_smoothing": 0.0,
    "synthetic_schedule": "mix", "select_snapshot": "last", "noise_scale": 1.0,
    "synthetic_draws": 1, "gen_init_from": "",
}  # fmt: skip
CELL_LOG = "cells.jsonl"  # one JSON line per finished cell: its device (not a result)


# generator settings that change only the run folder (logging, snapshots), not the generator
RUN_FOLDER_KEYS = set(SECTIONS["run_folder"])


def generator_settings(value: Any, snapshots_matter: bool = True) -> Any:
    """A --gen-config as the settings it resolves to (two files with the same settings match),
    without run-folder keys such as periodic_every unless the snapshots are compared
    (--select-snapshot fd-val); the text itself when it cannot be read."""
    try:
        resolved = load_config(value).to_dict()
    except (ConfigError, OSError, TypeError, ValueError):
        return value
    if snapshots_matter:
        return resolved
    return {k: v for k, v in resolved.items() if k not in RUN_FOLDER_KEYS}


@dataclass
class BenchmarkSettings:
    """Everything that defines a benchmark folder; PINNED fields must match on resume."""

    data: str
    classifiers: list[str] = field(default_factory=lambda: ["resnet18", "svm"])
    arms: list[str] = field(default_factory=lambda: ["none", "classic"])
    fractions: list[float] = field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0])
    seeds: int = 5
    size: int = 28
    channels: int = 1
    split_seed: int = 0
    subset_seed: int = 0
    synthetic_ratio: float = 1.0
    width: float = 1.0
    fit: FitSettings = field(default_factory=FitSettings)
    gen_config: str = "cpu-tiny"
    gen_steps: int | None = None
    gen_minutes: float | None = None
    # gaunet arms: a run whose weights each generator starts from (init_from; "" = random)
    gen_init_from: str = ""
    # networks: loss weight of each synthetic image relative to a real one (1 = equal)
    synthetic_weight: float = 1.0
    # K > 1: generate K x the wanted images, keep those the subset-trained CNN is surest of
    filter_pool: int = 1
    # networks: label smoothing of synthetic images' targets (0 = hard labels, as real ones)
    synthetic_smoothing: float = 0.0
    # networks: "mix" trains on real + synthetic together; "pretrain" trains on the synthetic
    # images alone first, then fine-tunes on the real ones (each stage with early stopping)
    synthetic_schedule: str = "mix"
    # generator arms: "last" checkpoint, or the snapshot whose images score best against the
    # validation images: "fd-val" (closest) or "cas-val" (most class evidence); snapshots.py
    select_snapshot: str = "last"
    # generator arms: every noise vector multiplied by this when generating (1: as trained)
    noise_scale: float = 1.0
    # generator arms, networks: K > 1 generates K noise draws per synthetic image and trains
    # each epoch on a different one (a new draw every epoch, as classic augmentation gives a
    # new transform); the SVM, which has no epochs, gets the first draw
    synthetic_draws: int = 1
    # where networks, frozen features and generator arms run: auto (CUDA when available), cpu,
    # cuda, cuda:1, ...; not pinned (results agree across devices within the seed spread)
    device: str = "auto"
    # the `--protocol` the options came from (a built-in name or a YAML file; "" = none):
    # recorded in benchmark.json and named in summary.md, not pinned (the values it set are)
    protocol: str = ""
    # the protocol's values the command line changed (`--seeds 3 (protocol: 10)`), for summary.md
    protocol_changes: list[str] = field(default_factory=list)


def run_benchmark(
    settings: BenchmarkSettings,
    out: Path,
    data: ImageSet | None = None,
    arms_helper: GeneratorArms | None = None,
    jobs: int = 1,
) -> Path:
    """Run (or resume) the grid in `out`; returns the results.csv path. Reports are rewritten.
    `jobs` > 1 runs that many cells at once, a process each (parallel.py): the same rows."""
    out = Path(out)
    check_benchmark_settings(settings)  # fractions as given: 0 is refused, not dropped
    settings = replace(settings, fractions=stored_fractions(settings.fractions))
    check_source(settings.gen_init_from, "--gen-init-from")  # before the folder is made
    resolve_device(settings.device)  # `cuda` without CUDA: refused before the folder is made
    with folder_lock(out, "benchmark"):  # made here; a second writer into `out` is refused
        return _run_grid(settings, out, data, arms_helper, jobs)


def worker_grid(settings: BenchmarkSettings, out: Path, data: ImageSet | None) -> Grid:
    """The grid of a folder that another process prepared and holds (parallel.py's workers):
    the same data, split and generator arms, and nothing written."""
    if data is None:
        data = load_source(settings.data, size=settings.size, channels=settings.channels)
    data = folder_split(data, out / "split.csv", seed=settings.split_seed, note=False)  # parent's
    grid = Grid(data, settings, GeneratorArms(out))
    _configured(grid.arms_helper, out, settings).validation = grid.val
    return grid


def _run_grid(
    settings: BenchmarkSettings,
    out: Path,
    data: ImageSet | None,
    arms_helper: GeneratorArms | None,
    jobs: int = 1,
) -> Path:
    """run_benchmark() once `out` is made and this process alone writes it."""
    arms, record, grid = _prepare(settings, out, data, arms_helper)
    arms_helper = grid.arms_helper
    arms_helper.validation = grid.val  # the reference of --select-snapshot fd-val; never test
    results = out / "results.csv"
    rows = read_results(results)  # a run-folder arm changed since its cells: refused first
    check_run_arms(out, {a.name: a.run for a in arms if a.run is not None}, rows)
    for arm in arms:  # a run folder that fits no fraction fails now, not hours in
        for fraction in settings.fractions:
            if arm.kind == "run":
                arms_helper.extra_images(arm, fraction, grid.subset(fraction))
            elif arm.kind == MORE_REAL:  # too few images outside the subset: fail now too
                grid.more_real_rows(fraction)
    write_rows(results, rows, "w")
    cells = grid_cells(settings, arms)
    todo = cells_left(cells, rows)
    # the generators the cells left need, trained and generated before any cell: a failing one
    # fails before the baselines' cells, and the cells' bar then times cells alone (a
    # generator trained at its first cell would take hours inside an ETA of minutes). So is
    # the typical-copies choice: --jobs workers read it, not each train the filter's CNN again
    for _, arm, fraction, _ in todo:
        if arm.kind == "generator":
            arms_helper.extra_images(arm, fraction, grid.subset(fraction))
        elif arm.kind == TYPICAL_COPIES:
            arms_helper.typical_copies(fraction, grid.subset(fraction))
    bar = progress(total=len(cells), initial=len(cells) - len(todo), desc="benchmark", unit="cell")

    def finished(classifier: str, new_rows: list[dict]) -> None:
        write_rows(results, new_rows, "a")
        _log_cell(out / CELL_LOG, new_rows[0], grid.cell_device(classifier))
        rows.extend(new_rows)
        bar.update(1)

    with bar:
        if jobs > 1 and len(todo) > 1:
            from gaunet.downstream.parallel import run_cells

            bar.set_description(f"benchmark ({jobs} cells at once)")
            run_cells(grid, todo, jobs, data, finished)
        else:
            for classifier, arm, fraction, seed in todo:
                bar.set_postfix_str(f"{classifier} {arm.name} f={fraction:g} seed={seed}")
                finished(classifier, grid.run_cell(classifier, arm, fraction, seed))
    _report(out, rows, settings, arms, record)
    return results


def _prepare(
    settings: BenchmarkSettings,
    out: Path,
    data: ImageSet | None,
    arms_helper: GeneratorArms | None,
) -> tuple[list[Arm], dict, Grid]:
    """What every use of a folder starts with, under its lock: the checks, the pinned settings
    (benchmark.json), the data and its split (split.csv), and the grid of its subsets."""
    check_classifiers(settings.classifiers)
    arms = parse_arms(settings.arms)
    new = not (out / "benchmark.json").is_file()
    _check_generator_arms(settings, arms, new=new)
    if settings.filter_pool < 2 and any(a.kind == TYPICAL_COPIES for a in arms):
        raise GaunetError(
            "the typical-copies arm is the control of --filter-pool K: give --filter-pool 2 or "
            "more (3 is the measured one)"
        )
    check_settings_file(out)  # unreadable, or gone from beside finished cells: refused
    record = pin_settings(
        out / "benchmark.json",
        asdict(settings),
        PINNED,
        PIN_DEFAULTS,
        paths=("data", "gen_init_from"),
        resolved={"gen_config": generator_settings},  # a carried folder's config, elsewhere
    )
    if data is None:
        data = load_source(settings.data, size=settings.size, channels=settings.channels)
        print_skip_summary(data, out)
    data = folder_split(data, out / "split.csv", seed=settings.split_seed)
    write_split(out / "split.csv", data)
    arms_helper = _configured(
        GeneratorArms(out) if arms_helper is None else arms_helper, out, settings
    )
    try:
        return arms, record, Grid(data, settings, arms_helper)
    except GaunetError:  # a new folder is left unpinned: the rerun with the fix is no change
        for name in ("benchmark.json", "split.csv") if new else ():
            (out / name).unlink(missing_ok=True)
        raise


def train_generators_together(
    settings: BenchmarkSettings,
    folders: dict[int, Path],
    train_fn: Callable[..., list[Path]] | None = None,
) -> int:
    """The generator arms of one benchmark folder per subset seed (`folders`), trained at once:
    per generator arm and fraction, one stacked run of every subset's generator
    (training/stacked_loop.py), each in the folder run_benchmark would train it in and recorded
    there, so run_benchmark then reuses it. `--gen-minutes` is the budget of the whole stack.
    Returns the number of generators trained; `train_fn` follows training.train_together."""
    if train_fn is None:
        from gaunet.training import train_together as train_fn
    check_benchmark_settings(settings)
    # as run_benchmark stores them: 0.5 and 0.5000001 are one folder, trained once
    settings = replace(settings, fractions=stored_fractions(settings.fractions))
    check_source(settings.gen_init_from, "--gen-init-from")
    resolve_device(settings.device)
    data = load_source(settings.data, size=settings.size, channels=settings.channels)
    groups: dict[tuple[str, float], dict[Path, TrainingJob]] = {}
    with ExitStack() as locks:
        for seed, out in folders.items():
            folder_settings = replace(settings, subset_seed=seed)
            locks.enter_context(folder_lock(out, "benchmark"))
            arms, _, grid = _prepare(folder_settings, out, data, None)
            for arm in arms:
                if arm.kind != "generator":
                    continue
                for fraction in settings.fractions:
                    job = grid.arms_helper.training_job(arm, fraction, grid.subset(fraction))
                    if job is not None:
                        groups.setdefault((arm.model, fraction), {})[job.folder] = job
        for (model, fraction), by_folder in groups.items():
            jobs = list(by_folder.values())
            print(
                f"training {len(jobs)} {model} generators together (fraction {fraction:g}): "
                + ", ".join(str(job.folder) for job in jobs),
                flush=True,
            )
            runs = train_fn(
                [job.data for job in jobs],
                [job.folder for job in jobs],
                config=settings.gen_config,
                overrides=jobs[0].overrides,
                steps=settings.gen_steps,
                # a resumed stack gets what is left of its joint budget (its least-spent run's)
                minutes=max((j.minutes for j in jobs if j.minutes is not None), default=None)
                or settings.gen_minutes,
                seeds=[job.seed for job in jobs],
                resume_hint=RESUME_HINT,
            )
            for job, run in zip(jobs, runs):
                job.done(Path(run))
    return sum(len(group) for group in groups.values())


def _log_cell(path: Path, row: dict, device: torch.device) -> None:
    """One line of cells.jsonl: which device computed a finished cell (a folder continued on
    another device mixes them; results.csv keeps its columns)."""
    entry = {key: row[key] for key in ("classifier", "arm", "fraction", "seed", "seconds")}
    entry["device"] = str(device)
    if device.type == "cuda":
        entry["device_name"] = torch.cuda.get_device_name(device)
    with open(path, "a") as handle:
        handle.write(json.dumps(entry) + "\n")


def _check_generator_arms(settings: BenchmarkSettings, arms: list[Arm], new: bool) -> None:
    """Each generator arm's --gen-config as its model (for a `new` folder, a GAU-Net-only loss
    setting given to gan: a folder begun before that refusal continues) and --select-snapshot:
    problems that would otherwise surface after a generator has trained."""
    for arm in arms:
        if arm.kind == "generator":
            config = load_config(settings.gen_config, overrides={"model": arm.model})
            if new and (problems := baseline_loss_problems(config)):
                raise ConfigError(f"--gen-config {settings.gen_config}: " + "; ".join(problems))
    check_criterion(settings.select_snapshot)
    if settings.select_snapshot == "last":
        return
    if settings.filter_pool > 1:
        raise GaunetError(
            f"--select-snapshot {settings.select_snapshot} and --filter-pool > 1 do not "
            "combine: the snapshot is "
            "chosen on the images the arm adds, which the filter would change"
        )
    for arm in arms:
        if arm.kind == "generator":  # refuses a config no override can serve
            snapshot_overrides_for(
                arm.model, settings.gen_config, settings.gen_steps, settings.gen_minutes
            )


def _configured(
    arms_helper: GeneratorArms, out: Path, settings: BenchmarkSettings
) -> GeneratorArms:
    """The generator arms writing into `out` with this folder's generator settings."""
    arms_helper.out, arms_helper.ratio = out, settings.synthetic_ratio
    arms_helper.subset_seed = settings.subset_seed
    arms_helper.gen_config = settings.gen_config
    arms_helper.gen_steps, arms_helper.gen_minutes = settings.gen_steps, settings.gen_minutes
    arms_helper.gen_init_from = settings.gen_init_from
    arms_helper.filter_pool = settings.filter_pool
    arms_helper.select_snapshot = settings.select_snapshot
    arms_helper.noise_scale = settings.noise_scale
    arms_helper.draws = settings.synthetic_draws
    arms_helper.device = settings.device
    return arms_helper


def _report(
    out: Path, rows: list[dict], settings: BenchmarkSettings, arms: list[Arm], record: dict
) -> None:
    """The reports of the cells these settings ask for (results.csv may hold more)."""
    order = {
        "classifiers": settings.classifiers,
        "fractions": settings.fractions,
        "arms": [a.name for a in arms],
    }
    chosen = [
        r for r in rows
        if r["classifier"] in order["classifiers"] and r["arm"] in order["arms"]
        and float(r["fraction"]) in settings.fractions and int(r["seed"]) < settings.seeds
    ]  # fmt: skip
    selections = []
    if settings.select_snapshot != "last":
        for path in sorted((out / "generators").glob("*-selection.json")):
            saved = json.loads(path.read_text())
            if saved.get("criterion") == settings.select_snapshot and "snapshots" in saved:
                selections.append({"name": path.name.removesuffix("-selection.json"), **saved})
    write_reports(out, chosen, order, record, selections)
