from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from gaunet.config import (
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
        ({"n_critic": "three"}, "expects int"),
        ({"size": 20}, "not divisible"),
        ({"precision": "fp8"}, "precision"),
        ({"compile": "maybe"}, "expects bool"),
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
