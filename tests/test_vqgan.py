"""Tests for course_lib.vqgan: shapes, config errors, the index round trip, and the two losses' gradient flow."""
import math

import pytest
import torch
import torch.nn as nn

from course_lib import gan
from course_lib.vqgan import (
    PRESETS,
    VQGAN,
    AttnBlock,
    Decoder,
    Downsample,
    Encoder,
    ResnetBlock,
    Upsample,
    VQGANLoss,
    bits_per_image,
    latent_size,
    make_loss_fn,
    vqgan_config,
)


class L1Perceptual(nn.Module):
    """A cheap stand-in for the perceptual network (so these tests need no weights): per-image mean |dx| of blurs."""

    backend_name = "test-stub"

    def forward(self, a, b):
        pa, pb = nn.functional.avg_pool2d(a, 2), nn.functional.avg_pool2d(b, 2)
        return (pa - pb).abs().flatten(1).mean(1)


def tiny_cfg(**loss):
    return vqgan_config(
        "quick",
        model={"ch": 8, "ch_mult": [1, 2], "norm_groups": 4, "z_channels": 8, "attn_resolutions": [16], "resolution": 32,
               "quantizer": {"kind": "ema", "num_codes": 16, "code_dim": 8, "lookup_dim": 4}},
        loss={"disc_ch": 8, "disc_layers": 2, **loss},
    )


def test_blocks_shapes():
    x = torch.randn(2, 8, 16, 16)
    assert ResnetBlock(8, 16, groups=4)(x).shape == (2, 16, 16, 16)
    assert ResnetBlock(8, groups=4)(x).shape == x.shape
    assert AttnBlock(8, groups=4)(x).shape == x.shape
    assert Downsample(8)(x).shape == (2, 8, 8, 8)
    assert Upsample(8)(x).shape == (2, 8, 32, 32)
    enc = Encoder(3, 8, [1, 2, 2], 1, [8], 32, z_channels=4, norm_groups=4)
    dec = Decoder(3, 8, [1, 2, 2], 1, [8], 32, z_channels=4, norm_groups=4)
    z = enc(torch.rand(2, 3, 32, 32))
    assert z.shape == (2, 4, 8, 8)
    assert dec(z).shape == (2, 3, 32, 32)
    assert any(isinstance(m, AttnBlock) for m in enc.down)  # attention at the 8x8 level only
    assert sum(isinstance(m, AttnBlock) for m in enc.down) == 1


def test_attention_is_global():
    """Every output position of the attention block depends on every input position (unlike a 3x3 conv)."""
    torch.manual_seed(0)
    blk = AttnBlock(8, groups=4)
    x = torch.randn(1, 8, 4, 4, requires_grad=True)
    blk(x)[0, :, 0, 0].sum().backward()
    assert (x.grad.abs().sum(1) > 0).all()


def test_vqgan_forward_encode_decode_roundtrip():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    m = VQGAN(cfg).eval()
    x = torch.rand(3, 3, 32, 32)
    x_hat, q = m(x)
    assert x_hat.shape == x.shape
    assert q.indices.shape == (3, 16, 16) and q.indices.dtype == torch.long
    assert q.loss.dim() == 0
    idx = m.encode(x)
    assert torch.equal(idx, q.indices)
    assert torch.allclose(m.decode_indices(idx), x_hat, atol=1e-5)
    assert m.last_layer is m.decoder.conv_out.weight
    assert m.latent_shape == (16, 16) == (latent_size(cfg),) * 2
    assert bits_per_image(cfg) == 16 * 16 * math.log2(16)


@pytest.mark.parametrize("kind,extra", [("vq", {"cosine": True}), ("factorized", {"lookup_dim": 4}),
                                        ("fsq", {"levels": [4, 4, 2]})])
def test_quantizer_choice(kind, extra):
    q = {"kind": kind, **extra}
    if kind != "fsq":
        q.update(num_codes=16, code_dim=8)
    cfg = vqgan_config("quick", model={"ch": 8, "ch_mult": [1, 2], "norm_groups": 4, "z_channels": 8,
                                       "attn_resolutions": [], "quantizer": q})
    assert cfg["model"]["quantizer"] == q  # another kind replaces the preset's quantizer options
    m = VQGAN(cfg).eval()
    x = torch.rand(2, 3, 32, 32)
    x_hat, out = m(x)
    assert x_hat.shape == x.shape
    assert torch.allclose(m.decode_indices(m.encode(x)), x_hat, atol=1e-5)


@pytest.mark.parametrize(
    "override,match",
    [
        ({"model": {"resolution": 30}}, "not divisible"),
        ({"model": {"ch": 12, "norm_groups": 8}}, "GroupNorm"),
        ({"model": {"attn_resolutions": [4]}}, "attn_resolutions"),
        ({"model": {"in_chanels": 3}}, "did you mean 'in_channels'"),
        ({"loss": {"disc_wieght": 1.0}}, "disc_weight"),
        ({"model": {"quantizer": {"kind": "cosin"}}}, "Unknown quantizer kind"),
    ],
)
def test_config_errors_are_clear(override, match):
    with pytest.raises(ValueError, match=match):
        cfg = vqgan_config("quick", **override)
        VQGAN(cfg)


def test_unknown_preset():
    with pytest.raises(ValueError, match="Did you mean 'quick'"):
        vqgan_config("quik")


def test_wrong_input_shape_errors():
    m = VQGAN(tiny_cfg())
    with pytest.raises(ValueError, match="channels-last"):
        m(torch.rand(2, 32, 32, 3))
    with pytest.raises(ValueError, match="multiples of 2"):
        m(torch.rand(2, 3, 31, 31))


def test_presets_build_and_have_expected_grids():
    for name in PRESETS:
        cfg = vqgan_config(name)
        assert latent_size(cfg) == 8
    # the standard preset is CIFAR-10 32x32 with 2 downsamples and K=512
    s = vqgan_config("standard")
    assert s["model"]["resolution"] == 32 and len(s["model"]["ch_mult"]) == 3
    assert s["model"]["quantizer"]["num_codes"] == 512


def test_generator_loss_terms_and_warmup_gate():
    torch.manual_seed(0)
    cfg = tiny_cfg(disc_start=5, disc_weight=0.5)
    m = VQGAN(cfg)
    L = VQGANLoss(cfg, perceptual=L1Perceptual())
    x = torch.rand(4, 3, 32, 32)
    x_hat, q = m(x)
    before = L.generator_loss(x, x_hat, q.loss, step=4, last_layer=m.last_layer)
    assert "g_adv" not in before
    expected = (x - x_hat).abs().mean() + L1Perceptual()(x_hat, x).mean() + q.loss  # no clamp (as taming)
    assert torch.allclose(before["gen"], expected, atol=1e-6)
    after = L.generator_loss(x, x_hat, q.loss, step=5, last_layer=m.last_layer)
    lam = gan.adaptive_weight(expected, gan.hinge_g_loss(L.discriminator(x_hat)), m.last_layer)
    assert torch.allclose(after["adaptive_weight"], lam)
    assert torch.allclose(after["gen"], expected + 0.5 * lam * after["g_adv"], atol=1e-6)
    assert L.discriminator_loss(x, x_hat, step=4)["disc"] is None


def test_generator_step_leaves_discriminator_alone_and_disc_step_leaves_generator_alone():
    torch.manual_seed(0)
    cfg = tiny_cfg(disc_start=0)
    m = VQGAN(cfg)
    L = VQGANLoss(cfg, perceptual=L1Perceptual())
    losses = make_loss_fn(m, L)((torch.rand(4, 3, 32, 32), None), step=0)
    losses["gen"].backward(retain_graph=True)
    assert all(p.grad is None for p in L.discriminator.parameters()), "generator loss leaked into D"
    assert all(p.requires_grad for p in L.discriminator.parameters()), "D must be unfrozen after the G step"
    m.zero_grad(set_to_none=True)
    losses["disc"].backward()
    assert all(p.grad is None for p in m.parameters()), "discriminator loss must see DETACHED reconstructions"
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in L.discriminator.parameters())


def test_discriminator_sees_images_not_codes():
    torch.manual_seed(0)
    cfg = tiny_cfg(disc_start=0)
    L = VQGANLoss(cfg, perceptual=L1Perceptual())
    seen = []
    L.discriminator.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape))
    m = VQGAN(cfg)
    make_loss_fn(m, L)((torch.rand(2, 3, 32, 32), None), step=0)
    assert seen and all(s[1:] == (3, 32, 32) for s in seen)


def test_bf16_autocast_forward_is_finite():
    torch.manual_seed(0)
    cfg = tiny_cfg(disc_start=0)
    m = VQGAN(cfg)
    L = VQGANLoss(cfg, perceptual=L1Perceptual())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = make_loss_fn(m, L)((torch.rand(2, 3, 32, 32), None), step=0)
    assert torch.isfinite(out["gen"]) and torch.isfinite(out["disc"])
    out["gen"].backward(retain_graph=True)
    assert torch.isfinite(m.last_layer.grad).all()


# ----------------------------------------------------------------------------------------------------------------------
# Exercise checks of notebook 11: they pass the solution, reject the stub and plausible wrong answers with a hint.
# ----------------------------------------------------------------------------------------------------------------------
from course_lib.checks import CheckFailed  # noqa: E402
from course_lib.checks import vqgan as ck  # noqa: E402


def _solution_generator_loss(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start, perceptual_fn,
                             perceptual_weight=1.0, disc_weight=0.5):
    rec = (x - x_hat).abs().mean() + perceptual_weight * perceptual_fn(x_hat, x).mean()
    total = rec + q_loss
    if step >= disc_start:
        g_loss = gan.hinge_g_loss(logits_fake)
        total = total + disc_weight * gan.adaptive_weight(rec, g_loss, last_layer) * g_loss
    return total


def test_check_generator_loss_accepts_solution(capsys):
    ck.check_generator_loss(_solution_generator_loss)
    assert "Check passed" in capsys.readouterr().out


def _stub(*args):
    raise NotImplementedError()


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (_stub, "not implemented"),
        (ck._no_warmup, "warm-up"),
        (ck._strict_gate, "off by one"),
        (ck._no_adaptive, "adaptive weight"),
        (ck._inverted_lambda, "upside down"),
        (ck._no_quantizer_loss, "quantizer loss"),
        (ck._mse_not_l1, "L1"),
        (ck._lambda_not_detached, "detach"),
        (lambda *a: ck.reference_generator_loss(*a).detach(), "no gradient"),
    ],
)
def test_check_generator_loss_rejects_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        ck.check_generator_loss(wrong)


def _solution_discriminator_loss(disc, x, x_hat):
    return gan.hinge_d_loss(disc(x), disc(x_hat.detach()))


def test_check_discriminator_loss(capsys):
    ck.check_discriminator_loss(_solution_discriminator_loss)
    assert "Check passed" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="not implemented"):
        ck.check_discriminator_loss(_stub)
    with pytest.raises(CheckFailed, match="decoder"):
        ck.check_discriminator_loss(lambda d, x, xh: gan.hinge_d_loss(d(x), d(xh)))  # fakes not detached
    with pytest.raises(CheckFailed, match="swapped"):
        ck.check_discriminator_loss(lambda d, x, xh: gan.hinge_d_loss(d(xh.detach()), d(x)))
    with pytest.raises(CheckFailed, match="0.5"):
        ck.check_discriminator_loss(lambda d, x, xh: 2 * gan.hinge_d_loss(d(x), d(xh.detach())))


def test_presets_discriminator_sees_patches_not_the_whole_image():
    """Issue 11 (11): with 2 stride-2 layers a logit sees 34 px, more than a 32-px image; the presets use fewer."""
    for name in PRESETS:
        cfg = vqgan_config(name)
        disc = VQGANLoss(cfg, perceptual=L1Perceptual()).discriminator
        res = cfg["model"]["resolution"]
        assert disc.receptive_field() < res, (name, disc.receptive_field(), res)
        assert disc.output_size(res) >= 2


def test_perceptual_term_is_not_clamped():
    """Issue 11 (11): clamping x_hat to [0, 1] before the perceptual loss zeroed its gradient for overshooting pixels
    (taming does not clamp). Pixels outside [0, 1] must get a perceptual gradient."""
    cfg = tiny_cfg()
    L = VQGANLoss(cfg, perceptual=L1Perceptual())
    x = torch.rand(2, 3, 32, 32)
    x_hat = (x + 0.8).requires_grad_(True)  # every pixel above 0.8 + x, most of them > 1
    L.perceptual_distance(x, x_hat).backward()
    outside = x_hat.detach() > 1
    assert outside.any() and x_hat.grad[outside].abs().sum() > 0


def test_small_data_options_spectral_norm_and_diff_augment_reach_both_steps(monkeypatch):
    """The optional loss keys build a spectrally normalised discriminator and route D's inputs through DiffAugment in
    the discriminator step AND the generator step (Zhao et al. 2020, eqs. 2-3); off by default."""
    import torch

    from course_lib import augment
    from course_lib.vqgan import VQGAN, VQGANLoss, vqgan_config

    plain = VQGANLoss(vqgan_config("quick", loss={"perceptual_weight": 0.0}))
    assert plain.diff_augment == "" and not any("parametrizations" in n for n, _ in plain.discriminator.named_modules())
    cfg = vqgan_config("quick", loss={"perceptual_weight": 0.0, "disc_start": 0, "disc_spectral_norm": True,
                                      "disc_norm": "none", "diff_augment": "translation,cutout"})
    loss = VQGANLoss(cfg)
    convs = [m for m in loss.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    seen = []
    real = augment.diff_augment

    def spy(x, policy="color,translation,cutout", generator=None):
        seen.append((x.shape[0], policy, x.requires_grad))
        return real(x, policy, generator)

    monkeypatch.setattr(augment, "diff_augment", spy)
    torch.manual_seed(0)
    model = VQGAN(cfg)
    x = torch.rand(4, 3, 32, 32)
    x_hat, q = model(x)
    q_loss = q.loss
    g = loss.generator_loss(x, x_hat, q_loss, step=1, last_layer=model.last_layer)
    d = loss.discriminator_loss(x, x_hat, step=1)
    assert torch.isfinite(g["gen"]) and torch.isfinite(d["disc"])
    # G step: the 4 fakes, with a graph back to the generator; D step: 4 reals + 4 detached fakes in one batch
    assert seen == [(4, "translation,cutout", True), (8, "translation,cutout", False)]


def test_small_data_options_are_validated_with_clear_errors():
    import pytest as _pytest

    from course_lib.vqgan import validate_config, vqgan_config

    with _pytest.raises(ValueError, match="unknown transforms"):
        validate_config(vqgan_config("quick", loss={"diff_augment": "colour"}))
    with _pytest.raises(ValueError, match="True or False"):
        validate_config(vqgan_config("quick", loss={"disc_spectral_norm": "yes"}))
