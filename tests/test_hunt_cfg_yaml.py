"""A user's YAML config file and `--set` values: what YAML itself allows (merge keys, any
locale's UTF-8) is read, and what cannot be a config is one ConfigError, never a traceback."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from gaunet.config import ConfigError, load_config, parse_overrides


def test_a_yaml_merge_key_is_read(tmp_path: Path):
    """`<<: *baseline` (YAML's merge key) was "could not determine a constructor for the tag
    merge": the loader that notes repeated keys built the `<<` key itself."""
    path = tmp_path / "merge.yaml"
    path.write_text(
        "steps: 7\ngan: &baseline\n  n_critic: 1\n  lr_g: 0.0002\n"
        "cgan:\n  <<: *baseline\n  lr_g: 0.0003\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit key over a merged one is no repeat
        cgan = load_config(path, {"model": "cgan"})
    assert (cgan.steps, cgan.n_critic, cgan.lr_g) == (7, 1, 0.0003)
    assert load_config(path, {"model": "gan"}).lr_g == 0.0002


def test_a_list_as_a_key_is_a_config_error(tmp_path: Path):
    """`? [a, b]` as a key was a TypeError (unhashable type: 'list') traceback."""
    path = tmp_path / "listkey.yaml"
    path.write_text("? [a, b]\n: 1\n")
    with pytest.raises(ConfigError, match="listkey.yaml: cannot read config"):
        load_config(path)


@pytest.mark.parametrize("text", ["[]\n", "false\n", "0\n", "''\n"])
def test_a_file_that_is_not_a_mapping_is_refused_even_when_empty(tmp_path: Path, text):
    """An empty list (or false, 0, '') was read as an empty mapping: the defaults trained with
    no word; an empty file or one of comments alone still is the defaults."""
    path = tmp_path / "shape.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path)
    for text in ("", "# nothing yet\n"):
        path.write_text(text)
        assert load_config(path).steps == 1000


def test_a_utf8_file_is_read_whatever_the_locale(tmp_path: Path):
    """YAML is UTF-8: under a C locale without UTF-8 mode a comment with an accent, or a BOM,
    was "cannot read config ('ascii' codec can't decode byte ...)"."""
    (tmp_path / "accent.yaml").write_text("# réglages\nsteps: 7\n", encoding="utf-8")
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfsteps: 8\n")
    code = "from gaunet.config import load_config as l; print(l('accent.yaml').steps, l('bom.yaml').steps)"
    env = {**os.environ, "PYTHONUTF8": "0", "LC_ALL": "C", "LANG": "C"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "8"]


@pytest.mark.parametrize(
    "text", ["data: 2024-06-31\n", f"steps: 1{'0' * 5000}\n"], ids=["date", "digits"]
)
def test_a_value_yaml_cannot_build_is_a_config_error(tmp_path: Path, text):
    """A date that is no date (a folder named 2024-06-31) or an integer of 5000 digits was a
    ValueError traceback from YAML's constructor."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="bad.yaml: cannot read config"):
        load_config(path)


@pytest.mark.parametrize(
    "item, named",
    [
        ("steps=2024-06-31", "steps expects int"),
        (f"minutes=1{'0' * 400}", "minutes expects float"),
        (f"seed=1{'0' * 5000}", "seed expects int"),
    ],
)
def test_a_set_value_yaml_cannot_build_is_a_config_error(item, named):
    """`--set minutes=` a 401-digit integer was an OverflowError traceback (too large for a
    float); a date that is no date, or 5000 digits, a ValueError from YAML."""
    with pytest.raises(ConfigError, match=named):
        load_config("cpu-tiny", parse_overrides([item]))


@pytest.mark.parametrize("item, close", [("LR_G=1e-4", "lr_g"), ("Batch-Size=4", "batch_size")])
def test_another_case_or_dashes_get_the_close_field(item, close):
    """`--set LR_G=...` named no close field (the match was case-sensitive)."""
    with pytest.raises(ConfigError, match=f"did you mean '{close}'"):
        load_config("cpu-tiny", parse_overrides([item]))


def test_a_whole_number_in_exponent_form_is_a_count():
    """`--set steps=1e3` was refused ("expects int, got '1e3'") while steps=1000.0 and
    lr_g=1e-4 were read: YAML 1.1 reads 1e3 as text. A fraction is still refused."""
    cfg = load_config("cpu-tiny", parse_overrides(["steps=1e3", "checkpoint_every=2.5E2"]))
    assert (cfg.steps, cfg.checkpoint_every) == (1000, 250)
    assert isinstance(cfg.steps, int)
    for item in ("steps=1e-3", "size=28.5", "steps=1.5e0"):
        with pytest.raises(ConfigError, match="expects int"):
            load_config("cpu-tiny", parse_overrides([item]))
