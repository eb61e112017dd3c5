"""`--set compile=true` where torch's compiler fails (Inductor on the CPU, torch 2.13, the
cpu-tiny generator at 32 px): one line naming the failure and what to do, not a traceback from
inside torch, from `gaunet train` and from `gaunet.training.train(...)` alike. The failure is simulated
(compiling for real takes minutes): the first training step raises it."""

from __future__ import annotations

import pytest

from gaunet.cli import main
from gaunet.errors import GaunetError
from gaunet.training import train
from gaunet.training.step import compile_failure_said


class InductorError(Exception):
    """Stands in for torch._inductor.exc.InductorError (matched by its module)."""


InductorError.__module__ = "torch._inductor.exc"


@pytest.fixture
def failing_step(monkeypatch):
    def fail(*args, **kwargs):
        raise InductorError("TypeError: Cannot convert expression to float\nmore detail")

    monkeypatch.setattr("gaunet.training.loop.Trainer.run", fail)


def test_a_compiler_failure_is_one_line(tmp_path, failing_step, capsys) -> None:
    command = ["train", "--data", "phantom:n=20", "--out", str(tmp_path / "run"), "--quiet",
               "--set", "compile=true", "--steps", "1"]  # fmt: skip
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "torch.compile failed on this model (InductorError: TypeError: Cannot convert" in err
    assert "train without --set compile=true" in err and "Traceback" not in err


def test_the_python_api_says_it_too(tmp_path, failing_step) -> None:
    with pytest.raises(GaunetError, match="torch.compile failed on this model") as caught:
        train("phantom:n=20", tmp_path / "run", overrides={"compile": True}, steps=1,
                     progress=False)  # fmt: skip
    assert caught.value.__cause__ is None and "more detail" not in str(caught.value)


def test_other_errors_pass_through() -> None:
    with pytest.raises(ValueError, match="not the compiler"), compile_failure_said():
        raise ValueError("not the compiler")
