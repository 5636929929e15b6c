"""Notebook 11's loss ablation (course_lib.vqgan.ablation): a checkpoint remembers everything that defines its run,
so a changed loss setting, warm-up or codebook size is refused instead of silently resumed (the 2026-12-06 review:
the old resume key held only the arm, seed, preset and lr); the full arm branched from the L1 + perceptual arm at
disc_start equals the full arm trained from scratch; and reconstructions are taken in eval mode (a training-mode
forward moves the EMA codebook)."""
import pytest
import torch

from course_lib.checkpoint import CheckpointMismatchError, load_checkpoint
from course_lib.vqgan import (VQGAN, arm_config, config_from_identity, fidelity, reconstruct, run_identity, train_arm,
                              vqgan_config)

TINY = dict(model={"ch": 8, "ch_mult": [1, 2], "norm_groups": 4, "z_channels": 8, "attn_resolutions": [16],
                   "quantizer": {"num_codes": 16, "code_dim": 8, "lookup_dim": 4, "restart_dead_after": 2}},
            loss={"disc_ch": 8, "disc_layers": 1, "disc_start": 2, "perceptual_weight": 0.0},
            train={"batch_size": 4, "lr": 1e-3})


def _cfg(**loss):
    return vqgan_config("quick", model=TINY["model"], loss={**TINY["loss"], **loss}, train=TINY["train"])


def _data(n=16):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_identity_names_every_setting_but_the_run_length():
    ident = run_identity(_cfg(), arm="MSE", seed=1)
    assert ident["loss.disc_weight"] == 0.5 and ident["loss.disc_start"] == 2
    assert ident["model.quantizer.num_codes"] == 16 and ident["train.batch_size"] == 4 and ident["seed"] == 1
    assert not any(k in ident for k in ("train.steps", "train.checkpoint_every", "train.log_every"))
    back = config_from_identity(ident)
    assert back["model"] == _cfg()["model"] and back["loss"] == _cfg()["loss"]
    assert VQGAN(back).latent_shape == VQGAN(_cfg()).latent_shape


@pytest.mark.parametrize("change, key", [
    (dict(loss={"disc_weight": 0.8}), "loss.disc_weight"),
    (dict(loss={"disc_start": 1}), "loss.disc_start"),
    (dict(loss={"perceptual_weight": 0.5}), "loss.perceptual_weight"),
    (dict(model={"quantizer": {"num_codes": 8}}), "model.quantizer"),
])
def test_a_changed_setting_is_refused_not_silently_resumed(tmp_path, change, key):
    x, ckpt = _data(), tmp_path / "arm.pt"
    train_arm("L1 + perceptual + GAN", _cfg(), x, seed=0, steps=1, checkpoint=ckpt)
    changed = vqgan_config("quick", model={**TINY["model"], **change.get("model", {}),
                                           "quantizer": {**TINY["model"]["quantizer"],
                                                         **change.get("model", {}).get("quantizer", {})}},
                           loss={**TINY["loss"], **change.get("loss", {})}, train=TINY["train"])
    with pytest.raises(CheckpointMismatchError, match=key.replace(".", r"\.")):
        train_arm("L1 + perceptual + GAN", changed, x, seed=0, steps=2, checkpoint=ckpt)


def test_a_longer_run_resumes_the_same_run(tmp_path, capsys):
    x = _data()
    train_arm("MSE", _cfg(), x, seed=0, steps=1, checkpoint=tmp_path / "a.pt")
    net_a, _ = train_arm("MSE", _cfg(), x, seed=0, steps=3, checkpoint=tmp_path / "a.pt")
    assert "at step 1 of 3" in capsys.readouterr().out
    net_b, _ = train_arm("MSE", _cfg(), x, seed=0, steps=3, checkpoint=tmp_path / "b.pt")
    assert all(torch.equal(p, q) for p, q in zip(net_a.state_dict().values(), net_b.state_dict().values()))


def test_the_branched_full_arm_equals_the_full_arm_from_scratch(tmp_path):
    """Until disc_start the full arm IS the L1 + perceptual arm; branching saves the full arm's first steps. The
    branch must be exact (same weights, codebook, optimiser and data position) and carry the full arm's identity."""
    x, cfg = _data(), _cfg()
    perc, gan = "L1 + perceptual", "L1 + perceptual + GAN"
    branch = tmp_path / "gan_branched.pt"
    train_arm(perc, cfg, x, seed=0, steps=4, checkpoint=tmp_path / "perc.pt", branch=(gan, branch))
    state = load_checkpoint(branch)
    assert state["step"] == cfg["loss"]["disc_start"]
    assert state["config"] == run_identity(arm_config(cfg, gan), arm=gan, seed=0)
    branched, _ = train_arm(gan, cfg, x, seed=0, steps=4, checkpoint=branch)
    scratch, _ = train_arm(gan, cfg, x, seed=0, steps=4, checkpoint=tmp_path / "gan_scratch.pt")
    for (k, a), b in zip(branched.state_dict().items(), scratch.state_dict().values()):
        assert torch.equal(a, b), k
    perc_net, _ = train_arm(perc, cfg, x, seed=0, steps=4, checkpoint=tmp_path / "perc.pt")
    assert not torch.equal(perc_net.decoder.conv_out.weight, branched.decoder.conv_out.weight)  # they part after it


def test_reconstruct_is_eval_mode_and_leaves_the_codebook_alone():
    """The review's E8: a training-mode forward of an evaluated model moved its EMA codebook (eval reconstructions
    changed by up to 0.14). reconstruct() runs in eval mode and restores the model's mode."""
    torch.manual_seed(0)
    net = VQGAN(_cfg()).train()
    x = _data(8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    r1 = reconstruct(net, x, batch_size=3)
    r2 = reconstruct(net, x)
    assert net.training and torch.equal(r1, r2) and r1.shape == x.shape and 0 <= r1.min() and r1.max() <= 1
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    net(x)  # what the old pitfall cell did: a training-mode forward
    assert any(not torch.equal(v, net.state_dict()[k]) for k, v in before.items() if "quantizer" in k)


def test_fidelity_numbers():
    x = _data(4)
    f = fidelity(x, x)
    assert f["PSNR (dB)"] == float("inf") and f["SSIM"] == pytest.approx(1.0) and f["colour error (/255)"] == 0
    tinted = (x * torch.tensor([1.0, 0.5, 1.0]).view(1, 3, 1, 1))
    assert fidelity(x, tinted)["colour error (/255)"] == pytest.approx(float(x[:, 1].mean(dim=(1, 2)).mean()) * 0.5 * 255 / 3,
                                                                      rel=1e-5)
    with pytest.raises(ValueError, match="shape"):
        fidelity(x, x[:2])


def test_perceptual_note_says_it_in_words():
    from course_lib.perceptual import PerceptualLoss
    from course_lib.vqgan import perceptual_note

    note = perceptual_note(PerceptualLoss(backend="course", verbose=False))
    assert note.startswith("Perceptual network: the course feature net") and "Error" not in note
    assert "perceptual_weight is 0" in perceptual_note(None)


def test_training_curves_mark_the_discriminator_start_and_the_resume():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.train import History
    from course_lib.vqgan import CURVE_TITLES, draw_training_curves

    h = History()
    for s in range(1, 11):
        h.log(s, l1=1.0 / s, q=0.1)
        if s > 4:
            h.log(s, disc=1.0, g_adv=0.2)
    fig = draw_training_curves(h, 10, disc_start=4, resumed_at=6)
    visible = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == [CURVE_TITLES[k] for k in ("l1", "q", "g_adv", "disc")]
    for ax in visible:
        assert ax.get_xlim() == (0.0, 10.0)
        assert sorted(ln.get_xdata()[0] for ln in ax.lines[1:]) == [4, 6]  # the two marks
    plt.close(fig)
    with pytest.raises(ValueError, match="none of"):
        draw_training_curves(History(), 10)


def test_realism_measures_a_colour_cast_and_reuses_the_reference_features():
    """vqgan.realism: the judge's KID (with a bootstrap interval) and the model-free measures of image_quality, for
    one image set against a real reference; precomputed reference features give the same numbers."""
    from course_lib.data import load_dataset
    from course_lib.image_quality import load_judge_net, log_spectrum_distance
    from course_lib.vqgan import judge_features, realism

    x = load_dataset("natural", split="test", n=512).x  # notebook 11's sizes: 256 evaluated vs 256 reference
    a, ref = x[:256], x[256:]
    judge = load_judge_net()
    floor = realism(a, ref, judge)
    tinted = realism(a * torch.tensor([1.0, 0.8, 0.7]).view(1, 3, 1, 1), ref, judge, judge_features(judge, ref))
    assert set(floor) == {"judge KID", "spectrum L1", "gradient W1", "sharpness ratio"}
    assert floor["judge KID"].low <= floor["judge KID"].mean <= floor["judge KID"].high
    assert tinted["judge KID"].low > floor["judge KID"].high                 # the judge sees colour
    assert floor["spectrum L1"] == pytest.approx(log_spectrum_distance(a, ref))
    again = realism(a, ref, judge, judge_features(judge, ref))
    assert again["judge KID"].mean == pytest.approx(floor["judge KID"].mean)
    blurred = torch.nn.functional.avg_pool2d(a, 3, stride=1, padding=1, count_include_pad=False)
    b = realism(blurred, ref, judge)
    assert b["sharpness ratio"] < floor["sharpness ratio"] and b["spectrum L1"] > floor["spectrum L1"]
