"""The ranges every TrainConfig field must be in (`TrainConfig.validate`): a setting out of
range would fail deep inside training, or train on silently, so each is named with its range."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gaunet.config import seed_problem
from gaunet.precision import PRECISIONS

if TYPE_CHECKING:
    from gaunet.config import TrainConfig


def is_whole(value: object) -> bool:
    """A whole number, not a bool (True is an int to Python, never a count to a user)."""
    return isinstance(value, int) and not isinstance(value, bool)


def problems_of(config: TrainConfig) -> list[str]:
    """One line per setting out of its range (empty: the config is usable)."""
    problems: list[str] = []
    # the U-Net's constraint: the DCGAN baselines have no g_depth (their sizes: base_side)
    if config.model == "gaunet" and config.size % (2**config.g_depth) and not config.pad_input:
        problems.append(
            f"size {config.size} is not divisible by 2**g_depth = {2**config.g_depth} "
            "(set pad_input=true to pad it inside the generator)"
        )
    if config.size < 4:
        problems.append(f"size must be at least 4, not {config.size}")
    # numeric ranges (issue 30): out of range, each failed deep inside or ran away
    if seed_problem(config.seed):
        problems.append(seed_problem(config.seed))
    if config.steps < 0:
        problems.append(
            f"steps must be at least 0 (0: no step limit, with minutes), not {config.steps}"
        )
    if not (math.isfinite(config.minutes) and config.minutes >= 0):
        problems.append(f"minutes must be a finite number >= 0 (0: off), not {config.minutes}")
    if not (math.isfinite(config.checkpoint_minutes) and config.checkpoint_minutes >= 0):
        problems.append(
            "checkpoint_minutes must be a finite number >= 0 (0: by steps only), "
            f"not {config.checkpoint_minutes}"
        )
    if config.num_threads < 0:
        problems.append(
            f"num_threads must be at least 0 (0: torch's default), not {config.num_threads}"
        )
    for name in (
        "sample_every",
        "checkpoint_every",
        "periodic_every",
        "keep_periodic",
        "grid_samples",
        "max_rollbacks",
        "d_stem_down",
    ):
        if getattr(config, name) < 0:
            problems.append(f"{name} must be at least 0, not {getattr(config, name)}")
    if config.channels not in (1, 3):
        problems.append(f"channels must be 1 or 3, not {config.channels}")
    if config.precision not in PRECISIONS:
        problems.append(f"precision must be auto, fp32 or bf16, not {config.precision!r}")
    if config.cuda_graphs not in ("auto", "true", "false"):
        problems.append(f"cuda_graphs must be auto, true or false, not {config.cuda_graphs!r}")
    if not 0 < config.gp_fraction <= 1:
        problems.append(f"gp_fraction must be in (0, 1], not {config.gp_fraction}")
    try:
        from gaunet.training.diffaugment import parse_policy

        parse_policy(config.diffaugment)
    except ValueError as error:
        problems.append(str(error))
    if not 0 <= config.diffaugment_p <= 1 or not 0 <= config.skip_dropout < 1:
        problems.append("diffaugment_p must be in [0, 1] and skip_dropout in [0, 1)")
    # `not (x >= 0)`, not `x < 0`: NaN passed every comparison (pixel_noise=nan turned the
    # noise off while config.yaml said nan; diversity_cap=nan made every loss NaN)
    if not (math.isfinite(config.pixel_noise) and config.pixel_noise >= 0):
        problems.append(f"pixel_noise must be >= 0 (0 = off), not {config.pixel_noise}")
    if not (math.isfinite(config.ema_ramp) and config.ema_ramp >= 0):
        problems.append(f"ema_ramp must be >= 0 (0 = the default ramp), not {config.ema_ramp}")
    if not (
        math.isfinite(config.diversity_lambda)
        and config.diversity_lambda >= 0
        and math.isfinite(config.diversity_cap)
        and config.diversity_cap > 0
    ):
        problems.append("diversity_lambda must be >= 0 and diversity_cap > 0")
    problems += _generator_problems(config)
    for name in (
        "batch_size",
        "n_critic",
        "gp_every",
        "log_every",
        "g_depth",
        "d_blocks",
        "critic_pack",
        "g_width",
        "g_width_max",
        "g_convs_per_block",
        "d_growth",
        "d_layers_per_block",
        "d_stem",
        "z_dim",
    ):
        if getattr(config, name) < 1:
            problems.append(f"{name} must be at least 1")
    if config.batch_size < 2:
        problems.append("batch_size must be at least 2 (batch statistics)")
    for name in ("lr_g", "lr_d"):  # each a finite number > 0 (NaN fails every test)
        if not (math.isfinite(getattr(config, name)) and getattr(config, name) > 0):
            problems.append(f"{name} must be a finite number above 0, not {getattr(config, name)}")
    for name in ("beta1", "beta2", "g_dropout", "d_dropout"):
        if not 0 <= getattr(config, name) < 1:
            problems.append(f"{name} must be in [0, 1), not {getattr(config, name)}")
    if not (math.isfinite(config.gp_lambda) and config.gp_lambda >= 0):
        problems.append(f"gp_lambda must be a finite number >= 0, not {config.gp_lambda}")
    if not 0 < config.ema_decay <= 1:
        problems.append(f"ema_decay must be in (0, 1], not {config.ema_decay}")
    return problems


def _generator_problems(config: TrainConfig) -> list[str]:
    """The U-Net's and its batch renormalization's ranges, and the critic stem's against the
    size: out of range, each built a network that failed with a torch traceback (a negative
    channel count, a stem that halves the image below one pixel) or trained on silently with
    NaN or a schedule that makes no sense (brn_momentum 2, brn_rmax below 1)."""
    problems = []
    for name in ("noise_channels", "class_embed_dim", "decoder_noise_stages"):
        if getattr(config, name) < 0:
            problems.append(f"{name} must be at least 0, not {getattr(config, name)}")
    if config.model == "gaunet" and config.size < 2**config.d_stem_down:
        # each stem convolution halves the side (4x4, stride 2); the last needs 2+ pixels
        most = max(config.size.bit_length() - 1, 0)
        problems.append(
            f"d_stem_down {config.d_stem_down} halves size {config.size} below one pixel in the "
            f"critic's stem; at most {most} at this size"
        )
    if config.model == "gaunet" and config.noise_channels == 0 and config.pixel_noise == 0:
        # no projected noise and no pixel noise: z reached nothing, every draw was the same
        problems.append(
            "noise_channels 0 with pixel_noise 0 gives the generator no noise input (every draw "
            "of an image would be the same): set noise_channels >= 1 or pixel_noise > 0"
        )
    if not 0 < config.brn_momentum <= 1:
        problems.append(f"brn_momentum must be in (0, 1], not {config.brn_momentum}")
    for name in ("brn_warmup", "brn_ramp"):
        if getattr(config, name) < 0:
            problems.append(f"{name} must be at least 0, not {getattr(config, name)}")
    if not (math.isfinite(config.brn_rmax) and config.brn_rmax >= 1):
        problems.append(f"brn_rmax must be a finite number >= 1, not {config.brn_rmax}")
    if not (math.isfinite(config.brn_dmax) and config.brn_dmax >= 0):
        problems.append(f"brn_dmax must be a finite number >= 0, not {config.brn_dmax}")
    return problems


# The GAU-Net critic's loss settings: the DCGAN baselines' BCE loss has none of them
GAUNET_LOSS_ONLY = (
    "diffaugment", "diffaugment_p", "critic_pack", "diversity_lambda", "gp_lambda", "gp_fraction",
)  # fmt: skip


def baseline_loss_problems(config: TrainConfig) -> list[str]:
    """A GAU-Net-only loss setting changed for `--model gan|cgan`: accepted, written to
    config.yaml and ignored, a "baseline + DiffAugment" run was the plain baseline. Checked
    for new runs only (train, the benchmark's generator arms): a run made before it resumes."""
    if config.model not in ("gan", "cgan"):
        return []
    default = type(config)()
    changed = [n for n in GAUNET_LOSS_ONLY if getattr(config, n) != getattr(default, n)]
    if not changed:
        return []
    return [
        f"{', '.join(changed)} set, but --model {config.model} has no such setting (its loss is "
        "the DCGAN baseline's, without a critic penalty, pairs or augmentation): leave "
        f"{'them' if len(changed) > 1 else 'it'} at the default, or write "
        f"{'them' if len(changed) > 1 else 'it'} in a `gaunet:` block of the config file, which "
        "GAU-Net runs alone read (docs/baselines.md)"
    ]
