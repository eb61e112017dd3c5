"""init_from (training/warm_start.py): a run that starts from another run's weights."""

import dataclasses
import json

import pytest
import torch
from train_helpers import TINY, tiny_train

from gaunet.data import load_source
from gaunet.errors import GaunetError
from gaunet.training import train
from gaunet.training.checkpoint import load_checkpoint
from gaunet.training.loss import build_family
from gaunet.training.warm_start import warm_start


def _state(run):
    state, _, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    return state


def _renamed(names):
    data = load_source("phantom:n=12,classes=2", size=16, channels=1)
    return dataclasses.replace(data, class_names=names)


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A short 'pretraining' run: its weights differ from any fresh initialisation."""
    return tiny_train(tmp_path_factory.mktemp("warm") / "source", steps=10, seed=5)


def _fresh_networks(num_classes=2, **changes):
    from gaunet.config import load_config

    cfg = load_config("cpu-tiny", {**TINY, **changes})
    torch.manual_seed(123)
    return build_family(cfg, num_classes).build()


@pytest.mark.parametrize(
    ("class_names", "embeddings_carried"),
    [(None, True), (["benign", "malignant"], False)],
    ids=["same-classes", "other-classes"],
)
def test_weights_carried_and_class_embeddings_only_for_the_same_classes(
    source_run, class_names, embeddings_carried
):
    source = _state(source_run)
    names = class_names or source["class_names"]
    generator, critic = _fresh_networks()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    report = warm_start(generator, critic, source_run, "gaunet", names)
    for module, part in ((generator, "generator"), (critic, "critic")):
        for name, tensor in module.state_dict().items():
            is_embedding = "embed" in name
            if is_embedding and not embeddings_carried:
                assert not torch.equal(tensor, source[part][name]), name
                if part == "generator":
                    torch.testing.assert_close(tensor, before[name])  # left as initialised
            else:
                torch.testing.assert_close(tensor, source[part][name], rtol=0, atol=0)
    fresh_embeddings = [name for name in report.fresh if "class embedding" in name]
    assert bool(fresh_embeddings) != embeddings_carried
    assert report.carried > 0 and report.source_step == 10


def test_other_widths_stay_fresh_or_are_refused(source_run):
    """Another architecture: the tensors whose shape differs are left as initialised and named;
    when nothing fits, a clear error instead of a silently random start."""
    generator, critic = _fresh_networks(num_classes=3)  # only the class embeddings differ
    report = warm_start(generator, critic, source_run, "gaunet", ["a", "b", "c"])
    assert report.fresh and all("embed" in name for name in report.fresh)
    generator, critic = _fresh_networks(g_width=6, g_width_max=12, d_growth=6, d_stem=6)
    with pytest.raises(GaunetError, match="no weights fit"):
        warm_start(generator, critic, source_run, "gaunet", ["a", "b"])


def test_bad_sources_are_named(tmp_path, source_run):
    generator, critic = _fresh_networks()
    with pytest.raises(GaunetError, match="init_from.*nothing-here"):
        warm_start(generator, critic, tmp_path / "nothing-here", "gaunet", ["a", "b"])
    with pytest.raises(GaunetError, match="'gaunet' run cannot start a 'gan' run"):
        warm_start(generator, critic, source_run, "gan", ["a", "b"])


def test_train_with_init_from_starts_from_the_source_and_records_it(tmp_path, source_run):
    """Through train(): step 0 is the source's generator (the EMA too), the optimizers and the
    step count start fresh, and run.json names the checkpoint and its sha256; a resume keeps
    the record and does not load the source again."""
    data = _renamed(["benign", "malignant"])
    run = tmp_path / "tuned"
    train(data, run, config="cpu-tiny", overrides={**TINY, "init_from": str(source_run)}, steps=4)
    info = json.loads((run / "run.json").read_text())
    record = info["init_from"]
    assert record["source_step"] == 10 and info["steps"] == 4
    assert record["sha256"] == _sha_of_last(source_run)
    assert any("class embedding" in name for name in record["tensors_fresh"])
    tuned = _state(run)
    assert tuned["step"] == 4
    # 4 fine-tuning steps moved the weights, but they started at the source's: closer to it
    # than a run of the same seed from random weights
    scratch = _state(tiny_train(tmp_path / "scratch", steps=4, data=data))
    key = "encoder.0.conv1.weight"
    key = key if key in tuned["generator"] else next(iter(tuned["generator"]))
    source_g = _state(source_run)["generator"][key]
    assert (tuned["generator"][key] - source_g).norm() < (
        scratch["generator"][key] - source_g
    ).norm()
    train(None, run, steps=6, resume=True, progress=False)
    resumed = json.loads((run / "run.json").read_text())
    assert resumed["init_from"] == record and resumed["resumed_from_step"] == 4


def test_ema_starts_at_the_loaded_generator(source_run, tmp_path):
    from gaunet.config import load_config
    from gaunet.training.loop import Trainer

    cfg = load_config("cpu-tiny", {**TINY, "init_from": str(source_run)})
    data = load_source("phantom:n=12,classes=2", size=16, channels=1)
    trainer = Trainer(tmp_path / "t", cfg, data, show_progress=False)
    trainer.start_from(cfg.init_from)
    source = _state(source_run)["generator"]
    for name, tensor in trainer.ema.model.state_dict().items():
        torch.testing.assert_close(tensor, source[name], rtol=0, atol=0)
    assert trainer.step == 0
    assert not trainer.opt_g.state  # fresh optimizer moments


def _sha_of_last(run):
    from gaunet.hashing import sha256_file

    return sha256_file(run / "checkpoints" / "last.pt")


def test_cli_init_from(tmp_path, source_run):
    """`gaunet train --init-from RUN` is the config field; a wrong source exits 2 with its name
    and leaves no half-made run behind to block a retry."""
    import yaml

    from gaunet.cli import main

    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    args = ["train", "--data", "phantom:n=12,classes=2", "--steps", "2", "--quiet", *sets]
    out = tmp_path / "tuned"
    assert main([*args, "--out", str(out), "--init-from", str(source_run)]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["init_from"] == str(source_run)
    assert json.loads((out / "run.json").read_text())["init_from"]["source_step"] == 10
    bad = tmp_path / "bad"
    assert main([*args, "--out", str(bad), "--init-from", str(tmp_path / "missing")]) == 2
    assert not bad.exists()  # refused before anything was written


def test_benchmark_gen_init_from_is_checked_before_any_cell(tmp_path, capsys):
    from gaunet.cli import main

    out = tmp_path / "bench"
    args = ["benchmark", "--data", "phantom:n=12,classes=2", "--out", str(out), "--seeds", "1"]
    assert main([*args, "--gen-init-from", str(tmp_path / "missing")]) == 2
    assert "--gen-init-from" in capsys.readouterr().err and not out.exists()


def test_a_relative_init_from_is_recorded_absolute(tmp_path, source_run, monkeypatch):
    """config.yaml kept `init_from` as typed: a resume of a run killed before its first
    checkpoint, started from another folder, looked for the source there."""
    import yaml

    monkeypatch.chdir(source_run.parent)
    run = tmp_path / "rel"
    data = _renamed(["benign", "malignant"])
    train(data, run, config="cpu-tiny", overrides={**TINY, "init_from": source_run.name}, steps=2)
    recorded = yaml.safe_load((run / "config.yaml").read_text())["init_from"]
    assert recorded == str(source_run.resolve())
