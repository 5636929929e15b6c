"""Measuring a VQ-GAN's reconstructions on held-out images (notebook 11, the loss ablation and the shipped models).

* :func:`reconstruct` -- reconstructions in eval mode, in batches, clamped to [0, 1] on the CPU; optionally counts
  the codes of the same forward passes. Eval mode matters: a training-mode forward runs the EMA codebook update and
  the dead-code counters, so merely *looking* at a model would change it.
* :func:`fidelity` -- how close each reconstruction is to its own original: PSNR, SSIM and the colour error.
* :func:`paired_distance` -- the mean of a paired distance network (e.g. the perceptual loss) over the images.
* :func:`realism` -- how far the *set* of reconstructions is from a set of real images: the judge's KID with its
  bootstrap interval and three model-free measures, all from :mod:`course_lib.image_quality` (the columns of its
  ``realism_table`` that notebook 11 reads, for many runs against one reference set whose judge features are
  computed once).

Part of :mod:`course_lib.vqgan` (import from there: ``from course_lib.vqgan import reconstruct, fidelity``).
Built in notebook 11, section 4 and the deep dive on the loss ablation."""
from __future__ import annotations

from typing import Dict, Optional, Union

import torch
import torch.nn as nn

__all__ = ["reconstruct", "colour_error", "fidelity", "paired_distance", "judge_features", "realism"]


def _device_of(net: nn.Module) -> torch.device:
    p = next(iter(net.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def reconstruct(net: nn.Module, x: torch.Tensor, batch_size: int = 256, tracker=None) -> torch.Tensor:
    """``net``'s reconstructions of ``x`` (N, C, H, W): eval mode (the model's mode is restored afterwards), no
    gradients, in batches, clamped to [0, 1], float32 on the CPU. ``tracker`` (a
    :class:`course_lib.metrics.CodeUsageTracker`) also counts the codes of the same forward passes."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"reconstruct expects images (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    was = net.training
    net.eval()
    device = _device_of(net)
    out = []
    try:
        for i in range(0, len(x), int(batch_size)):
            x_hat, q = net(x[i:i + int(batch_size)].to(device))
            out.append(x_hat.float().clamp(0, 1).cpu())
            if tracker is not None:
                tracker.update(q.indices)
    finally:
        net.train(was)
    return torch.cat(out)


def colour_error(x: torch.Tensor, r: torch.Tensor) -> float:
    """Mean absolute difference of each image's mean R, G and B between originals ``x`` and reconstructions ``r``,
    in 1/255: a colour cast moves it; blur barely does (blurring keeps an image's mean colour)."""
    if x.shape != r.shape:
        raise ValueError(f"colour_error compares images with their reconstructions: shapes {tuple(x.shape)} and "
                         f"{tuple(r.shape)} differ")
    return float((x.float().mean(dim=(2, 3)) - r.float().mean(dim=(2, 3))).abs().mean() * 255)


def fidelity(x: torch.Tensor, r: torch.Tensor) -> Dict[str, float]:
    """How close each reconstruction is to its original, averaged over the images: ``"PSNR (dB)"`` (higher is
    better; what a squared-error loss optimises), ``"SSIM"`` (Wang et al. 2004) and ``"colour error (/255)"``."""
    from ..image_quality import ssim
    from ..metrics import psnr

    if x.shape != r.shape:
        raise ValueError(f"fidelity compares images with their reconstructions: shapes {tuple(x.shape)} and "
                         f"{tuple(r.shape)} differ")
    x, r = x.float().cpu(), r.float().cpu()
    return {"PSNR (dB)": float(psnr(x, r)), "SSIM": float(ssim(x, r)), "colour error (/255)": colour_error(x, r)}


@torch.no_grad()
def paired_distance(net: nn.Module, x: torch.Tensor, r: torch.Tensor, batch_size: int = 256,
                    device: Optional[Union[str, torch.device]] = None) -> float:
    """Mean of ``net(r_i, x_i)`` over the images (``net`` returns one distance per image, e.g. a
    :class:`course_lib.perceptual.PerceptualLoss`)."""
    device = _device_of(net) if device is None else torch.device(device)
    vals = [net(r[i:i + batch_size].to(device), x[i:i + batch_size].to(device)).flatten().float().cpu()
            for i in range(0, len(x), batch_size)]
    return float(torch.cat(vals).mean())


@torch.no_grad()
def judge_features(judge: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``judge.embed`` of the images ``x`` in batches, float32 on the CPU (the judge net of
    :func:`course_lib.image_quality.load_judge_net`, or any network with ``embed``)."""
    device = _device_of(judge)
    return torch.cat([judge.embed(x[i:i + batch_size].to(device).float()).float().cpu()
                      for i in range(0, len(x), batch_size)])


def realism(x: torch.Tensor, real_ref: torch.Tensor, judge: nn.Module, ref_features: Optional[torch.Tensor] = None,
            n_boot: int = 200, seed: int = 0) -> Dict[str, object]:
    """How far the image set ``x`` is from the real set ``real_ref``, measured more than one way (notebook 10):

    * ``"judge KID"``: :func:`course_lib.image_quality.kernel_distance` of the judge's features, a KID with a 95%
      bootstrap interval over images (``.mean``, ``.low``, ``.high``);
    * ``"spectrum L1"``: :func:`~course_lib.image_quality.log_spectrum_distance` (blur removes high frequencies);
    * ``"gradient W1"``: :func:`~course_lib.image_quality.gradient_distance` (the distribution of edge strengths);
    * ``"sharpness ratio"``: :func:`~course_lib.image_quality.sharpness_ratio`, contrast-normalised (1 = as real).

    ``ref_features``: the judge's features of ``real_ref`` when already computed (:func:`judge_features`)."""
    from ..image_quality import gradient_distance, kernel_distance, log_spectrum_distance, sharpness_ratio

    x = x.detach().float().clamp(0, 1).cpu()
    real_ref = real_ref.detach().float().cpu()
    ref = judge_features(judge, real_ref) if ref_features is None else ref_features
    return {"judge KID": kernel_distance(judge_features(judge, x), ref, n_boot=n_boot, seed=seed),
            "spectrum L1": log_spectrum_distance(x, real_ref), "gradient W1": gradient_distance(x, real_ref),
            "sharpness ratio": sharpness_ratio(x, real_ref)}
