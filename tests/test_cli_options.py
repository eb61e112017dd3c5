"""One CLI: the same budget and thread flags across commands, every default in --help, evaluate
following --run, and an interrupted benchmark that says how to continue."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml
from train_helpers import PHANTOM, TINY, tiny_train

from gaunet.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser):
    """(name, parser) of every command and sub-command, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", p) for n, p in _subparsers(sub))


def test_every_default_is_in_help() -> None:
    checked = 0
    for name, parser in _subparsers(build_parser()):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            default = action.default
            off = default is None or default is False or default is argparse.SUPPRESS
            if not action.option_strings or off or default == []:
                continue
            help_text = " ".join((action.help or "").split())
            shown = f"(default: {default})" in text or "default" in help_text.lower()
            assert shown, f"gaunet {name} {action.option_strings[0]}: default {default!r} not shown"
            checked += 1
    assert checked > 40


def test_budget_and_thread_flags_match_across_commands() -> None:
    parser = build_parser()
    demo = parser.parse_args(["demo", "--steps", "7", "--train-minutes", "2"])
    assert demo.train_steps == 7 and demo.minutes == 2.0
    assert parser.parse_args(["demo", "--train-steps", "9"]).train_steps == 9  # the old flag
    train = parser.parse_args(["train", "--out", "x", "--steps", "5", "--threads", "2"])
    assert train.steps == 5 and train.threads == 2
    bench = parser.parse_args(["benchmark", "--data", "phantom", "--out", "b"])
    assert bench.threads == 1  # 1: measured faster than 2 on a busy 2-core machine
    assert parser.parse_args(["demo"]).threads == 1
    help_text = " ".join(_help(parser, "benchmark").split())
    # why 1, with where it was measured (the numbers themselves live in docs/guide.md)
    assert "twice as slow (measured: docs/guide.md)" in help_text


def _help(parser: argparse.ArgumentParser, command: str) -> str:
    return dict(_subparsers(parser))[command].format_help()


def test_train_threads_sets_num_threads(tmp_path: Path) -> None:
    sets = [f"--set={k}={v}" for k, v in TINY.items() if k != "num_threads"]
    out = tmp_path / "run"
    args = ["train", "--data", PHANTOM, "--out", str(out), "--steps", "2", "--quiet"]
    assert main([*args, *sets, "--set", "num_threads=0", "--threads", "1"]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["num_threads"] == 1
    assert main([*args[:4], str(tmp_path / "bad"), "--threads", "-1", "--steps", "2"]) == 2


def test_evaluate_follows_the_runs_size_channels_and_split(tmp_path: Path, capsys) -> None:
    run = tiny_train(tmp_path / "run", steps=2, seed=3)  # 16 px, 1 channel
    synthetic = tmp_path / "synthetic"
    assert main(["generate", "--run", str(run), "--out", str(synthetic), "--per-class", "6",
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    fast = ["--features", "domain", "--domain-steps", "20", "--domain-size", "16",
            "--kid-subsets", "5", "--diversity-sources", "2", "--diversity-draws", "2"]  # fmt: skip
    json_path = tmp_path / "eval.json"
    code = main(["evaluate", "--real", PHANTOM, "--synthetic", str(synthetic), "--run", str(run),
                 "--json", str(json_path), *fast])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "real split: the run's split.csv" in printed
    result = json.loads(json_path.read_text())
    assert result["arguments"]["size"] == 16 and result["arguments"]["channels"] == 1
    # the reference is the run's test split: as many images as the run's split.csv lists there
    split = yaml.safe_load((run / "config.yaml").read_text())
    assert split["size"] == 16
    tests = sum(
        1 for line in (run / "split.csv").read_text().splitlines() if line.endswith(",test")
    )
    assert result["samples"]["real_test"] == tests
    # without --run: the fixed defaults; explicit flags win over the run's
    code = main(["evaluate", "--real", PHANTOM, "--synthetic", str(synthetic), "--run", str(run),
                 "--size", "24", "--json", str(json_path), *fast])  # fmt: skip
    assert code == 0
    assert json.loads(json_path.read_text())["arguments"]["size"] == 24


def test_a_source_that_is_not_the_runs_is_evaluated_with_a_note(tmp_path: Path, capsys) -> None:
    run = tiny_train(tmp_path / "run", steps=2)
    synthetic = tmp_path / "synthetic"
    assert main(["generate", "--run", str(run), "--out", str(synthetic), "--per-class", "6",
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    code = main(["evaluate", "--real", "phantom:n=16,classes=2", "--synthetic", str(synthetic),
                 "--run", str(run), "--features", "domain", "--domain-steps", "20",
                 "--domain-size", "16", "--kid-subsets", "5", "--diversity-sources", "2",
                 "--diversity-draws", "2"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "real split: not the run's" in printed and "may be in the reference" in printed


def test_evaluate_scores_the_runs_own_training_images(tmp_path: Path) -> None:
    """`--synthetic RUN/train_images.npz`: the real images the generator trained on, scored as
    generated ones are (the values to read a generator's against); each is a training image,
    so the copy audit finds every one."""
    run = tiny_train(tmp_path / "run", steps=2)
    json_path = tmp_path / "real.json"
    code = main(["evaluate", "--real", PHANTOM, "--synthetic", str(run / "train_images.npz"),
                 "--run", str(run), "--json", str(json_path), "--features", "domain",
                 "--domain-steps", "20", "--domain-size", "16", "--kid-subsets", "5",
                 "--diversity-sources", "2", "--diversity-draws", "2", "--quiet"])  # fmt: skip
    assert code == 0
    result = json.loads(json_path.read_text())
    trained = sum(
        1 for line in (run / "split.csv").read_text().splitlines() if line.endswith(",train")
    )
    assert result["samples"]["synthetic"] == trained
    assert result["memorization"]["pixel"]["copy_rate"] == 1.0


@pytest.mark.parametrize("subset_leaks", [False, True])
def test_a_benchmarks_generator_is_evaluated_on_the_benchmarks_split(
    tmp_path: Path, capsys, subset_leaks: bool
) -> None:
    """A benchmark's generator (BENCH/generators/RUN) lists only its training subset in its
    split.csv: evaluate takes the benchmark's whole split, unless one of the subset's images is
    outside its train part (then the split is assigned, with the warning)."""
    run = tiny_train(tmp_path / "bench" / "generators" / "gaunet-f0.5-s0", steps=2, seed=3)
    synthetic = tmp_path / "synthetic"
    assert main(["generate", "--run", str(run), "--out", str(synthetic), "--per-class", "6",
                 "--quiet"]) == 0  # fmt: skip
    header, *rows = (run / "split.csv").read_text().splitlines()
    subset = [row for row in rows if row.endswith(",train")][::2]
    whole = [
        row.rsplit(",", 1)[0] + ",test" if subset_leaks and row == subset[0] else row
        for row in rows
    ]
    (tmp_path / "bench" / "split.csv").write_text("\n".join([header, *whole]) + "\n")
    (run / "split.csv").write_text("\n".join([header, *subset]) + "\n")
    capsys.readouterr()
    json_path = tmp_path / "eval.json"
    code = main(["evaluate", "--real", PHANTOM, "--synthetic", str(synthetic), "--run", str(run),
                 "--json", str(json_path), "--features", "domain", "--domain-steps", "20",
                 "--domain-size", "16", "--kid-subsets", "5", "--diversity-sources", "2",
                 "--diversity-draws", "2"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    if subset_leaks:
        assert "real split: not the run's" in printed and "may be in the reference" in printed
    else:
        assert "real split: the enclosing folder's split.csv" in printed
        assert "may be in the reference" not in printed
        tests = sum(1 for row in whole if row.endswith(",test"))
        assert json.loads(json_path.read_text())["samples"]["real_test"] == tests


def test_interrupted_benchmark_says_how_to_continue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import gaunet.downstream.benchmark as benchmark

    def interrupted(settings, out, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark, "run_benchmark", interrupted)
    code = main(["benchmark", "--data", "phantom", "--out", str(tmp_path / "b")])
    assert code == 130
    assert "interrupted: rerun the same command to continue" in capsys.readouterr().err


def test_train_resume_refuses_a_config_it_would_ignore(tmp_path: Path, capsys) -> None:
    """A resume keeps the run's config.yaml: a --config given with it (even a missing file)
    was dropped without a word."""
    run = tiny_train(tmp_path / "run", steps=2)
    other = tmp_path / "other.yaml"
    other.write_text("lr_g: 0.5\n")
    for config in (str(other), "/nonexistent.yaml"):
        code = main(["train", "--out", str(run), "--resume", "--steps", "3", "--config", config])
        assert code == 2
        assert f"--config {config} does not apply to --resume" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--quiet"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["lr_g"] == 1e-4


def test_train_refuses_an_empty_out(tmp_path: Path, capsys, monkeypatch) -> None:
    """`--out "$RUN"` with RUN unset wrote a whole run into the current folder."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", PHANTOM, "--out", "", "--steps", "1"]) == 2
    assert "--out is empty" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("flag", "field", "used", "ignored"),
    [
        ("--batch-size", "batch_size", "4", "6"),
        ("--seed", "seed", "3", "5"),
        ("--steps", "steps", "2", "4"),
    ],  # fmt: skip
)
def test_a_flag_beats_a_set_of_the_same_field_and_says_so(
    tmp_path: Path, capsys, flag: str, field: str, used: str, ignored: str
) -> None:
    sets = [f"--set={k}={v}" for k, v in TINY.items() if k not in (field, "steps")]
    out = tmp_path / "run"
    args = ["train", "--data", PHANTOM, "--out", str(out), "--quiet", *sets]
    budget = [] if field == "steps" else ["--steps", "2"]
    assert main([*args, *budget, flag, used, "--set", f"{field}={ignored}"]) == 0
    said = capsys.readouterr()
    assert f"note: {flag} {used} is used, not --set {field}={ignored}" in said.out
    assert not said.err.strip()  # (a refusal stays the one line there)
    assert str(yaml.safe_load((out / "config.yaml").read_text())[field]) == used


@pytest.mark.parametrize(
    "error",
    [
        MemoryError("Unable to allocate 21.3 TiB for an array with shape (780, 3, 100000, 100000)"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 10000000000000 bytes."
        ),  # fmt: skip
    ],
)
def test_out_of_memory_is_one_line_naming_the_size(
    monkeypatch: pytest.MonkeyPatch, capsys, error: Exception
) -> None:
    """`data inspect --size 100000` was a numpy traceback; every command now says it in one."""
    import gaunet.data.sources as sources

    def allocate(*args, **kwargs):
        raise error

    monkeypatch.setattr(sources, "load_source", allocate)
    assert main(["data", "inspect", "phantom", "--size", "100000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gaunet data: error: out of memory (") and "\n" not in err
    assert "--size" in err and str(error).splitlines()[0] in err


def test_another_runtime_error_is_not_called_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import gaunet.data.sources as sources

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(sources, "load_source", broken)
    with pytest.raises(RuntimeError, match="a bug of ours"):
        main(["data", "inspect", "phantom"])


def test_out_of_memory_with_several_jobs_names_them(capsys) -> None:
    """Each of --jobs N processes holds its own networks: fewer of them is a remedy too."""
    import torch

    from gaunet.cli import _run

    def allocate(args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    args = build_parser().parse_args(["benchmark", "--data", "p", "--out", "o", "--jobs", "4"])
    args.func = allocate
    assert _run(args) == 2
    err = capsys.readouterr().err
    assert "out of memory (CUDA out of memory. Tried to allocate 2.00 GiB)" in err
    assert err.strip().endswith("or fewer --jobs")
    args.jobs = 1
    assert _run(args) == 2 and "--jobs" not in capsys.readouterr().err
