"""Explorer for notebook 02: the codebook size K against reconstruction error and bits.

The notebook runs k-means on image patches for several K (the rate-distortion experiment) and passes the results
in; the draw function only looks codes up, so it is fast. Used in notebook 02::

    explorer(partial(draw_codebook_size, rd=rd, images=x_show, patch=P), bits=IntSlider(1, 7, 4))

``rd`` is a list of dicts with keys ``K``, ``train``, ``test`` (MSE per pixel) and ``codebook`` (K, patch**2).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["patch_reconstruction", "draw_codebook_size"]


def patch_reconstruction(images: torch.Tensor, codebook: torch.Tensor, patch: int) -> torch.Tensor:
    """Replace every non-overlapping ``patch`` x ``patch`` square of ``images`` (B, C, H, W) by its nearest code
    (``codebook`` (K, C * patch**2)) and put the image back together."""
    from course_lib.quantize import nearest_code

    b, c, h, w = images.shape
    if h % patch or w % patch:
        raise ValueError(f"images of {h}x{w} pixels do not split into {patch}x{patch} patches")
    cols = F.unfold(images, patch, stride=patch)  # (B, C*p*p, L)
    p = cols.transpose(1, 2).reshape(-1, c * patch * patch)
    if codebook.shape[1] != p.shape[1]:
        raise ValueError(f"codebook rows have {codebook.shape[1]} values, a {patch}x{patch} patch of {c} channel(s) "
                         f"has {p.shape[1]}")
    q = codebook.to(p)[nearest_code(p, codebook.to(p))]
    return F.fold(q.reshape(b, -1, c * patch * patch).transpose(1, 2), (h, w), patch, stride=patch)


def draw_codebook_size(bits: int = 4, *, rd: Sequence[Mapping], images: torch.Tensor, patch: int, n_show: int = 8):
    """Rate-distortion curve with the point for K = 2**bits marked; originals over their reconstructions from
    that codebook; the codebook itself. Returns the Figure."""
    import matplotlib.pyplot as plt

    from course_lib.viz import image_grid

    by_k = {int(r["K"]): r for r in rd}
    k = 2 ** int(bits)
    if k not in by_k:
        raise ValueError(f"no codebook with K = 2**{bits} = {k}; the pre-computed sizes are {sorted(by_k)}")
    r = by_k[k]
    x = images[:n_show].detach().float().cpu()
    codebook = r["codebook"].detach().float().cpu()
    x_hat = patch_reconstruction(x, codebook, patch).clamp(0, 1)
    shown_mse = float((x_hat - x).pow(2).mean())
    c = x.shape[1]

    fig = plt.figure(figsize=(12, 4.2))
    gs = fig.add_gridspec(1, 3, width_ratios=[1.0, 1.2, 0.8], left=0.07, right=0.99, bottom=0.13, top=0.8,
                          wspace=0.2)
    ax = fig.add_subplot(gs[0])
    ks = sorted(by_k)
    rates = [math.log2(kk) for kk in ks]
    ax.plot(rates, [by_k[kk]["train"] for kk in ks], "o-", color="tab:blue", ms=4, label="training patches")
    ax.plot(rates, [by_k[kk]["test"] for kk in ks], "s--", color="tab:orange", ms=4, label="test patches")
    ax.plot([bits], [r["test"]], "o", ms=14, mfc="none", mec="k", mew=2, label=f"K = {k}")
    ax.set_yscale("log")
    ax.set_xlabel("rate: log2 K bits per patch")
    ax.set_ylabel("MSE per pixel (log)")
    ax.set_title("rate-distortion", fontsize=10)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(gs[1])
    ax.imshow(image_grid(torch.cat([x, x_hat]), nrow=len(x)), interpolation="nearest")  # originals above rebuilt
    ax.set_axis_off()
    ax.set_title(f"top: test images; bottom: rebuilt from their {patch}x{patch}-patch codes\n"
                 f"MSE of these {len(x)}: {shown_mse:.4f}", fontsize=10)
    ax = fig.add_subplot(gs[2])
    order = np.argsort(-codebook.pow(2).sum(1).numpy(), kind="stable")  # brightest codes first
    tiles = codebook[order].reshape(-1, c, patch, patch).clamp(0, 1)
    ax.imshow(image_grid(tiles, nrow=int(math.ceil(math.sqrt(k))), padding=1), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"the {k} codes", fontsize=10)
    fig.suptitle(f"K = {k} codes: {bits} bits per patch = {bits / patch ** 2:.3f} bits per pixel; test MSE "
                 f"{r['test']:.4f} (train {r['train']:.4f})", fontsize=11)
    return fig
