"""Looking at a latent space (notebook 01): codes coloured by class, decoded grids, how confident the strokes of an
image are, which classes a 2-D code separates, and which latent units a VAE still uses.

* :func:`plot_latents` -- a scatter of 2-D codes coloured by class, with an optional box drawn on it.
* :func:`decode_grid` -- decode a regular grid of 2-D codes; returns the images and the two axes' values.
* :func:`crispness` -- the share of an image's ink that is confident (pixels above 0.8 among those above 0.2).
* :func:`knn_accuracy` -- per-class accuracy of a k-nearest-neighbour vote in code space (held-out points).
* :func:`active_units` -- Burda et al.'s (2015) activity ``A_j = Var_x(E_q[z_j])`` and the mean KL per unit.

Built in notebook 01, sections 1-4.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["plot_latents", "decode_grid", "crispness", "knn_accuracy", "active_units"]


def plot_latents(z: torch.Tensor, y: torch.Tensor, class_names: Sequence[str], ax: plt.Axes, title: str = "",
                 box: Optional[Tuple[Sequence[float], Sequence[float]]] = None, box_label: str = "grid") -> plt.Axes:
    """Scatter 2-D codes ``z`` (N, 2) coloured by the labels ``y`` (N,); ``box=(lo, hi)`` outlines a rectangle
    (e.g. the region a decoded grid covers). Equal axes, so that circles look round."""
    z = z.detach().float().cpu().numpy()
    y = y.detach().cpu().numpy()
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"plot_latents expects 2-D codes of shape (N, 2), got {tuple(z.shape)}")
    for c, name in enumerate(class_names):
        m = y == c
        ax.scatter(z[m, 0], z[m, 1], s=4, alpha=0.6, label=str(name), color=plt.cm.tab10(c % 10))
    if box is not None:
        (x0, y0), (x1, y1) = box
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--", lw=1.2, color="k",
                                   label=box_label))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


def decode_grid(decode: Callable[[torch.Tensor], torch.Tensor], lo: Sequence[float], hi: Sequence[float],
                n: int = 12, device=None) -> Tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Decode an ``n`` x ``n`` grid of 2-D codes spanning ``[lo, hi]`` (row 0 at the top = the largest z2).

    ``decode`` returns logits; the images come back as pixel probabilities (n*n, C, H, W) in [0, 1], with the
    grid's z1 values (columns) and z2 values (rows, top to bottom)."""
    g1 = np.linspace(lo[0], hi[0], n)
    g2 = np.linspace(hi[1], lo[1], n)
    z = torch.tensor([[a, b] for b in g2 for a in g1], dtype=torch.float32, device=device)
    with torch.no_grad():
        return torch.sigmoid(decode(z)), g1, g2


def crispness(p: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) pixel values in [0, 1] -> (N,): confident ink (> 0.8) over all ink (> 0.2). A digit drawn with
    confident strokes scores near 1; a grey average of several digits near 0; an image with no ink scores 0."""
    ink = (p > 0.2).flatten(1).sum(1)
    return (p > 0.8).flatten(1).sum(1) / ink.clamp_min(1)


def knn_accuracy(z_train: torch.Tensor, y_train: torch.Tensor, z_test: torch.Tensor, y_test: torch.Tensor,
                 k: int = 5, num_classes: int = 10) -> Dict[str, object]:
    """How well the codes separate the classes: a k-nearest-neighbour vote in code space, trained on one set of
    codes and scored on another. Returns ``dict(overall=float, per_class=np.ndarray)`` (accuracy per true class)."""
    d = torch.cdist(z_test.float(), z_train.float())
    nn_idx = d.topk(k, largest=False).indices
    votes = torch.nn.functional.one_hot(y_train[nn_idx], num_classes).sum(1)
    pred = votes.argmax(1)
    correct = (pred == y_test).float()
    per_class = np.array([correct[y_test == c].mean().item() if (y_test == c).any() else np.nan
                          for c in range(num_classes)])
    return {"overall": correct.mean().item(), "per_class": per_class}


def active_units(model, x: torch.Tensor, threshold: float = 0.01) -> Tuple[int, torch.Tensor, torch.Tensor]:
    """(number of active units, per-unit activity ``A_j = Var_x(mu_j(x))``, per-unit mean KL in nats) of a VAE
    whose ``encode(x)`` returns ``(mu, logvar)``. A unit is active when ``A_j > threshold`` (Burda et al. 2015)."""
    with torch.no_grad():
        m, lv = model.encode(x)
    a = m.var(0)
    kl_per_unit = (0.5 * (m.pow(2) + lv.exp() - 1 - lv)).mean(0)
    return int((a > threshold).sum()), a.cpu(), kl_per_unit.cpu()
