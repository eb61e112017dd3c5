"""Training configuration: one dataclass, presets as YAML files, overrides as `key=value`.

Resolution order: dataclass defaults < preset (`gaunet/configs/NAME.yaml`) or a user YAML file <
`overrides` (`--set key=value` and the named CLI flags). The resolved config is written to the
run folder as config.yaml, and `--resume` reads it back, so a run folder always says exactly what
was trained.
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from collections.abc import Hashable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from gaunet.errors import GaunetError, GaunetWarning, shorten
from gaunet.io import write_atomic

PRESET_DIR = Path(__file__).parent / "configs"
MAX_SEED = 2**32 - 1  # the usual seed range; seed + offsets must stay below torch's 2**64


def seed_problem(value: int, name: str = "seed") -> str:
    """The one line every command gives for a seed out of range ("" when it is in range)."""
    return "" if 0 <= value <= MAX_SEED else f"{name} must be in 0..{MAX_SEED}, not {value}"


class ConfigError(GaunetError, ValueError):
    """A config file or override that cannot be used; the message says which and why."""


@dataclass
class TrainConfig:
    """Every knob of a training run, flat (`--set key=value`), declared by section (SECTIONS).
    Comments give the paper's value where it has one."""

    # ----- run: what is trained, from which seed, for how long
    model: str = "gaunet"  # model family: gaunet (the paper's); gan, cgan (baselines)
    seed: int = 0
    # budget: `steps` generator steps (total, also across --resume); `minutes` wall clock (0 = off)
    steps: int = 1000
    minutes: float = 0.0
    # a run folder or checkpoint whose generator and critic weights this run starts from
    # (transfer: pretrain on a larger dataset, fine-tune on yours); "" = random init (paper)
    init_from: str = ""
    # ----- data: the images trained on and how pairs are drawn from them
    data: str = ""  # the SOURCE trained on, recorded for the run folder
    size: int = 32
    channels: int = 1
    pad_input: bool = False  # allow a size that is not a multiple of 2**g_depth (padded in G)
    balance_classes: bool = True  # pairs drawn with classes uniform (small classes seen as often)
    # ----- generator (U-Net)
    z_dim: int = 100  # paper: z ~ N(0, I); dimension not given, 100 is the GAN convention
    noise_channels: int = 8  # channels of the projected-noise map at the latent
    decoder_noise_stages: int = 0  # noise into this many decoder stages too (g_depth - 1 at most)
    class_embed_dim: int = 16  # channels of the learned class map at the latent
    g_width: int = 64  # width of the first level; doubles after each downsampling (U-Net)
    g_width_max: int = 512
    g_depth: int = 4  # down blocks (= up blocks); paper: eight blocks in all
    g_convs_per_block: int = 4  # paper: four 3x3 convolutions per block
    g_dropout: float = 0.2
    # channel dropout on the U-Net skip connections in training, so the generator cannot copy
    # its input through them (0 = off, paper)
    skip_dropout: float = 0.0
    # per-pixel noise (StyleGAN) added after every decoder upscaling with a learned strength per
    # channel, starting at this value; 0 = off (paper)
    pixel_noise: float = 0.0
    # batch renormalization (Ioffe 2017): plain BN for warmup, then r_max -> rmax, d_max -> dmax
    brn_momentum: float = 0.01
    brn_warmup: int = 5000  # training forward passes (Ioffe: 5k of 160k)
    brn_ramp: int = 20000  # forward passes over which r_max and d_max reach their final value
    brn_rmax: float = 3.0
    brn_dmax: float = 5.0
    # ----- critic (DenseNet on the channel-concatenated pair); the DCGAN baselines' discriminator
    # reuses d_stem as its width
    d_growth: int = 64  # paper: growth rate k = 64
    d_blocks: int = 4  # paper: four dense blocks and four transition layers
    d_layers_per_block: int = 4  # paper: four convolutions per dense block
    d_stem: int = 128
    d_stem_down: int = 0  # stride-2 convolutions in the stem (DenseNet downsamples by 4 there)
    d_dropout: float = 0.2
    d_projection: bool = True  # class embedding in the critic (projection discriminator)
    # packed critic (PacGAN, Lin et al. 2018, made conditional): the critic sees the conditioning
    # image with `critic_pack` same-class images at once: that many real partners, or that many
    # noise draws of the generator for it, so draws that ignore their noise look unlike real
    # partners; 1 = the paper's pairs
    critic_pack: int = 1
    # DiffAugment (Zhao et al. 2020) on every pair the critic sees, real and fake alike, one draw
    # per pair: comma list of translation, cutout, color; "" = off (paper). diffaugment_p: share
    # of pairs augmented (ADA-style strength)
    diffaugment: str = ""
    diffaugment_p: float = 1.0
    # ----- optimisation: steps, learning rates and the loss terms
    batch_size: int = 16
    n_critic: int = 5  # critic steps per generator step (Algorithm 1, WGAN-GP default)
    lr_g: float = 1e-4  # paper: alpha = 0.0001
    lr_d: float = 1e-4
    beta1: float = 0.0  # paper: beta1 = 0, beta2 = 0.9
    beta2: float = 0.9
    gp_lambda: float = 10.0  # paper: lambda = 10
    gp_every: int = 1  # lazy penalty: every k critic steps, scaled by k (1 = paper)
    gp_fraction: float = 1.0  # share of the batch the penalty is computed on (1 = paper)
    # mode-seeking term (Mao et al. 2019; Yang et al. 2019): the generator step also rewards
    # |G(x, z1) - G(x, z2)| / |z1 - z2|, capped at diversity_cap; 0 = off (paper)
    diversity_lambda: float = 0.0
    diversity_cap: float = 1.0
    ema_decay: float = 0.999  # generator weights averaged for sampling
    # EMA memory: 0 = about t / 9 steps at step t (the ramp of training/ema.py); r > 0 = r x t
    ema_ramp: float = 0.0
    # ----- run folder: cadence (generator steps) and what it keeps
    log_every: int = 25
    sample_every: int = 500
    checkpoint_every: int = 500  # checkpoints/last.pt
    # last.pt also when this many minutes of training passed since the last save (checked at
    # log steps): a kill (OOM, a reclaimed machine) then loses minutes, not checkpoint_every
    # steps, which is hours of the paper preset on a CPU; 0 = by steps only
    checkpoint_minutes: float = 10.0
    periodic_every: int = 2000  # checkpoints/step-XXXXXX.pt
    keep_periodic: int = 5  # 0 keeps all
    grid_samples: int = 6  # generated columns per class row in samples/*.png
    tensorboard: bool = True
    max_rollbacks: int = 5  # non-finite losses: roll back this often, then stop
    # ----- performance: where and how fast, never what is learned (beyond rounding)
    device: str = "auto"  # auto = cuda when available, else cpu
    # auto | fp32 | bf16 (autocast); auto = bf16 where the device does bf16 natively (CUDA, CPUs
    # with avx512_bf16/amx_bf16 or aarch64 bf16), else fp32 (gaunet/precision.py)
    precision: str = "fp32"
    channels_last: bool = False
    # critic levers for GPUs (docs/performance.md, issue 17): layer norms that keep bf16
    # activations (fp32 statistics) and dense blocks that write into one preallocated buffer
    # instead of torch.cat; both give the same values (tests/test_layers.py); off = today's path
    d_norm_keep_dtype: bool = False
    d_feature_buffer: bool = False
    compile: bool = False  # torch.compile of the forward passes (the penalty stays eager)
    # whole iterations captured as CUDA graphs and replayed (training/graphs.py): auto = on for
    # one CUDA process whose step allows it, else eager; true = required; false = eager
    cuda_graphs: str = "auto"
    # CUDA: cuDNN times every kernel in the first steps (true) or takes its heuristics' pick;
    # on an H200 the timing made the first step of paper at 28 px 36 s, against 2.4 s without
    cudnn_benchmark: bool = False
    num_threads: int = 0  # torch CPU threads; 0 = torch's default

    def validate(self) -> TrainConfig:
        """Catch settings that would fail deep inside training, with a message that says why
        (config_checks.py holds the rules)."""
        from gaunet.config_checks import problems_of

        # one spelling for every reader: a YAML `false` arrives as "False"
        self.cuda_graphs = str(self.cuda_graphs).strip().lower()
        problems = problems_of(self)
        if problems:
            raise ConfigError("; ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Which section of a config each field belongs to (TrainConfig declares them in this order);
# config.yaml in a run folder is written grouped by them, the keys themselves stay flat.
SECTIONS: dict[str, tuple[str, ...]] = {
    "run": ("model", "seed", "steps", "minutes", "init_from"),
    "data": ("data", "size", "channels", "pad_input", "balance_classes"),
    "generator": (
        "z_dim",
        "noise_channels",
        "decoder_noise_stages",
        "class_embed_dim",
        "g_width",
        "g_width_max",
        "g_depth",
        "g_convs_per_block",
        "g_dropout",
        "skip_dropout",
        "pixel_noise",
        "brn_momentum",
        "brn_warmup",
        "brn_ramp",
        "brn_rmax",
        "brn_dmax",
    ),
    "critic": (
        "d_growth",
        "d_blocks",
        "d_layers_per_block",
        "d_stem",
        "d_stem_down",
        "d_dropout",
        "d_projection",
        "critic_pack",
        "diffaugment",
        "diffaugment_p",
    ),
    "optimisation": (
        "batch_size",
        "n_critic",
        "lr_g",
        "lr_d",
        "beta1",
        "beta2",
        "gp_lambda",
        "gp_every",
        "gp_fraction",
        "diversity_lambda",
        "diversity_cap",
        "ema_decay",
        "ema_ramp",
    ),
    "run_folder": (
        "log_every",
        "sample_every",
        "checkpoint_every",
        "checkpoint_minutes",
        "periodic_every",
        "keep_periodic",
        "grid_samples",
        "tensorboard",
        "max_rollbacks",
    ),
    "performance": (
        "device",
        "precision",
        "channels_last",
        "d_norm_keep_dtype",
        "d_feature_buffer",
        "compile",
        "cuda_graphs",
        "cudnn_benchmark",
        "num_threads",
    ),
}


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


class _KeyNotingLoader(yaml.SafeLoader):
    """safe_load that notes a key given twice in one mapping (YAML keeps the last): appending
    `steps: 7` to a copied preset is a way to override it, but a key repeated by mistake
    should not go unnoticed either. Merge keys (`<<: *baseline`) are YAML's own to resolve."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # (YAML's own error follows)
            if key in seen:
                self.repeated.append(str(key))
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(
    path: Path, what: str = "config", shape: str = "a config file must be a mapping of field: value"
) -> dict[str, Any]:
    """A YAML file that must hold a mapping (a config, a protocol); a ConfigError names the
    file and says what is wrong with it (`what` it was meant to be; `shape`, the mapping's)."""
    try:
        loader = _KeyNotingLoader(path.read_text(encoding="utf-8"))  # YAML's, whatever the locale
        loader.repeated = []
        try:
            content = loader.get_single_data()
        finally:
            loader.dispose()
    # ValueError: a value YAML cannot build (`data: 2024-06-31`, an int of 5000 digits)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read {what} ({shorten(str(error))})") from None
    if loader.repeated:
        names = ", ".join(dict.fromkeys(loader.repeated))
        message = f"{path}: {names} given more than once; the last is used"
        warnings.warn(message, GaunetWarning, stacklevel=2)
    if not isinstance(content, dict) and content is not None:  # `[]` is not empty settings
        raise ConfigError(f"{path}: {shape}")
    return content or {}


def _coerce(name: str, value: Any) -> Any:
    """Convert an override to the field's type; strings are parsed as YAML scalars first."""
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    if name not in kinds:
        close = difflib.get_close_matches(str(name).lower().replace("-", "_"), kinds, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown config field {name!r} ({hint}known: {', '.join(sorted(kinds))})"
        )
    kind = kinds[name]
    if isinstance(value, str) and kind != "str":
        try:
            value = yaml.safe_load(value)
        except (yaml.YAMLError, ValueError):  # ValueError: 2024-06-31, 5000 digits
            pass  # not a YAML scalar: the type check below names the field and the value
    try:
        if kind == "bool":  # 0 and 1 are false and true; `tensorboard: 2` is a mistake
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise ValueError(value)
            return bool(value)
        if kind == "int":  # `steps: true` is not a step count; 1e3 is (YAML 1.1 reads text)
            value = float(value) if isinstance(value, str) and "e" in value.lower() else value
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        # a YAML `init_from:` without a value is None, not the path "None"; a list is not a
        # string either (`diffaugment: [translation]` would be the policy "['translation']")
        if value is None or isinstance(value, (list, dict)):
            raise TypeError(value)
        return str(value)
    except (TypeError, ValueError, OverflowError) as error:  # Overflow: float(10**400)
        hint = f" (a YAML `{name}:` without a value is null; write {name}: '')" * (
            value is None and kind == "str"
        )
        raise ConfigError(f"config field {name} expects {kind}, got {value!r}{hint}") from error


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["key=value", ...]` (the CLI's --set) -> {key: value}, values still strings."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        result[key.strip()] = value.strip()
    return result


MODEL_SECTIONS = ("gaunet", "gan", "cgan")  # training.loss.FAMILIES


def load_config(
    config: str | Path | TrainConfig = "cpu-tiny", overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """A preset name, a YAML file or a TrainConfig, with overrides applied, validated."""
    if isinstance(config, TrainConfig):
        values = config.to_dict()
    else:
        text = str(config)
        path = Path(text)
        preset = PRESET_DIR / f"{text}.yaml"
        # a preset's name is the preset even beside a folder of that name (`--out cpu-tiny`)
        if path.suffix in (".yaml", ".yml") or (path.is_file() and not preset.is_file()):
            if not path.is_file():
                raise ConfigError(f"{path}: no such config file")
            values = read_yaml_mapping(path)
        elif preset.is_file():
            values = read_yaml_mapping(preset)
        else:
            raise ConfigError(
                f"{text!r} is neither a config file nor a preset ({', '.join(preset_names())})"
            )
    sections = {k: values.pop(k) for k in list(values) if isinstance(values[k], dict)}
    unknown = sorted(set(sections) - set(MODEL_SECTIONS))
    if unknown:  # a mapping is one model's settings; anything else would be dropped unread
        raise ConfigError(
            f"{config}: {', '.join(unknown)}: a nested block in a config is one model's "
            f"settings ({', '.join(MODEL_SECTIONS)}); write other settings as flat `key: value` "
            "lines"
        )
    for name, settings in sections.items():  # every block, not only the model's trained now:
        for key, value in settings.items():  # a typo in `gan:` would wait for a gan run
            try:
                _coerce(key, value)
            except ConfigError as error:
                raise ConfigError(f"{config}: {name}: {error}") from None
    model = (overrides or {}).get("model") or values.get("model", "gaunet")
    values.update(sections.get(str(model), {}))  # `gan: {n_critic: 1}`: that model's settings
    merged = {k: _coerce(k, v) for k, v in values.items()}
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = _coerce(key, value)
    return TrainConfig(**merged).validate()


def save_config(config: TrainConfig, path: Path) -> None:
    """The resolved config as flat `field: value` lines, grouped by SECTIONS under a comment
    line each. Atomic: a run killed mid-write must not leave a half config that --resume would
    silently complete with defaults."""
    values = config.to_dict()
    parts = [
        f"# {section}\n" + yaml.safe_dump({k: values[k] for k in names}, sort_keys=False)
        for section, names in SECTIONS.items()
    ]
    write_atomic(path, "".join(parts).encode())
