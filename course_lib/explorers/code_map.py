"""Notebook 04's code-map editor: change one code of an image's code map and watch the decoded image change.

A VQ-VAE stores an image as an ``h x w`` map of code indices; the decoder draws the image from that map alone. This
explorer replaces the index at one position ``(row, col)`` by another ``code`` and decodes both maps: the original
reconstruction, the edited one, and their difference, with the edited cell (the ``H/h x W/w`` pixel block above it)
outlined. The decoder is convolutional, so an edit changes the image *around* its cell, not everywhere.

Usage in a notebook (the model trained there is passed in; the draw itself only decodes two maps)::

    from functools import partial
    from course_lib.explorers import explorer, IntSlider
    from course_lib.explorers.code_map import draw_code_map

    explorer(partial(draw_code_map, model=model, images=x_test[:8]),
             image=IntSlider(0, 7, 0), row=IntSlider(0, h - 1, h // 2), col=IntSlider(0, w - 1, w // 2),
             code=IntSlider(0, K - 1, 0))

:func:`edit_and_decode` does the work without drawing (tests, or a student's own plots). :func:`draw_code_maps`
draws images above their code maps (notebook 04, section 8).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch

__all__ = ["CodeEdit", "edit_and_decode", "draw_code_map", "code_map_colours", "draw_code_maps"]


class CodeEdit(NamedTuple):
    image: Optional[torch.Tensor]  # (C, H, W) the input image (None when only a code map was given)
    codes: torch.Tensor  # (h, w) the original code map
    edited_codes: torch.Tensor  # (h, w) the code map with one index replaced
    original: torch.Tensor  # (C, H, W) decoded original map, clamped to [0, 1]
    edited: torch.Tensor  # (C, H, W) decoded edited map, clamped to [0, 1]
    diff: torch.Tensor  # (H, W) |edited - original| summed over channels (unclamped decodes)
    cell: tuple  # (top, left, height, width) of the edited cell in pixels
    share_near: float  # share of the total |difference| within one cell of the edited cell (a 3x3-cell block)


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def edit_and_decode(model, row: int, col: int, code: int, *, image: Optional[torch.Tensor] = None,
                    codes: Optional[torch.Tensor] = None) -> CodeEdit:
    """Replace the index at ``(row, col)`` of the code map of ``image`` (or of ``codes``, an ``(h, w)`` map) by
    ``code``, decode both maps with ``model.decode_indices`` and return a :class:`CodeEdit`.

    The model is put in eval mode (an EMA codebook must not move while you explore)."""
    if (image is None) == (codes is None):
        raise ValueError("edit_and_decode needs exactly one of image=(C, H, W) or codes=(h, w).")
    model.eval()
    dev = _model_device(model)
    if codes is None:
        if image.ndim != 3:
            raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}")
        codes = model.encode(image[None].to(dev))[0].cpu()
    codes = torch.as_tensor(codes).long().cpu()
    if codes.ndim != 2:
        raise ValueError(f"codes must be an (h, w) map of indices, got shape {tuple(codes.shape)}")
    h, w = codes.shape
    K = int(model.quantizer.num_codes)
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"position ({row}, {col}) lies outside the {h}x{w} code map")
    if not (0 <= code < K):
        raise ValueError(f"code {code} is not an index of the codebook (0 .. {K - 1})")
    edited_codes = codes.clone()
    edited_codes[row, col] = code
    both = model.decode_indices(torch.stack([codes, edited_codes]).to(dev)).float().cpu()
    H, W = both.shape[-2:]
    ch, cw = H // h, W // w
    diff = (both[1] - both[0]).abs().sum(0)
    top, left = row * ch, col * cw
    near = diff[max(0, top - ch):top + 2 * ch, max(0, left - cw):left + 2 * cw].sum()
    total = float(diff.sum())
    share = float(near) / total if total > 0 else 1.0
    return CodeEdit(None if image is None else image.cpu(), codes, edited_codes, both[0].clamp(0, 1),
                    both[1].clamp(0, 1), diff, (top, left, ch, cw), share)


def _show(ax, img: torch.Tensor, title: str):
    if img.ndim == 3:
        img = img.permute(1, 2, 0)
        if img.shape[-1] == 1:
            img = img[..., 0]
    ax.imshow(img.numpy(), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def _outline(ax, cell, color="red"):
    from matplotlib.patches import Rectangle

    top, left, ch, cw = cell
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), cw, ch, fill=False, ec=color, lw=1.5))


def draw_code_map(model, images=None, image: int = 0, row: int = 0, col: int = 0, code: int = 0, codes=None):
    """Figure: input image (if any), decoded original code map, decoded edited map, and their difference; the
    edited cell outlined in red. ``images``: (N, C, H, W) images to pick from with ``image``; or ``codes``: an
    ``(h, w)`` (or ``(N, h, w)``) code map to edit directly."""
    import matplotlib.pyplot as plt

    if images is not None:
        e = edit_and_decode(model, row, col, code, image=images[image])
    elif codes is not None:
        c = torch.as_tensor(codes)
        e = edit_and_decode(model, row, col, code, codes=c[image] if c.ndim == 3 else c)
    else:
        raise ValueError("draw_code_map needs images=(N, C, H, W) or codes=(h, w).")
    old = int(e.codes[row, col])
    panels = ([(e.image.clamp(0, 1), "input image")] if e.image is not None else []) + [
        (e.original, f"decoded code map\n(position ({row}, {col}) = code {old})"),
        (e.edited, f"edited: code {old} -> {code}"),
    ]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(2.3 * (len(panels) + 1), 2.9))
    for ax, (img, title) in zip(axes, panels):
        _show(ax, img, title)
    for ax in axes[-3:-1]:
        _outline(ax, e.cell)
    vmax = max(float(e.diff.max()), 1e-6)
    axes[-1].imshow(e.diff.numpy(), cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
    _outline(axes[-1], e.cell, color="cyan")
    axes[-1].set_title(f"|edited - original| (max {vmax:.2f})\n{100 * e.share_near:.0f}% within one cell of the edit",
                       fontsize=9)
    axes[-1].set_axis_off()
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.8, wspace=0.06)  # (tight_layout: too slow)
    return fig


_TAB10_NOT_GREY = (0, 1, 2, 3, 4, 5, 6, 8, 9)  # tab10 without its grey, which the other codes use


def code_map_colours(code_maps, n_colours: int = 9):
    """One RGBA colour per code index for drawing ``code_maps`` (any shape of int indices): the ``n_colours`` (at most
    9) most frequent codes get distinct colours of matplotlib's ``tab10`` (no two alike, unlike ``tab20``'s pairs of
    light and dark hues; its grey left out), every other code a light grey. Returns ``(colour_of, coloured)``: an array (max index + 1,
    4) and the list of the coloured codes, most frequent first."""
    import matplotlib.pyplot as plt

    flat = np.asarray(torch.as_tensor(code_maps).reshape(-1))
    counts = np.bincount(flat)
    n = min(n_colours, len(_TAB10_NOT_GREY), int((counts > 0).sum()))
    coloured = [int(c) for c in np.argsort(-counts, kind="stable")[:n]]
    colour_of = np.tile(np.array([0.88, 0.88, 0.88, 1.0]), (len(counts), 1))
    colour_of[coloured] = plt.cm.tab10(np.array(_TAB10_NOT_GREY[:n]))
    return colour_of, coloured


def draw_code_maps(images: torch.Tensor, code_maps: torch.Tensor, n_colours: int = 9):
    """Figure: each image (N, C, H, W) above its (N, h, w) code map, every cell labelled with its index. The
    ``n_colours`` most used codes of these maps have their own colour, the rest are grey (see
    :func:`code_map_colours`)."""
    import matplotlib.pyplot as plt

    code_maps = torch.as_tensor(code_maps).long().cpu()
    n, (h, w) = len(code_maps), code_maps.shape[-2:]
    colour_of, coloured = code_map_colours(code_maps, n_colours)
    fig, axes = plt.subplots(2, n, figsize=(2.5 * n, 5.2), squeeze=False)
    for j in range(n):
        _show(axes[0, j], images[j].detach().cpu().clamp(0, 1), "image" if j == 0 else "")
        axes[1, j].imshow(colour_of[code_maps[j].numpy()], interpolation="nearest")
        for (r, c), v in np.ndenumerate(code_maps[j].numpy()):
            axes[1, j].text(c, r, str(v), ha="center", va="center", fontsize=8 if max(h, w) <= 8 else 6)
        axes[1, j].set_axis_off()
    axes[1, 0].set_title(f"its {h}x{w} code map", fontsize=9)
    fig.suptitle(f"the {len(coloured)} most used codes of these maps in colour, the others grey", fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.9, hspace=0.12, wspace=0.06)
    return fig
