"""Helpers of notebook 12 (generation with transformers): a class grid of samples, and the two completion tests.

    from course_lib.generation import draw_class_grid, completion_tests
    draw_class_grid(prior, tokenizer, class_names, per_class=8, grid_shape=(7, 7))      # one row per class
    res = completion_tests(prior, tokenizer, tokens, labels, keep, x_real, grid_shape=(7, 7), draws=2)

:func:`completion_tests` measures whether a raster-order prior uses the known top of an image when it completes
the bottom, in two ways that could come out either way (notebook 12, section 4): the code length of the true bottom
after its own top against after another same-class image's top, and the bottom's pixel error of completions against
a paste-after baseline (a sample drawn without the known codes, into which they are pasted afterwards).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ["draw_class_grid", "same_class_partner", "bottom_code_length", "completion_tests"]


@torch.no_grad()
def draw_class_grid(prior, tokenizer, class_names: Sequence[str], per_class: int = 8,
                    grid_shape: Tuple[int, int] = (7, 7), top_k: Optional[int] = 16, top_p: Optional[float] = None,
                    temperature: float = 1.0, seed: int = 0, ax=None, title: str = ""):
    """Sample ``per_class`` images of each class from a class-conditional ``prior`` (one row per class, rows labelled
    by ``class_names``), decode them with ``tokenizer`` and draw them into ``ax`` (a new figure when None).
    Returns the images (n_classes * per_class, C, H, W)."""
    import matplotlib.pyplot as plt

    from .tokenizer import decode_all
    from .viz import show_images

    device = next(prior.parameters()).device
    n_classes = len(class_names)
    labels = torch.arange(n_classes, device=device).repeat_interleave(per_class)
    g = torch.Generator(device=device).manual_seed(seed)
    codes = prior.sample(len(labels), temperature=temperature, top_k=top_k, top_p=top_p, labels=labels, generator=g)
    images = decode_all(tokenizer, codes.reshape(len(codes), *grid_shape))
    if ax is None:
        _, ax = plt.subplots(figsize=(0.65 * per_class + 1.5, 0.65 * n_classes + 0.6))
    show_images(images.cpu(), nrow=per_class, title=title, ax=ax)
    h_img, pad = images.shape[-2], 2                           # image_grid pads by 2 pixels
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([pad + i * (h_img + pad) + h_img / 2 for i in range(n_classes)], list(class_names), fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return images


def same_class_partner(labels: torch.Tensor) -> torch.Tensor:
    """For each image, the index of the next image of the same class (cyclically); an image alone in its class is
    its own partner."""
    partner = torch.arange(len(labels), device=labels.device)
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).flatten()
        partner[members] = members.roll(1)
    return partner


@torch.no_grad()
def bottom_code_length(prior, tokens: torch.Tensor, labels: Optional[torch.Tensor], keep: torch.Tensor) -> torch.Tensor:
    """Per sequence: -log2 p(codes where ``keep`` (T,) is False | everything before them, label), in bits (N,)."""
    nll = F.cross_entropy(prior(tokens, labels).transpose(1, 2).float(), tokens, reduction="none") / math.log(2)
    return nll[:, ~keep].sum(1)


@torch.no_grad()
def completion_tests(prior, tokenizer, tokens: torch.Tensor, labels: Optional[torch.Tensor], keep: torch.Tensor,
                     x_real: torch.Tensor, grid_shape: Tuple[int, int], draws: int = 2, top_k: Optional[int] = 16,
                     generator: Optional[torch.Generator] = None) -> Dict[str, Any]:
    """The two completion tests of notebook 12 on held-out ``tokens`` (N, T) with ``labels`` (N,), known positions
    ``keep`` (T,) bool (the top rows) and the real images ``x_real`` (N, C, H, W).

    Returns per-image tensors (N,):

    * ``bits_own``, ``bits_other``: code length of the true bottom after its own top, and after the top of the next
      test image of the same class (:func:`same_class_partner`); ``bits_saved`` = other - own;
    * ``mse_completed``, ``mse_pasted``: bottom-part pixel MSE against ``x_real`` of completions (the known codes in
      the sequence while sampling) and of paste-after samples, averaged over ``draws`` draws; ``mse_gain`` = pasted -
      completed;
    * ``mse_free`` (float): a free sample's bottom MSE; ``px_known``: the pixel rows the known codes cover; ``alone``:
      how many images had no same-class partner.
    """
    from .tokenizer import decode_all

    h, w = grid_shape
    n = len(tokens)
    keep_n = keep.expand(n, -1)
    partner = same_class_partner(labels) if labels is not None else torch.arange(n, device=tokens.device).roll(1)
    mixed = torch.where(keep_n, tokens[partner], tokens)             # another image's top, the same true bottom
    bits_own, bits_other = (bottom_code_length(prior, t, labels, keep) for t in (tokens, mixed))
    rows_known = int(keep.reshape(h, w).all(1).sum())
    px_known = rows_known * x_real.shape[-2] // h
    real_bottom = x_real[..., px_known:, :]

    def bottom_mse(codes):
        return (decode_all(tokenizer, codes.reshape(n, h, w))[..., px_known:, :] - real_bottom).pow(2).mean((1, 2, 3))

    mse_completed = torch.zeros(n, device=x_real.device)
    mse_pasted = torch.zeros(n, device=x_real.device)
    for _ in range(draws):
        completed = prior.sample(n, top_k=top_k, labels=labels, known=(keep_n, tokens), generator=generator)
        free = prior.sample(n, top_k=top_k, labels=labels, generator=generator)
        mse_completed += bottom_mse(completed) / draws
        mse_pasted += bottom_mse(torch.where(keep_n, tokens, free)) / draws
    return dict(bits_own=bits_own.cpu(), bits_other=bits_other.cpu(), bits_saved=(bits_other - bits_own).cpu(),
                mse_completed=mse_completed.cpu(), mse_pasted=mse_pasted.cpu(),
                mse_gain=(mse_pasted - mse_completed).cpu(), mse_free=float(bottom_mse(free).mean()),
                px_known=px_known, alone=int((partner == torch.arange(n, device=partner.device)).sum()))
