import json
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from gaunet.config import (
    PRESET_DIR,
    SECTIONS,
    ConfigError,
    TrainConfig,
    load_config,
    parse_overrides,
    save_config,
)


@pytest.mark.parametrize("preset", ["paper", "cpu-small", "cpu-tiny"])
def test_presets_load_and_validate(preset):
    cfg = load_config(preset)
    assert cfg.model == "gaunet"
    assert cfg.size % 2**cfg.g_depth == 0


def test_paper_preset_matches_the_paper():
    cfg = load_config("paper")
    assert (cfg.size, cfg.channels, cfg.lr_g, cfg.lr_d) == (256, 3, 1e-4, 1e-4)
    assert (cfg.beta1, cfg.beta2, cfg.gp_lambda, cfg.d_growth) == (0.0, 0.9, 10.0, 64)
    assert cfg.g_convs_per_block == 4 and cfg.d_layers_per_block == 4 and cfg.d_blocks == 4


def test_overrides_are_typed():
    cfg = load_config("cpu-tiny", parse_overrides(["n_critic=3", "lr_g=2e-4", "compile=true"]))
    assert cfg.n_critic == 3 and cfg.lr_g == pytest.approx(2e-4) and cfg.compile is True


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"no_such_field": 1}, "unknown config field"),
        ({"btach_size": 4}, "unknown config field 'btach_size' \\(did you mean 'batch_size'\\?"),
        ({"n_critic": "three"}, "expects int"),
        ({"size": 20}, "not divisible"),
        ({"precision": "fp8"}, "precision"),
        ({"compile": "maybe"}, "expects bool"),
        ({"steps": "true"}, "steps expects int"),  # was read as 1
        ({"lr_g": "yes"}, "lr_g expects float"),
        # ranges that failed deep inside torch (a traceback) or trained on silently
        ({"lr_g": "-1"}, "lr_g must be a finite number above 0"),
        ({"lr_d": "nan"}, "lr_d must be a finite number above 0"),
        ({"beta1": "1.5"}, r"beta1 must be in \[0, 1\)"),
        ({"g_dropout": "1.5"}, r"g_dropout must be in \[0, 1\)"),
        ({"gp_lambda": "-5"}, "gp_lambda must be a finite number >= 0"),
        ({"ema_decay": "2"}, r"ema_decay must be in \(0, 1\]"),
        # not YAML at all: a yaml.ScannerError traceback
        ({"batch_size": "[1"}, r"batch_size expects int, got '\[1'"),
        ({"lr_g": "{1"}, "lr_g expects float"),
    ],
)
def test_bad_overrides_name_the_problem(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("cpu-tiny", overrides)


def test_unknown_preset_and_missing_file():
    with pytest.raises(ConfigError, match="preset"):
        load_config("no-such-preset")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("missing.yaml")


def test_a_config_file_that_is_not_text_is_a_config_error(tmp_path: Path):
    """A config file in UTF-16 or binary was a UnicodeDecodeError traceback."""
    path = tmp_path / "mine.yaml"
    path.write_bytes(b"\xff\xfe\x00steps: 2")
    with pytest.raises(ConfigError, match="mine.yaml: cannot read config"):
        load_config(path)


def test_saved_config_round_trips(tmp_path: Path):
    cfg = load_config("cpu-small", {"seed": 7, "data": "phantom"})
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg and isinstance(again, TrainConfig)


def test_set_requires_key_value():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["n_critic"])


def test_every_field_is_in_exactly_one_section_in_declaration_order():
    named = [name for names in SECTIONS.values() for name in names]
    assert sorted(named) == sorted(f.name for f in fields(TrainConfig))
    assert len(named) == len(set(named))
    assert named == [f.name for f in fields(TrainConfig)]  # the dataclass reads section by section


def test_saved_config_is_grouped_by_section_and_stays_flat(tmp_path: Path):
    path = tmp_path / "config.yaml"
    save_config(load_config("cpu-tiny", {"data": "a: b # c"}), path)
    lines = path.read_text().splitlines()
    assert [line[2:] for line in lines if line.startswith("# ")] == list(SECTIONS)
    assert list(yaml.safe_load(path.read_text())) == [f.name for f in fields(TrainConfig)]
    assert load_config(path).data == "a: b # c"
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, no temporary left


def test_a_nested_block_other_than_a_model_section_is_refused(tmp_path: Path):
    """`generator: {g_width: 32}` was dropped unread (only model sections are applied)."""
    path = tmp_path / "grouped.yaml"
    path.write_text("generator:\n  g_width: 32\nsteps: 7\n")
    with pytest.raises(ConfigError, match="generator: a nested block in a config is one model"):
        load_config(path)
    path.write_text("steps: 7\ngan:\n  n_critic: 1\n")
    assert load_config(path, {"model": "gan"}).n_critic == 1


def test_a_preset_name_beside_a_folder_of_that_name_is_the_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cpu-tiny").mkdir()  # e.g. after `gaunet train --out cpu-tiny`
    assert load_config("cpu-tiny") == load_config(PRESET_DIR / "cpu-tiny.yaml")


def test_a_key_given_twice_in_a_config_file_is_said(tmp_path):
    """YAML keeps the last of two equal keys silently. Appending `steps: 7` to a copied preset
    is a way to override it (the last is used, as before), but a repeat is now said."""
    from gaunet.errors import GaunetWarning

    path = tmp_path / "dup.yaml"
    path.write_text("steps: 5\nn_critic: 2\nsteps: 7\n")
    with pytest.warns(GaunetWarning, match="steps given more than once; the last is used"):
        assert load_config(path).steps == 7
    path.write_text("steps: 5\ngan:\n  n_critic: 1\n  n_critic: 2\n")
    with pytest.warns(GaunetWarning, match="n_critic given more than once"):
        load_config(path)


@pytest.mark.parametrize("preset", ["cpu-tiny", "cpu-small", "paper"])
def test_the_presets_load_with_unique_keys(preset):
    assert load_config(preset).model == "gaunet"


@pytest.mark.parametrize("model", ["gan", "cgan"])
@pytest.mark.parametrize(
    "setting",
    ["diffaugment=translation", "critic_pack=2", "diversity_lambda=5", "gp_lambda=1000",
     "gp_fraction=0.5", "diffaugment_p=0.5"],
)  # fmt: skip
def test_a_gaunet_only_loss_setting_is_refused_for_a_baseline(model, setting):
    """The DCGAN baselines' loss has no penalty, pairs or augmentation: such a setting was
    accepted, written to config.yaml and ignored (a "baseline + DiffAugment" run was the plain
    baseline). In a `gaunet:` block of a config it applies to GAU-Net runs alone."""
    from gaunet.config_checks import baseline_loss_problems

    key = setting.split("=")[0]
    baseline = load_config("cpu-tiny", {"model": model, **parse_overrides([setting])})
    (problem,) = baseline_loss_problems(baseline)
    assert f"{key} set, but --model {model} has no such setting" in problem
    assert not baseline_loss_problems(load_config("cpu-tiny", {"model": model}))
    gaunet = load_config("cpu-tiny", {"model": "gaunet", **parse_overrides([setting])})
    assert not baseline_loss_problems(gaunet)


def test_a_new_baseline_run_is_refused_and_an_older_one_still_resumes(tmp_path, monkeypatch):
    """New runs only: a gan run made before the check (its config.yaml and checkpoint holding
    diffaugment) must still resume, or its checkpoints could not be continued at all."""
    from train_helpers import PHANTOM, TINY

    from gaunet.training import api, train

    settings = {**TINY, "model": "gan", "diffaugment": "translation"}
    with pytest.raises(ConfigError, match="diffaugment set, but --model gan"):
        train(PHANTOM, tmp_path / "new", overrides=settings, steps=1, progress=False)
    assert not (tmp_path / "new").exists()
    with monkeypatch.context() as older:  # a gaunet from before the check
        older.setattr(api, "baseline_loss_problems", lambda config: [])
        run = train(PHANTOM, tmp_path / "old", overrides=settings, steps=1, progress=False)
    train(None, run, resume=True, steps=2, progress=False)
    assert json.loads((run / "run.json").read_text())["steps"] == 2


def test_a_gaunet_block_keeps_its_loss_settings_from_the_baselines(tmp_path: Path):
    config = tmp_path / "mixed.yaml"
    config.write_text("model: gaunet\nsize: 32\ngaunet:\n  diffaugment: translation\n")
    assert load_config(config, {"model": "gan"}).diffaugment == ""
    assert load_config(config).diffaugment == "translation"
