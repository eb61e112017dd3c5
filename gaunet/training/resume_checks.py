"""What `gaunet train --resume` continues must be the run it was (issue 30): the settings given
now, config.yaml and the checkpoint's own record of its config agree on every field outside
RESUMABLE_CHANGES, and a `--data` given again is the data the run was made from. Each check
runs before anything is written or any network is built, and a difference is one GaunetError
line naming the fields (both values) or both sources, instead of a size-mismatch traceback in
load_state_dict or a --data that was silently ignored.

A run records its data in train_images.npz: `source` (the SOURCE as given, also config.yaml's
`data`), `source_path` (a file or folder's absolute path) and `source_fingerprint` (run.json
shows it as `data_fingerprint`). What the fingerprint covers depends on the source
(docs/reliability.md, "Resume checks"):
- an .npz or manifest .csv file: the sha256 of its bytes (a manifest's images are not read);
- a folder: the sha256 of its non-hidden files' relative paths and sizes (cheap: no file is
  read; a file edited in place to the same size is not noticed);
- phantom: its options (n, classes, seed), so `phantom` and `phantom:n=120` are the same;
- an ImageSet (Python API): the sha256 of its images, labels, class names and ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from gaunet.config import SECTIONS, TrainConfig
from gaunet.data import ImageSet
from gaunet.errors import GaunetError
from gaunet.hashing import sha256_file

# The fields a `--resume` may change (issue 30; docs/reliability.md, "Resume checks"): the
# budget, the run folder's cadence and what it keeps, and where and with how many threads the
# steps run. Every other field shapes the networks (widths, size, channels), the data (seed,
# split) or the arithmetic (losses, learning rates, precision, compile) of the checkpoint being
# continued, so a resume refuses to change it, and refuses a config.yaml edited away from the
# checkpoint's own record. Conservative: precision, compile, channels_last and the critic
# levers do not change a tensor's shape, but they change the numbers, so they are refused too.
RESUMABLE_CHANGES = frozenset(
    {"steps", "minutes", *SECTIONS["run_folder"], "device", "num_threads"}
    | {"cuda_graphs", "cudnn_benchmark"}
)
ALLOWED = ", ".join(sorted(RESUMABLE_CHANGES))


def fixed_field_changes(
    before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for each field outside RESUMABLE_CHANGES whose value differs, in
    the dataclass's order. A field missing on either side (a config written by an older or newer
    gaunet) is not compared: there is nothing to compare it with."""
    return [
        (f.name, before[f.name], after[f.name])
        for f in fields(TrainConfig)
        if f.name not in RESUMABLE_CHANGES
        and f.name in before
        and f.name in after
        and _differs(f.name, before[f.name], after[f.name])
    ]


def _differs(name: str, before: Any, after: Any) -> bool:
    """Another setting, not another spelling of it: `init_from` the same run however named,
    `diffaugment` the same policy with other spaces (its order matters: the draws follow it)."""
    if before == after:
        return False
    if name == "init_from" and before and after:
        return not _same_path(str(before), str(after))
    if name == "diffaugment":
        from gaunet.training.diffaugment import parse_policy

        try:
            return parse_policy(str(before)) != parse_policy(str(after))
        except ValueError:
            return True
    return True


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_settings(out: Path, saved: TrainConfig, wanted: TrainConfig) -> None:
    """The overrides given with --resume (`wanted` is config.yaml with them) change only fields
    in RESUMABLE_CHANGES; else one line naming each field, the run's value and the new one."""
    changes = fixed_field_changes(saved.to_dict(), wanted.to_dict())
    if changes:
        shown = ", ".join(f"{name} from {_show(old)} to {_show(new)}" for name, old, new in changes)
        raise GaunetError(
            f"{out}: --resume cannot change {shown}; a resume may change only {ALLOWED}; "
            "train a new run in another --out for other settings"
        )


def check_checkpoint(
    out: Path, checkpoint: Path, state: dict[str, Any], saved: TrainConfig
) -> None:
    """config.yaml (`saved`) agrees with the config the checkpoint recorded when it was written,
    on every field outside RESUMABLE_CHANGES: an edit by hand is refused before the networks are
    built from it (a changed width would fail in load_state_dict with a long traceback; a changed
    learning rate would silently train another recipe than the record says)."""
    recorded = state.get("config")
    if not isinstance(recorded, dict):
        return  # no record to compare with
    changes = fixed_field_changes(recorded, saved.to_dict())
    if not changes:
        return
    said = ", ".join(f"{name} {_show(new)}" for name, _, new in changes)
    trained = ", ".join(f"{name} {_show(old)}" for name, old, _ in changes)
    where = checkpoint.relative_to(out) if checkpoint.is_relative_to(out) else checkpoint
    raise GaunetError(
        f"{out}: config.yaml says {said}, but the checkpoint {where} was trained with "
        f"{trained}; undo the edit, or train a new run in another --out"
    )


def source_fingerprint(data: ImageSet | str | Path) -> str:
    """`METHOD:HEX` identifying a SOURCE's content, cheaply (see the module docstring)."""
    digest = hashlib.sha256()
    if isinstance(data, ImageSet):
        for array in (data.images, data.labels):
            digest.update(np.ascontiguousarray(array).data)
        digest.update(json.dumps([list(data.class_names), [str(i) for i in data.ids]]).encode())
        return f"arrays:{digest.hexdigest()}"
    text = str(data)
    if text == "phantom" or text.startswith("phantom:"):
        from gaunet.data.phantom import parse_phantom_spec

        try:
            options = parse_phantom_spec(text)
        except ValueError as error:
            raise GaunetError(f"{text}: {error}") from None
        return "phantom:" + ",".join(f"{key}={options[key]}" for key in sorted(options))
    path = Path(text).expanduser()
    if path.is_file():
        return f"bytes:{sha256_file(path)}"
    if path.is_dir():
        from gaunet.data.readers.folder import files_under

        for file in files_under(path):
            relative = file.relative_to(path).as_posix()
            digest.update(f"{relative}\0{file.stat().st_size}\n".encode("utf-8", "surrogateescape"))
        return f"listing:{digest.hexdigest()}"
    raise GaunetError(f"--data {path}: no such file or folder")


def _is_path(data: ImageSet | str | Path) -> bool:
    """A file or folder SOURCE (not phantom, not an ImageSet): it has a path to compare."""
    text = "" if isinstance(data, ImageSet) else str(data)
    return bool(text) and text != "phantom" and not text.startswith("phantom:")


def source_record(data: ImageSet | str | Path) -> dict[str, str]:
    """What a new run records of its data (train_images.npz, ImageSet.info): the absolute path
    of a file or folder SOURCE ("" otherwise: the fingerprint says it all) and its fingerprint.
    The absolute path, since a relative --data means another file from another folder."""
    path = str(Path(str(data)).expanduser().resolve()) if _is_path(data) else ""
    return {"source_path": path, "source_fingerprint": source_fingerprint(data)}


def _same_path(given: str, recorded: str) -> bool:
    """The same file or folder, however named (relative, absolute, through a link)."""
    if given == recorded:
        return True
    first, second = Path(given).expanduser(), Path(recorded).expanduser()
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them is gone
        return first.resolve() == second.resolve()


def check_data(
    out: Path, data: ImageSet | str | Path | None, recorded: str, record: dict[str, Any]
) -> None:
    """A --data given with --resume must be the source the run was made from: the same path
    (however named) and the same fingerprint (`record`, from train_images.npz). A run folder made
    before fingerprints were recorded is checked by its path alone. The run never needs --data
    again: it trains on its saved copy, train_images.npz."""
    if data is None:
        return
    given = data.source if isinstance(data, ImageSet) else str(data)
    keep = "resume without --data (the run keeps training on its own copy, train_images.npz)"
    other = f"{out}: --data {given} is not the data this run trained on"
    fingerprint = str(record.get("source_fingerprint") or "")
    where = str(record.get("source_path") or recorded)
    if _is_path(data) and not _same_path(given, where):
        raise GaunetError(f"{other} ({where}); {keep}, or train a new run in another --out")
    if not fingerprint:  # an older run folder: its path was all there was to compare
        if _is_path(data) or given == recorded:
            return
        raise GaunetError(f"{other} ({recorded}); {keep}, or train a new run in another --out")
    if source_fingerprint(data) == fingerprint:
        return
    if _is_path(data):
        raise GaunetError(
            f"{out}: --data {given} has changed since this run was made from it (its content "
            f"differs from the run's record of {where}); {keep}"
        )
    raise GaunetError(f"{other} ({recorded}); {keep}, or train a new run in another --out")


def check_step_target(out: Path, steps: int, step: int) -> None:
    """`steps` is the run's total: a resume to fewer steps than its checkpoint has would train
    nothing and record the smaller target in config.yaml and run.json ("completed")."""
    if 0 < steps < step:
        raise GaunetError(
            f"{out}: the run is already at step {step}, past steps {steps} (the run's "
            f"total, not steps to add); give --steps {step + 1} or more to train on"
        )


def already_completed(out: Path, steps: int, step: int, sha256: str) -> bool:
    """A resume of a run that completed its `steps` already (run.json says so, at the
    checkpoint's step): there is nothing to train, and it rewrites nothing. It rewrote last.pt
    (new bytes: its wall time), which then matched no `checkpoint_sha256` its generated images
    record, and set run.json's first_step_seconds to null."""
    if not 0 < steps <= step:
        return False
    try:
        info = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(info, dict)
        and info.get("status") == "completed"
        and info.get("steps") == step
        and info.get("checkpoint_sha256") == sha256
    )
