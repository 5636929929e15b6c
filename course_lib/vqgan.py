"""VQ-GAN: a convolutional autoencoder with a discrete bottleneck, trained with L1 + perceptual + adversarial losses.

Follows the first stage of Esser, Rombach & Ommer 2021, "Taming Transformers for High-Resolution Image Synthesis"
(arXiv:2012.09841), written from scratch for this course:

* :class:`ResnetBlock` -- GroupNorm -> SiLU -> 3x3 conv, twice (dropout before the second conv), plus a skip
  (1x1 conv where the channel count changes).
* :class:`AttnBlock` -- single-head self-attention over all H*W positions (Vaswani et al. 2017, arXiv:1706.03762),
  used only at the lowest resolutions, where H*W is small.
* :class:`Downsample` / :class:`Upsample` -- stride-2 conv / nearest-neighbour x2 followed by a 3x3 conv.
* :class:`Encoder` / :class:`Decoder` -- a stack of levels with channel multipliers ``ch * ch_mult[i]``; every level but
  the last halves (encoder) or doubles (decoder) the resolution, so the latent grid is ``resolution / 2**(len(ch_mult)-1)``.
* :class:`VQGAN` -- encoder -> ``quant_conv`` (1x1, to the code dimension) -> quantizer -> ``post_quant_conv`` -> decoder.
  The presets' quantizer (l2-normalised low-dimensional codes, EMA codebook, dead-code restarts) is the COURSE's choice,
  combining later work (Yu et al. 2021 "ViT-VQGAN", arXiv:2110.04627, sec. 3.2; EMA: van den Oord et al. 2017 app. A.1
  and Razavi et al. 2019; restarts: notebook 05). taming-transformers itself trains a plain nn.Embedding codebook by
  gradients with the codebook + beta * commitment loss (``taming/modules/vqvae/quantize.py``, VectorQuantizer2).
* :class:`VQGANLoss` -- the generator loss (L1 + perceptual + quantizer loss + adaptive-weighted hinge adversarial
  after a warm-up step) and the discriminator loss on real images and *detached* reconstructions. The discriminator
  only ever sees images; it never sees codes.

Shapes: images ``x`` are ``(B, C, H, W)`` in ``[0, 1]``; indices are ``(B, h, w)`` int64 with ``h = H / 2**n_down``.

Example::

    cfg = vqgan_config("quick")                 # a dict of primitives (storable in a checkpoint)
    model = VQGAN(cfg)
    x_hat, q = model(x)                          # q is the quantizer's QuantizerOutput (z_q, indices, loss, ...)
    idx = model.encode(x)                        # (B, h, w)
    x_again = model.decode_indices(idx)          # == x_hat (eval mode)
"""
from __future__ import annotations

import copy
import difflib
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "PRESETS",
    "vqgan_config",
    "validate_config",
    "ResnetBlock",
    "AttnBlock",
    "Downsample",
    "Upsample",
    "Encoder",
    "Decoder",
    "build_quantizer",
    "VQGAN",
    "VQGANLoss",
    "bits_per_image",
    "make_loss_fn",
    "sync_quantizer",
]


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
_LOSS_KEYS = set(PRESETS["quick"]["loss"])
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


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------
def Normalize(channels: int, groups: int = 32) -> nn.GroupNorm:
    """GroupNorm (Wu & He 2018): statistics per image and per group of channels, so it does not depend on the
    batch size (unlike BatchNorm) -- useful with the small per-GPU batches of image autoencoders."""
    if channels % groups != 0:
        raise ValueError(f"GroupNorm: {channels} channels are not divisible into {groups} groups.")
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """``x + conv(drop(SiLU(GN(conv(SiLU(GN(x)))))))``; the skip is a 1x1 conv when channels change.
    (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: Optional[int] = None, dropout: float = 0.0, groups: int = 32):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.norm1 = Normalize(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = Normalize(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, with a residual connection. (B, C, H, W) -> same.

    Cost grows as (H*W)^2, which is why VQ-GAN only uses it at the lowest resolution(s) (e.g. 8x8 = 64 positions)."""

    def __init__(self, channels: int, groups: int = 32):
        super().__init__()
        self.norm = Normalize(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)  # each (B, C, HW)
        # (B, 1, HW, C): one head; scaled_dot_product_attention uses the fused kernel where available.
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2).unsqueeze(1), k.transpose(1, 2).unsqueeze(1), v.transpose(1, 2).unsqueeze(1)
        )
        out = out.squeeze(1).transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 conv (padding (0,1,0,1) as in taming-transformers). (B,C,H,W)->(B,C,H/2,W/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour x2 then a 3x3 conv (avoids transposed-conv checkerboards).
    (B,C,H,W)->(B,C,2H,2W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """(B, in_channels, R, R) -> (B, z_channels, R / 2**(L-1), R / 2**(L-1)) with L = len(ch_mult)."""

    def __init__(
        self,
        in_channels: int,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        attn_resolutions: Sequence[int],
        resolution: int,
        z_channels: int,
        dropout: float = 0.0,
        norm_groups: int = 32,
    ):
        super().__init__()
        g = norm_groups
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        blocks: list = []
        res, c_in = resolution, ch
        for i, mult in enumerate(ch_mult):
            c_out = ch * mult
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(c_in, c_out, dropout, g))
                c_in = c_out
                if res in attn_resolutions:
                    blocks.append(AttnBlock(c_in, g))
            if i != len(ch_mult) - 1:
                blocks.append(Downsample(c_in))
                res //= 2
        self.down = nn.Sequential(*blocks)
        self.mid = nn.Sequential(ResnetBlock(c_in, c_in, dropout, g), AttnBlock(c_in, g), ResnetBlock(c_in, c_in, dropout, g))
        self.norm_out = Normalize(c_in, g)
        self.conv_out = nn.Conv2d(c_in, z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.down(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """(B, z_channels, r, r) -> (B, out_channels, r * 2**(L-1), r * 2**(L-1)); mirrors :class:`Encoder`
    (one more residual block per level, as in taming-transformers)."""

    def __init__(
        self,
        out_channels: int,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        attn_resolutions: Sequence[int],
        resolution: int,
        z_channels: int,
        dropout: float = 0.0,
        norm_groups: int = 32,
    ):
        super().__init__()
        g = norm_groups
        c_in = ch * ch_mult[-1]
        res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, c_in, 3, padding=1)
        self.mid = nn.Sequential(ResnetBlock(c_in, c_in, dropout, g), AttnBlock(c_in, g), ResnetBlock(c_in, c_in, dropout, g))
        blocks: list = []
        for i in reversed(range(len(ch_mult))):
            c_out = ch * ch_mult[i]
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(c_in, c_out, dropout, g))
                c_in = c_out
                if res in attn_resolutions:
                    blocks.append(AttnBlock(c_in, g))
            if i != 0:
                blocks.append(Upsample(c_in))
                res *= 2
        self.up = nn.Sequential(*blocks)
        self.norm_out = Normalize(c_in, g)
        self.conv_out = nn.Conv2d(c_in, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.up(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


# ----------------------------------------------------------------------------------------------------------------------
# Quantizer choice
# ----------------------------------------------------------------------------------------------------------------------
# kind -> class name in course_lib.quantize. Notebook 05 compares these cures for codebook collapse. The presets
# combine three of them -- the course's choice, not Esser et al.'s (taming trains its codebook by gradients): the
# lookup happens in a low dimension (lookup_dim=8) with l2-normalised vectors ("factorised" codes of ViT-VQGAN, Yu et
# al. 2021, arXiv:2110.04627, sec. 3.2), the codebook follows exponential moving averages (EMA, van den Oord et al.
# 2017 appendix A.1; Razavi et al. 2019), and codes unused for restart_dead_after steps are restarted on encoder outputs
# (the rule of SoundStream, Zeghidour et al. 2021, arXiv:2107.03312; see notebook 05 for the variants). Other keys of the quantizer config (beta, lookup_dim,
# cosine, restart_dead_after, decay, levels, ...) go to the class's constructor.
QUANTIZER_KINDS: Dict[str, str] = {
    "vq": "VectorQuantizer",  # options: cosine=True, kmeans_init=True, restart_dead_after=N, lookup_dim=d
    "ema": "EMAVectorQuantizer",
    "factorized": "FactorizedVectorQuantizer",  # l2-normalised lookup in a low dimension (ViT-VQGAN)
    "rotation": "RotationVectorQuantizer",
    "fsq": "FSQ",
}


def build_quantizer(qcfg: Mapping[str, Any]) -> nn.Module:
    """Build a quantizer from ``{"kind": ..., **kwargs}``; the other keys go to the class's constructor.

    ``kind`` is one of :data:`QUANTIZER_KINDS` or the name of any class in :mod:`course_lib.quantize`."""
    from . import quantize as Q

    qcfg = dict(qcfg)
    kind = qcfg.pop("kind")
    extra: Dict[str, Any] = {}
    if kind in QUANTIZER_KINDS:
        cls_name = QUANTIZER_KINDS[kind]
    elif hasattr(Q, str(kind)):
        cls_name = str(kind)
    else:
        close = difflib.get_close_matches(str(kind), list(QUANTIZER_KINDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown quantizer kind {kind!r}; use one of {', '.join(QUANTIZER_KINDS)} or a class name from "
            f"course_lib.quantize.{hint}"
        )
    cls = getattr(Q, cls_name, None)
    if cls is None:
        raise ValueError(f"course_lib.quantize has no {cls_name} (needed for quantizer kind {kind!r}).")
    try:
        return cls(**extra, **qcfg)
    except TypeError as e:
        raise ValueError(f"Could not build {cls_name} from the quantizer config {dict(qcfg)}: {e}") from e


def _code_dim(quantizer: nn.Module, qcfg: Mapping[str, Any]) -> int:
    for name in ("code_dim", "dim"):
        v = getattr(quantizer, name, None)
        if isinstance(v, int):
            return v
    if "code_dim" in qcfg:
        return int(qcfg["code_dim"])
    if "levels" in qcfg:
        return len(qcfg["levels"])
    raise ValueError("Cannot tell the quantizer's code dimension; give 'code_dim' in the quantizer config.")


# ----------------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------------
class VQGAN(nn.Module):
    """Encoder -> quant_conv -> quantizer -> post_quant_conv -> decoder.

    ``VQGAN(cfg)`` takes the dict made by :func:`vqgan_config` (only its ``"model"`` section is used).
    ``forward(x)`` returns ``(x_hat, q)``: ``x_hat`` (B, C, H, W), ``q`` the quantizer's ``QuantizerOutput``.
    """

    def __init__(self, config: Mapping[str, Any]):
        super().__init__()
        validate_config(config)
        self.config = copy.deepcopy(dict(config))
        m = self.config["model"]
        common = dict(
            ch=int(m["ch"]),
            ch_mult=[int(k) for k in m["ch_mult"]],
            num_res_blocks=int(m.get("num_res_blocks", 2)),
            attn_resolutions=[int(r) for r in m.get("attn_resolutions", [])],
            resolution=int(m["resolution"]),
            z_channels=int(m["z_channels"]),
            dropout=float(m.get("dropout", 0.0)),
            norm_groups=int(m.get("norm_groups", 32)),
        )
        self.in_channels = int(m.get("in_channels", 3))
        self.resolution = common["resolution"]
        self.n_down = len(common["ch_mult"]) - 1
        self.encoder = Encoder(in_channels=self.in_channels, **common)
        self.decoder = Decoder(out_channels=self.in_channels, **common)
        self.quantizer = build_quantizer(m["quantizer"])
        self.code_dim = _code_dim(self.quantizer, m["quantizer"])
        self.quant_conv = nn.Conv2d(common["z_channels"], self.code_dim, 1)
        self.post_quant_conv = nn.Conv2d(self.code_dim, common["z_channels"], 1)

    # -- shapes --------------------------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if not torch.is_tensor(x) or x.dim() != 4:
            raise ValueError(
                f"VQGAN expects images of shape (B, C, H, W), got {tuple(x.shape) if torch.is_tensor(x) else type(x)}."
            )
        b, c, h, w = x.shape
        if c != self.in_channels:
            hint = " Did you pass channels-last images? Use x.permute(0, 3, 1, 2)." if w == self.in_channels else ""
            raise ValueError(f"VQGAN was built for {self.in_channels}-channel images, got {c} channels ({tuple(x.shape)}).{hint}")
        f = 2**self.n_down
        if h % f or w % f:
            raise ValueError(
                f"VQGAN downsamples {self.n_down} times, so H and W must be multiples of {f}; got {h}x{w}. "
                f"Resize or crop the images (e.g. 28x28 MNIST: pad to 32x32 with F.pad(x, (2, 2, 2, 2)))."
            )

    @property
    def latent_shape(self) -> Tuple[int, int]:
        """(h, w) of the code grid for images of the configured resolution."""
        r = self.resolution // 2**self.n_down
        return (r, r)

    @property
    def last_layer(self) -> torch.Tensor:
        """The decoder's final conv weight: where the adaptive weight compares gradient norms (Esser et al. 2021)."""
        return self.decoder.conv_out.weight

    # -- the pieces ----------------------------------------------------------------------------------------------------
    def encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous pre-quantisation latents (B, code_dim, h, w)."""
        self._check_input(x)
        return self.quant_conv(self.encoder(x))

    def quantize(self, z: torch.Tensor):
        return self.quantizer(z)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Quantised latents (B, code_dim, h, w) -> images (B, C, H, W)."""
        return self.decoder(self.post_quant_conv(z_q))

    def forward(self, x: torch.Tensor):
        q = self.quantizer(self.encode_latents(x))
        return self.decode(q.z_q), q

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> code indices (B, h, w) int64."""
        return self.quantizer(self.encode_latents(x)).indices

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices (B, h, w) -> quantised latents (B, code_dim, h, w), exactly what the quantizer outputs."""
        if indices.dim() != 3:
            raise ValueError(f"decode_indices expects indices of shape (B, h, w), got {tuple(indices.shape)}.")
        if indices.dtype.is_floating_point:
            raise TypeError(f"decode_indices expects integer indices, got {indices.dtype}")
        return self.quantizer.lookup(indices.long())

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices (B, h, w) -> images (B, C, H, W) -- what a stage-2 prior's samples are decoded with."""
        return self.decode(self.codes_from_indices(indices).to(self.post_quant_conv.weight.dtype))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ----------------------------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------------------------
class VQGANLoss(nn.Module):
    """The two objectives of VQ-GAN training, with the discriminator and the perceptual network it needs.

    Generator (encoder + quantizer + decoder) minimises::

        L_G = l1_weight * |x - x_hat|_1 + perceptual_weight * LPIPS(x, x_hat) + codebook_weight * L_quantizer
              + [step >= disc_start] * disc_weight * lambda * hinge_g(D(x_hat))

    with the adaptive weight ``lambda = |grad_last L_rec| / (|grad_last L_adv| + delta)`` (clamped to
    ``[0, max_adaptive_weight]``, no gradient) computed at the decoder's last layer (Esser et al. 2021, eq. 7).
    Discriminator minimises ``hinge_d(D(x), D(sg[x_hat]))`` from ``disc_start`` on; it sees images only.

    ``loss.perceptual`` (a :class:`course_lib.perceptual.PerceptualLoss`) and ``loss.discriminator``
    (a :class:`course_lib.gan.PatchDiscriminator`) are submodules; ``backend`` says which perceptual network ran.
    """

    def __init__(self, config: Mapping[str, Any], in_channels: Optional[int] = None, perceptual: Optional[nn.Module] = None):
        super().__init__()
        from . import gan

        validate_config(config)
        lc = dict(PRESETS["quick"]["loss"])
        lc.update(config.get("loss", {}))
        self.lcfg = lc
        in_channels = int(config["model"].get("in_channels", 3)) if in_channels is None else in_channels
        self.l1_weight = float(lc["l1_weight"])
        self.perceptual_weight = float(lc["perceptual_weight"])
        self.codebook_weight = float(lc["codebook_weight"])
        self.disc_weight = float(lc["disc_weight"])
        self.disc_start = int(lc["disc_start"])
        self.delta = float(lc["adaptive_delta"])
        self.max_weight = float(lc["max_adaptive_weight"])
        self.discriminator = gan.PatchDiscriminator(**_disc_kwargs(gan.PatchDiscriminator, in_channels, lc))
        if perceptual is None and self.perceptual_weight > 0:
            from .perceptual import PerceptualLoss

            perceptual = PerceptualLoss(backend=lc.get("perceptual_backend", "auto"))
        self.perceptual = perceptual
        if self.perceptual is not None:
            self.perceptual.requires_grad_(False).eval()

    @property
    def backend(self) -> str:
        p = self.perceptual
        return str(getattr(p, "backend_name", getattr(p, "backend", type(p).__name__))) if p is not None else "none"

    def train(self, mode: bool = True):
        super().train(mode)
        if self.perceptual is not None:
            self.perceptual.eval()  # a frozen feature network stays in eval mode
        return self

    def disc_active(self, step: int) -> bool:
        return self.disc_weight > 0 and step >= self.disc_start

    def perceptual_distance(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Mean perceptual distance, computed in float32 (a half-precision sqrt/normalisation can turn into NaN).

        ``x_hat`` is NOT clamped to [0, 1] first (taming's ``vqperceptual.py`` does not clamp either): a clamp would
        zero the perceptual gradient of every pixel outside [0, 1], just where the decoder needs to be pulled back."""
        if self.perceptual is None:
            return x.new_zeros(())
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.perceptual(x_hat.float(), x.float()).mean()

    def generator_loss(
        self,
        x: torch.Tensor,
        x_hat: torch.Tensor,
        quantizer_loss: torch.Tensor,
        step: int,
        last_layer: Optional[torch.Tensor],
        discriminator: Optional[nn.Module] = None,
    ) -> Dict[str, torch.Tensor]:
        """The generator's loss terms; ``"gen"`` is the total to minimise. ``discriminator`` defaults to
        ``self.discriminator`` (under DDP pass the *unwrapped* module, so this step does not sync its gradients).
        The discriminator's parameters get no gradient from this loss."""
        from . import gan

        x_hat32 = x_hat.float()
        l1 = (x.float() - x_hat32).abs().mean()
        perc = self.perceptual_distance(x, x_hat) if self.perceptual_weight > 0 else x_hat32.new_zeros(())
        rec = self.l1_weight * l1 + self.perceptual_weight * perc
        out: Dict[str, torch.Tensor] = {"l1": l1.detach(), "perceptual": perc.detach(), "q": quantizer_loss.detach()}
        total = rec + self.codebook_weight * quantizer_loss
        if self.disc_active(step):
            disc = self.discriminator if discriminator is None else discriminator
            gan.set_requires_grad(disc, False)
            try:
                g_loss = gan.hinge_g_loss(disc(x_hat))
            finally:
                gan.set_requires_grad(disc, True)
            if last_layer is not None and torch.is_grad_enabled():
                d_weight = gan.adaptive_weight(rec, g_loss, last_layer, delta=self.delta, max_weight=self.max_weight)
            else:
                d_weight = torch.tensor(1.0, device=x.device)
            d_weight = torch.as_tensor(d_weight, device=x.device).detach()
            total = total + self.disc_weight * d_weight * g_loss
            out["g_adv"] = g_loss.detach()
            out["adaptive_weight"] = d_weight
        out["gen"] = total
        return out

    def discriminator_loss(self, x: torch.Tensor, x_hat: torch.Tensor, step: int,
                           discriminator: Optional[nn.Module] = None) -> Dict[str, Optional[torch.Tensor]]:
        """Hinge loss on real ``x`` and DETACHED reconstructions ``x_hat``; ``"disc"`` is None before ``disc_start``.

        Real and fake go through the discriminator in one batch (one forward: required by DDP)."""
        from . import gan

        if not self.disc_active(step):
            return {"disc": None}
        disc = self.discriminator if discriminator is None else discriminator
        n = x.shape[0]
        logits = disc(torch.cat([x, x_hat.detach().to(x.dtype)], dim=0))
        logits_real, logits_fake = logits[:n], logits[n:]
        d_loss = gan.hinge_d_loss(logits_real, logits_fake)
        return {
            "disc": d_loss,
            "logits_real": logits_real.detach().float().mean(),
            "logits_fake": logits_fake.detach().float().mean(),
        }


def _disc_kwargs(cls, in_channels: int, lc: Mapping[str, Any]) -> Dict[str, Any]:
    """Map our config names onto PatchDiscriminator's constructor, whatever its argument names are."""
    import inspect

    params = inspect.signature(cls).parameters
    kw: Dict[str, Any] = {}
    for names, value in (
        (("in_channels", "input_nc", "channels"), in_channels),
        (("base", "ch", "ndf", "base_channels", "width"), int(lc["disc_ch"])),
        (("n_layers", "num_layers", "layers"), int(lc["disc_layers"])),
        (("norm",), str(lc.get("disc_norm", "group"))),
    ):
        for nm in names:
            if nm in params:
                kw[nm] = value
                break
    return kw


# ----------------------------------------------------------------------------------------------------------------------
# One training step, for course_lib.train.fit
# ----------------------------------------------------------------------------------------------------------------------
def _unwrap(module: nn.Module) -> nn.Module:
    from .checkpoint import unwrap

    return unwrap(module)


@torch.no_grad()
def sync_quantizer(model: nn.Module, src: int = 0) -> None:
    """Under torch.distributed, copy the quantizer's parameters and buffers from rank ``src`` to every rank.

    Gradients are averaged by DDP, but a quantizer may also change its codebook *outside* the gradient step
    (EMA updates, dead-code restarts from the local batch); this keeps the replicas identical. No-op otherwise."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    q = _unwrap(model).quantizer
    for t in list(q.parameters()) + list(q.buffers()):
        dist.broadcast(t.data, src=src)


def make_loss_fn(model: nn.Module, loss: VQGANLoss, discriminator: Optional[nn.Module] = None):
    """``loss_fn(batch, step)`` for :func:`course_lib.train.fit` with ``optimizer={"gen": opt_g, "disc": opt_d}``.

    ``model`` may be a DDP-wrapped :class:`VQGAN`; ``discriminator`` defaults to ``loss.discriminator`` (pass the
    DDP-wrapped one under torchrun). The generator's adversarial term uses the unwrapped discriminator with its
    parameters frozen; the discriminator's loss sees real images and DETACHED reconstructions."""
    disc = loss.discriminator if discriminator is None else discriminator

    def loss_fn(batch, step: int) -> Dict[str, Any]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        sync_quantizer(model)
        x_hat, q = model(x)
        out: Dict[str, Any] = dict(loss.generator_loss(x, x_hat, q.loss, step, _unwrap(model).last_layer,
                                                       discriminator=_unwrap(disc)))
        out.update(loss.discriminator_loss(x, x_hat, step, discriminator=disc))
        return out

    return loss_fn
