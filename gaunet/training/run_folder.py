"""What a run folder holds besides checkpoints: the training images, metrics, sample grids and
run.json. Each is a plain file a user can open."""

from __future__ import annotations

import io
import json
import math
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gaunet.config import TrainConfig
from gaunet.data import ImageSet
from gaunet.data.imageset import from_unit_range
from gaunet.data.readers.npz import run_images
from gaunet.errors import GaunetError, shorten
from gaunet.io import refuse_out_inside_data, write_atomic, write_npz

TRAIN_IMAGES = "train_images.npz"
# What a new run writes in its folder: files of these names that are not a run's are refused.
# Its folders count only when they hold files a run does not write (a run killed in its set-up
# leaves samples/step-*.png, which a new run replaces).
RUN_FILES = ("config.yaml", "split.csv", TRAIN_IMAGES, "run.json", "metrics.jsonl")
RUN_FOLDERS = {
    "samples": ("step-",), "tensorboard": ("events.out.tfevents.",),
    "checkpoints": ("last.pt", "step-", "."),
}  # fmt: skip


def run_folder_of(path: Path) -> Path:
    """The run folder `path` names: RUN/checkpoints (a folder without a checkpoints folder of
    its own) is RUN, as generate, compare and load_generator all take it; else `path`."""
    if path.name == "checkpoints" and path.is_dir() and not (path / "checkpoints").exists():
        return path.parent
    return path


def remove_stale_temporaries(out: Path) -> int:
    """Delete what writers of this run folder killed mid-write (SIGKILL, power loss) left:
    `.run.json.tmpPID-…` and the like next to the run's own files and sample grids (checkpoints/
    is tidied by every save). Only the temporaries of the trainer's own file names: a run folder
    has one trainer (it holds the lock), and nothing else's files are touched. Returns how many."""
    stale = [path for name in RUN_FILES for path in out.glob(f".{name}.tmp*")] + list(
        (out / "samples").glob(".step-*.png.tmp*")
    )
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def check_no_foreign_files(out: Path) -> None:
    """A new run in an existing folder replaces its config.yaml, split.csv, samples/, ...: refused
    unless the folder is an earlier run's (its training images are there: a run stopped before
    its first checkpoint, which a new run replaces), so a user's own files of those names in a
    folder given as --out are never overwritten."""
    if not out.is_dir() or (out / TRAIN_IMAGES).is_file():
        return
    found = [name for name in RUN_FILES if (out / name).exists()]
    for name, ours in RUN_FOLDERS.items():
        folder = out / name
        if folder.exists() and (
            not folder.is_dir()
            or any(not p.name.startswith(ours) for p in folder.rglob("*") if p.is_file())
        ):
            found.append(f"{name}/")
    if found:
        raise GaunetError(
            f"--out {out}: holds {', '.join(found)}, not from a gaunet run, which a new run "
            "would replace; give a new or empty folder (or move those files)"
        )


def save_train_images(path: Path, data: ImageSet) -> None:
    """The exact rows trained on, so resume and generation never depend on the source again;
    with the record of the source (data.info, resume_checks.source_record), so a --data given
    again on --resume can be compared with what the run was made from."""
    write_npz(
        path,
        compress=True,
        images=data.images,
        labels=data.labels,
        ids=data.ids.astype(str),
        groups=data.groups.astype(str),
        class_names=np.asarray(data.class_names, dtype=str),
        source=np.asarray(data.source),
        # what the run was made from (training/resume_checks.py); older runs lack both
        source_path=np.asarray(str(data.info.get("source_path", ""))),
        source_fingerprint=np.asarray(str(data.info.get("source_fingerprint", ""))),
    )


def load_train_images(path: Path) -> ImageSet:
    """A run's training rows (gaunet.data.readers.npz.run_images)."""
    with np.load(path, allow_pickle=False) as archive:
        return run_images(archive)


class MetricsLog:
    """metrics.jsonl (one JSON object per log interval) and, optionally, TensorBoard events."""

    def __init__(self, folder: Path, tensorboard: bool) -> None:
        self.path = folder / "metrics.jsonl"
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(folder / "tensorboard"))

    def truncate_after(self, step: int) -> int:
        """Drop the records logged after `step` (and a line cut short by a kill), so a resumed or
        rolled-back run logs each step once. Rewritten atomically; returns how many were dropped.
        TensorBoard is told the same: its events after `step` are purged when it reads them.
        """
        if self.writer is not None:
            self._purge_events_after(step)
        if not self.path.exists():
            return 0
        kept, dropped = [], 0
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1
                continue
            logged = record.get("step", 0) if isinstance(record, dict) else None
            # a damaged record (`"step": null`, a string) is dropped like a cut line: comparing
            # it was a TypeError traceback on every resume of the run
            if isinstance(logged, (int, float)) and logged <= step:
                kept.append(line)
            else:
                dropped += 1
        if dropped:
            write_atomic(self.path, "".join(line + "\n" for line in kept).encode(), durable=False)
        return dropped

    def _purge_events_after(self, step: int) -> None:
        """A session-start event at step + 1 (what SummaryWriter's purge_step writes): TensorBoard
        then drops the events of earlier sessions from that step on, which this run logs again;
        else a resumed or rolled-back run showed those steps twice."""
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog

        start = SessionLog(status=SessionLog.START)
        self.writer._get_file_writer().add_event(Event(step=step + 1, session_log=start))

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(key, value, record["step"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def grid_conditioning(data: ImageSet, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One fixed training image per class that has any (indices, labels), chosen by seed."""
    rng = np.random.default_rng(seed)
    rows = [
        int(rng.choice(np.flatnonzero(data.labels == c)))
        for c in range(data.num_classes)
        if (data.labels == c).any()
    ]
    return np.asarray(rows), data.labels[rows]


def save_grid(conditioning: torch.Tensor, samples: torch.Tensor, path: Path) -> None:
    """PNG grid: one row per class, the conditioning image first, then its samples.

    conditioning: (rows, C, H, W), samples: (rows, cols, C, H, W), both in [-1, 1].
    """
    rows, cols = samples.shape[:2]
    tiles = torch.cat([conditioning[:, None], samples], 1).float().cpu().numpy()
    tiles = from_unit_range(tiles)  # (rows, cols + 1, C, H, W)
    _, _, c, h, w = tiles.shape
    pad = 2
    canvas = np.full((c, rows * (h + pad) + pad, (cols + 1) * (w + pad) + pad), 255, np.uint8)
    for r in range(rows):
        for k in range(cols + 1):
            top, left = pad + r * (h + pad), pad + k * (w + pad)
            canvas[:, top : top + h, left : left + w] = tiles[r, k]
    image = canvas[0] if c == 1 else canvas.transpose(1, 2, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG")
    write_atomic(path, png.getvalue(), durable=False)  # a full disk leaves no truncated PNG


def environment(device: torch.device, processes: int) -> dict[str, Any]:
    """Where a run ran (for run.json): device, threads, processes and library versions."""
    import gaunet

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = cpu_model() or platform.processor() or platform.machine()
    return {
        "device": str(device),
        "device_name": name,
        # the ISA torch's CPU kernels use (avx512, avx2, ...): CPU results round by it
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "processes": processes,
        "versions": {
            "gaunet": gaunet.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
    }


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("" where there is none): platform.processor()
    gives only "x86_64" or "" on Linux, so run.json never said which CPU a run trained on."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return ""


def read_train_images(path: Path) -> ImageSet:
    """A run's train_images.npz, or one GaunetError naming the file when it is damaged."""
    try:
        return load_train_images(path)
    except Exception as error:  # noqa: BLE001 - any unreadable archive is the same problem
        cause = shorten(str(error) or type(error).__name__, 120)
        raise GaunetError(
            f"{path}: cannot read the run's training images ({cause}); the file is damaged: "
            "restore it from a copy or train a new run"
        ) from None


def previous_step_target(out: Path) -> int | None:
    """The step target an earlier invocation recorded in run.json (a --minutes run's config
    holds steps: 0)."""
    try:
        target = json.loads((out / "run.json").read_text()).get("steps_target")
    except (OSError, ValueError, AttributeError):
        return None
    return target if isinstance(target, int) and target > 0 else None


def check_out_apart(
    data: ImageSet | str | Path | None, out: Path, config: str | Path | TrainConfig
) -> None:
    """A new run's folder must not be inside the folder it reads (its samples/*.png would
    become images of that dataset, and its next read would hold them), nor hold another
    dataset's images (`gaunet generate` refuses those too), nor the config file it reads (the
    resolved config.yaml would replace the user's file, comments and model sections included)."""
    where = out.resolve()
    if not isinstance(data, ImageSet) and data is not None:
        refuse_out_inside_data(data, out, "the run's files (samples/*.png)")
    from gaunet.data.readers.decode import first_image_file

    image = first_image_file(where, skip=("samples",))
    if image is not None:
        raise GaunetError(
            f"--out {out} holds images that are not a run's ({image}; a dataset?): the run's "
            "files and samples/*.png would be written among them. Nothing written; choose "
            "another --out"
        )
    if not isinstance(config, TrainConfig) and (where / "config.yaml").is_file():
        given = Path(str(config)).expanduser()
        if given.is_file() and given.resolve() == (where / "config.yaml").resolve():
            raise GaunetError(
                f"--config {config} is the run folder's config.yaml, which the run replaces with "
                "its resolved config. Nothing written; keep the config file outside --out"
            )
