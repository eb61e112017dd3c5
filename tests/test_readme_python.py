"""The README's Python API block runs as written, on the phantom and a tiny run in place of
the user's folders: a renamed function, argument or attribute there fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from train_helpers import PHANTOM, tiny_train

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "the README has one Python API block"
    return blocks[0]


def test_the_readme_python_block_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tiny_train(tmp_path / "run", steps=2, seed=1)
    code = readme_python()
    for placeholder in ('"my_ultrasound"', '"runs/us"', '"my_demo"', ".run()"):
        assert placeholder in code, f"the README's block no longer has {placeholder}"
    code = (
        code.replace('"my_ultrasound"', repr(PHANTOM))
        .replace('"runs/us"', repr(str(run)))
        .replace('"my_demo"', repr(str(tmp_path / "demo")))
        .replace(".run()", "")  # built and checked, not run: a demo takes minutes
    )
    names: dict = {}
    exec(compile(code, str(README), "exec"), names)
    images = names["images"]
    assert isinstance(images, torch.Tensor) and images.shape[0] == 16
    assert images.min() >= -1 and images.max() <= 1
    assert {"train", "val", "test"} >= {str(s) for s in names["data"].split}
    assert len(names["train"]) + len(names["val"]) + len(names["test"]) == len(names["data"])
    assert "demo" in type(names["report"]).__module__  # the Demo itself, as built
    printed = capsys.readouterr().out
    assert str(names["generator"].class_names) in printed
