"""Notebook 11's disc-start explorer: the recorder stores eval-mode reconstructions without changing the model, the
draw is fast, and its curves are the measured PSNR / sharpness of the snapshots it shows."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from course_lib.explorers import Choice, IntSlider, explorer
from course_lib.explorers.disc_start import SnapshotRecorder, draw_disc_start, nearest_step, snapshot_stats
from course_lib.metrics import psnr


def _blur(x, k):
    if k <= 1:
        return x
    w = torch.ones(x.shape[1], 1, k, k) / k**2
    return F.conv2d(F.pad(x, [k // 2, (k - 1) // 2] * 2, mode="replicate"), w, groups=x.shape[1])


def _fake_runs(seed=0):
    """Two 'models': one stays blurry, one gets sharp after step 40 (what a discriminator is meant to do)."""
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    blurry = {s: _blur(x, 5) for s in (0, 20, 40, 60, 80)}
    sharp = {s: (_blur(x, 5) if s < 40 else _blur(x, 1 if s == 80 else 3)) for s in (0, 20, 40, 60, 80)}
    return x, {"VQ-VAE (MSE)": blurry, "VQ-GAN": sharp}


def test_stats_measure_psnr_and_sharpness_of_each_snapshot():
    x, snaps = _fake_runs()
    st = snapshot_stats(snaps["VQ-GAN"], x)
    assert st["step"] == [0, 20, 40, 60, 80]
    assert st["psnr_db"][1] == pytest.approx(psnr(x, snaps["VQ-GAN"][20]))
    assert st["sharpness_ratio"][-1] == pytest.approx(1.0) and st["psnr_db"][-1] == float("inf")
    assert st["sharpness_ratio"][0] < st["sharpness_ratio"][3] < st["sharpness_ratio"][4]  # sharper after step 40
    # contrast-normalised: halving the contrast of the sharp snapshot leaves its ratio at 1 (plain sharpness halves)
    faint = snapshot_stats({80: 0.5 + 0.5 * (x - 0.5)}, x)["sharpness_ratio"][0]
    assert faint == pytest.approx(1.0, rel=0.05)
    flat = snapshot_stats(snaps["VQ-VAE (MSE)"], x)["sharpness_ratio"]
    assert max(flat) - min(flat) < 1e-6 and flat[0] < 0.8


def test_draw_plots_the_measured_curves():
    x, snaps = _fake_runs(seed=1)
    snaps["VQ-GAN"][80] = _blur(x, 2)  # finite PSNR for the plotted curve
    fig = draw_disc_start(snaps, x, disc_start=40, step=55, model="VQ-GAN")
    assert isinstance(fig, Figure)
    psnr_ax = [a for a in fig.axes if a.get_title().startswith("PSNR")][0]
    gan_line = [ln for ln in psnr_ax.lines if ln.get_label() == "VQ-GAN"][0]
    want = snapshot_stats(snaps["VQ-GAN"], x)
    assert list(gan_line.get_xdata()) == want["step"]
    assert list(gan_line.get_ydata()) == pytest.approx(want["psnr_db"])
    assert "step 60: after 20 adversarial updates" in fig.axes[0].get_title()  # 55 -> the nearest recorded step, 60
    plt.close(fig)
    fig = draw_disc_start(snaps, x, disc_start=40, step=0, model="VQ-VAE (MSE)", n=3)
    assert "step 0: no adversarial update yet" in fig.axes[0].get_title()
    plt.close(fig)
    ex = explorer(lambda **kw: draw_disc_start(snaps, x, 40, **kw), display_figure=False,
                  step=IntSlider(0, 80, 80, step=20), model=Choice(list(snaps), "VQ-GAN"))
    assert isinstance(ex.render(model="VQ-VAE (MSE)", step=20), Figure)
    plt.close("all")


def test_recorder_stores_eval_mode_outputs_and_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Dropout(0.5)).train()
    x = torch.rand(4, 3, 8, 8)
    rec = SnapshotRecorder(net, x)
    before = [p.clone() for p in net.parameters()]
    rec(0); rec(10)
    assert sorted(rec.snapshots) == [0, 10] and net.training
    assert torch.equal(rec.snapshots[0], rec.snapshots[10])  # eval mode: no dropout noise between the two records
    assert torch.equal(rec.snapshots[0], net.eval()(x).clamp(0, 1))
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_nearest_step_and_unknown_model():
    assert nearest_step([0, 20, 40], 29) == 20 and nearest_step([0, 20, 40], 30) == 40
    with pytest.raises(ValueError):
        nearest_step([], 3)
    x, snaps = _fake_runs()
    with pytest.raises(KeyError, match="recorded"):
        draw_disc_start(snaps, x, 40, 20, model="VQ-VAE")


def test_a_snapshot_at_disc_start_is_labelled_before_any_gan_update():
    """fit records after `step` completed updates (numbered 0 .. step-1); the GAN term is on for update `disc_start`
    and later. So the snapshot AT disc_start has seen no adversarial update: it must not read "after"."""
    from course_lib.explorers.disc_start import gan_phase, gan_updates_before

    assert [gan_updates_before(s, 40) for s in (0, 39, 40, 41, 60)] == [0, 0, 0, 1, 20]
    assert gan_phase(40, 40).startswith("no adversarial update yet")
    assert gan_phase(41, 40).startswith("after 1 adversarial update ")
    x, snaps = _fake_runs(seed=2)
    fig = draw_disc_start(snaps, x, disc_start=40, step=40, model="VQ-GAN")
    assert "step 40: no adversarial update yet" in fig.axes[0].get_title()
    plt.close(fig)


def test_gan_updates_match_what_fit_does():
    """The counting of gan_updates_before, checked against fit itself: a loss_fn whose adversarial part is on from
    step disc_start counts its calls, and a recorder reads the count at every snapshot."""
    import torch.nn as nn

    from course_lib.data import make_loader
    from course_lib.explorers.disc_start import gan_updates_before
    from course_lib.train import fit

    w = nn.Parameter(torch.zeros(1))
    done = {"gan": 0}
    seen = {}

    def loss_fn(batch, step):
        if step >= 3:
            done["gan"] += 1
        return {"loss": (w - 1).pow(2).sum()}

    fit(loss_fn, torch.optim.SGD([w], lr=0.1), make_loader((torch.zeros(8, 1), torch.zeros(8)), batch_size=2, seed=0), steps=6,
        sample_fn=lambda step: seen.__setitem__(step, done["gan"]), sample_every=1, progress=False)
    assert seen == {s: gan_updates_before(s, 3) for s in range(1, 7)}


def test_snapshot_book_keeps_every_run_across_a_rerun(tmp_path):
    """A re-run of the notebook resumes finished runs (no training, so no recording): the book must give back every
    run's snapshots, also of runs whose recorder was not created again before the first save."""
    from course_lib.explorers.disc_start import SnapshotBook

    x = torch.rand(2, 3, 8, 8)
    net_a, net_b = torch.nn.Conv2d(3, 3, 1), torch.nn.Conv2d(3, 3, 1)
    book = SnapshotBook(tmp_path / "s.pt", x, resume=True)
    book.recorder("a", net_a)(5)
    book.save()
    book.recorder("b", net_b)(5)
    book.save()
    again = SnapshotBook(tmp_path / "s.pt", x, resume=True)
    again.recorder("a", net_a)
    again.save()  # before "b" is recreated: "b" must survive
    assert sorted(SnapshotBook(tmp_path / "s.pt", x).snapshots) == ["a", "b"]
    assert sorted(again.snapshots["b"]) == [0, 5] and sorted(again.snapshots["a"]) == [0, 5]
    assert SnapshotBook(tmp_path / "s.pt", x, resume=False).snapshots == {}
