"""Command-line options of generate, compare, pool and demo: `~` in path options, options
ignored or refused late, and refusals that name no option."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import tiny_train

from gaunet.cli import build_parser, main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.mark.parametrize(
    ("argv", "dest"),
    [
        (["generate", "--run=~/r", "--out=~/g", "--per-class", "1"], ("run", "out")),
        (["generate", "--run", "r", "--out", "g", "--per-class", "1", "--checkpoint=~/c.pt"], ("checkpoint",)),
        (["compare", "--runs", "~/a", "~/b", "--out=~/grid.png", "--losses=~/l.png"], ("runs", "out", "losses")),
        (["pool", "--benchmarks", "~/a", "~/b", "--against", "~/c", "~/d", "--out=~/p"], ("benchmarks", "against", "out")),
        (["demo", "--out=~/demo"], ("out",)),
        (["train", "--data", "phantom", "--out=~/r", "--init-from=~/base"], ("out", "init_from")),
        (["benchmark", "--data", "phantom", "--out=~/b", "--gen-init-from=~/base"], ("out", "gen_init_from")),
        (["evaluate", "--real", "phantom", "--synthetic", "phantom", "--run=~/r", "--json=~/e.json", "--report=~/e.html"], ("run", "json", "report")),
        (["data", "prepare", "busi", "--root=~/raw", "--out=~/busi"], ("root", "out")),
        (["data", "inspect", "phantom", "--sheet=~/sheet.png"], ("sheet",)),
    ],
)  # fmt: skip
def test_tilde_in_path_options_is_the_home_folder(home: Path, argv: list[str], dest: tuple) -> None:
    """`--out=~/x` (and a quoted "~/my runs") reach gaunet unexpanded: it made a folder named
    `~` in the working folder instead of writing into the home folder."""
    args = build_parser().parse_args(argv)
    for name in dest:
        value = getattr(args, name)
        for path in value if isinstance(value, list) else [value]:
            assert Path(path).is_relative_to(home), (name, path)


def test_generate_and_compare_write_under_home(home: Path, tmp_path: Path) -> None:
    tiny_train(home / "my run", steps=2)
    assert (
        main(["generate", "--run=~/my run", "--out=~/gen out", "--per-class", "1", "--quiet"]) == 0
    )
    assert (home / "gen out" / "manifest.csv").is_file()
    assert main(["compare", "--runs", "~/my run", "--out=~/grid.png", "--per-class", "1"]) == 0
    assert (home / "grid.png").is_file()
    assert not (tmp_path / "~").exists()


def test_compare_refuses_one_run_twice(home: Path, capsys: pytest.CaptureFixture) -> None:
    tiny_train(home / "r", steps=2)
    run = str(home / "r")
    assert main(["compare", "--runs", run, f"{run}/", "--out", str(home / "g.png")]) == 2
    err = capsys.readouterr().err
    assert "gaunet compare: error: --runs names one run twice" in err
    assert not (home / "g.png").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--seed", "-1"], "--seed must be in 0..4294967295, not -1"),
        (["--noise-scale", "0"], "--noise-scale 0.0: noise scale must be a positive number"),
        (["--noise-scale", "nan"], "--noise-scale nan: noise scale must be a positive number"),
    ],
)
def test_generate_refusals_name_their_option(
    extra: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """They said "seed must be in ..." / "noise scale must be a positive number", no option."""
    argv = ["generate", "--run", str(tmp_path / "no-run"), "--out", str(tmp_path / "g")]
    assert main([*argv, "--per-class", "1", *extra]) == 2
    assert f"gaunet generate: error: {says}" in capsys.readouterr().err


@pytest.mark.parametrize("minutes", ["--minutes", "--train-minutes"])
def test_demo_refuses_minutes_beside_steps(
    minutes: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--steps replaces --minutes: a --minutes given with it was silently ignored."""
    out = tmp_path / "d"
    argv = ["demo", "--data", "phantom:n=30", "--out", str(out), minutes, "10", "--steps", "5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"gaunet demo: error: give {minutes} or --steps, not both" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--classifiers", "svm,svm"], "--classifiers names one twice: svm,svm"),
        (["--classifiers", ","], "--classifiers lists nothing"),
        (["--width", "0"], "--width must be a number above 0, not 0.0"),
    ],
)
def test_demo_refuses_downstream_settings_before_training(
    extra: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Found at the downstream step, after minutes of training and evaluation, with demo.json
    already pinned to them: the rerun with the fix was refused as other settings."""
    out = tmp_path / "d"
    assert main(["demo", "--data", "phantom:n=30", "--out", str(out), "--steps", "2", *extra]) == 2
    assert f"gaunet demo: error: {says}" in capsys.readouterr().err
    assert not (out / "demo.json").exists() and not (out / "runs").exists()
