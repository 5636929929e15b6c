"""VQ-GAN configurations: the presets per profile, :func:`vqgan_config` (merge overrides) and :func:`validate_config`.

Part of :mod:`course_lib.vqgan` (import from there: ``from course_lib.vqgan import vqgan_config``)."""
from __future__ import annotations

import copy
import difflib
import math
from typing import Any, Dict, Mapping

__all__ = ["PRESETS", "vqgan_config", "validate_config", "latent_size", "bits_per_image"]


# ----------------------------------------------------------------------------------------------------------------------
# Configurations
# ----------------------------------------------------------------------------------------------------------------------
# One dict of primitives per profile. "model" builds the autoencoder and its quantizer, "loss" the losses and the
# discriminator, "train" the optimisation and the data. Everything is JSON-serialisable, so it can be stored in a
# checkpoint and compared on resume. The discriminator uses GroupNorm ("disc_norm"), not taming's BatchNorm: real and
# fake images go through it as ONE batch (one forward per step, which DistributedDataParallel needs), and GroupNorm
# keeps every image's statistics to itself, whereas BatchNorm would mix real and fake statistics.
PRESETS: Dict[str, Dict[str, Any]] = {
    # Tiny (0.3 M parameters): a CPU runs a step in well under a second. 32x32 colour crops, 2 downsamples -> 8x8 codes.
    "quick": {
        "model": {
            "in_channels": 3,
            "resolution": 32,
            "ch": 16,
            "ch_mult": [1, 2, 2],
            "num_res_blocks": 1,
            "attn_resolutions": [8],
            "dropout": 0.0,
            "z_channels": 32,
            "norm_groups": 8,
            "quantizer": {"kind": "ema", "num_codes": 128, "code_dim": 32, "lookup_dim": 8, "cosine": True,
                          "decay": 0.99, "beta": 0.25, "restart_dead_after": 50},
        },
        "loss": {
            "l1_weight": 1.0,
            "perceptual_weight": 1.0,
            "codebook_weight": 1.0,
            "disc_weight": 0.5,
            "disc_start": 100,
            "disc_ch": 16,
            # 1 stride-2 layer: each logit sees a 16x16 patch of a 32x32 image. With 2 layers the receptive field is
            # 34 px (gan.PatchDiscriminator.receptive_field), wider than the image: every logit would see it all.
            "disc_layers": 1,
            "disc_norm": "group",
            "adaptive_delta": 1e-4,
            "max_adaptive_weight": 1e4,
            "perceptual_backend": "auto",
        },
        "train": {
            "dataset": "natural",
            "n_train": 2000,
            "batch_size": 32,
            "steps": 300,
            "lr": 2e-4,
            "disc_lr": 2e-4,
            "betas": [0.5, 0.9],
            "grad_clip": 1.0,
            "checkpoint_every": 100,
            "log_every": 10,
            "seed": 0,
        },
    },
    # CIFAR-10 32x32 on one consumer GPU (a Colab T4): 6 M parameters, 2 downsamples -> 8x8 codes, K = 512.
    "standard": {
        "model": {
            "in_channels": 3,
            "resolution": 32,
            "ch": 64,
            "ch_mult": [1, 2, 2],
            "num_res_blocks": 2,
            "attn_resolutions": [8],
            "dropout": 0.0,
            "z_channels": 128,
            "norm_groups": 32,
            "quantizer": {"kind": "ema", "num_codes": 512, "code_dim": 64, "lookup_dim": 8, "cosine": True,
                          "decay": 0.99, "beta": 0.25, "restart_dead_after": 200},
        },
        "loss": {
            "l1_weight": 1.0,
            "perceptual_weight": 1.0,
            "codebook_weight": 1.0,
            "disc_weight": 0.5,
            "disc_start": 5000,
            "disc_ch": 64,
            "disc_layers": 1,  # 16x16 patches of 32x32 images (2 layers: 34 px, the whole image)
            "disc_norm": "group",
            "adaptive_delta": 1e-4,
            "max_adaptive_weight": 1e4,
            "perceptual_backend": "auto",
        },
        "train": {
            "dataset": "cifar10",
            "n_train": None,
            "batch_size": 128,
            "steps": 20_000,
            "lr": 2e-4,
            "disc_lr": 2e-4,
            "betas": [0.5, 0.9],
            "grad_clip": 1.0,
            "checkpoint_every": 1000,
            "log_every": 50,
            "seed": 0,
        },
    },
    # 64x64 natural images (Oxford Flowers-102, resized) on an A100/H100: 65 M parameters, 3 downsamples -> 8x8 codes,
    # K = 1024.
    "full": {
        "model": {
            "in_channels": 3,
            "resolution": 64,
            "ch": 128,
            "ch_mult": [1, 1, 2, 4],
            "num_res_blocks": 2,
            "attn_resolutions": [8],
            "dropout": 0.0,
            "z_channels": 256,
            "norm_groups": 32,
            "quantizer": {"kind": "ema", "num_codes": 1024, "code_dim": 64, "lookup_dim": 8, "cosine": True,
                          "decay": 0.99, "beta": 0.25, "restart_dead_after": 200},
        },
        "loss": {
            "l1_weight": 1.0,
            "perceptual_weight": 1.0,
            "codebook_weight": 1.0,
            "disc_weight": 0.75,
            "disc_start": 10_000,
            "disc_ch": 64,
            "disc_layers": 2,  # 34x34 patches of 64x64 images (3 layers, taming's 70 px, would see the whole image)
            "disc_norm": "group",
            "adaptive_delta": 1e-4,
            "max_adaptive_weight": 1e4,
            "perceptual_backend": "auto",
        },
        "train": {
            "dataset": "flowers102-64",
            "n_train": None,
            "batch_size": 64,
            "steps": 50_000,
            "lr": 1e-4,
            "disc_lr": 1e-4,
            "betas": [0.5, 0.9],
            "grad_clip": 1.0,
            "checkpoint_every": 2000,
            "log_every": 100,
            "seed": 0,
        },
    },
}

_MODEL_KEYS = set(PRESETS["quick"]["model"])
# Optional loss keys, absent from the presets (so the presets, and the configs stored in shipped checkpoints, are
# unchanged) and off by default. For a discriminator that sees little data (issue: it memorises its training reals):
#   "disc_spectral_norm": True  -> spectral normalisation on every conv of the discriminator (Miyato et al. 2018,
#                                  arXiv:1802.05957); set "disc_norm": "none" as well for SN-GAN's plain layout
#                                  (a GroupNorm after a spectrally normalised conv undoes its Lipschitz bound);
#   "diff_augment": "color,translation,cutout" -> DiffAugment (Zhao et al. 2020, arXiv:2006.10738): the same random
#                                  differentiable transforms on real and fake images, in the D and the G step.
# Notebook 09 (a deep dive) measures both on a small subset (course_lib.augment, course_lib.gan).
OPTIONAL_LOSS_KEYS = {"disc_spectral_norm": False, "diff_augment": ""}
_LOSS_KEYS = set(PRESETS["quick"]["loss"]) | set(OPTIONAL_LOSS_KEYS)
_TRAIN_KEYS = set(PRESETS["quick"]["train"])


def _merge(base: Dict[str, Any], over: Mapping[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def vqgan_config(profile: str = "quick", **overrides: Any) -> Dict[str, Any]:
    """A copy of the preset for ``profile`` (quick, standard, full) with nested ``overrides`` merged in.

    ``vqgan_config("quick", model={"ch": 64}, train={"steps": 50})`` -- unknown keys raise a ``ValueError``.
    A quantizer override of another ``kind`` replaces the preset's quantizer dict (options differ per kind).
    """
    if profile not in PRESETS:
        close = difflib.get_close_matches(str(profile), list(PRESETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown VQ-GAN preset {profile!r}; choose one of {', '.join(PRESETS)}.{hint}")
    cfg = _merge(PRESETS[profile], overrides)
    q_over = overrides.get("model", {}).get("quantizer")
    if isinstance(q_over, Mapping) and q_over.get("kind", cfg["model"]["quantizer"]["kind"]) != PRESETS[profile]["model"]["quantizer"]["kind"]:
        cfg["model"]["quantizer"] = copy.deepcopy(dict(q_over))  # another kind: its own options, not the preset's
    validate_config(cfg)
    return cfg


def _check_keys(section: str, given: Mapping[str, Any], known: set) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, sorted(known), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"Unknown key(s) in the VQ-GAN config section {section!r}: {', '.join(hints)}. "
            f"Known keys: {', '.join(sorted(known))}."
        )


def validate_config(cfg: Mapping[str, Any]) -> None:
    """Raise a ``ValueError`` naming the problem if the config cannot build a working model."""
    if not isinstance(cfg, Mapping) or "model" not in cfg:
        raise ValueError(
            "A VQ-GAN config is a dict with sections 'model', 'loss' and 'train' (as made by vqgan_config('quick')); "
            f"got {type(cfg).__name__} with keys {list(cfg) if isinstance(cfg, Mapping) else '-'}."
        )
    m = cfg["model"]
    _check_keys("model", m, _MODEL_KEYS)
    if "loss" in cfg:
        _check_keys("loss", cfg["loss"], _LOSS_KEYS)
        lc = cfg["loss"]
        if not isinstance(lc.get("disc_spectral_norm", False), bool):
            raise ValueError(f"loss.disc_spectral_norm must be True or False, got {lc['disc_spectral_norm']!r}.")
        policy = lc.get("diff_augment", "")
        if not isinstance(policy, str):
            raise ValueError(f"loss.diff_augment must be a policy string such as 'color,translation,cutout' ('' = off), "
                             f"got {policy!r}.")
        from ..augment import POLICIES

        unknown = [p.strip() for p in policy.split(",") if p.strip() and p.strip() not in POLICIES]
        if unknown:
            raise ValueError(f"loss.diff_augment names unknown transforms {unknown}; choose from {list(POLICIES)}, "
                             "comma-separated ('' = off).")
    if "train" in cfg:
        _check_keys("train", cfg["train"], _TRAIN_KEYS)
    missing = sorted(k for k in ("ch", "ch_mult", "resolution", "z_channels", "quantizer") if k not in m)
    if missing:
        raise ValueError(f"The VQ-GAN model config lacks {', '.join(missing)}; start from vqgan_config('quick').")
    ch_mult = list(m["ch_mult"])
    if len(ch_mult) < 1:
        raise ValueError("model.ch_mult needs at least one level, e.g. [1, 2, 2] (two downsamples).")
    n_down = len(ch_mult) - 1
    res = int(m["resolution"])
    if res % (2**n_down) != 0:
        raise ValueError(
            f"model.resolution={res} is not divisible by 2**{n_down}={2**n_down} (ch_mult={ch_mult} downsamples "
            f"{n_down} times). Use a resolution that is a multiple of {2**n_down} or fewer levels in ch_mult."
        )
    groups = int(m.get("norm_groups", 32))
    channels = {int(m["ch"]) * int(k) for k in ch_mult} | {int(m["ch"])}
    bad = sorted(c for c in channels if c % groups != 0)
    if bad:
        raise ValueError(
            f"GroupNorm with norm_groups={groups} needs every channel count to be divisible by it, but "
            f"ch={m['ch']} x ch_mult={ch_mult} gives {bad}. Choose ch a multiple of {groups} or lower norm_groups."
        )
    lowest = res // 2**n_down
    levels = {res // 2**i for i in range(n_down + 1)}
    for r in m.get("attn_resolutions", []):
        if int(r) not in levels:
            raise ValueError(
                f"model.attn_resolutions contains {r}, but the encoder only has the resolutions "
                f"{sorted(levels, reverse=True)} (resolution={res}, ch_mult={ch_mult}). Use e.g. [{lowest}]."
            )
    q = m["quantizer"]
    if not isinstance(q, Mapping) or "kind" not in q:
        raise ValueError("model.quantizer must be a dict with a 'kind', e.g. {'kind': 'factorized', 'num_codes': 512, 'code_dim': 64}.")


def latent_size(cfg: Mapping[str, Any]) -> int:
    """Side length of the code grid: ``resolution / 2**(len(ch_mult) - 1)``."""
    m = cfg["model"]
    return int(m["resolution"]) // 2 ** (len(m["ch_mult"]) - 1)


def bits_per_image(cfg: Mapping[str, Any]) -> float:
    """Bits one image costs as codes: ``h * w * log2(K)`` (K from the quantizer config; FSQ: product of levels)."""
    q = cfg["model"]["quantizer"]
    if "levels" in q:
        k = math.prod(int(v) for v in q["levels"])
    else:
        k = int(q["num_codes"])
    return latent_size(cfg) ** 2 * math.log2(k)

