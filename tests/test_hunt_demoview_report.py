"""The demo report's one-line answer and cautions against what was measured, and the commands
it prints (hunt: at the ceiling the report advised more seeds; an uncontrolled gain was the
headline with no caveat; printed commands rounded numbers and left the baselines' arms out;
a rerun naming the data `~/...` the other way round was refused as other data)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
from PIL import Image

from gaunet.cli import build_parser
from gaunet.demo import Demo, DemoSettings, reproduce_commands
from gaunet.demo.report import headline, render_report


def _stat(mean: float, half: float | None = 0.0, p: float | None = None) -> dict:
    return {"mean": mean, "half": half, "n": 3, "p": p}


def _summary(accuracy: float, gain: dict, vs_copies: dict | None = None) -> dict:
    entries = [{"classifier": "resnet18", "arm": "none", "gain": {},
                "metrics": {"accuracy": _stat(accuracy)}}]  # fmt: skip
    for arm in ("classic", "run:gaunet"):
        entries.append(
            {"classifier": "resnet18", "arm": arm, "gain": {"accuracy": gain},
             "metrics": {"accuracy": _stat(min(1.0, accuracy + gain["mean"]))}}
        )  # fmt: skip
    if vs_copies:
        entries[-1]["gain_vs_copies"] = {"accuracy": vs_copies}
    return {"entries": entries, "settings": {"seeds": 3, "size": 32, "fit": {"epochs": 1}}}


def _report(tmp_path: Path, summary: dict) -> str:
    (tmp_path / "downstream").mkdir()
    (tmp_path / "downstream" / "summary.json").write_text(json.dumps(summary))
    return render_report(tmp_path).replace("&#x27;", "'")


def test_a_classifier_at_the_ceiling_is_said_to_be_unable_to_gain(tmp_path: Path) -> None:
    """Accuracy 1.000 without extra images: the verdict said "add seeds", the report nothing."""
    summary = _summary(1.0, _stat(0.0, None, None))
    assert "already scored accuracy 1.000" in headline(summary)
    text = _report(tmp_path, summary)
    assert "ResNet-18 trained on real images alone already scored accuracy 1.000" in text
    assert "already scored" not in headline(_summary(0.8, _stat(0.0, None, None)))


def test_an_uncontrolled_gain_is_not_the_headline_without_a_caveat() -> None:
    """No copies control: the one-line answer said "helped", the caution was in section 5."""
    gain = _stat(0.1, 0.05, 0.01)
    assert "Not yet shown to be the generated images' own" in headline(_summary(0.7, gain))
    beaten = headline(_summary(0.7, gain, vs_copies=_stat(0.08, 0.04, 0.01)))
    assert "helped by 10.0" in beaten and "Not yet shown" not in beaten
    matched = headline(_summary(0.7, gain, vs_copies=_stat(0.0, 0.04, 0.9)))
    assert "Not yet shown" in matched


def _parsed(text: str) -> dict:
    parser = build_parser()
    return {
        line.split()[1]: parser.parse_args(shlex.split(line, comments=True)[1:])
        for line in text.splitlines()
        if line.startswith("gaunet ")
    }


def test_printed_commands_keep_every_digit_and_the_baselines_arms() -> None:
    """`:g` printed --fraction 0.1234567 as 0.123457 (another subset); with --baselines the
    benchmark command left out the gan and cgan arms the demo ran."""
    settings = {"data": "/my data/it's.npz", "fraction": 0.1234567, "minutes": 1 / 3,
                "width": 0.3333333, "baselines": True}  # fmt: skip
    parsed = _parsed(reproduce_commands(settings, num_classes=2))
    assert parsed["demo"].fraction == 0.1234567 and parsed["demo"].minutes == 1 / 3
    assert parsed["demo"].data == "/my data/it's.npz"
    bench = parsed["benchmark"]
    assert float(bench.fractions) == 0.1234567 and bench.width == 0.3333333
    assert bench.gen_minutes == 1 / 3
    assert bench.arms.split(",") == ["none", "classic", "gaunet", "gan", "cgan", "gaunet+classic"]
    plain = _parsed(reproduce_commands({"data": "x.npz"}, num_classes=2))["benchmark"]
    assert plain.arms == "none,classic,gaunet,gaunet+classic" and plain.fractions == "0.25"


def test_the_same_data_named_with_and_without_tilde_continues(tmp_path: Path, monkeypatch) -> None:
    """`--data=~/data` (not expanded by the shell), then `--data ~/data` (expanded): refused
    as other data, though it is the same folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "home" / "data" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (20, 20), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "home" / "data" / name / f"{i}.png")
    out = str(tmp_path / "demo")
    Demo(DemoSettings(data="~/data", out=out, train_steps=2))._check_settings()
    given = str(tmp_path / "home" / "data")
    state = Demo(DemoSettings(data=given, out=out, train_steps=2))._check_settings()
    assert state["settings"]["data"] == "~/data"  # the recorded name is kept
