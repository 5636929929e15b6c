"""Notebook 05's explorer: scrub through training and watch codes die or revive."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from course_lib.explorers import Choice, IntSlider, explorer
from course_lib.explorers.training_scrub import draw_training_scrub, usage_changes

K = 16
SNAPS = {
    "collapse": [(0, torch.tensor([3] * 8 + [0] * 8)), (10, torch.tensor([20, 4] + [0] * 14)),
                 (20, torch.tensor([24] + [0] * 15))],
    "revival": [(0, torch.tensor([24] + [0] * 15)), (10, torch.tensor([10] + [1] * 14 + [0])),
                (20, torch.tensor([2] * 12 + [0] * 4))],
}


def test_usage_changes_counts_live_revived_and_died():
    assert usage_changes(SNAPS["collapse"]) == [dict(step=0, live=8, revived=0, died=0),
                                                dict(step=10, live=2, revived=0, died=6),
                                                dict(step=20, live=1, revived=0, died=1)]
    ch = usage_changes(SNAPS["revival"])
    assert [c["live"] for c in ch] == [1, 15, 12] and ch[1]["revived"] == 14 and ch[2]["died"] == 3


def test_draw_picks_the_last_snapshot_at_or_before_the_step():
    fig = draw_training_scrub(15, "revival", snapshots=SNAPS)
    assert isinstance(fig, Figure)
    title = fig.axes[0].get_title()
    assert title.startswith("step 10: 15 of 16 codes live") and "14 revived" in title
    bars = list(fig.axes[0].containers[0])  # the bar chart (the grey band of dead codes is a patch too)
    assert len(bars) == K
    green = [b for b in bars if b.get_facecolor()[:3] == matplotlib.colors.to_rgb("tab:green")]
    assert len(green) == 14  # the revived codes are the green bars
    plt.close("all")


def test_explorer_scrubs_steps_and_switches_runs():
    ex = explorer(lambda step=0, run="collapse": draw_training_scrub(step, run, snapshots=SNAPS), display_figure=False,
                  step=IntSlider(0, 20, 0, step=10), run=Choice(list(SNAPS)))
    assert ex.figure.axes[0].get_title().startswith("step 0: 8 of 16")
    assert ex.render(step=20).axes[0].get_title().startswith("step 20: 1 of 16")
    assert ex.render(run="revival").axes[0].get_title().startswith("step 20: 12 of 16")
    plt.close("all")
    with pytest.raises(ValueError, match="no run named"):
        draw_training_scrub(0, "nope", snapshots=SNAPS)
