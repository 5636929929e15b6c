"""Plots the notebooks share: image grids, originals next to reconstructions, loss curves."""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch


def _as_images(x: Any, name: str = "x") -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of images (N, C, H, W), got {type(x).__name__}")
    x = x.detach().float().cpu()
    if x.dim() == 3:  # (N, H, W) -> grey
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape (N, C, H, W) with C = 1 or 3, got {tuple(x.shape)}"
            + (": channels last? use x.permute(0, 3, 1, 2)" if x.dim() == 4 and x.shape[-1] in (1, 3) else "")
        )
    if x.numel() and (x.min() < -0.05 or x.max() > 1.05):
        raise ValueError(
            f"{name} has values in [{x.min():.2f}, {x.max():.2f}]; the plots expect images in [0, 1]. "
            "Apply torch.sigmoid to logits, or (x + 1) / 2 to images in [-1, 1]."
        )
    return x.clamp(0, 1)


def image_grid(x: Any, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] as one (H', W', 3) array (torchvision's ``make_grid``)."""
    from torchvision.utils import make_grid

    x = _as_images(x)
    grid = make_grid(x, nrow=max(1, min(nrow, len(x))), padding=padding, pad_value=pad_value)
    return grid.permute(1, 2, 0).numpy()


def show_images(
    x: Any,
    nrow: int = 8,
    title: Optional[str] = None,
    ax: Optional[plt.Axes] = None,
    figsize: Optional[Tuple[float, float]] = None,
) -> plt.Axes:
    """Show a grid of images (N, C, H, W) in [0, 1]."""
    grid = image_grid(x, nrow=nrow)
    if ax is None:
        rows = math.ceil(len(x) / max(1, min(nrow, len(x))))
        cols = max(1, min(nrow, len(x)))
        _, ax = plt.subplots(figsize=figsize or (min(1.2 * cols, 12), min(1.2 * rows + 0.4, 10)))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_pairs(
    x: Any,
    x_hat: Any,
    n: int = 8,
    titles: Sequence[str] = ("original", "reconstruction"),
    suptitle: Optional[str] = None,
) -> plt.Figure:
    """Originals above their reconstructions (or any rows of images: pass a tuple to ``x_hat``)."""
    rows = [x] + (list(x_hat) if isinstance(x_hat, (list, tuple)) else [x_hat])
    if len(titles) != len(rows):
        raise ValueError(f"give one title per row: {len(rows)} rows, {len(titles)} titles")
    rows = [_as_images(r, "images")[:n] for r in rows]
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(1.3 * n, 13), 1.5 * len(rows) + 0.3))
    axes = np.atleast_1d(axes)
    for ax, r, t in zip(axes, rows, titles):
        show_images(r, nrow=n, title=t, ax=ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(
    history: Any,
    keys: Optional[Iterable[str]] = None,
    logy: bool = False,
    smooth: int = 1,
    axes: Optional[Sequence[plt.Axes]] = None,
    title: Optional[str] = None,
) -> plt.Figure:
    """One small panel per logged value (gradient norms only when asked for by name)."""
    keys = list(keys) if keys is not None else [k for k in history.keys() if not k.startswith("grad_norm")]
    if not keys:
        raise ValueError("nothing to plot: the history is empty (did the training run any steps?)")
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    if axes is None:
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
        axes = list(axes.ravel())
    else:
        axes = list(axes)
        fig = axes[0].figure
    for ax, key in zip(axes, keys):
        steps, values = np.asarray(history.steps_for(key)), np.asarray(history[key], dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1 :]
        ax.plot(steps, values)
        ax.set_title(key)
        ax.set_xlabel("step")
        if logy and np.all(values > 0):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
