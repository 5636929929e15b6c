"""Restoration with a frozen VQ tokenizer, and Gram-matrix style statistics (notebook 13).

    from course_lib.restoration import RestorationNet, code_prediction_loss, gram_matrix, style_distance
    net = RestorationNet(num_codes=K)            # degraded image (N, 1, 28, 28) -> code logits (N, K, 7, 7)
    reg = RestorationNet(num_codes=None)         # the same trunk -> restored pixels (N, 1, 28, 28), trained with L2
    loss = code_prediction_loss(net(x_bad), codes_clean)       # cross-entropy over the K codes
    g = gram_matrix(features)                    # (N, C, H, W) -> (N, C, C), averaged over the H W positions

    bad = degrade(clean, factor=4)               # box-filter down x4, bicubic back up: the super-resolution input
    out = restore(net, bad, decode=decode)       # batched, no grad: decoded argmax codes (or the regressor's pixels)
    m = measure_restoration(out, clean)          # PSNR (+- s.e.), SSIM and KID (course feature net) vs the clean set

Restoration as code prediction is the recipe of codebook-prior restorers such as CodeFormer (Zhou, Chan, Li, Loy
2022, arXiv:2206.11253, sec. 3.2: a transformer predicts the code indices of the clean face from the degraded one,
trained with cross-entropy, and a frozen decoder renders them). Here the predictor is a small CNN.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["RestorationNet", "code_prediction_loss", "gram_matrix", "style_distance", "content_distance", "degrade",
           "restore", "measure_restoration"]


class RestorationNet(nn.Module):
    """A small CNN trunk shared by the two restorers of notebook 13.

    Trunk: conv3x3 (1 -> ch), two stride-2 convs 4x4 (ch -> 2ch -> 2ch) and a conv3x3, ReLU after each: a
    (2ch, H/4, W/4) feature map. ``num_codes=K`` adds a 1x1 conv to K logits per grid cell (the code predictor);
    ``num_codes=None`` adds a 1x1 conv to 16 channels and a pixel shuffle back to (1, H, W), added to the input
    (the L2 regressor predicts a correction to the bicubic image).
    """

    def __init__(self, num_codes: Optional[int] = None, ch: int = 32, in_channels: int = 1):
        super().__init__()
        self.num_codes = num_codes
        self.in_channels = in_channels
        self.trunk = nn.Sequential(
            nn.Conv2d(in_channels, ch, 3, padding=1), nn.ReLU(),
            nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * ch, 2 * ch, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.ReLU(),
        )
        out = num_codes if num_codes is not None else 16 * in_channels
        self.head = nn.Conv2d(2 * ch, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"RestorationNet expects (N, {self.in_channels}, H, W) with H, W multiples of 4, got "
                             f"{tuple(x.shape)}")
        y = self.head(self.trunk(x))
        if self.num_codes is not None:
            return y                                         # (N, K, H/4, W/4) logits
        return x + F.pixel_shuffle(y, 4)                     # (N, C, H, W)


def code_prediction_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) between logits (B, K, h, w) and target code indices (B, h, w), over all B h w
    grid cells: the loss of restoration as code prediction."""
    if logits.dim() != 4 or targets.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits must be (B, K, h, w) and targets (B, h, w), got {tuple(logits.shape)} and "
                         f"{tuple(targets.shape)}")
    return F.cross_entropy(logits, targets.long())


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): G[b, i, j] = sum over positions p of F[b, i, p] F[b, j, p], divided by H W
    (the mean over positions, so that layers of different sizes are comparable; Gatys et al. 2016, eq. 3, use the
    plain sum and put the normalisation in the loss)."""
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got {tuple(features.shape)}")
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def style_distance(feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per image (B,): the sum over layers of the mean squared difference of the Gram matrices (Gatys et al. 2016,
    eq. 4-5, with equal layer weights). ``feats_b`` may have batch size 1 (one style image for all)."""
    total = 0.0
    for fa, fb in zip(feats_a, feats_b):
        ga, gb = gram_matrix(fa), gram_matrix(fb)
        total = total + (ga - gb).pow(2).mean(dim=(1, 2))
    return total


def content_distance(feat_a: torch.Tensor, feat_b: torch.Tensor) -> torch.Tensor:
    """Per image (B,): the mean squared difference of one layer's feature maps (Gatys et al. 2016, eq. 1)."""
    return (feat_a - feat_b).pow(2).flatten(1).mean(1)


# ------------------------------------------------------------------------------------------------------------------
# The super-resolution task of notebook 13, in one place (the notebook, the shipped restorers and their cards use it).
# ------------------------------------------------------------------------------------------------------------------

def degrade(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """The degraded input: average over ``factor`` x ``factor`` blocks (box filter), then bicubic interpolation back
    to the original size (Keys 1981). ``x`` (N, C, H, W) in [0, 1] with H, W multiples of ``factor``."""
    from .classical import bicubic_upsample, downsample

    return bicubic_upsample(downsample(x, factor), factor)


@torch.no_grad()
def restore(net: RestorationNet, bad: torch.Tensor, decode: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
            batch: int = 256, return_logits: bool = False):
    """Run a restorer over ``bad`` in batches (no gradients, eval mode).

    A code predictor (``net.num_codes`` set) needs ``decode`` (code grid (N, h, w) -> images, the frozen tokenizer's
    decoder): it takes the most likely code per cell and decodes it. A regressor's output is clamped to [0, 1].
    ``return_logits=True`` also returns the code predictor's logits (N, K, h, w)."""
    net.eval()
    device = next(net.parameters()).device
    outs = torch.cat([net(bad[i:i + batch].to(device)) for i in range(0, len(bad), batch)])
    if net.num_codes is None:
        return (outs.clamp(0, 1), None) if return_logits else outs.clamp(0, 1)
    if decode is None:
        raise ValueError("restore: a code predictor's output is codes; pass decode= (the frozen tokenizer's "
                         "code-grid -> image function, e.g. lambda c: course_lib.tokenizer.decode_all(tok, c))")
    images = decode(outs.argmax(1))
    return (images, outs) if return_logits else images


def measure_restoration(out: torch.Tensor, clean: torch.Tensor, feature_net=None) -> Dict[str, object]:
    """Distortion and perception of restored images ``out`` against ``clean`` (both (N, 1, H, W) in [0, 1]):
    ``psnr`` (mean over images, dB) with its standard error ``psnr_se``, ``ssim`` (Wang et al. 2004) and ``kid``
    (a :class:`course_lib.image_quality.KID` on the course feature net, subsets of min(100, N) images; Binkowski
    et al. 2018)."""
    from .image_quality import kernel_feature_distance, load_feature_net, ssim
    from .metrics import psnr

    if out.shape != clean.shape:
        raise ValueError(f"measure_restoration: out {tuple(out.shape)} and clean {tuple(clean.shape)} must match")
    net = feature_net if feature_net is not None else load_feature_net(device=out.device)
    p = psnr(out, clean, reduction="none")
    return dict(psnr=float(p.mean()), psnr_se=float(p.std() / math.sqrt(len(p))), ssim=float(ssim(out, clean)),
                kid=kernel_feature_distance(out, clean, net=net, subset_size=min(100, len(out))))
