"""Checks for notebook 01 (autoencoders and VAE): the reparameterisation trick and the closed-form Gaussian KL.

* :func:`check_reparameterize` -- ``z = mu + exp(logvar / 2) * eps``: right mean, right spread, gradients to both.
* :func:`check_gaussian_kl` -- ``KL(N(mu, exp(logvar)) || N(0, I))`` per image, compared with the reference and
  with the usual mistakes (missing 0.5, std where the variance belongs, wrong sign, mean instead of sum, ...).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from . import CheckFailed, call_student, check_function, passed
from ..losses import gaussian_kl

__all__ = ["check_reparameterize", "check_gaussian_kl"]


def student_name(fn, default: str) -> str:
    """The name of the student's function for messages (``my_vq_loss``), or ``default`` for a lambda or a wrapper."""
    name = getattr(fn, "__name__", "")
    return name if name.isidentifier() else default


def _close(value: torch.Tensor, target: torch.Tensor, tol: float) -> bool:
    return bool(((value - target).abs() <= tol).all())


def check_reparameterize(student_fn: Callable, n: int = 20_000, seed: int = 0) -> None:
    """Check ``student_fn(mu, logvar) -> z`` for the reparameterisation trick.

    ``z`` is random, so the check tests statistics on ``n`` draws (sample mean and standard deviation, with
    tolerances of more than 5 standard errors) and the gradients, which are exact:
    ``dz/dmu = 1`` and ``dz/dlogvar = 0.5 * (z - mu)``. ``seed=0`` uses four hand-picked (mu, sigma) pairs; another
    seed (a hidden test) draws six others, with sigma between 0.2 and 3 and |mu| up to 3.
    """
    name = student_name(student_fn, "reparameterize")
    if seed == 0:
        mu0 = torch.tensor([1.0, -2.0, 0.5, 0.0])
        logvar0 = torch.tensor([0.0, math.log(4.0), math.log(0.25), math.log(9.0)])
    else:
        g = torch.Generator().manual_seed(seed)
        mu0 = torch.rand(6, generator=g) * 6 - 3
        sigma0 = torch.cat([torch.tensor([0.3, 2.5]), 0.2 + 2.8 * torch.rand(4, generator=g)])
        logvar0 = 2 * sigma0.log()
    std0 = (0.5 * logvar0).exp()
    mu = mu0.repeat(n, 1).requires_grad_()
    logvar = logvar0.repeat(n, 1).requires_grad_()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234 + seed)
        z = call_student(student_fn, mu, logvar, name=name)
    if not isinstance(z, torch.Tensor):
        raise CheckFailed(f"{name} should return a tensor z, got {type(z).__name__}")
    if tuple(z.shape) != tuple(mu.shape):
        raise CheckFailed(f"{name}: z should have the shape of mu, {tuple(mu.shape)}, got {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise CheckFailed(f"{name}: z contains nan or inf")
    zd = z.detach()
    mean, std = zd.mean(0), zd.std(0)
    tol_std = 0.05 * std0 + 0.01  # the standard error of a sample std is std / sqrt(2n) ~ 0.005 std
    if not _close(std, std0, tol_std):
        if std.max() < 1e-6:
            raise CheckFailed(f"{name}: z has no randomness. Add noise: z = mu + sigma * eps with eps = torch.randn_like(mu).")
        if _close(std, logvar0.exp(), 0.05 * logvar0.exp() + 0.01):
            raise CheckFailed(
                f"{name}: the spread of z equals exp(logvar), the variance. Multiply eps by the standard deviation "
                "sigma = exp(logvar / 2) = exp(0.5 * logvar)."
            )
        if _close(std, logvar0.abs(), 0.05 * logvar0.abs() + 0.01):
            raise CheckFailed(f"{name}: you multiplied eps by logvar itself. The standard deviation is exp(logvar / 2).")
        if _close(std, torch.ones_like(std0), 0.06):
            raise CheckFailed(f"{name}: z has unit spread whatever logvar is: multiply eps by sigma = exp(logvar / 2).")
        raise CheckFailed(
            f"{name}: the standard deviation of z is {std.tolist()}, expected about {std0.tolist()} "
            "(sigma = exp(logvar / 2))."
        )
    if not _close(mean, mu0, 5 * std0 / math.sqrt(n) + 0.01):
        if _close(mean, torch.zeros_like(mu0), 5 * std0 / math.sqrt(n) + 0.01):
            raise CheckFailed(f"{name}: z is centred at 0, not at mu: add mu (z = mu + sigma * eps).")
        raise CheckFailed(f"{name}: the mean of z is {mean.tolist()}, expected about {mu0.tolist()}.")
    if not z.requires_grad:
        raise CheckFailed(
            f"{name}: z does not depend differentiably on mu and logvar (detached, or sampled with torch.normal?). "
            "Write z = mu + torch.exp(0.5 * logvar) * eps so that gradients flow."
        )
    g_mu, g_lv = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    if g_mu is None or not torch.allclose(g_mu, torch.ones_like(mu), atol=1e-5):
        raise CheckFailed(f"{name}: dz/dmu should be 1 everywhere; the gradient does not reach mu as it should.")
    if g_lv is None or not torch.allclose(g_lv, 0.5 * (zd - mu.detach()), atol=1e-4):
        raise CheckFailed(
            f"{name}: dz/dlogvar should be 0.5 * sigma * eps = 0.5 * (z - mu); the noise must be drawn outside the "
            "graph (eps = torch.randn_like(mu)) and scaled by exp(0.5 * logvar)."
        )
    passed(f"{name}: mean and spread of z are right on {n} draws, and gradients reach mu and logvar.")


def _kl_inputs(seed: int, shape=(5, 6)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * 1.5, torch.randn(*shape, generator=g)


def _mistakes():
    def term(mu, lv):
        return mu.pow(2) + lv.exp() - 1 - lv

    return {
        "you forgot the factor 0.5 in front of the sum (KL = 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2)).": lambda mu, lv: term(mu, lv).sum(1),
        "the sign is flipped: KL is >= 0. Note -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) is +KL.": lambda mu, lv: -gaussian_kl(mu, lv),
        "you used the standard deviation exp(logvar / 2) where the variance exp(logvar) belongs.": lambda mu, lv: 0.5 * (mu.pow(2) + (0.5 * lv).exp() - 1 - lv).sum(1),
        "you used log sigma = logvar / 2 where log sigma^2 = logvar belongs.": lambda mu, lv: 0.5 * (mu.pow(2) + lv.exp() - 1 - 0.5 * lv).sum(1),
        "you averaged over the latent dimensions; KL sums over them (one number per image).": lambda mu, lv: 0.5 * term(mu, lv).mean(1),
        "you summed over the batch too; return one KL per image, shape (B,).": lambda mu, lv: 0.5 * term(mu, lv).sum(),
        "you averaged over the batch; return one KL per image, shape (B,).": lambda mu, lv: 0.5 * term(mu, lv).sum(1).mean(),
        "the mu^2 term is missing.": lambda mu, lv: 0.5 * (lv.exp() - 1 - lv).sum(1),
        "the -1 term is missing (KL of identical Gaussians must be 0).": lambda mu, lv: 0.5 * (mu.pow(2) + lv.exp() - lv).sum(1),
    }


def check_gaussian_kl(student_fn: Callable, seed: int = 0, shape=(5, 6)) -> None:
    """Check ``student_fn(mu, logvar) -> (B,)``, the closed-form KL to the standard normal, on random inputs.

    ``seed`` and ``shape`` (B, L) pick the inputs (a hidden test uses others). Float64 and NumPy answers pass.
    """
    name = student_name(student_fn, "gaussian_kl")
    check_function(
        student_fn,
        gaussian_kl,
        lambda i: _kl_inputs(seed + i, tuple(shape)),
        name=name,
        mistakes=_mistakes(),
        atol=1e-4,
        rtol=1e-4,
        trials=3,
        success=f"{name} matches 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar) on 3 random batches.",
    )
