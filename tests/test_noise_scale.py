"""Noise scale: every noise vector multiplied by S at generation time, recorded in the manifest,
read back by `gaunet evaluate`, passed through by the benchmark's generator arms."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from downstream_helpers import FakeGenerators
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.cli import main as cli_main
from gaunet.data import assign_split, load_source
from gaunet.downstream.arms import parse_arms
from gaunet.downstream.generator_arms import GeneratorArms
from gaunet.errors import GaunetError
from gaunet.generate import generate_dataset
from gaunet.metrics.diversity import noise_diversity
from gaunet.trained_generator import recorded_noise_scale


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_train(tmp_path_factory.mktemp("noise-scale") / "run", steps=3)


def test_scale_one_is_the_trained_generator_bit_for_bit(run: Path) -> None:
    default = load_generator(run, device="cpu").sample(0, 8, seed=3)
    one = load_generator(run, device="cpu", noise_scale=1.0).sample(0, 8, seed=3)
    assert torch.equal(default, one)


def test_the_network_gets_the_same_noise_times_the_scale(run: Path, monkeypatch) -> None:
    seen: dict[float, torch.Tensor] = {}
    for scale in (1.0, 2.5):
        gen = load_generator(run, device="cpu", noise_scale=scale)
        forward = gen.family.sample

        def spy(network, conditioning, labels, z, _scale=scale, _forward=forward):
            seen[_scale] = z.clone()
            return _forward(network, conditioning, labels, z)

        monkeypatch.setattr(gen.family, "sample", spy)
        gen.sample(1, 5, seed=7)
    assert torch.equal(seen[2.5], seen[1.0] * 2.5)


def test_a_larger_scale_spreads_the_draws_of_one_conditioning_image(run: Path) -> None:
    kwargs = {"sources": 3, "draws": 4}
    low = noise_diversity(load_generator(run, device="cpu"), **kwargs)
    high = noise_diversity(load_generator(run, device="cpu", noise_scale=8.0), **kwargs)
    assert high["within_source"] > 2 * low["within_source"] > 0
    assert high["real_pairs"] == low["real_pairs"]  # the yardstick is the real images


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_a_scale_that_is_not_a_positive_number_is_refused(run: Path, bad: float) -> None:
    with pytest.raises(GaunetError, match="noise scale must be a positive number"):
        load_generator(run, device="cpu", noise_scale=bad)


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_the_manifest_records_the_scale(run: Path, tmp_path: Path, fmt: str) -> None:
    manifest = generate_dataset(run, tmp_path / "syn", per_class=2, fmt=fmt, noise_scale=2.5)
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["noise_scale"] for r in rows} == {"2.5"} and len(rows) == 4
    assert recorded_noise_scale(tmp_path / "syn") == 2.5
    assert recorded_noise_scale(manifest) == 2.5


def test_scaled_images_differ_and_default_images_are_unchanged(run: Path, tmp_path: Path) -> None:
    generate_dataset(run, tmp_path / "a", per_class=3, seed=1)
    generate_dataset(run, tmp_path / "b", per_class=3, seed=1, noise_scale=1.0)
    generate_dataset(run, tmp_path / "c", per_class=3, seed=1, noise_scale=4.0)
    a, b, c = (load_source(tmp_path / k, size=16, channels=1).images for k in "abc")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "header, rows, expected",
    [
        ("path,label,class,source_id,seed,checkpoint_sha256,folder", ["a.png,0,x,s,0,h,x"], None),
        ("path,label,noise_scale", ["a.png,0,2", "b.png,0,2"], 2.0),
        ("path,label,noise_scale", ["a.png,0,2", "b.png,0,3"], None),  # mixed: no one scale
        ("path,label,noise_scale", ["a.png,0,-1"], None),
    ],
)
def test_recorded_scale_of_other_manifests(
    tmp_path: Path, header: str, rows: list[str], expected: float | None
) -> None:
    (tmp_path / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")
    assert recorded_noise_scale(tmp_path) == expected
    assert recorded_noise_scale(tmp_path / "missing") is None


def test_cli_generate_writes_the_scale_and_refuses_zero(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "syn"
    args = ["generate", "--run", str(run), "--out", str(out), "--per-class", "2", "--quiet"]
    assert cli_main([*args, "--noise-scale", "3"]) == 0
    assert recorded_noise_scale(out) == 3.0
    capsys.readouterr()
    assert cli_main([*args, "--noise-scale", "0"]) == 2
    assert "noise scale must be a positive number" in capsys.readouterr().err
    assert recorded_noise_scale(out) == 3.0  # the refused call left the earlier folder alone


def test_benchmark_generator_arms_pass_the_scale_and_keep_their_own_images(
    tmp_path: Path,
) -> None:
    data = assign_split(load_source("phantom:n=20", size=16, channels=1), seed=0)
    subset = data.where_split("train")
    arm = parse_arms(["gaunet"])[0]
    fake = FakeGenerators()
    plain = GeneratorArms(tmp_path, train_fn=fake.train, generate_fn=fake.generate)
    _, _, manifest = plain.extra_images(arm, 1.0, subset)
    scaled = GeneratorArms(
        tmp_path, train_fn=fake.train, generate_fn=fake.generate, noise_scale=2.0
    )
    _, _, scaled_manifest = scaled.extra_images(arm, 1.0, subset)
    assert fake.noise_scales == [None, 2.0]  # 1: the generator's default, not passed
    assert len(fake.trained) == 1  # one generator, two image sets
    assert scaled_manifest.parent.name == manifest.parent.name + "-z2"


@pytest.mark.parametrize("flag, expected", [([], 3.0), (["--noise-scale", "1"], 1.0)])
def test_evaluate_measures_diversity_at_the_recorded_scale(
    run: Path, tmp_path: Path, capsys, flag: list[str], expected: float
) -> None:
    import json

    synthetic = tmp_path / "syn"
    generate_dataset(run, synthetic, per_class=4, noise_scale=3.0)
    args = ["evaluate", "--real", "phantom:n=12,classes=2", "--synthetic", str(synthetic)]
    args += ["--run", str(run), "--diversity-sources", "2", "--diversity-draws", "2"]
    args += ["--features", "domain", "--size", "16", "--domain-steps", "5", "--domain-size"]
    args += ["16", "--kid-subsets", "2", "--json", str(tmp_path / "r.json"), *flag]
    args += ["--report", str(tmp_path / "r.html")]
    assert cli_main(args) == 0
    diversity = json.loads((tmp_path / "r.json").read_text())["noise_diversity"]
    assert diversity["noise_scale"] == expected
    printed = capsys.readouterr().out
    assert ("noise scale 3" in printed) == (expected == 3.0)
    html = (tmp_path / "r.html").read_text()
    assert ("every noise vector multiplied by 3" in html) == (expected == 3.0)


@pytest.mark.parametrize("command", ["benchmark", "evaluate"])
def test_benchmark_and_evaluate_refuse_a_bad_scale_before_any_work(
    tmp_path: Path, capsys, command: str
) -> None:
    out = tmp_path / "out"
    if command == "benchmark":
        args = ["benchmark", "--data", "phantom:n=12", "--out", str(out), "--arms", "none"]
    else:
        args = ["evaluate", "--real", "phantom:n=12", "--synthetic", "phantom:n=12"]
        args += ["--json", str(out / "r.json")]
    assert cli_main([*args, "--noise-scale", "-2"]) == 2
    assert "noise scale must be a positive number" in capsys.readouterr().err
    assert not out.exists()
