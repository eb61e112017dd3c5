"""`gaunet data prepare NAME`: turn a paper dataset's download into a prepared dataset folder.

Each recipe is one module (imported only when used) with `LAYOUT` (the expected download tree,
shown when something is missing) and `collect(root, options) -> Collected`; `common` converts
and writes. The result (`manifest.csv` + `images/` + `prepare.json`) is a SOURCE for every
other command. Layouts, labelling rules and caveats: docs/datasets.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gaunet.errors import GaunetError
from gaunet.interrupts import said_on_interrupt
from gaunet.io import jsonable

RECIPES: dict[str, tuple[str, str]] = {
    "nct-crc-he-100k": ("nct_crc", "Kather 2019 colorectal histology, 9 tissue classes"),
    "chestxray8": ("chestxray8", "NIH ChestX-ray8/14, single-finding images by default"),
    "ham10000": ("ham10000", "HAM10000 dermoscopy, 7 diagnoses, grouped by lesion"),
    "oct2017": ("oct2017", "Kermany retinal OCT, CNV/DME/DRUSEN/NORMAL"),
    "chest-xray-pediatric": ("chest_xray_pediatric", "Kermany paediatric chest X-ray"),
    "luna16": ("luna16", "LUNA16 CT: 2D axial patches around candidates, 3 classes"),
    "busi": ("busi", "Breast ultrasound images: benign/malignant/normal"),
    "lits": ("lits", "LiTS liver CT: axial slices labelled by liver/tumour content"),
}

# Recipe-specific options with their defaults (the CLI flags below set them).
RECIPE_DEFAULTS: dict[str, Any] = {
    "ignore_external_test": False,
    "no_finding": False,
    "multi_label": False,
    "subtypes": False,
    "negatives_per_series": 2,
    "small_nodules": None,
    "patch": 64,
    "slice_step": 1,
    "organ_boxes": None,
}


def prepare_dataset(
    name: str,
    root: Path | str,
    out: Path | str,
    size: int = 256,
    channels: int = 3,
    seed: int = 0,
    resplit: bool = False,
    overwrite: bool = False,
    **recipe_options: Any,
) -> Path:
    """Prepare dataset `name` from its download at `root` into `out`; returns `out`."""
    from gaunet.data.recipes.common import PrepareOptions, write_prepared

    unknown = set(recipe_options) - set(RECIPE_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown recipe options: {sorted(unknown)}")
    options = SimpleNamespace(**{**RECIPE_DEFAULTS, **recipe_options, "seed": seed})
    module = importlib.import_module(f"{__name__}.{_module_for(name)}")
    root = Path(root)
    if not root.is_dir():
        raise GaunetError(f"--root {root} is not a folder; expected layout:\n{module.LAYOUT}")
    collected = module.collect(root, options)
    _check_collected(collected, root, name, resplit)
    return write_prepared(
        collected.items,
        Path(out),
        recipe=name,
        root=root,
        class_names=collected.class_names,
        options=PrepareOptions(
            size=size,
            channels=channels,
            seed=seed,
            resplit=resplit,
            recipe=json.loads(json.dumps(recipe_options, default=jsonable)),
        ),
        overwrite=overwrite,
        notes=collected.notes,
        extra_column=collected.extra_column,
    )


def add_prepare_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `prepare` to the `gaunet data` sub-parsers."""
    from gaunet.cli import size_help, user_path_obj  # the CLI's one --size rule, ~ paths

    names = ", ".join(RECIPES)
    parser = subparsers.add_parser(
        "prepare",
        help="convert a paper dataset's download into a prepared dataset (a SOURCE)",
        description=(
            f"Recipes: {names}; or medmnist:NAME (e.g. medmnist:breastmnist). Writes "
            "OUT/manifest.csv (path,label,patient_id,split), OUT/images/<class>/*.png and "
            "OUT/prepare.json. Expected layouts and labelling rules: docs/datasets.md."
        ),
    )
    parser.add_argument("name", metavar="NAME", help=f"one of: {names}, medmnist:NAME")
    parser.add_argument(
        "--root", type=user_path_obj, help="the downloaded (unpacked) dataset folder"
    )
    parser.add_argument("--out", type=user_path_obj, required=True, help="prepared dataset folder")
    parser.add_argument("--size", type=int, default=256, help=size_help())
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3, help="1 or 3")
    parser.add_argument("--seed", type=int, default=0, help="seed of the grouped split")
    parser.add_argument(
        "--resplit",
        action="store_true",
        help="ignore an official split; grouped stratified 7:1:2 over all images (the paper's)",
    )
    parser.add_argument("--overwrite", action="store_true", help="redo an existing OUT")
    group = parser.add_argument_group("recipe options")
    group.add_argument(
        "--ignore-external-test",
        action="store_true",
        help="nct-crc-he-100k: do not use CRC-VAL-HE-7K as the test split",
    )
    group.add_argument(
        "--no-finding", action="store_true", help="chestxray8: add 'No Finding' as a 15th class"
    )
    group.add_argument(
        "--multi-label",
        action="store_true",
        help="chestxray8: keep multi-finding images (label = first finding, all in 'labels')",
    )
    group.add_argument(
        "--subtypes",
        action="store_true",
        help="chest-xray-pediatric: NORMAL / BACTERIA / VIRUS instead of NORMAL / PNEUMONIA",
    )
    group.add_argument(
        "--negatives-per-series",
        metavar="N",
        type=int,
        default=RECIPE_DEFAULTS["negatives_per_series"],
        help="luna16: non-nodule candidates sampled per CT (0 = all)",
    )
    group.add_argument(
        "--small-nodules",
        metavar="CSV",
        type=Path,
        help="luna16: CSV seriesuid,coordX,coordY,coordZ of nodules < 3 mm (from LIDC-IDRI)",
    )
    group.add_argument(
        "--patch",
        metavar="VOXELS",
        type=int,
        default=RECIPE_DEFAULTS["patch"],
        help="luna16: axial patch side in voxels around each candidate",
    )
    group.add_argument(
        "--slice-step",
        metavar="N",
        type=int,
        default=1,
        help="lits: keep every Nth axial slice (1 = all)",
    )
    group.add_argument(
        "--organ-boxes",
        metavar="DIR",
        type=Path,
        help="lits: folder of Xu et al.'s segmentation-N.txt organ boxes -> the paper's 11 classes",
    )
    parser.set_defaults(func=_run_prepare)


def _run_prepare(args: argparse.Namespace) -> int:
    if args.name.startswith("medmnist:"):
        from gaunet.data.recipes.medmnist import prepare_medmnist

        prepare_medmnist(
            args.name, args.out, args.size, args.channels, args.seed, args.resplit, args.overwrite
        )
        return 0
    if args.root is None:
        raise GaunetError(f"{args.name} needs --root (the downloaded dataset folder)")
    recipe_options = {key: getattr(args, key) for key in RECIPE_DEFAULTS}
    advice = f"rerun the same command to continue (the images written are kept in {args.out})"
    with said_on_interrupt(advice):  # Ctrl-C or SIGTERM: how to continue, as train says
        prepare_dataset(
            args.name,
            args.root,
            args.out,
            size=args.size,
            channels=args.channels,
            seed=args.seed,
            resplit=args.resplit,
            overwrite=args.overwrite,
            **recipe_options,
        )
    return 0


def _check_collected(collected, root: Path, name: str, resplit: bool) -> None:
    """Before any image is written: an official split without a test image (its test folder
    empty or not downloaded yet) is refused, since carving val from train would leave the
    prepared set without a test split; a class no file was found for is noted (a class folder
    still empty in a partial download would otherwise just be missing from the table)."""
    official = {item.split for item in collected.items}
    if collected.items and not resplit and None not in official and "test" not in official:
        raise GaunetError(
            f"{root}: the official split of {name} has no test image (its test folder empty "
            "or not downloaded yet?); finish the download, or pass --resplit for a grouped "
            "7:1:2 split of the images found"
        )
    found = {item.label for item in collected.items}
    for missing in [c for c in collected.class_names if c not in found]:
        if not any(f"{missing} class" in note for note in collected.notes):  # luna16 says why
            collected.notes.append(f"no image of class {missing} was found: it is left out")


def _module_for(name: str) -> str:
    if name not in RECIPES:
        raise GaunetError(
            f"unknown dataset {name!r}; choose one of {', '.join(RECIPES)}, or medmnist:FLAG"
        )
    return RECIPES[name][0]
