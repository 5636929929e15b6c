"""Explorer for notebook 05: scrub through training and watch codes die or revive.

The notebook records, during its own training runs, how often each code is chosen on a fixed held-out set at a
few steps (``usage snapshots``: a list of ``(step, counts)`` with ``counts`` a (K,) tensor of code counts). The
draw function picks one run (one cure) and one step and draws the per-code usage, sorted and on a log scale, next
to the number of live codes over training. Used in notebook 05::

    explorer(partial(draw_training_scrub, snapshots=snapshots), step=IntSlider(0, 200, 200, step=40),
             run=Choice(list(snapshots)))
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
import torch

__all__ = ["usage_changes", "draw_training_scrub"]

Snapshots = Sequence[Tuple[int, torch.Tensor]]


def _at(snaps: Snapshots, step: int) -> int:
    """Index of the last snapshot taken at or before ``step`` (the first one if ``step`` precedes them all)."""
    steps = [s for s, _ in snaps]
    i = int(np.searchsorted(steps, step, side="right")) - 1
    return max(i, 0)


def usage_changes(snaps: Snapshots) -> List[Dict[str, int]]:
    """For every snapshot: its step, live codes, and how many codes revived (dead at the previous snapshot, live
    now) or died (live then, dead now) since the previous one."""
    out, prev = [], None
    for step, counts in snaps:
        live = torch.as_tensor(counts) > 0
        revived = int((live & ~prev).sum()) if prev is not None else 0
        died = int((~live & prev).sum()) if prev is not None else 0
        out.append(dict(step=int(step), live=int(live.sum()), revived=revived, died=died))
        prev = live
    return out


def draw_training_scrub(step: int = 0, run: str = None, *, snapshots: Mapping[str, Snapshots]):
    """Usage of every code at ``step`` (sorted, log scale; green: revived since the previous snapshot) and the
    live-code count over training with ``step`` marked, for the run ``run`` (a key of ``snapshots``; default the
    first). Returns the Figure."""
    import matplotlib.pyplot as plt

    if not snapshots:
        raise ValueError("no usage snapshots to draw: record (step, counts) pairs during training first")
    run = next(iter(snapshots)) if run is None else run
    if run not in snapshots:
        raise ValueError(f"no run named {run!r}; the runs are {list(snapshots)}")
    snaps = snapshots[run]
    i = _at(snaps, step)
    shown_step, counts = snaps[i]
    counts = torch.as_tensor(counts).float().cpu()
    k = len(counts)
    changes = usage_changes(snaps)
    prev_live = (torch.as_tensor(snaps[i - 1][1]) > 0) if i > 0 else torch.zeros(k, dtype=torch.bool)
    order = torch.argsort(counts, descending=True, stable=True)
    sorted_counts = counts[order].numpy()
    revived = ((counts > 0) & ~prev_live)[order].numpy() if i > 0 else np.zeros(k, dtype=bool)
    live = int((counts > 0).sum())

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw=dict(width_ratios=[1.6, 1.0]))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.8, bottom=0.15, wspace=0.25)  # fixed: fast redraws
    ax = axes[0]
    xs = np.arange(k)
    colours = np.where(revived, "tab:green", "tab:blue")
    ax.bar(xs, np.where(sorted_counts > 0, sorted_counts, np.nan), width=1.0, color=colours, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlim(-0.5, k - 0.5)
    ax.set_ylim(0.5, max(2.0, float(counts.max()) * 1.5))  # below 1, so that codes chosen once show a bar
    if live < k:
        ax.axvspan(live - 0.5, k - 0.5, color="0.9", zorder=0)
        ax.text((live + k) / 2, 0.6, f"{k - live} dead codes\n(chosen 0 times)", ha="center", va="bottom",
                fontsize=9, color="0.3")
    ax.set_xlabel("code (sorted by use at this step)")
    ax.set_ylabel("times chosen on held-out data (log)")
    ch = changes[i]
    ax.set_title(f"step {shown_step}: {live} of {k} codes live" +
                 (f" ({ch['revived']} revived in green, {ch['died']} died since step {snaps[i - 1][0]})" if i else ""),
                 fontsize=10)
    ax = axes[1]
    ax.plot([c["step"] for c in changes], [c["live"] for c in changes], "o-", color="tab:blue")
    ax.plot([shown_step], [live], "o", ms=13, mfc="none", mec="k", mew=2)
    ax.axvline(shown_step, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_ylim(0.8, k * 1.3)
    ax.axhline(k, color="gray", ls="--", lw=1)
    ax.set_xlabel("training step")
    ax.set_ylabel("live codes (log)")
    ax.set_title(f"live codes over training (dashed: K = {k})", fontsize=10)
    fig.suptitle(run, fontsize=11)
    return fig
