"""VQ-GAN architecture: residual / attention / resampling blocks, :class:`Encoder`, :class:`Decoder`, the quantizer
choice (:func:`build_quantizer`) and :class:`VQGAN` itself (Esser, Rombach & Ommer 2021, arXiv:2012.09841).

Part of :mod:`course_lib.vqgan` (import from there: ``from course_lib.vqgan import VQGAN``)."""
from __future__ import annotations

import copy
import difflib
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import validate_config

__all__ = ["Normalize", "ResnetBlock", "AttnBlock", "Downsample", "Upsample", "Encoder", "Decoder", "QUANTIZER_KINDS",
           "build_quantizer", "VQGAN"]


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
    from .. import quantize as Q

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

