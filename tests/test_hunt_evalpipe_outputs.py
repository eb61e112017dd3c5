"""`gaunet evaluate`'s outputs: strict JSON, output paths refused by the option that names them
(before any metric), `~` expanded in every path option, the short set named, and the report's
KID as the terminal and the JSON give it."""

import json

import numpy as np
import pytest
from test_diversity import FakeGenerator
from test_evaluate_cli import FAST, REAL

from gaunet.cli import build_parser, main
from gaunet.data import load_source
from gaunet.errors import GaunetError
from gaunet.metrics.evaluate import evaluate
from gaunet.metrics.report import _fmt


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GAUNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAUNET_NO_PROGRESS", "1")


def strict(text: str):
    """json.loads refusing NaN and Infinity, as every reader but Python's does."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_with_a_nan_noise_diversity(tmp_path, monkeypatch, capsys):
    """A class with one training image has no real pairs: its noise diversity is NaN, and the
    --json file held a bare `NaN`, which jq, JavaScript and most JSON readers refuse."""
    generator = FakeGenerator(noise=0.5)
    keep = np.r_[np.flatnonzero(generator.train_images.labels == 0), 1]  # class b: one image
    generator.train_images = generator.train_images.subset(keep)
    monkeypatch.setattr("gaunet.trained_generator.load_generator", lambda *a, **k: generator)
    run = tmp_path / "run"
    run.mkdir()
    out = tmp_path / "result.json"
    args = ["evaluate", "--real", REAL, "--synthetic", "phantom:n=12,classes=2,seed=4"]
    args += ["--features", "domain", "--run", str(run), "--diversity-sources", "2"]
    args += ["--diversity-draws", "2", "--json", str(out), *FAST]
    assert main(args) == 0
    result = strict(out.read_text())
    assert result["noise_diversity"]["per_class"]["b"]["ratio"] is None
    assert result["noise_diversity"]["per_class"]["a"]["ratio"] > 0


@pytest.mark.parametrize("option", ["--json", "--report", "--figures"])
def test_an_output_below_a_file_is_refused_by_its_option(tmp_path, capsys, option):
    """--json FILE/out.json: the error named FILE/out-skipped-files-real.txt, a file nobody asked
    for (the skipped-files list is written there first)."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file\n")
    target = blocker / ("figs" if option == "--figures" else "out.json")
    args = ["evaluate", "--real", REAL, "--synthetic", REAL, "--features", "domain"]
    assert main([*args, option, str(target), *FAST]) == 2
    error = capsys.readouterr().err
    assert f"{option} {target}: {blocker} is a file, not a folder" in error
    assert "skipped-files" not in error


def test_figures_given_as_a_file_is_refused(tmp_path, capsys):
    figures = tmp_path / "figures.png"
    figures.write_bytes(b"")
    args = ["evaluate", "--real", REAL, "--synthetic", REAL, "--features", "domain"]
    assert main([*args, "--figures", str(figures), *FAST]) == 2
    assert f"--figures {figures} is a file; give a folder" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--figures", "--inception-weights"])
def test_path_options_expand_the_home_folder(tmp_path, monkeypatch, option):
    """--figures=~/figs made a folder named `~` in the working folder; --inception-weights=~/w.pt
    passed the up-front check (which expanded it) and then was 'not found', so the run went on
    without Inception."""
    monkeypatch.setenv("HOME", str(tmp_path))
    args = build_parser().parse_args(
        ["evaluate", "--real", REAL, "--synthetic", REAL, f"{option}=~/x"]
    )
    value = vars(args)[option.lstrip("-").replace("-", "_")]
    assert str(value) == str(tmp_path / "x")


def test_too_few_synthetic_images_names_the_synthetic_source():
    """One synthetic image: the error named the real source, whose sets were all large enough."""
    real = load_source(REAL, size=16, channels=1)
    synthetic = load_source("phantom:n=20,classes=2,seed=9", size=16, channels=1)
    synthetic = synthetic.subset(np.array([0]))
    with pytest.raises(GaunetError) as error:
        evaluate(real, synthetic, kid_subsets=5)
    assert str(error.value).startswith(f"{synthetic.source}: need at least two images")
    assert synthetic.source != real.source


def test_report_kid_keeps_its_significant_figures():
    """The terminal printed KID = 3.021e-05 +- 0.0072, the JSON 3.02e-05, the report 0.0000."""
    text = _fmt({"mean": 3.0214e-05, "std": 0.0072, "subsets": 10, "subset_size": 9})
    assert text.startswith("3.021e-05 ")
    assert "0.0072" in text
    assert _fmt({"mean": -2.5e-06, "std": 0.0, "subsets": 1, "subset_size": 9}).startswith(
        "-2.5e-06 (no spread"
    )
