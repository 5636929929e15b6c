"""Tests for course_lib.explorers.gan_toy (notebook 08's 2-D GAN explorer)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from course_lib.explorers.gan_toy import draw_toy_gan, grid, nearest_snapshot, snapshot  # noqa: E402
from course_lib.gan import ring_centres, ring_of_gaussians  # noqa: E402


def _fake_runs():
    """Two runs whose samples move from the origin (0 modes) onto the ring (8 modes) at different speeds."""
    centres = ring_centres()
    ring = ring_of_gaussians(400, generator=torch.Generator().manual_seed(0))
    runs = {}
    for name, speed in (("hinge", 1.0), ("non-saturating", 0.5)):
        steps, samples, fields, modes = [], [], [], []
        for k, step in enumerate(range(0, 101, 25)):
            t = min(1.0, speed * step / 100)
            s = t * ring + (1 - t) * 0.01 * torch.randn(400, 2, generator=torch.Generator().manual_seed(k))
            steps.append(step)
            samples.append(s)
            fields.append(torch.randn(21, 21, generator=torch.Generator().manual_seed(k)))
            from course_lib.gan import modes_covered
            modes.append(modes_covered(s, centres)[0])
        runs[name] = dict(steps=steps, samples=samples, field=fields, modes=modes)
    return runs, ring


def test_nearest_snapshot():
    assert nearest_snapshot([0, 50, 100], 74) == 1
    assert nearest_snapshot([0, 50, 100], 76) == 2
    assert nearest_snapshot([0, 50, 100], 25) == 0  # a tie goes to the earlier step
    with pytest.raises(ValueError):
        nearest_snapshot([], 3)


def test_draw_picks_the_snapshot_at_the_slider_step():
    runs, ring = _fake_runs()
    for loss in runs:
        for step, want in ((0, 0), (60, 2), (100, 4)):
            fig = draw_toy_gan(runs, step=step, loss=loss, real=ring)
            ax = fig.axes[0]
            # the generator's scatter is the snapshot's samples, and the title reports its measured modes
            offsets = [c.get_offsets() for c in ax.collections if c.get_label() == "generator"][0]
            assert torch.allclose(torch.as_tensor(offsets.data, dtype=torch.float32), runs[loss]["samples"][want])
            assert f"step {runs[loss]['steps'][want]}: {runs[loss]['modes'][want]} of 8 modes" in ax.get_title()
            plt.close(fig)
    # the measured property: modes covered rise from 0 at step 0 to 8 at the end for the fast run, and the
    # right panel plots each run's curve with the current step marked
    assert runs["hinge"]["modes"][0] == 0 and runs["hinge"]["modes"][-1] == 8
    fig = draw_toy_gan(runs, step=60, loss="hinge")
    lines = {ln.get_label(): ln for ln in fig.axes[1].lines}
    assert list(lines["hinge"].get_ydata()) == runs["hinge"]["modes"]
    assert list(lines["non-saturating"].get_ydata()) == runs["non-saturating"]["modes"]
    assert list(lines["step 50"].get_xdata()) == [50, 50]
    plt.close(fig)


def test_draw_validates():
    runs, ring = _fake_runs()
    fig = draw_toy_gan(runs, step=50, loss="non-saturating", show_field=False)
    assert len(fig.axes) == 2  # no colour bar without the field
    plt.close(fig)
    with pytest.raises(ValueError, match="no run for loss"):
        draw_toy_gan(runs, step=0, loss="wasserstein")
    with pytest.raises(ValueError):
        draw_toy_gan({}, step=0)


def test_snapshot_of_real_networks():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    z = torch.randn(300, 2)
    snap = snapshot(G, D, z, ring_centres(), grid_size=11)
    assert snap["samples"].shape == (300, 2) and snap["field"].shape == (11, 11)
    # the field is D on the grid, row-major with y slowest
    g = grid(11)
    assert torch.allclose(snap["field"][0, 10], D(g[10]).squeeze().detach())
    assert g[10].tolist() == [3.0, -3.0]
    assert 0 <= snap["modes"] <= 8
