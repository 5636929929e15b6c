"""The course's architecture diagrams, drawn with matplotlib so that they live in code, render offline, and show in
nbval runs, the student build, the browsable edition and Colab alike. Each lesson draws its diagram once near the
top and refers back to it (as d2l and the UvA notebooks do).

    from course_lib.diagrams import vqvae_diagram
    vqvae_diagram();                                  # notebook 04

``vae_diagram`` (01), ``ste_diagram`` (03), ``vqvae_diagram`` (04), ``prior_diagram`` (06), ``vqgan_diagram`` (11),
``stage2_diagram`` (12), ``code_restorer_diagram`` and ``maskgit_diagram`` (13); notebook 08 draws its GAN step with
these boxes too (``course_lib.explorers.gan_toy.draw_gan_step_diagram``). Each returns its matplotlib Figure.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

__all__ = ["vae_diagram", "ste_diagram", "vqvae_diagram", "prior_diagram", "vqgan_diagram", "stage2_diagram",
           "code_restorer_diagram", "maskgit_diagram"]

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


def _cell(ax, x: float, y: float, text: str, colour: str, size: float = 0.62, fontsize: int = 8) -> None:
    """One token of a sequence or grid: a square of side ``size`` centred on (x, y)."""
    ax.add_patch(Rectangle((x - size / 2, y - size / 2), size, size, facecolor=colour, edgecolor="#444",
                           linewidth=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _finish(fig, show: bool):
    if show:
        plt.show()
    return fig


def vae_diagram(show: bool = True):
    """The VAE (Kingma & Welling 2013): the encoder outputs a Gaussian q(z|x), a sample is drawn by
    reparameterisation, the decoder outputs Bernoulli means; the loss is reconstruction plus KL to the prior."""
    fig, ax = _canvas(12, 3.9, "VAE: encode to a Gaussian, sample by reparameterisation, decode", (0, 16),
                      (-2.0, 2.7))
    x = _box(ax, (1.0, 1), "image x\n(B, 1, 28, 28)", "data", w=1.8)
    enc = _box(ax, (3.6, 1), "encoder\nq(z | x)", "net", w=1.7)
    mu = _box(ax, (6.2, 1.6), "mu  (B, L)", "data", w=1.7, h=0.6)
    lv = _box(ax, (6.2, 0.4), "log sigma^2  (B, L)", "data", w=2.1, h=0.6)
    eps = _box(ax, (9.0, 2.2), "eps ~ N(0, I)\n(no parameters)", "data", w=2.1, h=0.7, fontsize=8)
    z = _box(ax, (9.0, 0.7), "z = mu + sigma * eps", "data", w=2.4, h=0.7)
    dec = _box(ax, (12.0, 0.7), "decoder\np(x | z)", "net", w=1.7)
    xh = _box(ax, (14.6, 0.7), "x_hat: each pixel's\nBernoulli mean", "data", w=2.0)
    _arrow(ax, x["right"], enc["left"])
    _arrow(ax, enc["right"], mu["left"])
    _arrow(ax, enc["right"], lv["left"])
    _arrow(ax, mu["right"], z["left"])
    _arrow(ax, lv["right"], z["left"])
    _arrow(ax, eps["bottom"], z["top"])
    _arrow(ax, z["right"], dec["left"])
    _arrow(ax, dec["right"], xh["left"])
    _arrow(ax, z["bottom"], enc["bottom"], "backward: to the encoder through mu and sigma (eps is a constant)",
           colour="#b03030", style="--", rad=-0.3, offset=(0.0, -1.25))
    ax.text(8, -1.45, "loss = -ELBO = reconstruction (cross-entropy of x under x_hat)  +  KL( q(z | x) || N(0, I) )",
            ha="center", fontsize=9, color="#7a1f1f")
    _legend(ax, ["data", "net"], where=(0.2, -1.95))
    return _finish(fig, show)


def prior_diagram(grid: Tuple[int, int] = (3, 3), show: bool = True):
    """The autoregressive prior of notebook 06 on a small ``grid``: left, the codes in raster order; right, the
    transformer's inputs (class token, then the codes shifted by one), which inputs each position may attend to
    under the causal mask, and the code each position predicts."""
    h, w = grid
    T = h * w
    fig, (ax_g, ax_m) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 2.2]})
    fig.suptitle("An autoregressive prior: raster order, a class token, a shift by one, a causal mask", fontsize=11)
    # the grid in raster order
    ax_g.set_xlim(-0.6, w - 0.4)
    ax_g.set_ylim(-h + 0.4 - 0.8, 0.6)
    ax_g.set_aspect("equal")
    ax_g.axis("off")
    ax_g.set_title(f"a {h} x {w} code grid, raster order", fontsize=9)
    for t in range(T):
        r, c = divmod(t, w)
        _cell(ax_g, c, -r, f"c_{t}", COLOURS["code"], size=0.7, fontsize=9)
        if t + 1 < T:
            r2, c2 = divmod(t + 1, w)
            a, b = ((c + 0.36, -r), (c2 - 0.36, -r2)) if r2 == r else ((c, -r - 0.36), (c2, -r2 + 0.36))
            ax_g.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=9, color="#555", linewidth=0.9))
    ax_g.text((w - 1) / 2, -h + 0.4 - 0.45, "read row by row: c_0, c_1, ..., c_%d" % (T - 1), ha="center", fontsize=8)
    # the attention pattern: rows are positions (queries), columns are the inputs they may see (keys)
    inputs = ["y"] + [f"c_{t}" for t in range(T - 1)]
    ax_m.set_xlim(-2.2, T + 1.6)
    ax_m.set_ylim(-T - 0.2, 2.0)
    ax_m.set_aspect("equal")
    ax_m.axis("off")
    ax_m.set_title("position t sees the inputs 0..t (shaded) and predicts c_t", fontsize=9)
    for j, name in enumerate(inputs):
        _cell(ax_m, j, 1.0, name, COLOURS["data"] if j else COLOURS["net"], size=0.85)
    ax_m.text(-1.9, 1.0, "input", va="center", fontsize=8)
    for i in range(T):
        ax_m.text(-1.9, -i, f"pos {i}", va="center", fontsize=8)
        for j in range(T):
            seen = j <= i
            ax_m.add_patch(Rectangle((j - 0.42, -i - 0.42), 0.84, 0.84, facecolor="#9cc29c" if seen else "white",
                                     edgecolor="#bbb", linewidth=0.6))
        _cell(ax_m, T + 0.6, -i, f"c_{i}", COLOURS["code"], size=0.85)
    ax_m.text(T + 0.6, 1.0, "predicts", ha="center", va="center", fontsize=8)
    ax_m.text(T / 2 - 0.5, -T + 0.05 - 0.45, "y = the class token (id K + class); the last code is never an input",
              ha="center", fontsize=8)
    return _finish(fig, show)


def code_restorer_diagram(show: bool = True):
    """Restoration by code prediction (CodeFormer, Zhou et al. 2022), as notebook 13 trains it: a network reads the
    degraded image and predicts, for every cell of the code grid, logits over the frozen tokenizer's K codes; the
    targets are the clean image's codes; the frozen decoder turns the predicted codes into the restored image."""
    fig, ax = _canvas(12, 4.0, "Restoring by predicting codes: learn the codes, let the frozen decoder draw",
                      (0, 16), (-2.1, 2.6))
    bad = _box(ax, (1.1, 1.4), "degraded\nimage", "data", w=1.6)
    net = _box(ax, (3.7, 1.4), "restorer\n(trained)", "net", w=1.7)
    logits = _box(ax, (6.6, 1.4), "logits\n(B, K, h, w)", "data", w=1.9)
    codes = _box(ax, (9.5, 1.4), "argmax per cell\ncodes (B, h, w)", "code", w=2.2)
    dec = _box(ax, (12.4, 1.4), "decoder\n(frozen)", "frozen", w=1.7)
    out = _box(ax, (14.8, 1.4), "restored\nimage", "data", w=1.5)
    clean = _box(ax, (1.1, -0.6), "clean\nimage", "data", w=1.6)
    tok = _box(ax, (3.7, -0.6), "encoder +\nquantizer (frozen)", "frozen", w=2.1)
    target = _box(ax, (6.6, -0.6), "target codes\n(B, h, w)", "code", w=1.9)
    ce = _box(ax, (9.5, -0.6), "cross-entropy\nper cell", "loss", w=2.0)
    for a, b in ((bad["right"], net["left"]), (net["right"], logits["left"]), (logits["right"], codes["left"]),
                 (codes["right"], dec["left"]), (dec["right"], out["left"]), (clean["right"], tok["left"]),
                 (tok["right"], target["left"]), (target["right"], ce["left"])):
        _arrow(ax, a, b)
    _arrow(ax, logits["bottom"], ce["top"], "train", offset=(0.5, -0.15))
    ax.text(8, -1.6, "training needs only (degraded, clean) pairs; the tokenizer (notebook 12's, section 1) is never "
            "updated", ha="center", fontsize=8.5, color="#444")
    _legend(ax, ["data", "net", "code", "loss", "frozen"], where=(2.0, -2.05))
    return _finish(fig, show)


def maskgit_diagram(steps: int = 3, hole: int = 8, show: bool = True):
    """MaskGIT's iterative decoding (Chang et al. 2022) on a hole of ``hole`` tokens: at every step the
    bidirectional transformer predicts all masked tokens, the most confident are kept, the rest are masked again;
    the cosine schedule sets how many stay masked after step s of S: ceil(cos(pi s / 2S) N), at least one fewer than
    before, none after the last (the counts of :func:`course_lib.maskgit.maskgit_complete`)."""
    import torch

    from .maskgit import scheduled_masked

    # as course_lib.maskgit.maskgit_complete: the schedule's count, but at least one position decided per step
    remaining = [hole]
    for s in range(1, steps + 1):
        stay = int(scheduled_masked(torch.tensor(hole), s, steps))
        remaining.append(max(min(stay, remaining[-1] - 1), 0))
    order = torch.randperm(hole, generator=torch.Generator().manual_seed(3)).tolist()  # a made-up confidence order
    known = 2
    n = known + hole + known
    fig, ax = _canvas(11, 0.9 + 0.75 * (steps + 1), "MaskGIT: fill a hole in a few parallel steps", (-3.2, n + 3.8),
                      (-steps - 1.45, 0.6))
    ax.set_aspect("equal")
    for s, left in enumerate(remaining):
        y = -s
        ax.text(-3.0, y, "start" if s == 0 else f"after step {s}", va="center", fontsize=8.5)
        decided = set(order[: hole - left])
        before = set(order[: hole - remaining[s - 1]]) if s else set()
        for i in range(n):
            if i < known or i >= known + hole:
                _cell(ax, i, y, "c", COLOURS["data"])
            elif i - known in decided:
                _cell(ax, i, y, "c", "#f0a95a" if i - known not in before else COLOURS["code"])
            else:
                _cell(ax, i, y, "M", "white")
        ax.text(n + 0.2, y, f"{left} of {hole} masked", va="center", fontsize=8.5)
    ax.text(n / 2 - 0.5, -steps - 0.75, "each step: predict every M at once (full attention), keep the most confident "
            "(dark: kept at this step), mask the others again", ha="center", fontsize=8.5, color="#7a1f1f")
    ax.text(n / 2 - 0.5, -steps - 1.2, "blue: known codes around the hole, never changed", ha="center", fontsize=8)
    return _finish(fig, show)


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
    return _finish(fig, show)


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
    return _finish(fig, show)


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
    return _finish(fig, show)


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
    return _finish(fig, show)
