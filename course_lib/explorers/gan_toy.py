"""Figures of notebooks 08 and 09, and the explorer of 08: the 2-D GAN on the ring of Gaussians.

:func:`draw_gan_step_diagram` draws the two halves of one training step, :func:`draw_mode_collapse` section 3's runs (samples of seed 0, modes covered over steps for every seed);
:func:`draw_gan_losses` the hinge and non-saturating losses as functions of one logit, with their gradients.
The explorer scrubs a run by training step and loss type. For 09, :func:`draw_logit_support` shows the patch one
PatchGAN logit sees, :func:`draw_gan_diagnostics` an autoencoder's GAN training, and :func:`draw_memorisation` a discriminator's memorisation AUC over training steps.

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

__all__ = ["GRID_LIMIT", "grid", "snapshot", "nearest_snapshot", "draw_toy_gan", "runs_from_snapshots",
           "draw_gan_step_diagram", "draw_mode_collapse", "gan_loss_curves", "draw_gan_losses", "draw_logit_support", "draw_gan_diagnostics",
           "draw_memorisation"]

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


def runs_from_snapshots(snaps: Mapping[str, list]) -> Dict[str, dict]:
    """``{name: [snapshot dicts with a "step"]}`` (as :func:`course_lib.gan.train_toy_gan` records them) ->
    the ``runs`` that :func:`draw_toy_gan` takes: ``{name: {"steps", "samples", "field", "modes"}}``."""
    return {name: {"steps": [s["step"] for s in ss], **{k: [s[k] for s in ss] for k in ("samples", "field", "modes")}}
            for name, ss in snaps.items()}


def draw_mode_collapse(runs: Mapping[str, list], real: torch.Tensor, labels: Optional[Mapping[str, str]] = None):
    """Left: the samples of each setting's first seed on the fixed evaluation noise (the one its log was measured on),
    over the data. Right: modes covered over training for every seed (seed 0 solid, the others faint).

    runs: ``{setting: [(G, D, log) per seed]}`` from :func:`course_lib.gan.train_toy_gan` with its default
    ``n_eval``. Returns the Figure."""
    import matplotlib.pyplot as plt

    from ..gan import toy_eval_noise

    labels = labels or {}
    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(4 * (len(runs) + 1), 3.8))
    for j, (ax, (name, seeds)) in enumerate(zip(axes, runs.items())):
        G, _, log = seeds[0]
        with torch.no_grad():
            s = G(toy_eval_noise(n_eval=len_eval(log))).cpu()
        ax.scatter(real[:, 0], real[:, 1], s=2, c="lightgray", label="data")
        ax.scatter(s[:, 0], s[:, 1], s=2, c=f"C{j}", label="generator")
        ax.set(title=f"{name}, seed 0: {log['modes'][-1]} of 8 modes", xlim=(-3, 3), ylim=(-3, 3), aspect="equal",
               xlabel="x1", ylabel="x2")
        ax.legend(loc="upper right", markerscale=4, fontsize=8)
        for sd, (_, _, lg) in enumerate(seeds):
            axes[-1].plot(lg["step"], lg["modes"], "o-", color=f"C{j}", ms=3, alpha=1.0 if sd == 0 else 0.3,
                          label=labels.get(name, name) if sd == 0 else None)
    axes[-1].set(xlabel="step", ylabel="modes covered (of 8)", ylim=(-0.3, 8.3),
                 title=f"modes covered, {len(next(iter(runs.values())))} seeds (seed 0 solid)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def len_eval(log: Mapping) -> int:
    """The evaluation-set size a toy log was measured with (stored by train_toy_gan, default 2000)."""
    return int(log.get("n_eval", 2000))


def gan_loss_curves(limit: float = 5.0, n: int = 201):
    """Each GAN loss as a function of one logit l, and the size of its gradient |dL/dl|: returns
    (l, {name: loss values}, {name: |gradient|}). Names start with "D, real", "D, fake" or "G"."""
    import torch.nn.functional as F

    l = torch.linspace(-limit, limit, n, requires_grad=True)
    curves = {
        "D, real: hinge relu(1 - l)": F.relu(1 - l),
        "D, real: non-saturating softplus(-l)": F.softplus(-l),
        "D, fake: hinge relu(1 + l)": F.relu(1 + l),
        "D, fake: non-saturating softplus(l)": F.softplus(l),
        "G: hinge -l": -l,
        "G: non-saturating softplus(-l)": F.softplus(-l),
        "G: minimax log(1 - sigmoid(l))": -F.softplus(l),
    }
    grads = {k: torch.autograd.grad(v.sum(), l)[0].abs() for k, v in curves.items()}
    return l.detach(), {k: v.detach() for k, v in curves.items()}, grads


def draw_gan_losses(limit: float = 5.0):
    """Three panels: the discriminator's losses, the generator's losses, and the generator's gradient size, each
    against the logit l. Solid: hinge; dashed: non-saturating; dotted: minimax. Returns (Figure, grads) where grads
    is :func:`gan_loss_curves`' dict of |dL/dl| on the returned grid (also ``grads["l"]``)."""
    import matplotlib.pyplot as plt

    l, curves, grads = gan_loss_curves(limit)
    style = lambda k: ":" if "minimax" in k else "--" if "non-sat" in k else "-"
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for k, v in curves.items():
        ax = axes[0] if k.startswith("D") else axes[1]
        ax.plot(l, v, style(k), label=k.split(", ")[-1] if k.startswith("D") else k[3:])
        if k.startswith("G"):
            axes[2].plot(l, grads[k], style(k), label=k[3:])
    axes[0].set(title="discriminator losses", xlabel="logit l = D(sample)", ylabel="loss")
    axes[1].set(title="generator losses", xlabel="logit l = D(x_hat)", ylabel="loss")
    axes[2].set(title="generator: gradient size |dL/dl|", xlabel="logit l = D(x_hat)", ylabel="|dL/dl|")
    for ax, loc in zip(axes, ("upper center", "upper right", "center left")):  # clear of the curves
        ax.axvline(0, color="gray", lw=0.5)
        ax.legend(fontsize=7, loc=loc)
    fig.tight_layout()
    return fig, {"l": l, **grads}


def draw_logit_support(D, image: torch.Tensor, positions=((None, None), (0, 0))):
    """Left: the image with the patch each chosen logit sees (:func:`course_lib.gan.logit_support`; ``None`` means
    the middle of the logit map). Right: the untrained D's logit map, on a colour scale centred at 0 (red: "real").
    Returns (Figure, {position: (r0, r1, c0, c1)})."""
    import matplotlib.pyplot as plt

    from ..gan import logit_support

    D = D.eval()
    with torch.no_grad():
        logits = D(image)[0, 0].float().cpu()
    h, w = logits.shape
    boxes = {}
    for i, j in positions:
        i, j = (h // 2 if i is None else i), (w // 2 if j is None else j)
        boxes[(i, j)] = logit_support(D, image, i, j)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    axes[0].imshow(image[0].permute(1, 2, 0).squeeze(-1).cpu(), cmap="gray")
    for n, ((i, j), (r0, r1, c0, c1)) in enumerate(boxes.items()):
        axes[0].add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, color=f"C{n + 1}",
                                        lw=2, label=f"logit {(i, j)}: {r1 - r0 + 1}x{c1 - c0 + 1} px"))
        axes[1].scatter([j], [i], color=f"C{n + 1}", s=60, marker="x")
    axes[0].legend(fontsize=8, loc="lower right")
    axes[0].set_title("what one logit sees")
    lim = float(max(1e-6, logits.abs().max()))
    im = axes[1].imshow(logits, cmap="coolwarm", vmin=-lim, vmax=lim)
    axes[1].set_title(f"{h}x{w} logits of an untrained D (0: white)")
    fig.colorbar(im, ax=axes[1])
    fig.tight_layout()
    return fig, boxes


def draw_memorisation(curves: Mapping[str, list], chance: float = 0.5):
    """Memorisation AUC over training steps, one line per discriminator (mean over seeds, each seed a dot), and the
    discriminator's training loss beside it. ``curves``: ``{name: [per seed: [{"step", "auc", "d_loss"}, ...]]}``.
    Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, (ax, ax_l) = plt.subplots(1, 2, figsize=(11, 3.6))
    for n, (name, seeds) in enumerate(curves.items()):
        steps = [p["step"] for p in seeds[0]]
        for key, a in (("auc", ax), ("d_loss", ax_l)):
            vals = [[p[key] for p in s] for s in seeds]
            mean = [sum(v[k] for v in vals) / len(vals) for k in range(len(steps))]
            a.plot(steps, mean, "o-", color=f"C{n}", label=name)
            for v in vals:
                a.scatter(steps, v, color=f"C{n}", s=10, alpha=0.5)
    ax.axhline(chance, color="gray", ls=":", label="no memorisation")
    ax.set(xlabel="training step", ylabel="memorisation AUC", ylim=(0.3, 1.02),
           title="training vs held-out reals (line: mean; dots: seeds)")
    ax_l.axhline(1.0, color="gray", ls=":", label="a D that outputs 0")
    ax_l.set(xlabel="training step", ylabel="hinge loss (last 20 steps)", title="the discriminator's training loss")
    for a in (ax, ax_l):
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_gan_diagnostics(histories: Mapping[str, object], watch: str, warmup_end: Optional[int] = None):
    """Left: the reconstruction loss ("rec") of every run (the first run dashed on top, so that a run that tracks it
    stays visible). Middle: run ``watch``'s discriminator accuracy on real and fake patches. Right: its adaptive weight
    ("lambda", log scale). ``histories``: ``{run name: course_lib.train History}``. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    names = list(histories)
    for n, name in reversed(list(enumerate(names))):
        h = histories[name]
        axes[0].plot(h.steps_for("rec"), h["rec"], "--" if n == 0 else "-", color="k" if n == 0 else f"C{n}",
                     lw=1.5 if n == 0 else 1 + (name == watch), label=f"run {name}", zorder=3 if n == 0 else 2)
    if warmup_end is not None:
        axes[0].axvline(warmup_end, color="gray", ls=":", label=f"warm-up ends (run {watch})")
    axes[0].set(title="training reconstruction loss", xlabel="step", ylabel="L1")
    h = histories[watch]
    for key, label in (("acc_real", "real patches"), ("acc_fake", "fake patches")):
        axes[1].plot(h.steps_for(key), h[key], label=label)
    axes[1].set(title=f"run {watch}: D's accuracy", xlabel="step", ylim=(-0.05, 1.05))
    axes[2].plot(h.steps_for("lambda"), h["lambda"])
    axes[2].set(title=f"run {watch}: adaptive weight lambda", xlabel="step", yscale="log")
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda k: (not labels[k].startswith("run"), labels[k]))
    axes[0].legend([handles[k] for k in order], [labels[k] for k in order], fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_gan_step_diagram():
    """One GAN training step as two diagrams (notebook 08, section 2). Left, the discriminator's step: the fakes are
    detached, L_D reaches only D, opt_d steps. Right, the generator's step: D is frozen (grey), L_G's gradient flows
    through D back to G (dashed), opt_g steps. Drawn with :mod:`course_lib.diagrams`' boxes. Returns the Figure."""
    from ..diagrams import _arrow, _box, _canvas, _legend

    fig, ax = _canvas(12, 3.6, "one GAN training step: first the discriminator, then the generator", (0, 15), (-0.6, 4))
    grad = "#b22222"
    for x0, title in ((0.0, "1. discriminator step (opt_d)"), (7.8, "2. generator step (opt_g)")):
        ax.text(x0 + 3.4, 3.7, title, ha="center", fontsize=10, weight="bold")
    # discriminator step
    z1, g1 = _box(ax, (0.6, 2.6), "z", "data", w=0.8), _box(ax, (2.2, 2.6), "G")
    f1, x1 = _box(ax, (3.9, 2.6), "G(z)", "data", w=1.1), _box(ax, (3.9, 1.0), "x (real)", "data", w=1.3)
    d1, l1 = _box(ax, (5.5, 1.8), "D", w=1.0), _box(ax, (5.5, 0.1), "L_D", "loss", w=1.0, h=0.6)
    _arrow(ax, z1["right"], g1["left"])
    _arrow(ax, g1["right"], f1["left"])
    _arrow(ax, f1["right"], d1["top"], ".detach()", rad=-0.2, offset=(0.35, 0.1))
    _arrow(ax, x1["right"], d1["left"])
    _arrow(ax, d1["bottom"], l1["top"])
    _arrow(ax, l1["right"], (d1["right"][0], d1["right"][1] - 0.2), "grad: D only", colour=grad, style="--",
           rad=0.6, offset=(1.05, -0.15))
    # generator step
    z2, g2 = _box(ax, (8.4, 2.6), "z", "data", w=0.8), _box(ax, (10.0, 2.6), "G")
    f2, d2 = _box(ax, (11.7, 2.6), "G(z)", "data", w=1.1), _box(ax, (13.4, 2.6), "D\n(frozen)", "frozen", w=1.2)
    l2 = _box(ax, (13.4, 0.9), "L_G", "loss", w=1.0, h=0.6)
    _arrow(ax, z2["right"], g2["left"])
    _arrow(ax, g2["right"], f2["left"])
    _arrow(ax, f2["right"], d2["left"])
    _arrow(ax, d2["bottom"], l2["top"])
    _arrow(ax, l2["left"], g2["bottom"], "grad through D to G", colour=grad, style="--", rad=-0.25, offset=(0.2, -0.95))
    _legend(ax, ["data", "net", "frozen", "loss"], where=(0.2, -0.55))
    return fig
