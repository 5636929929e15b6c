"""Explorer for notebook 14: decode a residual-VQ model with its first k levels.

The notebook trains a :class:`course_lib.quantize.ResidualVQ` autoencoder with quantizer dropout and measures its
rate-distortion curve; the draw function only encodes and decodes a few images, so it is fast. Used in notebook 14::

    explorer(partial(draw_residual_depth, model=dropout_model, images=x_eval[:8], rd=rd), levels=IntSlider(1, 4, 4))

``model``: a :class:`course_lib.models.VQVAE` whose quantizer is a ``ResidualVQ``. ``rd``: a list of dicts with
keys ``levels``, ``bits_per_image`` and ``dropout`` (PSNR in dB), and optionally ``separate`` and ``truncated``.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch

__all__ = ["draw_residual_depth"]


def draw_residual_depth(levels: int = 1, *, model, images: torch.Tensor, rd: Optional[Sequence[Mapping]] = None):
    """Originals, their reconstructions from the first ``levels`` levels, and what those levels added over one
    fewer level; beside them the rate-distortion curve with the current point marked. Returns the Figure."""
    import matplotlib.pyplot as plt

    from course_lib import metrics
    from course_lib.quantize import ResidualVQ
    from course_lib.viz import image_grid

    q = getattr(model, "quantizer", None)
    if not isinstance(q, ResidualVQ):
        raise TypeError(f"draw_residual_depth needs a model whose quantizer is a ResidualVQ, got "
                        f"{type(q).__name__}")
    if not 1 <= int(levels) <= q.num_levels:
        raise ValueError(f"levels must be in 1..{q.num_levels}, got {levels}")
    levels = int(levels)
    x = images.detach().float().cpu()
    model = model.cpu().eval()
    with torch.no_grad():
        z = model.encode_continuous(x)
        x_hat = model.decoder(q(z, num_levels=levels).z_q).clamp(0, 1)
        prev = model.decoder(q(z, num_levels=levels - 1).z_q).clamp(0, 1) if levels > 1 else torch.zeros_like(x)
    added = (x_hat - prev).abs()
    added = added / added.max().clamp_min(1e-8)

    fig = plt.figure(figsize=(12, 4.2))
    gs = fig.add_gridspec(3, 2, width_ratios=[1.6, 1.0], left=0.04, right=0.98, bottom=0.12, top=0.88, wspace=0.15)
    n = len(x)
    for row, (imgs, title) in enumerate([(x, "original"),
                                         (x_hat, f"first {levels} level{'s' if levels > 1 else ''}: "
                                                 f"{metrics.psnr(x, x_hat):.2f} dB"),
                                         (added, "what this level added (brighter = more)")]):
        ax = fig.add_subplot(gs[row, 0])
        grid = image_grid(imgs, nrow=n)
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=11, loc="left")
        ax.axis("off")
    ax = fig.add_subplot(gs[:, 1])
    if rd:
        bpi = [r["bits_per_image"] for r in rd]
        for key, style, label in (("separate", "s-", "separate model per rate"),
                                  ("dropout", "o-", "one model, quantizer dropout"),
                                  ("truncated", "x--", "no dropout, truncated")):
            if all(key in r for r in rd):
                ax.plot(bpi, [r[key] for r in rd], style, label=label)
        here = [r for r in rd if r["levels"] == levels]
        if here:
            ax.plot(here[0]["bits_per_image"], here[0]["dropout"], "o", ms=14, mfc="none", mec="red", mew=2)
        ax.set(xlabel="bits per image", ylabel="PSNR (dB)", title="rate-distortion (held-out images)")
        ax.legend(fontsize=9)
    else:
        ax.axis("off")
    return fig
