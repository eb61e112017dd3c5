import itertools
import json

import numpy as np
import pytest
import torch
from train_helpers import tiny_train

from gaunet import load_generator
from gaunet.data.imageset import ImageSet
from gaunet.metrics.diversity import mean_pairwise_l1, noise_diversity


@pytest.mark.parametrize("n", [2, 3, 7])
def test_mean_pairwise_l1_equals_brute_force(n):
    torch.manual_seed(n)
    images = torch.rand(n, 2, 5, 5)
    pairs = [(images[i] - images[j]).abs().mean() for i, j in itertools.combinations(range(n), 2)]
    assert mean_pairwise_l1(images) == pytest.approx(float(torch.stack(pairs).mean()), rel=1e-6)


def test_mean_pairwise_l1_needs_two_images():
    with pytest.raises(ValueError, match="at least two"):
        mean_pairwise_l1(torch.rand(1, 1, 4, 4))


class FakeGenerator:
    """The interface noise_diversity uses; `noise` scales how much each draw differs."""

    def __init__(self, noise: float) -> None:
        rng = np.random.default_rng(0)
        self.class_names = ["a", "b"]
        self.train_images = ImageSet(
            images=rng.integers(0, 256, (20, 1, 8, 8), dtype=np.uint8),
            labels=np.arange(20) % 2,
            class_names=self.class_names,
            groups=np.arange(20).astype(str),
            ids=np.arange(20).astype(str),
        )
        self.noise = noise

    def conditioning_rows(self, class_index, n, seed, start=0):
        return np.flatnonzero(self.train_images.labels == class_index)[:n]

    def sample(self, class_index, n, seed=0, conditioning=None, start=0):
        gen = torch.Generator().manual_seed(seed * 1000 + start)
        noise = torch.rand(conditioning.shape, generator=gen) * 2 - 1
        return (conditioning + self.noise * noise).clamp(-1, 1)


def test_a_generator_that_ignores_noise_scores_zero():
    result = noise_diversity(FakeGenerator(noise=0.0), sources=4, draws=3)
    assert result["within_source"] == 0.0
    assert result["ratio"] == 0.0
    assert result["to_source"] == 0.0
    assert result["real_pairs"] == pytest.approx(1 / 3, abs=0.05)  # uniform bytes: E|a-b| = 1/3


def test_more_noise_gives_a_higher_ratio():
    low = noise_diversity(FakeGenerator(noise=0.1), sources=4, draws=4)
    high = noise_diversity(FakeGenerator(noise=0.8), sources=4, draws=4)
    assert 0 < low["ratio"] < high["ratio"]
    assert set(high["per_class"]) == {"a", "b"}
    with pytest.raises(ValueError, match="2 draws"):
        noise_diversity(FakeGenerator(noise=0.1), draws=1)


def test_trained_run_reports_every_number(tmp_path):
    run = tmp_path / "run"
    tiny_train(run, steps=4)
    result = noise_diversity(load_generator(run, device="cpu"), sources=3, draws=2)
    for key in ("within_source", "to_source", "real_pairs", "ratio"):
        assert np.isfinite(result[key]) and result[key] >= 0
    assert result["real_pairs"] > 0


def test_evaluate_with_run_reports_noise_diversity(tmp_path, capsys):
    from gaunet.cli import main

    run = tmp_path / "run"
    tiny_train(run, steps=4)
    synthetic = tmp_path / "synthetic"
    assert main(["generate", "--run", str(run), "--out", str(synthetic), "--per-class", "6"]) == 0
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--real",
            "phantom:n=12,classes=2",
            "--synthetic",
            str(synthetic),
            "--run",
            str(run),
            "--diversity-sources",
            "2",
            "--diversity-draws",
            "3",
            "--features",
            "domain",
            "--size",
            "16",
            "--domain-steps",
            "20",
            "--domain-size",
            "16",
            "--kid-subsets",
            "5",
            "--json",
            str(out / "result.json"),
            "--report",
            str(out / "report.html"),
        ]
    )
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["noise_diversity"]["draws"] == 3
    assert result["noise_diversity"]["sources"] == 2
    assert "Noise diversity" in (out / "report.html").read_text()
    assert "noise diversity =" in capsys.readouterr().out
