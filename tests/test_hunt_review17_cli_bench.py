"""Review of today's CLI and benchmark changes: the out-of-memory handler, the protocol-change
record, and the no-image ratio refusal."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest

from gaunet.cli import _run, build_parser
from gaunet.downstream.benchmark import BenchmarkSettings, run_benchmark
from gaunet.errors import GaunetError


def _args(error: BaseException) -> argparse.Namespace:
    def func(args: argparse.Namespace) -> int:
        raise error

    return argparse.Namespace(command="benchmark", func=func, jobs=1, quiet=False)


def test_a_memory_error_without_a_message_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert _run(_args(MemoryError())) == 2
    assert "out of memory (MemoryError)" in capsys.readouterr().err


def test_the_same_arms_written_with_spaces_are_no_change() -> None:
    args = build_parser().parse_args(
        ["benchmark", "--data", "p", "--out", "o", "--protocol", "paper",
         "--arms", "none, gaunet, copies"]
    )  # fmt: skip
    assert args.protocol_changes == []


GOOD = BenchmarkSettings(data="phantom:n=24", classifiers=["svm"], arms=["none"], fractions=[1.0])


def test_a_refused_ratio_can_be_corrected_in_the_same_folder(tmp_path: Path) -> None:
    settings = replace(GOOD, arms=["none", "copies"], fractions=[0.1], synthetic_ratio=0.2, size=16)
    out = tmp_path / "b"
    with pytest.raises(GaunetError, match="adds no image"):
        run_benchmark(settings, out)
    run_benchmark(replace(settings, synthetic_ratio=0.3), out)  # the advice followed
    assert (out / "results.csv").is_file()
