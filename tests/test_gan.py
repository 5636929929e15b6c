"""Tests for course_lib.gan: PatchGAN discriminator, GAN losses, adaptive weight, warm-up, helpers."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import gan
from course_lib.gan import (PatchDiscriminator, adaptive_weight, adopt_weight, hinge_d_loss, hinge_g_loss,
                            non_saturating_d_loss, non_saturating_g_loss, receptive_field, set_requires_grad,
                            weights_init)


# ---------------------------------------------------------------- discriminator shapes and receptive field
@pytest.mark.parametrize("size,n_layers,expected", [(32, 3, 2), (64, 3, 6), (32, 2, 6), (64, 2, 14), (32, 1, 14)])
@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_output_shape(size, n_layers, expected, norm):
    D = PatchDiscriminator(in_channels=3, base=8, n_layers=n_layers, norm=norm)
    out = D(torch.randn(2, 3, size, size))
    assert out.shape == (2, 1, expected, expected)
    assert D.output_size(size) == expected


def test_grayscale_and_rectangular():
    D = PatchDiscriminator(in_channels=1, base=8, n_layers=2)
    assert D(torch.randn(3, 1, 28, 36)).shape == (3, 1, D.output_size(28), D.output_size(36))


def test_receptive_field_formula():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1)]) == 3
    assert receptive_field([(3, 1), (3, 1)]) == 5
    assert receptive_field([(2, 2), (2, 2)]) == 4
    # the PatchGAN of the papers: 70x70 patches
    assert receptive_field([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]) == 70
    for n, rf in [(1, 16), (2, 34), (3, 70)]:
        D = PatchDiscriminator(base=4, n_layers=n)
        assert D.receptive_field() == rf
        assert D.receptive_field() == receptive_field(D.conv_layers())


def test_receptive_field_bad_input():
    with pytest.raises(TypeError):
        receptive_field([4, 2])
    with pytest.raises(ValueError):
        receptive_field([(0, 1)])


@pytest.mark.parametrize("n_layers,size", [(1, 48), (2, 64)])
@pytest.mark.parametrize("norm", ["none", "batch"])
def test_receptive_field_empirical(n_layers, size, norm):
    """The gradient of one interior logit w.r.t. the input is nonzero on exactly an RF x RF square."""
    torch.manual_seed(0)
    D = PatchDiscriminator(in_channels=1, base=4, n_layers=n_layers, norm=norm).double().eval()
    x = torch.randn(1, 1, size, size, dtype=torch.double, requires_grad=True)
    out = D(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    support = (x.grad[0, 0].abs() > 0)
    rows = support.any(dim=1).nonzero().flatten()
    cols = support.any(dim=0).nonzero().flatten()
    rf = D.receptive_field()
    # inside the image bounds (an interior logit)
    assert rows.min() > 0 and rows.max() < size - 1 and cols.min() > 0 and cols.max() < size - 1
    assert rows.max() - rows.min() + 1 == rf
    assert cols.max() - cols.min() + 1 == rf
    assert support.sum() == rf * rf  # the whole square, no holes


def test_batchnorm_train_mode_mixes_positions():
    """In train mode BatchNorm couples every position (and every image): why we measure RF in eval mode."""
    torch.manual_seed(0)
    D = PatchDiscriminator(in_channels=1, base=4, n_layers=1, norm="batch").train()
    x = torch.randn(2, 1, 48, 48, requires_grad=True)
    D(x)[0, 0, 0, 0].backward()
    assert (x.grad[1].abs() > 0).any()  # the other image in the batch gets gradient


def test_channel_mismatch_error():
    D = PatchDiscriminator(in_channels=3, base=4)
    with pytest.raises(ValueError, match="in_channels=3"):
        D(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="permute"):
        D(torch.randn(2, 32, 32, 3))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        D(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="too small"):
        D(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError):
        PatchDiscriminator(norm="layer")
    with pytest.raises(ValueError):
        PatchDiscriminator(n_layers=0)


def test_weights_init():
    torch.manual_seed(0)
    D = PatchDiscriminator(base=64, n_layers=3, norm="batch")
    w = torch.cat([m.weight.flatten() for m in D.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.mean().item()) < 2e-3 and abs(w.std().item() - 0.02) < 2e-3
    bn = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn and all(torch.all(m.bias == 0) for m in bn)
    assert all(abs(m.weight.mean().item() - 1.0) < 0.01 for m in bn)
    lin = nn.Linear(3, 4)
    weights_init(lin)
    assert torch.all(lin.bias == 0)


# ---------------------------------------------------------------- losses, by hand
def test_hinge_losses_by_hand():
    real = torch.tensor([2.0, 0.5, -1.0, 1.0])
    fake = torch.tensor([-2.0, 0.0, 0.5])
    # relu(1 - real) = [0, .5, 2, 0] -> mean .625 ; relu(1 + fake) = [0, 1, 1.5] -> mean 5/6
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.5 * (0.625 + 2.5 / 3))
    assert hinge_g_loss(fake).item() == pytest.approx(-(-1.5 / 3))
    # confident and correct D: zero loss
    assert hinge_d_loss(torch.full((4,), 3.0), torch.full((4,), -3.0)).item() == 0.0


def test_non_saturating_losses_by_hand():
    real = torch.tensor([0.0, 2.0])
    fake = torch.tensor([0.0, -1.0])
    sp = lambda v: math.log1p(math.exp(v))
    expected_d = 0.5 * ((sp(0) + sp(-2)) / 2 + (sp(0) + sp(-1)) / 2)
    assert non_saturating_d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert non_saturating_g_loss(fake).item() == pytest.approx((sp(0) + sp(1)) / 2, rel=1e-6)
    # = BCE with labels 1 for real, 0 for fake
    r, f = torch.randn(10), torch.randn(10)
    bce = 0.5 * (F.binary_cross_entropy_with_logits(r, torch.ones(10)) +
                 F.binary_cross_entropy_with_logits(f, torch.zeros(10)))
    assert torch.allclose(non_saturating_d_loss(r, f), bce, atol=1e-6)
    # large logits stay finite (softplus, not log(sigmoid))
    assert torch.isfinite(non_saturating_g_loss(torch.tensor([-200.0])))


def test_loss_gradients():
    f = torch.tensor([-3.0, 0.0, 3.0], requires_grad=True)
    hinge_g_loss(f).backward()
    assert torch.allclose(f.grad, torch.full((3,), -1 / 3))  # constant: hinge G never saturates
    f.grad = None
    non_saturating_g_loss(f).backward()
    assert torch.allclose(f.grad, -(1 - torch.sigmoid(f.detach())) / 3)


def test_loss_input_validation():
    with pytest.raises(TypeError):
        hinge_d_loss([1.0], torch.zeros(1))
    with pytest.raises(TypeError):
        hinge_g_loss(torch.zeros(3, dtype=torch.long))


# ---------------------------------------------------------------- adaptive weight
def _toy_decoder():
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6))
    z = torch.randn(5, 4)
    x = torch.randn(5, 6)
    x_hat = dec(z)
    rec = (x_hat - x).abs().mean()
    g = -(x_hat * torch.linspace(-1, 1, 6)).mean()  # a stand-in "generator loss"
    return dec, rec, g


def test_adaptive_weight_equals_grad_norm_ratio():
    dec, rec, g = _toy_decoder()
    W = dec[2].weight
    gr = torch.autograd.grad(rec, W, retain_graph=True)[0]
    gg = torch.autograd.grad(g, W, retain_graph=True)[0]
    expected = gr.norm() / (gg.norm() + 1e-4)
    lam = adaptive_weight(rec, g, W)
    assert torch.allclose(lam, expected, rtol=1e-6)
    assert not lam.requires_grad and lam.grad_fn is None
    assert lam.dim() == 0
    # graphs are retained: the total loss can still be backpropagated
    (rec + lam * g).backward()
    assert W.grad is not None


def test_adaptive_weight_clamp_and_delta():
    dec, rec, _ = _toy_decoder()
    W = dec[2].weight
    tiny_g = 1e-12 * dec[2].weight.sum()  # GAN gradient ~ 0
    gr = torch.autograd.grad(rec, W, retain_graph=True)[0].norm()
    # delta bounds lambda by ||grad rec|| / delta ...
    assert adaptive_weight(rec, tiny_g, W).item() == pytest.approx(gr.item() / 1e-4, rel=1e-4)
    # ... and the clamp caps it at max_weight
    assert adaptive_weight(100 * rec, tiny_g, W).item() == pytest.approx(1e4)
    assert adaptive_weight(100 * rec, tiny_g, W, max_weight=None).item() > 1e4
    exploding = adaptive_weight(rec, tiny_g, W, delta=0.0, max_weight=None)
    assert exploding.item() > 1e8


def test_adaptive_weight_errors():
    dec, rec, g = _toy_decoder()
    with pytest.raises(ValueError, match="does not depend"):
        adaptive_weight(rec, g, dec[0].weight.detach().requires_grad_())
    with pytest.raises(ValueError, match="does not require grad"):
        adaptive_weight(rec.detach(), g, dec[2].weight)


def test_adopt_weight():
    assert adopt_weight(0.8, step=0, start_step=100) == 0.0
    assert adopt_weight(0.8, step=99, start_step=100) == 0.0
    assert adopt_weight(0.8, step=100, start_step=100) == 0.8
    assert adopt_weight(0.8, step=5, start_step=0) == 0.8


# ---------------------------------------------------------------- the G step must not touch D
def _tiny_gan():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))
    D = PatchDiscriminator(in_channels=1, base=4, n_layers=1, norm="none")
    x = torch.rand(4, 1, 16, 16)
    z = torch.randn(4, 1, 16, 16)
    return G, D, x, z


def test_generator_step_does_not_touch_discriminator():
    G, D, x, z = _tiny_gan()
    opt_g = torch.optim.Adam(G.parameters(), 1e-3)
    opt_d = torch.optim.Adam(D.parameters(), 1e-3)
    # D step: fakes detached -> no gradient reaches G
    fake = G(z)
    opt_d.zero_grad()
    hinge_d_loss(D(x), D(fake.detach())).backward()
    assert all(p.grad is None for p in G.parameters())
    opt_d.step()
    d_grads = [p.grad.clone() for p in D.parameters()]
    d_params = [p.detach().clone() for p in D.parameters()]
    # G step with D frozen
    set_requires_grad(D, False)
    opt_g.zero_grad()
    hinge_g_loss(D(G(z))).backward()
    opt_g.step()
    set_requires_grad(D, True)
    assert all(p.grad is not None for p in G.parameters())
    assert all(torch.equal(p.grad, g0) for p, g0 in zip(D.parameters(), d_grads))
    assert all(torch.equal(p, p0) for p, p0 in zip(D.parameters(), d_params))


def test_leaky_generator_step_changes_discriminator():
    """The pitfall: without freezing D, g_loss.backward() writes into D's .grad, and one optimiser
    over both networks then moves D to help the generator."""
    G, D, x, z = _tiny_gan()
    opt = torch.optim.Adam(list(G.parameters()) + list(D.parameters()), 1e-3)  # one optimiser for both: wrong
    before = [p.detach().clone() for p in D.parameters()]
    opt.zero_grad()
    hinge_g_loss(D(G(z))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())
    opt.step()
    assert any(not torch.equal(p, p0) for p, p0 in zip(D.parameters(), before))


def test_set_requires_grad_lists_and_errors():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    set_requires_grad([a, b], False)
    assert not any(p.requires_grad for p in list(a.parameters()) + list(b.parameters()))
    set_requires_grad(a, True)
    assert all(p.requires_grad for p in a.parameters())
    with pytest.raises(TypeError):
        set_requires_grad([a, 3], True)


# ---------------------------------------------------------------- diagnostics and toy data
def test_discriminator_accuracy():
    acc_r, acc_f = gan.discriminator_accuracy(torch.tensor([1.0, -1.0, 2.0, 3.0]), torch.tensor([-1.0, 1.0]))
    assert acc_r == 0.75 and acc_f == 0.5


def test_ring_and_modes_covered():
    g = torch.Generator().manual_seed(0)
    x = gan.ring_of_gaussians(2000, generator=g)
    centres = gan.ring_centres()
    n, hq = gan.modes_covered(x, centres)
    assert n == 8 and hq > 0.99
    one_mode = centres[3] + 0.01 * torch.randn(500, 2, generator=g)
    assert gan.modes_covered(one_mode, centres) == (1, 1.0)
    # 8 modes, but two of them with only a few samples: not covered
    lopsided = torch.cat([centres[i] + 0.01 * torch.randn(100 if i < 6 else 5, 2, generator=g) for i in range(8)])
    assert gan.modes_covered(lopsided, centres)[0] == 6
    assert gan.modes_covered(torch.zeros(100, 2), centres) == (0, 0.0)
    with pytest.raises(ValueError):
        gan.modes_covered(torch.zeros(10, 3), centres)


# ---------------------------------------------------------------- spectral normalisation (issue 14 item 6)
def _conv_weights(D):
    return [m.weight for m in D.main if isinstance(m, nn.Conv2d)]


def test_spectral_norm_every_conv_and_no_norm_layers_by_default():
    D = PatchDiscriminator(in_channels=1, base=8, n_layers=2, spectral_norm=True)
    convs = [m for m in D.main if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    assert D.norm == "none" and not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in D.modules())
    assert D.receptive_field() == 34  # the architecture is unchanged
    # without it: plain convs and the papers' BatchNorm, as before
    P = PatchDiscriminator(in_channels=1, base=8, n_layers=2)
    assert P.norm == "batch" and not any(torch.nn.utils.parametrize.is_parametrized(m) for m in P.main)
    # an explicit norm is kept with spectral norm
    G = PatchDiscriminator(in_channels=1, base=8, n_layers=2, norm="group", spectral_norm=True)
    assert sum(isinstance(m, nn.GroupNorm) for m in G.modules()) == 2
    with pytest.raises(TypeError):
        PatchDiscriminator(spectral_norm="yes")


def test_spectral_norm_bounds_each_conv_weight():
    torch.manual_seed(0)
    D = PatchDiscriminator(in_channels=3, base=8, n_layers=2, spectral_norm=True)
    P = PatchDiscriminator(in_channels=3, base=8, n_layers=2)
    x = torch.rand(4, 3, 32, 32)
    D.train()
    for _ in range(30):  # power iteration converges over training forwards
        D(x)
    sn = [torch.linalg.matrix_norm(w.detach().flatten(1), 2).item() for w in _conv_weights(D)]
    assert all(abs(s - 1) < 0.05 for s in sn), sn
    # the plain discriminator's weights are not normalised (N(0, 0.02) init: far from 1)
    plain = [torch.linalg.matrix_norm(w.detach().flatten(1), 2).item() for w in _conv_weights(P)]
    assert all(abs(s - 1) > 0.3 for s in plain), plain


def test_spectral_norm_trains_and_keeps_weights_bounded():
    torch.manual_seed(0)
    D = PatchDiscriminator(in_channels=1, base=8, n_layers=1, spectral_norm=True)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    real, fake = torch.rand(8, 1, 16, 16), torch.rand(8, 1, 16, 16) * 0.2
    losses = []
    for _ in range(40):
        loss = hinge_d_loss(D(real), D(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    sn = [torch.linalg.matrix_norm(w.detach().flatten(1), 2).item() for w in _conv_weights(D)]
    assert max(sn) < 1.1, sn


# ---------------------------------------------------------------- adaptive weight in half precision (issue 14 item 2)
def _smooth_images(n, g):
    return F.interpolate(torch.rand(n, 1, 4, 4, generator=g), size=16, mode="bilinear", align_corners=False)


def _lambda_under_autocast(ae, D, W, x, dtype, rec_weight=1.0, **kw):
    with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        x_hat = ae(x)
        rec = rec_weight * (x - x_hat).abs().mean()
        set_requires_grad(D, False)
        g = hinge_g_loss(D(x_hat))
        set_requires_grad(D, True)
        return adaptive_weight(rec, g, W, **kw).item()


def test_adaptive_weight_half_precision_on_a_trained_discriminator():
    """lambda under CPU autocast float16 / bfloat16 against float32, after 150 GAN steps (not at init).
    Measured (seeds 0-2, batch 64 of 16x16): float16 -0.4%, -0.2%, -0.1%; bfloat16 -0.05%, -7.6%, -1.2%
    (lambda's own batch-to-batch spread in float32: 10%, 6%, 35%). With a small reconstruction weight the unscaled
    float16 gradient underflows to 0 and lambda is 0; the scaled computation (the default) keeps it within 1%."""
    from course_lib.models import ConvDecoder, ConvEncoder

    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    ae = nn.Sequential(ConvEncoder(1, hidden=8, out_channels=4, downsamples=2, res_blocks=0),
                       ConvDecoder(4, hidden=8, out_channels=1, upsamples=2, res_blocks=0))
    D = PatchDiscriminator(1, base=8, n_layers=1)
    opt_g = torch.optim.Adam(ae.parameters(), 1e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), 2e-3, betas=(0.5, 0.9))
    W = ae[1].net[-1].weight
    for _ in range(150):
        x = _smooth_images(32, g)
        x_hat = ae(x)
        rec = (x - x_hat).abs().mean()
        set_requires_grad(D, False)
        g_loss = hinge_g_loss(D(x_hat))
        set_requires_grad(D, True)
        loss = rec + 0.1 * adaptive_weight(rec, g_loss, W) * g_loss
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        d_loss = hinge_d_loss(D(x), D(x_hat.detach()))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
    assert d_loss.item() < 0.5  # D has trained: the hinge D loss starts near 1
    x = _smooth_images(64, g)
    lam32 = _lambda_under_autocast(ae, D, W, x, None)
    err16 = _lambda_under_autocast(ae, D, W, x, torch.float16) / lam32 - 1
    errbf = _lambda_under_autocast(ae, D, W, x, torch.bfloat16) / lam32 - 1
    assert abs(err16) < 0.02, f"float16 lambda off by {err16:+.2%}"
    assert abs(errbf) < 0.10, f"bfloat16 lambda off by {errbf:+.2%}"
    # a reconstruction term weighted 1e-4: its per-pixel gradient (1e-4 / 16384 = 6e-9) is below 2**-25 (3e-8),
    # so without loss scaling the gradient is exactly 0 and so is lambda
    lam32_small = _lambda_under_autocast(ae, D, W, x, None, rec_weight=1e-4)
    unscaled = _lambda_under_autocast(ae, D, W, x, torch.float16, rec_weight=1e-4, loss_scale=1)
    scaled = _lambda_under_autocast(ae, D, W, x, torch.float16, rec_weight=1e-4)
    assert unscaled == 0.0
    assert abs(scaled / lam32_small - 1) < 0.02
    # float32 results are unchanged by the loss scale (a power of 2 is exact)
    assert _lambda_under_autocast(ae, D, W, x, None, loss_scale=1) == lam32


def test_adaptive_weight_loss_scale_backs_off_on_overflow():
    w = torch.nn.Parameter(torch.ones(3))
    rec = (w * 1e3).sum()  # gradient 1e3 per element: times 2**16 overflows float16 but not float32
    g = (w.half() * 60000).float().sum()  # the half cast: its gradient overflows in float16 when scaled
    lam = adaptive_weight(rec, g, w, delta=0.0, max_weight=None)
    assert torch.isfinite(lam) and abs(lam.item() - 1e3 / 60000) < 1e-3 * (1e3 / 60000)
    with pytest.raises(ValueError, match="loss_scale"):
        adaptive_weight(rec, g, w, loss_scale=0.5)


# ---------------------------------------------------------------- float16 underflow of a mean's gradient (review 07-09)
def test_float16_mean_gradient_rounds_to_zero_only_from_n_2_pow_25():
    """The gradient of a mean over N elements is 1/N each. In float16 it is a subnormal once N > 2**14 and exactly 0
    only once 1/N <= 2**-25 (half the smallest subnormal, 2**-24): N >= 2**25, not 2**24."""
    def grad_of_mean(n):
        x = torch.zeros(n, dtype=torch.float16, requires_grad=True)
        x.mean().backward()
        return float(x.grad[0])
    assert grad_of_mean(2 ** 14) == 2.0 ** -14 and torch.finfo(torch.float16).smallest_normal == 2.0 ** -14
    assert grad_of_mean(3 * 2 ** 14) > 0 and grad_of_mean(3 * 2 ** 14) != 1 / (3 * 2 ** 14)  # subnormal: rounded
    assert grad_of_mean(2 ** 24) == 2.0 ** -24                  # the smallest subnormal, not 0
    assert grad_of_mean(2 ** 24 + 2 ** 23) == 2.0 ** -24        # 1/N between 2**-25 and 2**-24 rounds up to it
    assert grad_of_mean(2 ** 25) == 0.0                         # 2**-25: the tie rounds to even, 0
    # the same rounding for a plain value: below about 3e-8 becomes 0, not below 6e-8
    assert torch.tensor(4e-8).half().item() == 2.0 ** -24 and torch.tensor(2.9e-8).half().item() == 0.0


# ---------------------------------------------------------------- the GAN step and the toy GAN (notebook 08)
def test_gan_step_by_hand():
    """gan_step = a D step on detached fakes, then a G step through a frozen D, each optimiser stepping once."""
    torch.manual_seed(0)
    G, D = gan.toy_mlp(2, 2, hidden=8), gan.toy_mlp(2, 1, hidden=8)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    x, z = torch.randn(16, 2), torch.randn(16, 2)
    opt = lambda m: torch.optim.SGD(m.parameters(), lr=0.1)
    d, g = gan.gan_step(G, D, opt(G), opt(D), x, z)
    # by hand
    gd = torch.autograd.grad(non_saturating_d_loss(D2(x), D2(G2(z).detach())), list(D2.parameters()))
    with torch.no_grad():
        for p, gr in zip(D2.parameters(), gd):
            p -= 0.1 * gr
    gg = torch.autograd.grad(non_saturating_g_loss(D2(G2(z))), list(G2.parameters()))
    with torch.no_grad():
        for p, gr in zip(G2.parameters(), gg):
            p -= 0.1 * gr
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *D2.parameters()]):
        assert torch.allclose(a, b, atol=1e-6)
    assert all(p.requires_grad for p in D.parameters()) and isinstance(d, float) and isinstance(g, float)


def test_train_toy_gan_log_and_fixed_evaluation_set():
    snaps = []
    G, D, log = gan.train_toy_gan(steps=24, seed=1, snapshots=snaps, n_eval=500)
    assert log["step"] == list(range(2, 25, 2)) and len(log["modes"]) == 12 and len(snaps) == 13
    # the modes in the log are measured on the same fixed z as the snapshots
    assert [s["modes"] for s in snaps[1:]] == log["modes"]
    # deterministic per seed; another step function is used when given; d_per_g adds D-only steps
    assert gan.train_toy_gan(steps=24, seed=1, n_eval=500)[2] == log
    calls = []
    gan.train_toy_gan(step_fn=lambda *a: calls.append(1) or gan.gan_step(*a), steps=5, seed=0, n_eval=100)
    assert len(calls) == 5
    _, _, log2 = gan.train_toy_gan(steps=24, seed=1, n_eval=500, d_per_g=2)
    assert log2["d_loss"] != log["d_loss"]
    with pytest.raises(ValueError, match="d_per_g"):
        gan.train_toy_gan(steps=2, d_per_g=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        gan.train_toy_gan(steps=2, loss="wasserstein")


# ---------------------------------------------------------------- spectral norm: kernel sigma vs operator norm (review E9)
def _dense_operator_norm(conv, size):
    """Brute force: the convolution's matrix from autograd's Jacobian, then its largest singular value."""
    w = conv.weight.detach().double()
    f = lambda x: F.conv2d(x, w, None, conv.stride, conv.padding)
    J = torch.autograd.functional.jacobian(f, torch.zeros(1, w.shape[1], size, size, dtype=torch.double))
    return torch.linalg.matrix_norm(J.reshape(-1, w.shape[1] * size * size), 2).item()


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_operator_norm_matches_the_dense_matrix_and_lies_in_its_bounds(stride):
    torch.manual_seed(stride)
    conv = nn.Conv2d(3, 4, 4, stride=stride, padding=1)
    dense = _dense_operator_norm(conv, 10)
    power = gan.conv_operator_norm(conv, 10, iters=300)
    assert abs(power - dense) < 1e-3 * dense
    sigma = gan.kernel_spectral_norm(conv)
    assert sigma <= dense + 1e-6 and dense <= math.ceil(4 / stride) * sigma + 1e-6
    with pytest.raises(TypeError):
        gan.conv_operator_norm(nn.Linear(2, 2), 4)


def test_spectrally_normalised_convs_are_not_1_lipschitz():
    """Miyato et al.'s sigma (kernel reshaped to (out, in*k*k)) is ~1, the convolution's own norm is above it."""
    torch.manual_seed(0)
    D = PatchDiscriminator(in_channels=1, base=8, n_layers=2, spectral_norm=True)
    x = torch.rand(8, 1, 28, 28)
    for _ in range(30):
        D(x)
    D.eval()
    convs = [m for m in D.main if isinstance(m, nn.Conv2d)]
    sigmas = [gan.kernel_spectral_norm(m) for m in convs]
    ops = [gan.conv_operator_norm(m, 14) for m in convs]
    assert all(abs(s - 1) < 0.05 for s in sigmas), sigmas
    assert all(o > 1.05 for o in ops) and all(o < 4 for o in ops), ops
