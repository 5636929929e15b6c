"""Tests of course_lib.losses: the VAE's ELBO pieces and the VQ-VAE loss."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.losses import VQLoss, elbo_terms, gaussian_kl, reparameterize, vq_loss


def test_reparameterize_moments_and_gradients():
    torch.manual_seed(0)
    mu = torch.tensor([[1.0, -2.0]]).repeat(20000, 1).requires_grad_()
    logvar = torch.tensor([[0.0, math.log(4.0)]]).repeat(20000, 1).requires_grad_()
    z = reparameterize(mu, logvar)
    assert z.shape == mu.shape
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.05)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.05)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))  # dz/dmu = 1
    assert logvar.grad.abs().sum() > 0


def test_reparameterize_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))


def test_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 7), torch.randn(5, 7)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    kl = gaussian_kl(mu, logvar)
    assert kl.shape == (5,)
    assert torch.allclose(kl, expected, atol=1e-5)
    assert (kl >= 0).all()
    assert torch.allclose(gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


def test_elbo_terms_bernoulli_and_gaussian():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 6, 6)
    out = torch.randn(4, 1, 6, 6)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    t = elbo_terms(x, out, mu, logvar, beta=2.0)
    rec = F.binary_cross_entropy_with_logits(out, x, reduction="sum") / 4
    assert torch.allclose(t["rec"], rec, atol=1e-4)
    assert torch.allclose(t["kl"], gaussian_kl(mu, logvar).mean())
    assert torch.allclose(t["loss"], t["rec"] + 2.0 * t["kl"])
    g = elbo_terms(x, out, mu, logvar, likelihood="gaussian", sigma=0.5)
    assert torch.allclose(g["rec"], 0.5 * ((x - out) ** 2).sum() / 0.25 / 4, atol=1e-4)


def test_elbo_terms_errors():
    x = torch.rand(2, 1, 4, 4)
    mu = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="likelihood"):
        elbo_terms(x, x, mu, mu, likelihood="poisson")
    with pytest.raises(ValueError, match="same shape"):
        elbo_terms(x, x[:, :, :2], mu, mu)
    with pytest.raises(ValueError, match="beta"):
        elbo_terms(x, x, mu, mu, beta=-1)


def test_vq_loss_values_and_stop_gradients():
    torch.manual_seed(0)
    z_e = torch.randn(3, 4, 2, 2, requires_grad=True)
    z_q = torch.randn(3, 4, 2, 2, requires_grad=True)
    out = vq_loss(z_e, z_q, beta=0.25)
    assert isinstance(out, VQLoss)
    mse = ((z_e - z_q) ** 2).mean()
    assert torch.allclose(out.codebook, mse)
    assert torch.allclose(out.commitment, 0.25 * mse)
    assert torch.allclose(out.total, 1.25 * mse)
    # codebook loss only moves the codes, commitment only the encoder
    g_e, g_q = torch.autograd.grad(out.codebook, (z_e, z_q), allow_unused=True)
    assert g_e is None and g_q is not None
    g_e, g_q = torch.autograd.grad(out.commitment, (z_e, z_q), allow_unused=True)
    assert g_q is None and g_e is not None
    # the commitment gradient is beta times the codebook gradient (with opposite sign)
    ge = torch.autograd.grad(vq_loss(z_e, z_q).commitment, z_e)[0]
    gq = torch.autograd.grad(vq_loss(z_e, z_q).codebook, z_q)[0]
    assert torch.allclose(ge, -0.25 * gq, atol=1e-6)


def test_vq_loss_errors():
    with pytest.raises(ValueError, match="same shape"):
        vq_loss(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="beta"):
        vq_loss(torch.zeros(2, 3), torch.zeros(2, 3), beta=-0.1)
