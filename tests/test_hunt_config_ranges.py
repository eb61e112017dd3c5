"""Config values and run folders that were handled wrongly: settings that built a network
failing with a torch traceback or trained on silently with NaN, YAML nulls read as the string
"None", a resume to fewer steps than the run has, and an --out that overwrote the user's
files. Each is refused in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_helpers import PHANTOM, TINY, one_train_error_line, tiny_train

from gaunet.cli import main
from gaunet.config import ConfigError, load_config

TINY_SETS = [f"--set={key}={value}" for key, value in TINY.items()]


def _train(out: Path, *flags: str, data: str = PHANTOM) -> list[str]:
    return ["train", "--data", data, "--out", str(out), "--quiet", *TINY_SETS, *flags]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"noise_channels": -1}, "noise_channels must be at least 0"),
        ({"class_embed_dim": -1}, "class_embed_dim must be at least 0"),
        ({"decoder_noise_stages": -1}, "decoder_noise_stages must be at least 0"),
        ({"d_stem_down": 5}, "d_stem_down 5 halves size 16 below one pixel"),
        ({"brn_momentum": 2}, "brn_momentum must be in (0, 1]"),
        ({"brn_momentum": 0}, "brn_momentum must be in (0, 1]"),
        ({"brn_rmax": 0.5}, "brn_rmax must be a finite number >= 1"),
        ({"brn_rmax": float("nan")}, "brn_rmax must be a finite number >= 1"),
        ({"brn_dmax": -1}, "brn_dmax must be a finite number >= 0"),
        ({"brn_warmup": -5}, "brn_warmup must be at least 0"),
        ({"brn_ramp": -1}, "brn_ramp must be at least 0"),
        ({"pixel_noise": float("nan")}, "pixel_noise must be >= 0"),
        ({"ema_ramp": float("inf")}, "ema_ramp must be >= 0"),
        ({"diversity_cap": float("nan")}, "diversity_cap > 0"),
        ({"diversity_lambda": float("nan")}, "diversity_lambda must be >= 0"),
        ({"tensorboard": 2}, "config field tensorboard expects bool, got 2"),
    ],
)
def test_out_of_range_is_refused(override, named):
    with pytest.raises(ConfigError) as caught:
        load_config("cpu-tiny", {**TINY, **override})
    assert named in str(caught.value)


def test_the_limits_themselves_are_accepted():
    load_config("cpu-tiny", {**TINY, "d_stem_down": 4, "brn_momentum": 1, "brn_rmax": 1})
    load_config("cpu-tiny", {**TINY, "noise_channels": 0, "pixel_noise": 0.1})
    load_config("cpu-tiny", {**TINY, "model": "gan", "d_stem_down": 5})  # DCGAN: no such stem
    assert load_config("cpu-tiny", {**TINY, "tensorboard": 1}).tensorboard is True


def test_a_stem_too_deep_for_the_size_is_one_line_and_nothing_is_written(tmp_path, capsys):
    """Was a RuntimeError traceback at the first step (kernel size larger than the input),
    after split.csv, train_images.npz and config.yaml were written."""
    out = tmp_path / "run"
    assert main(_train(out, "--steps", "2", "--set", "d_stem_down=5")) == 2
    one_train_error_line(capsys.readouterr().err, "d_stem_down 5", "at most 4")
    assert not out.exists()


@pytest.mark.parametrize("field", ["init_from", "device", "model", "diffaugment"])
def test_a_yaml_null_is_not_the_string_none(tmp_path, field):
    """`init_from:` (no value) was the path "None": "init_from None: no such run folder"."""
    path = tmp_path / "mine.yaml"
    path.write_text(f"size: 16\n{field}:\n")
    with pytest.raises(ConfigError, match=f"config field {field} expects str, got None"):
        load_config(path)


def test_a_yaml_list_is_not_a_string(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("size: 16\ndiffaugment: [translation, cutout]\n")
    with pytest.raises(ConfigError, match="config field diffaugment expects str"):
        load_config(path)


def test_a_resume_to_fewer_steps_than_the_run_has_is_refused(tmp_path, capsys):
    """Was exit 0 with no message: config.yaml then said `steps: 3` and run.json
    `steps_target: 3, status: completed` for a run of 6 steps."""
    out = tmp_path / "run"
    tiny_train(out, steps=6)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["train", "--out", str(out), "--resume", "--steps", "3", "--quiet"]) == 2
    one_train_error_line(capsys.readouterr().err, "already at step 6", "--steps 7 or more")
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    after.pop(".gaunet.lock", None), before.pop(".gaunet.lock", None)
    assert after == before
    assert json.loads((out / "run.json").read_text())["steps_target"] == 6
    # the run's own total again, or more, goes on
    assert main(["train", "--out", str(out), "--resume", "--steps", "6", "--quiet"]) == 0
    assert main(["train", "--out", str(out), "--resume", "--steps", "7", "--quiet"]) == 0
    assert json.loads((out / "run.json").read_text())["steps"] == 7


def _class_folders(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for k in range(6):
            pixels = (rng.random((16, 16)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{k}.png")
    return root


@pytest.mark.parametrize("inside", ["", "run"])
def test_an_out_inside_the_data_folder_is_refused(tmp_path, capsys, inside):
    """Was accepted: the run's samples/ (and run/) became classes of the user's dataset, read
    as such by the next command on it."""
    data = _class_folders(tmp_path / "data")
    out = data / inside if inside else data
    listing = sorted(p.relative_to(data) for p in data.rglob("*"))
    assert main(_train(out, "--steps", "2", data=str(data))) == 2
    one_train_error_line(capsys.readouterr().err, "is inside the --data folder")
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == listing


def test_an_out_holding_another_datasets_images_is_refused(tmp_path, capsys):
    """Was accepted: the run wrote config.yaml, split.csv, checkpoints/ and samples/ into a
    class-folder dataset, whose next read held a `samples` class of sample grids."""
    other = _class_folders(tmp_path / "other")
    listing = sorted(p.relative_to(other) for p in other.rglob("*"))
    assert main(_train(other, "--steps", "2")) == 2
    one_train_error_line(capsys.readouterr().err, "holds images that are not a run's")
    assert sorted(p.relative_to(other) for p in other.rglob("*")) == listing


def test_a_run_killed_in_its_set_up_is_started_again(tmp_path):
    """What the run itself wrote (samples/*.png, no checkpoint yet) is no reason to refuse."""
    out = tmp_path / "run"
    (out / "samples").mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(out / "samples" / "step-000002.png")
    (out / "notes.txt").write_text("mine")
    tiny_train(out, steps=2)
    assert (out / "notes.txt").read_text() == "mine"


def test_the_config_file_inside_out_is_not_replaced(tmp_path, capsys):
    """`--config exp/config.yaml --out exp` replaced the user's file (comments, `gan:` block)
    with the flat resolved config."""
    out = tmp_path / "exp"
    out.mkdir()
    mine = "# my experiment\nsize: 16\ngan:\n  n_critic: 1\n"
    (out / "config.yaml").write_text(mine)
    flags = ["--steps", "2", "--config", str(out / "config.yaml")]
    assert main(_train(out, *flags)) == 2
    one_train_error_line(capsys.readouterr().err, "is the run folder's config.yaml")
    assert (out / "config.yaml").read_text() == mine
    assert sorted(p.name for p in out.iterdir() if p.name != ".gaunet.lock") == ["config.yaml"]


def test_a_typo_in_another_models_block_is_refused_now(tmp_path):
    """`gan: {n_critc: 1}` was read only by a gan run: a gaunet run (and a benchmark's gaunet
    arm, hours before its gan arm) trained on without a word."""
    path = tmp_path / "mine.yaml"
    path.write_text("size: 16\ngan:\n  n_critc: 1\n")
    with pytest.raises(ConfigError, match="gan: unknown config field 'n_critc'"):
        load_config(path)
    path.write_text("size: 16\ncgan:\n  lr_g: fast\n")
    with pytest.raises(ConfigError, match="cgan: config field lr_g expects float"):
        load_config(path)
    path.write_text("size: 16\ngan:\n  n_critic: 1\n")
    assert load_config(path).n_critic == 5 and load_config(path, {"model": "gan"}).n_critic == 1


def test_an_interrupted_minutes_run_says_a_command_that_resumes_it(tmp_path, monkeypatch, capsys):
    """A --minutes run stopped by Ctrl-C said `continue with: gaunet train --out RUN --resume`,
    which then refused: "no budget: steps and minutes are both 0"."""
    from train_helpers import ctrl_c_at

    from gaunet.training import train
    from gaunet.training.loop import Trainer

    ctrl_c_at(monkeypatch, Trainer, 2)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(PHANTOM, run, config="cpu-tiny", overrides=TINY, minutes=5)
    err = capsys.readouterr().err
    hint = f"continue with: gaunet train --out {run} --resume --minutes 5 (or --steps N)"
    assert hint in err
    monkeypatch.undo()
    assert main(["train", "--out", str(run), "--resume", "--minutes", "0.01", "--quiet"]) == 0


def test_a_resume_of_a_completed_run_rewrites_nothing(tmp_path, capsys):
    """`gaunet train --out RUN --resume` again on a completed run rewrote last.pt (new bytes:
    its wall time), so the checkpoint_sha256 its generated images record matched no file, and
    set run.json's first_step_seconds to null."""
    out = tiny_train(tmp_path / "run", steps=4)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    assert "already completed (step 4 of 4); nothing to train" in capsys.readouterr().err
    after = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    after.pop(out / ".gaunet.lock", None), before.pop(out / ".gaunet.lock", None)
    assert after == before


def test_a_run_interrupted_at_its_last_step_is_still_finished_by_a_resume(tmp_path, monkeypatch):
    from train_helpers import ctrl_c_at

    from gaunet.training.loop import Trainer

    ctrl_c_at(monkeypatch, Trainer, 3)
    with pytest.raises(KeyboardInterrupt):
        tiny_train(tmp_path / "run", steps=3)
    monkeypatch.undo()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "interrupted"
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--quiet"]) == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "completed"


def test_minutes_with_a_steps_override_stops_at_the_steps(tmp_path):
    """`--minutes 30 --set steps=3` (or train(minutes=..., overrides={"steps": 3})) trained
    for the whole 30 minutes: the steps were silently dropped. Whichever ends first now."""
    import json

    from train_helpers import PHANTOM, TINY

    from gaunet.training import train

    out = tmp_path / "run"
    train(PHANTOM, out, config="cpu-tiny", overrides={**TINY, "steps": 3}, minutes=0.5)
    info = json.loads((out / "run.json").read_text())
    assert info["steps"] == 3 and info["status"] == "completed"
