"""The course's architecture diagrams, drawn with matplotlib so that they live in code, render offline, and show in
nbval runs, the student build, the browsable edition and Colab alike. Each lesson draws its diagram once near the
top and refers back to it (as d2l and the UvA notebooks do).

    from course_lib.diagrams import vqvae_diagram
    vqvae_diagram();                                  # notebook 04

``vqvae_diagram`` (04), ``ste_diagram`` (03), ``vqgan_diagram`` (11), ``stage2_diagram`` (12). Each returns its
matplotlib Figure.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["vqvae_diagram", "ste_diagram", "vqgan_diagram", "stage2_diagram"]

COLOURS = {"data": "#e8eef7", "net": "#d6ead6", "code": "#fbe3c4", "loss": "#f6d2d2", "frozen": "#e4e4e4"}


def _box(ax, xy: Tuple[float, float], text: str, kind: str = "net", w: float = 1.6, h: float = 0.8,
         fontsize: int = 9) -> Dict[str, Tuple[float, float]]:
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.12",
                                facecolor=COLOURS[kind], edgecolor="#444", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, wrap=True)
    return {"left": (x - w / 2, y), "right": (x + w / 2, y), "top": (x, y + h / 2), "bottom": (x, y - h / 2),
            "centre": (x, y)}


def _arrow(ax, a: Tuple[float, float], b: Tuple[float, float], text: str = "", colour: str = "#333",
           style: str = "-", rad: float = 0.0, fontsize: int = 8, offset: Tuple[float, float] = (0.0, 0.12)) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color=colour, linestyle=style,
                                 linewidth=1.3, connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((a[0] + b[0]) / 2 + offset[0], (a[1] + b[1]) / 2 + offset[1], text, ha="center", va="bottom",
                fontsize=fontsize, color=colour)


def _canvas(width: float, height: float, title: str, xlim: Tuple[float, float], ylim: Tuple[float, float]):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    ax.set_title(title, fontsize=11)
    return fig, ax


def _legend(ax, kinds: Sequence[str], where=(0.0, 0.0)) -> None:
    names = {"data": "tensor / image", "net": "trained network", "code": "discrete codes", "loss": "loss",
             "frozen": "frozen network"}
    x, y = where
    for i, k in enumerate(kinds):
        ax.add_patch(FancyBboxPatch((x + i * 2.3, y), 0.3, 0.22, boxstyle="round,pad=0.02", facecolor=COLOURS[k],
                                    edgecolor="#444", linewidth=0.8))
        ax.text(x + i * 2.3 + 0.4, y + 0.11, names[k], va="center", fontsize=8)


def vqvae_diagram(show: bool = True):
    """The VQ-VAE (van den Oord et al. 2017): encoder, nearest-code lookup, decoder, and its three loss terms."""
    fig, ax = _canvas(12, 4.2, "VQ-VAE: encode, snap each vector to its nearest code, decode", (0, 16), (-2.3, 2.6))
    x = _box(ax, (1.0, 1), "image x\n(B, C, H, W)", "data", w=1.7)
    enc = _box(ax, (3.5, 1), "encoder\nconv, stride 2", "net", w=1.8)
    ze = _box(ax, (6.0, 1), "z_e\n(B, D, h, w)", "data", w=1.7)
    q = _box(ax, (8.9, 1), "nearest code\nk = argmin_k |z_e - e_k|", "code", w=2.9)
    zq = _box(ax, (12.0, 1), "z_q = e_k\n(B, D, h, w)", "data", w=1.8)
    dec = _box(ax, (14.6, 1), "decoder\n-> x_hat", "net", w=1.7)
    cb = _box(ax, (8.9, -0.8), "codebook e_1 ... e_K  (K, D)", "code", w=3.2, h=0.6)
    _arrow(ax, x["right"], enc["left"])
    _arrow(ax, enc["right"], ze["left"])
    _arrow(ax, ze["right"], q["left"])
    _arrow(ax, q["right"], zq["left"], "indices\n(B, h, w)", offset=(0.0, -0.75))
    _arrow(ax, zq["right"], dec["left"])
    _arrow(ax, cb["top"], q["bottom"])
    _arrow(ax, zq["top"], ze["top"], "backward: gradient copied from z_q to z_e (straight-through)",
           colour="#b03030", style="--", rad=0.3, offset=(0.0, 0.9))
    ax.text(8, -1.55, "loss = |x - x_hat|^2  +  |sg[z_e] - e_k|^2 (codebook; or the EMA update, notebook 04)  +  "
            "beta |z_e - sg[e_k]|^2 (commitment)", ha="center", fontsize=9, color="#7a1f1f")
    _legend(ax, ["data", "net", "code"], where=(4.5, -2.2))
    if show:
        plt.show()
    return fig


def ste_diagram(show: bool = True, formula: bool = True):
    """The straight-through estimator: forward uses the code, backward copies the gradient past argmin.

    ``formula=False`` leaves out the line ``z + sg[e_k - z]`` (notebook 03 draws the diagram before the exercise
    that asks for it)."""
    title = "Straight-through: z_q = z + sg[e_k - z]" if formula else "Straight-through: forward through argmin, backward around it"
    fig, ax = _canvas(10, 3.0, title, (0, 12), (-1.0, 2.2))
    z = _box(ax, (1.2, 1), "z (encoder output)", "data", w=1.9)
    am = _box(ax, (4.4, 1), "argmin_k |z - e_k|\n(no gradient)", "code", w=2.2)
    zq = _box(ax, (7.6, 1), "z_q = z + sg[e_k - z]\n(value: e_k)" if formula else "z_q\n(value: e_k)", "data", w=2.4)
    dec = _box(ax, (10.6, 1), "decoder, loss", "net", w=1.8)
    _arrow(ax, z["right"], am["left"], "forward")
    _arrow(ax, am["right"], zq["left"], "forward")
    _arrow(ax, zq["right"], dec["left"], "forward")
    _arrow(ax, (dec["bottom"][0], dec["bottom"][1]), (z["bottom"][0] + 0.3, z["bottom"][1]),
           "backward: dL/dz := dL/dz_q (copied past the argmin)", colour="#b03030", style="--", rad=-0.25,
           offset=(0.0, -1.4))
    ax.text(6, 2.0, "sg[.] = stop-gradient (.detach()): its value is used forward, its gradient is zero",
            ha="center", fontsize=9)
    if show:
        plt.show()
    return fig


def vqgan_diagram(show: bool = True):
    """The VQ-GAN (Esser et al. 2021): VQ autoencoder, perceptual and patch-adversarial losses, adaptive weight.
    The generator's adversarial term and the discriminator's loss are drawn as two boxes: they are two losses,
    minimised by two optimisers."""
    fig, ax = _canvas(13.0, 5.6, "VQ-GAN: a VQ autoencoder trained with L1 + perceptual + adaptive-weighted GAN loss",
                      (0, 15.5), (-3.5, 3.1))
    x = _box(ax, (1, 1.2), "image x", "data", w=1.3)
    enc = _box(ax, (3.0, 1.2), "encoder\n(res blocks,\nattention)", "net", h=1.0)
    q = _box(ax, (5.2, 1.2), "quantizer\n(codebook)", "code")
    dec = _box(ax, (7.4, 1.2), "decoder\nlast layer L", "net", h=1.0)
    xh = _box(ax, (9.5, 1.2), "x_hat", "data", w=1.2)
    rec = _box(ax, (12.9, 1.9), "L_rec = mean|x - x_hat|\n+ perceptual(x, x_hat)", "loss", w=3.0)
    perc = _box(ax, (12.9, 0.5), "feature network\n(frozen)", "frozen", w=2.2)
    disc = _box(ax, (9.5, -1.3), "PatchGAN\ndiscriminator D", "net", w=2.0, h=0.9)
    adv = _box(ax, (13.2, -0.7), "L_adv = -mean D(x_hat)\n(generator)", "loss", w=3.4)
    d_loss = _box(ax, (13.2, -1.9), "L_D = hinge(D(x), D(sg[x_hat]))\n(discriminator)", "loss", w=3.4)
    for a, b in ((x["right"], enc["left"]), (enc["right"], q["left"]), (q["right"], dec["left"]),
                 (dec["right"], xh["left"])):
        _arrow(ax, a, b)
    _arrow(ax, xh["right"], rec["left"])
    _arrow(ax, x["top"], rec["top"], "x", rad=-0.12)
    _arrow(ax, perc["top"], rec["bottom"])
    _arrow(ax, xh["bottom"], disc["top"], "fakes", offset=(0.3, 0.0))
    _arrow(ax, x["bottom"], disc["left"], "real images", rad=0.25, offset=(0.0, -0.9))
    _arrow(ax, disc["right"], adv["left"])
    _arrow(ax, disc["right"], d_loss["left"])
    ax.text(7.7, -2.8, "L_G = L_rec + L_quant + lambda * L_adv,   lambda = |grad_L L_rec| / (|grad_L L_adv| + delta): "
            "the adaptive weight at the decoder's last layer L", ha="center", fontsize=9, color="#7a1f1f")
    _legend(ax, ["data", "net", "code", "loss", "frozen"], where=(0.2, -3.35))
    if show:
        plt.show()
    return fig


def stage2_diagram(show: bool = True):
    """Stage 2: a frozen VQ-GAN turns images into token grids; a causal transformer learns p(tokens)."""
    fig, ax = _canvas(11.5, 3.9, "Stage 2: a transformer prior over the tokens of a frozen tokenizer", (0, 14.5),
                      (-1.3, 3.0))
    x = _box(ax, (1, 1.3), "image", "data", w=1.2)
    tok = _box(ax, (3.2, 1.3), "VQ-GAN encoder\n+ quantizer (frozen)", "frozen", w=2.3)
    grid = _box(ax, (5.9, 1.3), "token grid\n(h x w indices)", "code", w=1.9)
    seq = _box(ax, (8.3, 1.3), "raster order\nt_1 ... t_T", "code", w=1.8)
    gpt = _box(ax, (10.9, 1.3), "causal transformer\np(t_i | t_<i, class)", "net", w=2.4)
    label = _box(ax, (10.9, 2.6), "class label -> class token\n(first position of the sequence)", "data", w=3.0,
                 h=0.6, fontsize=8)
    _arrow(ax, label["bottom"], gpt["top"])
    sample = _box(ax, (10.9, -0.4), "sample t_1 ... t_T\n(temperature, top-k)", "code", w=2.4)
    out = _box(ax, (5.9, -0.4), "VQ-GAN decoder\n(frozen) -> image", "frozen", w=2.4)
    for a, b in ((x["right"], tok["left"]), (tok["right"], grid["left"]), (grid["right"], seq["left"]),
                 (seq["right"], gpt["left"])):
        _arrow(ax, a, b)
    _arrow(ax, gpt["bottom"], sample["top"], "generate")
    _arrow(ax, sample["left"], out["right"])
    ax.text(12.9, 1.3, "train:\ncross-entropy\non next token", fontsize=8, va="center")
    if show:
        plt.show()
    return fig
