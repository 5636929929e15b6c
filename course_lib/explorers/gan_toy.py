"""Explorer for notebook 08: the 2-D GAN on the ring of Gaussians, scrubbed by training step and loss type.

The notebook trains a few short toy GANs (hinge and non-saturating losses) and records snapshots with
:func:`snapshot`; :func:`draw_toy_gan` picks the snapshot nearest to the slider's step and draws the discriminator's
logit field, the data and the generator's samples, next to the modes-covered curve of every run::

    from functools import partial
    from course_lib.explorers import explorer, IntSlider, Choice
    from course_lib.explorers.gan_toy import draw_toy_gan

    explorer(partial(draw_toy_gan, runs), step=IntSlider(0, 600, 600, step=50), loss=Choice(["hinge", "non-saturating"]))

``runs`` maps a loss name to ``{"steps": [...], "samples": [(n, 2) tensors], "field": [(g, g) tensors],
"modes": [...]}`` (see :func:`snapshot`); the draw itself only plots (well under a second).
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional

import torch

__all__ = ["GRID_LIMIT", "grid", "snapshot", "nearest_snapshot", "draw_toy_gan"]

GRID_LIMIT = 3.0  # the field is drawn on [-3, 3]^2, which holds the ring of radius 2


def grid(size: int = 41, limit: float = GRID_LIMIT) -> torch.Tensor:
    """(size * size, 2) points of a square grid over [-limit, limit]^2, row-major (y varies slowest)."""
    t = torch.linspace(-limit, limit, size)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


@torch.no_grad()
def snapshot(G: Callable, D: Callable, z: torch.Tensor, centres: torch.Tensor, grid_size: int = 41) -> dict:
    """One snapshot of a toy GAN: the generator's samples G(z), D's logits on a grid, and the modes covered
    (course_lib.gan.modes_covered). z is fixed across snapshots, so the samples move smoothly with the step."""
    from ..gan import modes_covered

    samples = G(z).detach().float().cpu()
    field = D(grid(grid_size)).detach().float().cpu().reshape(grid_size, grid_size)
    return {"samples": samples, "field": field, "modes": modes_covered(samples, centres)[0]}


def nearest_snapshot(steps, step: int) -> int:
    """Index of the recorded step closest to `step` (the earlier one on a tie)."""
    if len(steps) == 0:
        raise ValueError("no snapshots recorded")
    return min(range(len(steps)), key=lambda i: (abs(steps[i] - step), steps[i]))


def draw_toy_gan(runs: Mapping[str, Mapping], step: int = 0, loss: Optional[str] = None, show_field: bool = True,
                 real: Optional[torch.Tensor] = None):
    """Left: D's logit field (red = "real", blue = "fake"), the data (grey) and G's samples (black) at the
    snapshot nearest to `step`, for the run `loss`. Right: modes covered over steps for every run, with the
    current step marked. Returns the Figure."""
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("runs is empty: record snapshots first")
    loss = loss if loss is not None else next(iter(runs))
    if loss not in runs:
        raise ValueError(f"no run for loss {loss!r}; the runs are {list(runs)}")
    run = runs[loss]
    i = nearest_snapshot(run["steps"], step)
    fig, (ax, ax_c) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1, 1.25]})
    if show_field:
        field = run["field"][i]
        lim = float(max(1e-6, field.abs().max()))
        im = ax.imshow(field, origin="lower", extent=(-GRID_LIMIT, GRID_LIMIT, -GRID_LIMIT, GRID_LIMIT),
                       cmap="coolwarm", vmin=-lim, vmax=lim, alpha=0.6)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="D's logit")
        ax.contour(field, levels=[0.0], origin="lower", extent=(-GRID_LIMIT, GRID_LIMIT, -GRID_LIMIT, GRID_LIMIT),
                   colors="k", linewidths=0.8)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.55", label="data")
    s = run["samples"][i]
    ax.scatter(s[:, 0], s[:, 1], s=3, c="k", label="generator")
    ax.set(xlim=(-GRID_LIMIT, GRID_LIMIT), ylim=(-GRID_LIMIT, GRID_LIMIT), aspect="equal", xlabel="x1", ylabel="x2",
           title=f"{loss}, step {run['steps'][i]}: {run['modes'][i]} of 8 modes")
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    for j, (name, r) in enumerate(runs.items()):
        ax_c.plot(r["steps"], r["modes"], "o-" if name == loss else "s--", ms=3, color=f"C{j}",
                  lw=2 if name == loss else 1, label=name)
    ax_c.axvline(run["steps"][i], color="gray", ls=":", label=f"step {run['steps'][i]}")
    ax_c.set(xlabel="step", ylabel="modes covered (of 8)", ylim=(-0.3, 8.3), title="modes covered over training")
    ax_c.legend(fontsize=8)
    fig.tight_layout()
    return fig
