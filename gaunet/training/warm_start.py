"""Start a run from another run's weights (`init_from`): transfer learning for the generator.

The paper names transfer learning as its next step, and DAGAN's gains come from a generator that
learned within-class variation from many classes before it augments a few images. A small
labelled set can borrow that from a larger one, even of another modality: pretrain on it, then
fine-tune on yours (docs/augmentation.md, "A generator pretrained on another dataset").

Only the weights travel. The optimizers, step count, EMA history and RNG start fresh, so the
fine-tuning run's budget is its own. A class embedding (an `nn.Embedding`) is carried only when
both runs have the same class names: "pneumonia" says nothing about "malignant". In another
order, each class takes its own row of the source's embedding, found by name. Tensors whose
shape differs (another architecture) stay as initialised, and the report names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaunet.errors import GaunetError
from gaunet.training.checkpoint import CheckpointError, load_checkpoint

PER_CLASS = re.compile(r"networks\.(\d+)\.(.+)")  # the gan baseline's network per class


@dataclass
class WarmStart:
    """What was carried from the source run, for run.json and the log."""

    source: str
    checkpoint: str
    sha256: str
    source_step: int
    source_classes: list[str]
    carried: int = 0
    fresh: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "checkpoint": self.checkpoint,
            "sha256": self.sha256,
            "source_step": self.source_step,
            "source_classes": self.source_classes,
            "tensors_carried": self.carried,
            "tensors_fresh": self.fresh,
        }


def check_source(source: str, option: str = "init_from") -> None:
    """A missing source, refused before any data is read or anything is written."""
    if source and not Path(source).expanduser().exists():  # `~/runs/a` from YAML or --set
        raise GaunetError(f"{option} {source}: no such run folder or checkpoint")


def _checkpoint_path(source: Path) -> Path:
    """A run folder means its checkpoints/ (last.pt first); a file is used as it is."""
    if source.is_dir() and (source / "checkpoints").is_dir():
        return source / "checkpoints"
    return source


def _embedding_names(module: nn.Module) -> set[str]:
    return {
        f"{name}.{tensor}" if name else tensor
        for name, child in module.named_modules()
        if isinstance(child, nn.Embedding)
        for tensor, _ in child.named_parameters(recurse=False)
    }


def class_rows(source: list[str], target: list[str]) -> list[int] | None:
    """For each of the run's classes, its row in the source's class embedding (found by name:
    the same classes in another order are still the same classes); None when the two runs do
    not have the same class names."""
    if len(set(target)) != len(target) or sorted(source) != sorted(target):
        return None
    return [source.index(name) for name in target]


def _per_class_source(name: str, rows: list[int] | None) -> str:
    """The source's name for `name`: a per-class network of the gan baseline (`networks.K.`,
    models/baselines.py PerClass) takes its own class's network when the same classes come in
    another order (`rows`); every other name, and other classes, by name as it is."""
    match = PER_CLASS.match(name)
    if rows is None or match is None or int(match[1]) >= len(rows):
        return name
    return f"networks.{rows[int(match[1])]}.{match[2]}"


def _carried(
    module: nn.Module, state: dict[str, torch.Tensor], prefix: str, rows: list[int] | None
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors of `state` whose name and shape match `module`'s, and the names left as
    initialised (also class embeddings when the classes differ; `rows`: class_rows). Refused
    when less than half of the module's weights would come from the source: that is another
    architecture, and a start that is mostly random would be passed off as a transfer."""
    own = module.state_dict()
    embeddings = _embedding_names(module)
    weights = {name for name, _ in module.named_parameters()}
    carried, fresh, differs = {}, [], []
    for name, tensor in own.items():
        theirs = state.get(_per_class_source(name, rows))
        if theirs is None or theirs.shape != tensor.shape:
            fresh.append(f"{prefix}.{name}")
            if theirs is not None and name in weights:  # what the refusal names
                differs.append(f"{prefix}.{name} {_shape(theirs)} there, {_shape(tensor)} here")
        elif name in embeddings and (rows is None or len(rows) != len(theirs)):
            fresh.append(f"{prefix}.{name} (class embedding; other classes)")
        elif name in embeddings:  # row c of the run's embedding is its class c's, by name
            carried[name] = theirs[rows].to(tensor.dtype)
        else:
            carried[name] = theirs.to(tensor.dtype)
    total = sum(own[name].numel() for name in weights) or 1
    if sum(carried[name].numel() for name in weights & carried.keys()) < total / 2:
        shown = f"; e.g. {'; '.join(differs[:2])}" if differs else ""
        raise GaunetError(
            f"no weights fit this run's {prefix}: the source run has another architecture "
            f"(use the same preset and size as the source run){shown}"
        )
    return carried, fresh


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(map(str, tensor.shape)) or "scalar"


def warm_start(
    generator: nn.Module,
    critic: nn.Module,
    source: str | Path,
    model: str,
    class_names: list[str],
) -> WarmStart:
    """Load `source`'s generator and critic weights (a run folder or a checkpoint file, read
    with weights_only) into `generator` and `critic`, in place; returns what was carried."""
    source = Path(source).expanduser().resolve()  # run.json records where they came from
    try:  # a file named is that file: another one of its folder would start another run
        state, path, digest = load_checkpoint(
            _checkpoint_path(source), map_location="cpu", fallback=source.is_dir()
        )
    except CheckpointError as error:
        raise GaunetError(f"init_from: {error}") from None
    if state.get("model") != model:
        raise GaunetError(
            f"init_from {source}: a {state.get('model')!r} run cannot start a {model!r} run"
        )
    if "generator" not in state or "critic" not in state:
        raise GaunetError(f"init_from {path}: the checkpoint holds no generator and critic")
    source_classes = [str(c) for c in state.get("class_names", [])]
    rows = class_rows(source_classes, [str(c) for c in class_names])
    try:  # both checked before either network changes
        carried_g, fresh_g = _carried(generator, state["generator"], "generator", rows)
        carried_d, fresh_d = _carried(critic, state["critic"], "critic", rows)
    except GaunetError as error:
        raise GaunetError(f"init_from {path}: {error}") from None
    generator.load_state_dict(carried_g, strict=False)
    critic.load_state_dict(carried_d, strict=False)
    return WarmStart(
        source=str(source),
        checkpoint=str(path),
        sha256=digest,
        source_step=int(state["step"]),
        source_classes=source_classes,
        carried=len(carried_g) + len(carried_d),
        fresh=fresh_g + fresh_d,
    )
