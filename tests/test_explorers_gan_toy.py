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


# ---------------------------------------------------------------- the figures of notebooks 08 and 09
from course_lib import gan  # noqa: E402
from course_lib.explorers import gan_toy  # noqa: E402


def test_runs_from_snapshots_and_mode_collapse_titles_match_the_logs():
    snaps = []
    runs = {"a": [gan.train_toy_gan(steps=12, seed=s, n_eval=300, snapshots=snaps if s == 0 else None)
                  for s in range(2)]}
    r = gan_toy.runs_from_snapshots({"a": snaps})
    assert r["a"]["steps"] == [0] + runs["a"][0][2]["step"] and r["a"]["modes"][1:] == runs["a"][0][2]["modes"]
    fig = gan_toy.draw_mode_collapse(runs, ring_of_gaussians(100))
    # the title counts modes on the same fixed noise as the log: the figure and the table cannot disagree
    assert f"{runs['a'][0][2]['modes'][-1]} of 8 modes" in fig.axes[0].get_title()
    assert len(fig.axes[1].lines) == 2  # one curve per seed
    plt.close(fig)


def test_gan_loss_curves_and_figure():
    l, curves, grads = gan_toy.gan_loss_curves()
    i = int((l + 5).abs().argmin())
    assert grads["G: minimax log(1 - sigmoid(l))"][i] < 0.01 and grads["G: hinge -l"][i] == 1.0
    j = int((l - 2).abs().argmin())  # a confident real logit: the hinge is satisfied, the softplus still pushes
    assert grads["D, real: hinge relu(1 - l)"][j] == 0 and grads["D, real: non-saturating softplus(-l)"][j] > 0.1
    fig, g = gan_toy.draw_gan_losses()
    assert len(fig.axes) == 3 and torch.equal(g["l"], l)
    plt.close(fig)


def test_logit_support_is_the_receptive_field():
    torch.manual_seed(0)
    D = gan.PatchDiscriminator(1, base=4, n_layers=1)
    x = torch.rand(1, 1, 28, 28)
    r0, r1, c0, c1 = gan.logit_support(D, x, 6, 6)
    assert r1 - r0 + 1 == c1 - c0 + 1 == D.receptive_field() == 16
    assert D.training  # the caller's D is left as it was (the support is taken on a copy in eval mode)
    fig, boxes = gan_toy.draw_logit_support(D, x)
    assert boxes[(6, 6)] == (r0, r1, c0, c1) and boxes[(0, 0)][0] == 0
    vmin, vmax = fig.axes[1].images[0].get_clim()
    assert vmin == -vmax  # the colour scale is centred at 0
    plt.close(fig)
    with pytest.raises(ValueError):
        gan.logit_support(D, torch.rand(2, 1, 28, 28), 0, 0)


def test_diagnostics_and_memorisation_figures():
    class H(dict):
        def steps_for(self, key):
            return list(range(len(self[key])))
    hist = {"A": H(rec=[3, 2, 1]), "C": H(rec=[3, 2, 1], acc_real=[0.5, 0.9], acc_fake=[0.5, 0.7], **{"lambda": [1, 2]})}
    fig = gan_toy.draw_gan_diagnostics(hist, watch="C", warmup_end=1)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:2] == ["run A", "run C"]
    plt.close(fig)
    curves = {"plain": [[dict(step=10, auc=0.6, d_loss=0.9), dict(step=20, auc=0.9, d_loss=0.5)]] * 2}
    fig = gan_toy.draw_memorisation(curves)
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.6, 0.9]
    plt.close(fig)


def test_gan_step_diagram_shows_the_detach_and_the_frozen_discriminator():
    fig = gan_toy.draw_gan_step_diagram()
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {".detach()", "D\n(frozen)", "L_D", "L_G", "grad: D only", "grad through D to G"} <= texts
    plt.close(fig)
