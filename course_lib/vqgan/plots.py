"""The training curves of a VQ-GAN run (notebook 11, section 3): one panel per loss on a shared step axis, with the
discriminator's start and the resumption of the run marked, and titles that say what each curve is.

Part of :mod:`course_lib.vqgan` (import from there: ``from course_lib.vqgan import draw_training_curves``)."""
from __future__ import annotations

from typing import Optional, Sequence

__all__ = ["CURVE_TITLES", "draw_training_curves"]

#: What each logged key of :func:`course_lib.vqgan.make_loss_fn` is, in words.
CURVE_TITLES = {
    "l1": "L1: mean |x - x_hat|",
    "perceptual": "perceptual distance",
    "q": "quantizer loss (commitment)",
    "g_adv": "generator's adversarial loss -mean D(x_hat)",
    "adaptive_weight": "adaptive weight lambda",
    "disc": "discriminator's hinge loss",
    "mse": "squared error",
}


def draw_training_curves(history, steps: int, disc_start: Optional[int] = None, resumed_at: Optional[int] = None,
                  keys: Sequence[str] = ("l1", "perceptual", "q", "g_adv", "adaptive_weight", "disc"),
                  title: Optional[str] = None):
    """The curves of ``keys`` (those the history has) in one row of panels sharing the step axis 0..``steps``; a
    dashed line at ``disc_start`` ("D on": the adversarial curves start there) and a dotted one at ``resumed_at``
    (where a second ``fit`` call continued the run from its checkpoint). Returns the figure."""
    import matplotlib.pyplot as plt

    keys = [k for k in keys if k in history]
    if not keys:
        raise ValueError(f"none of {list(keys)} is in the history (logged: {history.keys()})")
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.7 * rows), sharex=True, squeeze=False)
    for ax, key in zip(axes.ravel(), keys):
        ax.plot(history.steps_for(key), history[key], lw=1.5)
        ax.set_title(CURVE_TITLES.get(key, key), fontsize=10)
        ax.set_xlim(0, steps)
        if disc_start is not None and 0 < disc_start < steps:
            ax.axvline(disc_start, color="tab:red", ls="--", lw=1, label="D on")
        if resumed_at is not None and 0 < resumed_at < steps:
            ax.axvline(resumed_at, color="grey", ls=":", lw=1.5, label="resumed")
    for ax in axes.ravel()[len(keys):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("training step")
    axes.ravel()[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
