"""Notebook 11's explorer: reconstructions before and after the discriminator starts.

During its own training runs notebook 11 records, every few steps, the reconstructions of a few fixed held-out
images (:class:`SnapshotRecorder`, passed to ``fit(sample_fn=..., sample_every=...)``: eval mode, no gradients, so
recording changes nothing in the run). No extra training happens here: the explorer only scrubs through what was
recorded. A slider picks the step, a choice picks the model (the VQ-VAE-style MSE arm or the VQ-GAN), and the figure
shows the originals, that model's reconstructions at that step, and two curves over all recorded steps (PSNR, and
contrast-normalised sharpness relative to the originals) for both models, with the discriminator's start marked.

    from functools import partial
    from course_lib.explorers import explorer, IntSlider, Choice
    from course_lib.explorers.disc_start import draw_disc_start

    explorer(partial(draw_disc_start, snapshots=snaps, originals=x_show, disc_start=CFG.disc_start),
             step=IntSlider(first, last, last, step=every), model=Choice(list(snaps)))
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch

__all__ = ["SnapshotRecorder", "SnapshotBook", "snapshot_stats", "nearest_step", "gan_updates_before", "gan_phase", "draw_disc_start"]


class SnapshotRecorder:
    """Records ``net(x)``'s reconstructions (clamped to [0, 1], float32, CPU) at the steps ``fit`` calls it.

    ``recorder = SnapshotRecorder(net, x_show)``; ``fit(..., sample_fn=recorder, sample_every=k)``;
    ``recorder.snapshots`` is ``{step: (N, C, H, W)}``. ``recorder.record(0)`` before training adds the
    untrained model. ``fit`` calls ``sample_fn`` in eval mode under ``torch.no_grad()``."""

    def __init__(self, net, x: torch.Tensor):
        self.net, self.x = net, x
        self.snapshots: Dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def record(self, step: int) -> None:
        was = self.net.training
        self.net.eval()
        dev = next(self.net.parameters()).device
        out = self.net(self.x.to(dev))
        out = out[0] if isinstance(out, (tuple, list)) else getattr(out, "x_hat", out)
        self.snapshots[int(step)] = out.float().clamp(0, 1).cpu()
        self.net.train(was)

    __call__ = record


class SnapshotBook:
    """The snapshots of several runs (one :class:`SnapshotRecorder` per run name), kept in one file beside the runs'
    checkpoints so that a re-run of the notebook, which resumes the runs instead of training them, still has them.

    ``book = SnapshotBook(path, x_show, resume=checkpoint.exists())``; ``fit(..., sample_fn=book.recorder(name, net),
    sample_every=k)``; ``book.save()`` after training (atomic); ``book.snapshots`` is ``{name: {step: images}}``.
    ``resume=False`` ignores a saved file (a fresh run starts fresh snapshots)."""

    def __init__(self, path, x: torch.Tensor, resume: bool = True):
        from pathlib import Path

        from ..checkpoint import load_checkpoint

        self.path, self.x = Path(path), x
        self._saved = dict(load_checkpoint(self.path)) if resume and self.path.exists() else {}
        self.recorders: Dict[str, SnapshotRecorder] = {}

    def recorder(self, name: str, net) -> SnapshotRecorder:
        """A recorder for run ``name`` of model ``net``, continuing that run's saved snapshots (or recording the
        untrained model at step 0 when there are none)."""
        rec = SnapshotRecorder(net, self.x)
        rec.snapshots = dict(self._saved.get(name) or {})
        if not rec.snapshots:
            rec.record(0)
        self.recorders[name] = rec
        return rec

    @property
    def snapshots(self) -> Dict[str, Dict[int, torch.Tensor]]:
        return {**self._saved, **{k: r.snapshots for k, r in self.recorders.items()}}

    def save(self) -> None:
        from ..checkpoint import save_checkpoint

        save_checkpoint(self.path, self.snapshots)


def nearest_step(steps, step: int) -> int:
    """The recorded step closest to ``step`` (the later one on a tie)."""
    steps = sorted(steps)
    if not steps:
        raise ValueError("no snapshots were recorded")
    return min(steps, key=lambda s: (abs(s - step), -s))


def snapshot_stats(snapshots: Mapping[int, torch.Tensor], originals: torch.Tensor) -> Dict[str, list]:
    """Per recorded step (sorted): mean PSNR (dB) and contrast-normalised sharpness relative to the originals'
    (:func:`course_lib.image_quality.sharpness_ratio`: 1 = as sharp; a faint image is not called blurry)."""
    from ..image_quality import sharpness_ratio
    from ..metrics import psnr

    steps = sorted(snapshots)
    return {"step": steps,
            "psnr_db": [psnr(originals, snapshots[s]) for s in steps],
            "sharpness_ratio": [sharpness_ratio(snapshots[s], originals) for s in steps]}


def gan_updates_before(step: int, disc_start: int) -> int:
    """How many adversarial updates a snapshot recorded at ``step`` has seen. ``fit`` records after ``step`` completed
    updates, numbered 0 .. step - 1, and the adversarial term is on for the updates numbered ``disc_start`` and later:
    so a snapshot at ``disc_start`` itself has seen none, one at ``disc_start + 1`` has seen one."""
    return max(0, int(step) - int(disc_start))


def gan_phase(step: int, disc_start: int) -> str:
    """The explorer's words for a snapshot at ``step``: before any adversarial update, or after how many."""
    n = gan_updates_before(step, disc_start)
    if n == 0:
        return f"no adversarial update yet (the discriminator acts from update {disc_start} on)"
    return f"after {n} adversarial update{'s' if n > 1 else ''} (from update {disc_start} on)"


def _img(t: torch.Tensor):
    t = t.permute(1, 2, 0)
    return t[..., 0].numpy() if t.shape[-1] == 1 else t.numpy()


def draw_disc_start(snapshots: Mapping[str, Mapping[int, torch.Tensor]], originals: torch.Tensor, disc_start: int,
                    step: int, model: Optional[str] = None, n: int = 6, stats: Optional[Mapping[str, dict]] = None):
    """Originals, ``model``'s reconstructions at the recorded step nearest ``step``, and PSNR / sharpness curves of
    every model over the recorded steps (dashed line: ``disc_start``; dot: the step shown). The title says whether
    the snapshot has seen any adversarial update (:func:`gan_phase`: a snapshot at ``disc_start`` has not).

    ``snapshots``: ``{model name: {step: (N, C, H, W)}}``; ``originals``: (N, C, H, W). ``stats`` (optional) are
    precomputed :func:`snapshot_stats` per model, so that a slider move only draws."""
    import matplotlib.pyplot as plt

    names = list(snapshots)
    model = names[-1] if model is None else model
    if model not in snapshots:
        raise KeyError(f"no snapshots of {model!r}; recorded: {names}")
    stats = dict(stats) if stats is not None else {m: snapshot_stats(snapshots[m], originals) for m in names}
    shown = nearest_step(snapshots[model], step)
    n = min(n, len(originals))
    fig = plt.figure(figsize=(max(9.0, 0.9 * n + 6.0), 3.3))
    grid = fig.add_gridspec(1, 3, width_ratios=[0.45 * n, 1.6, 1.6], wspace=0.3, left=0.02, right=0.98, bottom=0.16,
                            top=0.86)
    rec = snapshots[model][shown]
    C, H, W = originals.shape[1:]
    gap = max(1, H // 16)
    sheet = torch.ones(C, 2 * H + gap, n * (W + gap) - gap)  # originals on top, reconstructions below, white gaps
    for j in range(n):
        sheet[:, :H, j * (W + gap):j * (W + gap) + W] = originals[j].clamp(0, 1)
        sheet[:, H + gap:, j * (W + gap):j * (W + gap) + W] = rec[j].clamp(0, 1)
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(_img(sheet), cmap="gray" if C == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"step {shown}: {gan_phase(shown, disc_start)}\ntop: originals; bottom: {model}", fontsize=10)
    for col, key, ylabel in ((1, "psnr_db", "PSNR (dB), held out"), (2, "sharpness_ratio", "sharpness / originals (contrast-normalised)")):
        ax = fig.add_subplot(grid[0, col])
        for k, name in enumerate(names):
            s = stats[name]
            ax.plot(s["step"], s[key], "o-" if len(s["step"]) < 30 else "-", ms=3, color=f"C{k}", label=name,
                    lw=2.2 if name == model else 1.0)
            if name == model:
                i = s["step"].index(shown)
                ax.plot([shown], [s[key][i]], "o", ms=9, mfc="none", mec="black")
        ax.axvline(disc_start, color="grey", ls="--", lw=1)
        if key == "sharpness_ratio":
            ax.axhline(1.0, color="grey", lw=0.6)
            later = [v for m in names for st, v in zip(stats[m]["step"], stats[m][key]) if st > 0]
            if later:  # an untrained model's noise is far "sharper" than any image: keep it from squashing the rest
                top = max(1.5, 1.15 * max(later))
                ax.set_ylim(0, top)
                off = [(st, v) for m in names for st, v in zip(stats[m]["step"], stats[m][key]) if v > top]
                for st, v in off:  # points above the axis: an arrow at the top edge, with their value
                    ax.annotate(f"{v:.1f}", (st, top), xytext=(0, -12), textcoords="offset points", ha="center",
                                fontsize=8, arrowprops=dict(arrowstyle="->", lw=0.8))
        ax.set_xlabel("training step", fontsize=10); ax.set_title(ylabel, fontsize=10); ax.tick_params(labelsize=9)
        if col == 1:
            ax.legend(fontsize=8, loc="lower right")
    return fig
