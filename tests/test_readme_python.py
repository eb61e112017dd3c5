"""The Python blocks of README.md and docs/ run as written, on the phantom and tiny runs in
place of the user's folders and budgets: a renamed function, argument or attribute there fails
here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from train_helpers import PHANTOM, TINY, tiny_train

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(document: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", document.read_text(), re.S)


def _run(document: Path, replacements: dict[str, str]) -> dict:
    """The document's one Python block with each placeholder replaced (each must be there)."""
    (code,) = python_blocks(document)
    for placeholder, value in replacements.items():
        assert placeholder in code, f"{document.name}'s block no longer has {placeholder}"
        code = code.replace(placeholder, value)
    names: dict = {"TINY": TINY}
    exec(compile(code, str(document), "exec"), names)
    return names


def test_the_readme_block_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tiny_train(tmp_path / "run", steps=2, seed=1)
    names = _run(
        ROOT / "README.md",
        {
            '"my_ultrasound"': repr(PHANTOM),
            '"runs/us"': repr(str(run)),
            '"my_demo"': repr(str(tmp_path / "demo")),
            ".run()": "",  # built and checked, not run: a demo takes minutes
        },
    )
    images = names["images"]
    assert isinstance(images, torch.Tensor) and images.shape[0] == 16
    assert images.min() >= -1 and images.max() <= 1
    assert len(names["train"]) + len(names["val"]) + len(names["test"]) == len(names["data"])
    assert "demo" in type(names["report"]).__module__  # the Demo itself, as built
    assert str(names["generator"].class_names) in capsys.readouterr().out


def test_the_guides_block_runs(tmp_path: Path) -> None:
    run = tiny_train(tmp_path / "run", steps=2, seed=1)
    names = _run(
        ROOT / "docs" / "guide.md", {'"data.npz"': repr(PHANTOM), '"runs/gaunet"': repr(str(run))}
    )
    assert len(names["train"]) and len(names["test"])


def test_the_model_docs_block_runs(tmp_path: Path) -> None:
    names = _run(
        ROOT / "docs" / "model.md",
        {
            '"phantom"': repr(PHANTOM),
            '"runs/demo"': repr(str(tmp_path / "run")),
            "steps=500": "steps=2",
            'overrides={"n_critic": 5}': 'overrides={**TINY, "n_critic": 5}',
            '"synthetic/"': repr(str(tmp_path / "synthetic")),
            "per_class=100": "per_class=2",
        },
    )
    assert names["images"].shape[0] == 32
    assert Path(names["manifest"]).is_file()


def test_every_python_block_is_run_above() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    with_blocks = {d.name for d in documents if python_blocks(d)}
    assert with_blocks == {"README.md", "guide.md", "model.md"}
