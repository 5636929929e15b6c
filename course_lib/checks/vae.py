"""Checks for notebook 01 (autoencoders and VAE): the reparameterisation trick, the closed-form Gaussian KL and the
negative ELBO.

* :func:`check_reparameterize` -- ``z = mu + exp(logvar / 2) * eps``: right mean, right spread, fresh noise on every
  call, gradients to both.
* :func:`check_gaussian_kl` -- ``KL(N(mu, exp(logvar)) || N(0, I))`` per image, compared with the reference and
  with the usual mistakes (missing 0.5, std where the variance belongs, wrong sign, mean instead of sum, ...).
* :func:`check_negative_elbo` -- ``negative_elbo(model, x, beta)``: a reparameterised sample decoded, the Bernoulli
  reconstruction term summed over pixels, plus beta times the KL, averaged over the batch; values and gradients
  compared with the reference computed from the very sample the student drew.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping

import torch

from . import CheckFailed, call_student, check_function, describe_mismatch, passed, records_result
from ..losses import gaussian_kl

__all__ = ["check_reparameterize", "check_gaussian_kl", "check_negative_elbo", "reference_negative_elbo"]


def student_name(fn, default: str) -> str:
    """The name of the student's function for messages (``my_vq_loss``), or ``default`` for a lambda or a wrapper."""
    name = getattr(fn, "__name__", "")
    return name if name.isidentifier() else default


def _close(value: torch.Tensor, target: torch.Tensor, tol: float) -> bool:
    return bool(((value - target).abs() <= tol).all())


@records_result
def check_reparameterize(student_fn: Callable, n: int = 20_000, seed: int = 0) -> None:
    """Check ``student_fn(mu, logvar) -> z`` for the reparameterisation trick.

    ``z`` is random, so the check tests statistics on ``n`` draws (sample mean and standard deviation, with
    tolerances of more than 5 standard errors) and the gradients, which are exact:
    ``dz/dmu = 1`` and ``dz/dlogvar = 0.5 * (z - mu)``. It calls the function twice: fresh noise each call.
    ``seed=0`` uses four hand-picked (mu, sigma) pairs; another seed (a hidden test) draws six others, with sigma
    between 0.2 and 3 and |mu| up to 3. Noise drawn in float64 (or any dtype) passes: values are compared in float64.
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
    mu0, logvar0 = mu0.double(), logvar0.double()
    std0 = (0.5 * logvar0).exp()
    mu = mu0.float().repeat(n, 1).requires_grad_()
    logvar = logvar0.float().repeat(n, 1).requires_grad_()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234 + seed)
        z = call_student(student_fn, mu, logvar, name=name)
        z_again = call_student(student_fn, mu, logvar, name=name)
    if not isinstance(z, torch.Tensor):
        raise CheckFailed(f"{name} should return a tensor z, got {type(z).__name__}")
    if tuple(z.shape) != tuple(mu.shape):
        raise CheckFailed(f"{name}: z should have the shape of mu, {tuple(mu.shape)}, got {tuple(z.shape)}")
    if not z.is_floating_point():
        raise CheckFailed(f"{name}: z should be a float tensor, got {z.dtype}")
    if not torch.isfinite(z).all():
        raise CheckFailed(f"{name}: z contains nan or inf")
    zd = z.detach().double()
    mean, std = zd.mean(0), zd.std(0)
    tol_std = 0.05 * std0 + 0.01  # the standard error of a sample std is std / sqrt(2n) ~ 0.005 std
    if not _close(std, std0, tol_std):
        if std.max() < 1e-6:
            if torch.allclose(zd, mu0.expand_as(zd), atol=1e-6):
                raise CheckFailed(f"{name}: z equals mu: no noise was added. z = mu + sigma * eps, with eps drawn "
                                  "from N(0, I).")
            raise CheckFailed(f"{name}: every row of z is the same: all {n} rows got the same noise. Draw eps with the "
                              "shape of mu (B, L), one value per row and dimension.")
        if _close(std, logvar0.exp(), 0.05 * logvar0.exp() + 0.01):
            raise CheckFailed(
                f"{name}: the spread of z equals exp(logvar), the variance. Multiply eps by the standard deviation, "
                "sigma = exp(logvar / 2)."
            )
        if _close(std, logvar0.abs(), 0.05 * logvar0.abs() + 0.01):
            raise CheckFailed(f"{name}: you multiplied eps by logvar itself. The standard deviation is exp(logvar / 2).")
        if _close(std, torch.ones_like(std0), 0.06):
            raise CheckFailed(f"{name}: z has unit spread whatever logvar is: scale eps by sigma = exp(logvar / 2).")
        raise CheckFailed(
            f"{name}: the standard deviation of z is {[round(v, 3) for v in std.tolist()]}, expected about "
            f"{[round(v, 3) for v in std0.tolist()]} (sigma = exp(logvar / 2); is eps standard normal, randn?)."
        )
    if not _close(mean, mu0, 5 * std0 / math.sqrt(n) + 0.01):
        if _close(mean, torch.zeros_like(mu0), 5 * std0 / math.sqrt(n) + 0.01):
            raise CheckFailed(f"{name}: z is centred at 0, not at mu: add mu (z = mu + sigma * eps).")
        raise CheckFailed(f"{name}: the mean of z is {[round(v, 3) for v in mean.tolist()]}, expected about "
                          f"{[round(v, 3) for v in mu0.tolist()]}.")
    if isinstance(z_again, torch.Tensor) and z_again.shape == z.shape and torch.equal(z_again.detach(), z.detach()):
        raise CheckFailed(f"{name}: two calls returned the same z: the noise must be fresh on every call (do not seed "
                          "a generator inside the function).")
    no_grad_hint = (f"{name}: z does not pass gradients to mu and logvar (was the sample drawn with torch.normal or "
                    ".sample(), or detached?). Build z from mu, logvar and noise drawn separately, so that autograd "
                    "sees z = mu + sigma * eps.")
    if not z.requires_grad:
        raise CheckFailed(no_grad_hint)
    g_mu, g_lv = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    if g_mu is None or not g_mu.abs().sum() > 0:
        raise CheckFailed(no_grad_hint)
    if not torch.allclose(g_mu.double(), torch.ones_like(zd), atol=1e-5):
        raise CheckFailed(f"{name}: dz/dmu should be 1 everywhere; the gradient does not reach mu as it should.")
    if g_lv is None or not torch.allclose(g_lv.double(), 0.5 * (zd - mu0), atol=1e-4, rtol=1e-4):
        raise CheckFailed(
            f"{name}: dz/dlogvar should be 0.5 * sigma * eps = 0.5 * (z - mu): draw the noise outside the graph and "
            "scale it by exp(logvar / 2), without detaching sigma."
        )
    passed(f"{name}: mean and spread of z are right on {n} draws, the noise is fresh on every call, and gradients "
           "reach mu and logvar.")


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


# ------------------------------------------------------------------------------------------- the negative ELBO
class _ProbeVAE(torch.nn.Module):
    """A tiny linear VAE with the course VAE's interface (``encode``, ``decode``, ``forward``) that records every z
    given to ``decode``, so the check can compute the reference loss with the very sample the student drew."""

    def __init__(self, seed: int, shape=(1, 4, 4), latent: int = 3, dtype=torch.float32):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        d = int(torch.tensor(shape).prod())
        self.shape, self.latent_dim = tuple(shape), latent
        self.enc_w = torch.nn.Parameter((torch.randn(d, 2 * latent, generator=g) * 0.5).to(dtype))
        self.enc_b = torch.nn.Parameter((torch.randn(2 * latent, generator=g) * 0.3).to(dtype))
        self.dec_w = torch.nn.Parameter((torch.randn(latent, d, generator=g) * 1.5).to(dtype))
        self.dec_b = torch.nn.Parameter((torch.randn(d, generator=g) * 0.5).to(dtype))
        self.seen = []
        self.record = True

    def encode(self, x):
        h = x.flatten(1) @ self.enc_w + self.enc_b
        return h[:, : self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z):
        if self.record:
            self.seen.append(z)
        return (z.to(self.dec_w.dtype) @ self.dec_w + self.dec_b).reshape(z.shape[0], *self.shape)

    def forward(self, x):
        from ..losses import reparameterize
        from ..models import VAEOutput

        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return VAEOutput(self.decode(z), mu, logvar, z)


def reference_negative_elbo(model, x: torch.Tensor, beta: float = 1.0) -> dict:
    """-ELBO of a Bernoulli-decoder VAE, per image summed over pixels, then averaged over the batch:
    ``dict(loss=mean(rec + beta * kl), rec=mean(rec), kl=mean(kl))``."""
    out = model(x)
    return _elbo_from(x, out.x_logits, out.mu, out.logvar, beta)


def _elbo_from(x, logits, mu, logvar, beta):
    import torch.nn.functional as F

    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = gaussian_kl(mu, logvar)
    return {"loss": (rec + beta * kl).mean(), "rec": rec.mean(), "kl": kl.mean()}


def _elbo_mistakes():
    import torch.nn.functional as F

    def bce(logits, x):
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)

    def kl_(mu, lv):
        return gaussian_kl(mu, lv)

    return {
        "the reconstruction term is averaged over the pixels (F.binary_cross_entropy_with_logits averages by "
        "default): the log-likelihood of an image is a SUM over its pixels, so use reduction='none' and sum each "
        "image's pixels.":
            lambda x, lg, mu, lv, b: (bce(lg, x).mean(1) + b * kl_(mu, lv)).mean(),
        "the KL term has the wrong sign: the negative ELBO ADDS the KL divergence (it is >= 0).":
            lambda x, lg, mu, lv, b: (bce(lg, x).sum(1) - b * kl_(mu, lv)).mean(),
        "the KL term is summed over the batch while the reconstruction term is averaged: take the KL per image, "
        "then average both over the batch.":
            lambda x, lg, mu, lv, b: bce(lg, x).sum(1).mean() + b * kl_(mu, lv).sum(),
        "the reconstruction term is summed over the batch while the KL is averaged: average both over images.":
            lambda x, lg, mu, lv, b: bce(lg, x).sum() + b * kl_(mu, lv).mean(),
        "the loss is summed over the batch: return the mean over images (so the learning rate does not depend on "
        "the batch size).":
            lambda x, lg, mu, lv, b: (bce(lg, x).sum(1) + b * kl_(mu, lv)).sum(),
        "the KL is averaged over the latent dimensions: it is a sum over them (one number per image).":
            lambda x, lg, mu, lv, b: (bce(lg, x).sum(1) + b * 0.5 * (mu.pow(2) + lv.exp() - 1 - lv).mean(1)).mean(),
        "the KL term is missing: -ELBO = reconstruction + beta * KL.":
            lambda x, lg, mu, lv, b: bce(lg, x).sum(1).mean(),
        "beta multiplies the reconstruction term: it weights the KL term (rec + beta * KL).":
            lambda x, lg, mu, lv, b: (b * bce(lg, x).sum(1) + kl_(mu, lv)).mean(),
        "beta is ignored: weight the KL term by the argument beta.":
            lambda x, lg, mu, lv, b: (bce(lg, x).sum(1) + kl_(mu, lv)).mean(),
        "the sigmoid is applied twice: binary_cross_entropy_with_logits takes the decoder's logits, not "
        "probabilities.":
            lambda x, lg, mu, lv, b: (bce(torch.sigmoid(lg), x).sum(1) + b * kl_(mu, lv)).mean(),
        "the reconstruction term is a squared error: under the Bernoulli likelihood it is the binary cross-entropy "
        "of the logits.":
            lambda x, lg, mu, lv, b: ((torch.sigmoid(lg) - x).pow(2).flatten(1).sum(1) + b * kl_(mu, lv)).mean(),
        "the reconstruction term is a squared error on the logits: under the Bernoulli likelihood it is the binary "
        "cross-entropy of the logits.":
            lambda x, lg, mu, lv, b: ((lg - x).pow(2).flatten(1).sum(1) + b * kl_(mu, lv)).mean(),
    }


_ELBO_BETAS = (1.0, 0.5, 4.0, 2.5)


@records_result
def check_negative_elbo(student_fn: Callable, seed: int = 0, trials: int = 3, dtype=torch.float32) -> None:
    """Check ``student_fn(model, x, beta) -> dict(loss=..., rec=..., kl=...)``: the negative ELBO of a VAE with a
    Bernoulli decoder (logits), each term a per-image sum averaged over the batch, ``loss = rec + beta * kl``.

    The check hands over a small linear VAE with the course VAE's ``encode``/``decode``/``forward`` that records the
    z it decodes, and compares the values and the encoder's gradients with the reference computed from that z.
    ``seed`` (and ``dtype``) pick other inputs, image shapes and betas (a hidden test uses them).
    """
    name = student_name(student_fn, "negative_elbo")
    mistakes = _elbo_mistakes()
    shapes = ((1, 4, 4), (1, 3, 5), (2, 3, 3), (1, 6, 2))
    for trial in range(trials):
        t = seed + trial
        beta = _ELBO_BETAS[t % len(_ELBO_BETAS)]
        model = _ProbeVAE(t, shapes[t % len(shapes)], latent=3, dtype=dtype)
        g = torch.Generator().manual_seed(100 + t)
        x = torch.rand(256, *model.shape, generator=g).to(dtype)
        if t % 2:
            x = (x > 0.5).to(dtype)          # binary images too
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1000 + t)
            got = call_student(student_fn, model, x.clone(), beta, name=name)
        if isinstance(got, torch.Tensor) or not isinstance(got, Mapping) or any(k not in got for k in ("loss", "rec", "kl")):
            raise CheckFailed(f"{name} should return a dict with the keys 'loss', 'rec' and 'kl' (scalar tensors; "
                              f"fit trains on 'loss' and plots the others), got {type(got).__name__}"
                              + (f" with keys {sorted(got)}" if isinstance(got, Mapping) else ""))
        for key in ("loss", "rec", "kl"):
            v = got[key]
            if not isinstance(v, torch.Tensor) or v.numel() != 1:
                kind = type(v).__name__ if not isinstance(v, torch.Tensor) else f"a tensor of shape {tuple(v.shape)}"
                raise CheckFailed(f"{name}: '{key}' should be a scalar tensor (the mean over the batch), got {kind}")
        if not model.seen:
            raise CheckFailed(f"{name} never decoded a latent code: the reconstruction term needs "
                              "model.decode(z) with z a sample from q(z|x).")
        model.record = False
        z = model.seen[-1]
        mu, logvar = model.encode(x)
        sigma = (0.5 * logvar).exp()
        if tuple(z.shape) != tuple(mu.shape):
            raise CheckFailed(f"{name} decoded a code of shape {tuple(z.shape)}; z should have the shape of mu, "
                              f"{tuple(mu.shape)}")
        if torch.allclose(z.detach().double(), mu.detach().double(), atol=1e-6):
            raise CheckFailed(f"{name} decoded mu, the posterior mean: the reconstruction term is an expectation over "
                              "z ~ q(z|x), so decode a reparameterised sample z = mu + sigma * eps (your "
                              "reparameterize).")
        eps = ((z.detach().double() - mu.detach().double()) / sigma.detach().double())
        if abs(eps.mean().item()) > 0.15 or not 0.85 < eps.std().item() < 1.15:
            raise CheckFailed(f"{name}: the z you decoded does not look like a sample from q(z|x) = N(mu, sigma^2) "
                              f"(its standardised noise has mean {eps.mean().item():.2f} and spread "
                              f"{eps.std().item():.2f}, expected about 0 and 1).")
        logits = model.decode(z.detach())
        expected = _elbo_from(x, logits, mu, logvar, beta)
        problem = describe_mismatch(got["loss"].reshape(()), expected["loss"].detach(), atol=1e-4, rtol=1e-4,
                                    path="the loss")
        if problem is not None:
            for hint, wrong in mistakes.items():
                w = wrong(x, logits, mu, logvar, beta).detach()
                if describe_mismatch(got["loss"].reshape(()), w, atol=1e-4, rtol=1e-4) is None:
                    raise CheckFailed(f"{name}: {hint}")
            raise CheckFailed(f"{name}: {problem} (beta = {beta}). The negative ELBO is the batch mean of "
                              "(reconstruction + beta * KL), each a per-image sum.")
        for key in ("rec", "kl"):
            problem = describe_mismatch(got[key].reshape(()), expected[key].detach(), atol=1e-4, rtol=1e-4,
                                        path=f"'{key}'")
            if problem is not None:
                raise CheckFailed(f"{name}: the loss is right, but {problem}: return the batch means of the "
                                  "per-image terms (rec, and the KL without beta).")
        # The gradients: the encoder must learn from the reconstruction term through the sample.
        if not got["loss"].requires_grad:
            raise CheckFailed(f"{name}: the loss carries no gradient (was it detached, or turned into a number with "
                              ".item()?): return the tensor itself.")
        params = [model.enc_w, model.enc_b, model.dec_w]
        g_got = torch.autograd.grad(got["loss"].reshape(()), params, allow_unused=True, retain_graph=False)
        z_ref = mu + sigma * eps.to(mu.dtype)
        ref = _elbo_from(x, model.decode(z_ref), mu, logvar, beta)["loss"]
        g_ref = torch.autograd.grad(ref, params)
        for label, a, b in zip(("the encoder's weights", "the encoder's bias", "the decoder's weights"), g_got, g_ref):
            if a is None or not torch.allclose(a.double(), b.double(), atol=1e-3, rtol=1e-3):
                if label.startswith("the encoder") and (a is None or not a.abs().sum() > 0):
                    raise CheckFailed(f"{name}: no gradient reaches {label}.")
                raise CheckFailed(f"{name}: the value is right but the gradient to {label} is not: the sample z must "
                                  "stay connected to mu and logvar, so the reconstruction term trains the encoder "
                                  "(a detached z, or one drawn with torch.normal, carries no gradient).")
    passed(f"{name}: rec + beta * KL, per-image sums averaged over the batch, decoded from a reparameterised sample, "
           f"with the right gradients ({trials} VAEs, betas {', '.join(str(_ELBO_BETAS[(seed + i) % 4]) for i in range(trials))}).")
