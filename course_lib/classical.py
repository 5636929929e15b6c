"""Classical image-restoration baselines that a learned model must beat: no training, a few lines each.

    from course_lib.classical import add_gaussian_noise, gaussian_denoise, median_denoise, best_denoiser
    noisy = add_gaussian_noise(x, std=0.2, seed=0)          # zero-mean noise, NOT clipped to [0, 1]
    best = best_denoiser(noisy, x)                          # Gaussian and median filters, each at its best width

Noise model: ``x + std * N(0, 1)``, left unclipped. Clipping to [0, 1] would make the noise's mean non-zero near
black and white (it can only push dark pixels up and bright ones down), which quietly rewards any method that
pulls images towards mid-grey. A model trained on [0, 1] images still sees the unclipped input: that is the point.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Sequence

import torch
import torch.nn.functional as F

__all__ = ["add_gaussian_noise", "gaussian_denoise", "median_denoise", "DenoiseResult", "best_denoiser", "downsample",
           "bicubic_upsample"]


def _check(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be an image batch of shape (N, C, H, W), got {shape}")


def add_gaussian_noise(x: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """``x + std * N(0, 1)`` with a seeded generator; zero-mean and unclipped (see the module docstring)."""
    _check(x)
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    g = torch.Generator().manual_seed(int(seed))
    return x + std * torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)


def gaussian_denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel with a Gaussian of standard deviation ``sigma`` pixels (reflect padding)."""
    _check(x)
    if sigma <= 0:
        return x.clone()
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def median_denoise(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Median of each ``size`` x ``size`` neighbourhood (odd size, reflect padding)."""
    _check(x)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd number, got {size}")
    r = size // 2
    y = F.pad(x, (r, r, r, r), mode="reflect")
    patches = y.unfold(2, size, 1).unfold(3, size, 1)            # (N, C, H, W, size, size)
    return patches.reshape(*patches.shape[:4], -1).median(dim=-1).values


class DenoiseResult(NamedTuple):
    name: str          # e.g. "Gaussian filter (sigma=1.0)"
    output: torch.Tensor
    psnr: float


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.clamp(0, 1) - b).pow(2).mean().clamp_min(1e-12)
    return float(10 * torch.log10(1.0 / mse))


def best_denoiser(noisy: torch.Tensor, clean: torch.Tensor, sigmas: Sequence[float] = (0.5, 0.75, 1.0, 1.5, 2.0),
                  sizes: Sequence[int] = (3, 5)) -> Dict[str, DenoiseResult]:
    """The Gaussian filter and the median filter, each at the width that gives the highest PSNR against ``clean``
    (an oracle choice: generous to the baselines). Outputs are clipped to [0, 1]. Returns {"gaussian": ...,
    "median": ...}."""
    _check(noisy, "noisy")
    _check(clean, "clean")
    if noisy.shape != clean.shape:
        raise ValueError(f"noisy and clean must have the same shape, got {tuple(noisy.shape)} and {tuple(clean.shape)}")
    best: Dict[str, DenoiseResult] = {}
    for s in sigmas:
        out = gaussian_denoise(noisy, s).clamp(0, 1)
        r = DenoiseResult(f"Gaussian filter (sigma={s:g})", out, _psnr(out, clean))
        if "gaussian" not in best or r.psnr > best["gaussian"].psnr:
            best["gaussian"] = r
    for k in sizes:
        out = median_denoise(noisy, k).clamp(0, 1)
        r = DenoiseResult(f"median filter ({k}x{k})", out, _psnr(out, clean))
        if "median" not in best or r.psnr > best["median"].psnr:
            best["median"] = r
    return best


# ---------------------------------------------------------------------------------- super-resolution baseline
def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-filter downsampling by an integer ``factor`` (mean of each ``factor`` x ``factor`` block): the
    degradation of the super-resolution experiments (H and W must be multiples of ``factor``)."""
    _check(x)
    factor = int(factor)
    if factor < 1 or x.shape[-1] % factor or x.shape[-2] % factor:
        raise ValueError(f"factor must be a positive divisor of the image size {tuple(x.shape[-2:])}, got {factor}")
    return F.avg_pool2d(x, factor) if factor > 1 else x.clone()


def bicubic_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic interpolation (Keys 1981 cubic convolution, a = -0.75 as in PyTorch) by an integer ``factor``,
    clipped to [0, 1]: the classical super-resolution baseline."""
    _check(x)
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
