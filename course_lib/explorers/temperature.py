"""Explorer for notebook 03: the soft-max temperature against the hard code.

For one fixed input ``x`` (here the encoder is the identity, ``z = x``) and a codebook, the soft assignment at
temperature ``tau`` is ``w = softmax(-|z - e_k|^2 / tau)`` and its read-back is ``sum_k w_k e_k``; the hard code
is the nearest ``e_k``. With the read-back error ``L = |read-back - x|^2`` as the loss, the encoder receives

* through the soft assignment: the exact gradient ``dL/dz`` (through the soft-max weights);
* through the hard code: the straight-through gradient ``dL/dz_q = 2 (e_k* - x)`` (notebook 03, section 2).

:func:`temperature_sweep` measures all of it for many temperatures at once (one batched autograd call);
:func:`draw_temperature` draws the plane with the codes, the weights, and the sweep with the current ``tau``
marked. Used in notebook 03::

    explorer(partial(draw_temperature, codes=codes_2d, points=x_test[:10]),
             log10_tau=Slider(-2.5, 1.0, -1.0, step=0.05), point=IntSlider(0, 9, 0))
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from course_lib.quantize import soft_quantize

__all__ = ["soft_assignment", "temperature_sweep", "draw_temperature"]


def soft_assignment(z: torch.Tensor, codes: torch.Tensor, tau) -> tuple:
    """Soft weights and read-back of ``z`` (D,) or (T, D) over ``codes`` (K, D) at temperature(s) ``tau``.

    ``tau`` is a number or a (T,) tensor (one temperature per row of ``z``). Returns ``(weights (T, K),
    read_back (T, D))``.
    """
    z = torch.atleast_2d(z)
    return soft_quantize(z, codes, torch.as_tensor(tau, dtype=z.dtype).reshape(-1, 1))


def temperature_sweep(x: torch.Tensor, codes: torch.Tensor, taus: Sequence[float]) -> Dict[str, np.ndarray]:
    """For the input ``x`` (D,) at every temperature in ``taus``: the soft read-back error, the hard code's error,
    the entropy of the weights (bits), the largest weight, and the gradient norms the encoder receives (soft: exact;
    hard: straight-through). Arrays of length len(taus) (the hard ones are constant)."""
    x = torch.as_tensor(x, dtype=torch.float64).flatten()
    codes = torch.as_tensor(codes, dtype=torch.float64)
    taus_t = torch.as_tensor(list(taus), dtype=torch.float64)
    z = x.repeat(len(taus_t), 1).requires_grad_(True)
    w, read_back = soft_assignment(z, codes, taus_t)
    err = (read_back - x).pow(2).sum(1)
    (grad,) = torch.autograd.grad(err.sum(), z)  # rows are independent: row t's gradient is dL_t/dz_t
    k = int((codes - x).pow(2).sum(1).argmin())
    hard_err = float((codes[k] - x).pow(2).sum())
    ste = 2 * (codes[k] - x)  # straight through: the gradient at z_q copied to z
    w = w.detach()
    entropy = -(w * w.clamp_min(1e-300).log2()).sum(1)
    n = len(taus_t)
    return dict(tau=taus_t.numpy(), soft_error=err.detach().numpy(), hard_error=np.full(n, hard_err),
                soft_grad=grad.norm(dim=1).numpy(), ste_grad=np.full(n, float(ste.norm())),
                entropy_bits=entropy.numpy(), top_weight=w.max(1).values.numpy(), hard_index=k)


def draw_temperature(log10_tau: float = -1.0, point: int = 0, *, codes: torch.Tensor, points: torch.Tensor,
                     taus: Optional[Sequence[float]] = None):
    """The soft assignment of ``points[point]`` (2-D) over ``codes`` (K, 2) at ``tau = 10 ** log10_tau``.

    Four panels: the plane (codes sized by their weight, the input, the soft read-back, the hard code and the
    directions the encoder is pushed); the weights against the hard one-hot; the read-back error and the gradient
    norms against the temperature, with the current one marked. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    codes = torch.as_tensor(codes, dtype=torch.float64).detach().cpu()
    points = torch.as_tensor(points, dtype=torch.float64).detach().cpu()
    if codes.dim() != 2 or codes.shape[1] != 2:
        raise ValueError(f"draw_temperature draws a plane: codes must be (K, 2), got {tuple(codes.shape)}")
    if not 0 <= point < len(points):
        raise ValueError(f"point={point} is not an index of the {len(points)} points")
    tau = 10.0 ** log10_tau
    taus = np.logspace(-2.5, 1.0, 60) if taus is None else np.asarray(taus, dtype=float)
    x = points[point]
    sweep = temperature_sweep(x, codes, taus)
    here = temperature_sweep(x, codes, [tau])
    z = x.clone().requires_grad_(True)
    w, read_back = soft_assignment(z, codes, tau)
    (g_soft,) = torch.autograd.grad((read_back[0] - x).pow(2).sum(), z)
    w, read_back = w[0].detach().numpy(), read_back[0].detach().numpy()
    k = here["hard_index"]
    g_ste = 2 * (codes[k] - x)
    K = len(codes)

    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.2))
    fig.subplots_adjust(left=0.08, right=0.97, top=0.88, bottom=0.08, wspace=0.45, hspace=0.4)  # fixed: fast redraws
    ax = axes[0, 0]
    lo, hi = codes.min(0).values - 0.4, codes.max(0).values + 0.4
    ax.scatter(codes[:, 0], codes[:, 1], s=30 + 600 * w, c="tab:blue", alpha=0.55, edgecolor="k",
               label="codes (area: soft weight)")
    ax.scatter(*codes[k], s=260, facecolor="none", edgecolor="tab:red", lw=2.5, label=f"hard code e{k}")
    ax.plot(*x, "k^", ms=10, label="input x = z")
    ax.plot(*read_back, "o", color="tab:blue", ms=8, mec="k", label="soft read-back")
    span = float((hi - lo).max())
    for g, colour, name in ((g_soft, "tab:blue", "soft"), (g_ste, "tab:red", "straight-through")):
        norm = float(g.norm())
        if norm > 1e-12:  # draw the direction z would move (-gradient), at a fixed length; the norm is in panel 4
            d = -g / norm * 0.15 * span
            ax.annotate("", xy=(x + d).tolist(), xytext=x.tolist(),
                        arrowprops=dict(arrowstyle="-|>", color=colour, lw=2))
    ax.set_xlim(lo[0], hi[0]); ax.set_ylim(lo[1], hi[1]); ax.set_aspect("equal", adjustable="box")
    ax.set_title(f"tau = {tau:.3g}: arrows = -gradient direction\n(blue soft, red straight-through)", fontsize=10)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)

    ax = axes[0, 1]
    ax.bar(np.arange(K), w, color="tab:blue", label="soft weights")
    ax.bar(np.arange(K), np.eye(K)[k], fill=False, edgecolor="tab:red", lw=2, label="hard one-hot")
    ax.set_ylim(0, 1.05); ax.set_xticks(range(K)); ax.set_xlabel("code k"); ax.set_ylabel("weight")
    ax.set_title(f"largest weight {w.max():.2f}, entropy {here['entropy_bits'][0]:.2f} of {math.log2(K):.0f} bits",
                 fontsize=10)
    ax.legend(fontsize=9, loc="upper right")

    ax = axes[1, 0]
    ax.plot(sweep["tau"], sweep["soft_error"], color="tab:blue", label="soft read-back")
    ax.plot(sweep["tau"], sweep["hard_error"], color="tab:red", ls="--", label="hard code")
    ax.axvline(tau, color="k", lw=1)
    ax.plot([tau], here["soft_error"], "o", color="tab:blue", mec="k")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel("temperature tau (log)"); ax.set_ylabel("|read-back - x|^2 (log)")
    ax.set_title("read-back error", fontsize=10); ax.legend(fontsize=9)

    ax = axes[1, 1]
    soft_g = np.maximum(sweep["soft_grad"], 1e-12)
    ax.plot(sweep["tau"], soft_g, color="tab:blue", label="soft (exact)")
    ax.plot(sweep["tau"], sweep["ste_grad"], color="tab:red", ls="--", label="hard (straight-through)")
    ax.axvline(tau, color="k", lw=1)
    ax.plot([tau], [max(float(here["soft_grad"][0]), 1e-12)], "o", color="tab:blue", mec="k")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel("temperature tau (log)"); ax.set_ylabel("|dL/dz| (log)")
    ax.set_title("gradient the encoder receives", fontsize=10); ax.legend(fontsize=9)
    fig.suptitle(f"input {point}: soft error {here['soft_error'][0]:.4f} vs hard {here['hard_error'][0]:.4f}; "
                 f"gradient {here['soft_grad'][0]:.3g} (soft) vs {here['ste_grad'][0]:.3g} (straight-through)",
                 fontsize=11)
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator

    for ax in axes[1]:
        ax.xaxis.set_minor_formatter(NullFormatter())
        # a label at every power of ten (and at 2 and 5 times one when the axis spans less than two decades)
        lo_y, hi_y = ax.get_ylim()
        subs = (1.0, 2.0, 5.0) if hi_y / max(lo_y, 1e-300) < 100 else (1.0,)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(labelsize=9)
    return fig
