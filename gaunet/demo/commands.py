"""The commands that reproduce a demo, part by part, with its settings (the report's last
section): what a user types next, on their own data."""

from __future__ import annotations

import shlex
from dataclasses import asdict

from gaunet.demo.settings import CLI_OPTIONS, DemoSettings, demo_models


def _number(value: float) -> str:
    """A number as the demo's parser reads it back: a whole number as an int (`:g` printed
    1000000 as 1e+06, which `--eval-images` refuses), else as short as `:g` writes it unless
    that rounds it (`:g` keeps 6 digits: --fraction 0.1234567 printed 0.123457, another subset)."""
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))


def _changed_options(settings: dict) -> list[str]:
    """This demo's options that differ from the defaults, as `gaunet demo` flags."""
    defaults = asdict(DemoSettings())
    options = []
    for key in CLI_OPTIONS:
        value = settings[key]
        if value == defaults[key] or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            options.append(flag)
        else:
            text = ",".join(value) if isinstance(value, list) else _number(value)
            options.append(f"{flag} {text}")
    return options


def reproduce_commands(settings: dict, num_classes: int) -> str:
    """The exact commands that reproduce each part, with this demo's settings."""
    s = {**asdict(DemoSettings()), **settings}
    source = shlex.quote(s["data"])
    per_class = max(2, -(-s["eval_images"] // max(1, num_classes)))
    budget = (
        f"--steps {s['train_steps']}"
        if s.get("train_steps")
        else f"--minutes {_number(s['minutes'])}"
    )
    gen_budget = budget.replace("--", "--gen-")
    # the seed of split, subset, training and metrics, and the channels, where not the default
    seed = f" --seed {s['seed']}" if s["seed"] else ""
    split_seed = f" --split-seed {s['seed']} --subset-seed {s['seed']}" if s["seed"] else ""
    channels = f" --channels {s['channels']}"
    lines = [
        "# this demo again, or on your own data (class folders, CSV, .npz, DICOM, NIfTI):",
        " ".join(["gaunet demo --data", source, "--out my-demo", *_changed_options(s)]),
        "",
        "# or each part on its own:",
        f"gaunet data inspect {source} --size {s['size']}{channels}{seed} --sheet sheet.png",
        f"gaunet train --data {source} --out runs/gaunet --config cpu-tiny {budget} "
        f"--size {s['size']}{channels}{seed}   # trains on the whole training split",
        "gaunet generate --run runs/gaunet --out synthetic/gaunet --per-class " + str(per_class),
        f"gaunet compare --runs runs/gaunet --out grid.png --per-class 3{seed}",
        f"gaunet evaluate --real {source} --synthetic synthetic/gaunet --features "
        f"{','.join(s['features'])} --size {s['size']}{channels}{seed} "
        f"--max-images {s['eval_images']} "
        "--json metrics.json --report metrics.html",
        f"gaunet benchmark --data {source} --out bench --classifiers {','.join(s['classifiers'])} "
        f"--arms none,classic,{','.join(demo_models(s['baselines']))},gaunet+classic"
        f"{',copies+classic' if s['control'] else ''} "
        f"--fractions {_number(s['fraction'])} "
        f"--seeds {s['seeds']} --size {s['size']}{channels}{split_seed} --width {_number(s['width'])} "
        f"--epochs {s['epochs']} "
        f"--patience {s['patience']} {gen_budget}",
        "# (the benchmark's gaunet arm trains its own generator on exactly each fraction's images)",
    ]
    return "\n".join(lines)
