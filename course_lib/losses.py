"""Loss functions of the course: the VAE's ELBO pieces and the VQ-VAE's quantizer loss.

Shapes: ``B`` batch, ``C, H, W`` image channels/height/width, ``L`` latent dimensions.

* :func:`reparameterize` -- ``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)`` (Kingma & Welling 2013).
* :func:`gaussian_kl` -- closed-form ``KL(N(mu, diag sigma^2) || N(0, I))`` per image.
* :func:`elbo_terms` -- the negative ELBO (reconstruction + beta * KL), averaged over images.
* :func:`vae_loss` -- the same for a VAE and a batch: a reparameterised sample, decoded, then :func:`elbo_terms`.
* :func:`vq_loss` -- codebook + commitment loss of van den Oord et al. 2017 (arXiv:1711.00937).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["reparameterize", "gaussian_kl", "elbo_terms", "vae_loss", "vq_loss", "VQLoss"]


def _check_mu_logvar(mu: torch.Tensor, logvar: torch.Tensor, name: str) -> None:
    if not (isinstance(mu, torch.Tensor) and isinstance(logvar, torch.Tensor)):
        raise TypeError(f"{name} expects tensors mu and logvar, got {type(mu).__name__} and {type(logvar).__name__}")
    if mu.shape != logvar.shape:
        raise ValueError(
            f"{name}: mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)} "
            "(the encoder should output both with shape (B, L))"
        )
    if mu.ndim < 1:
        raise ValueError(f"{name}: expected mu of shape (B, L), got a scalar")


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draw ``z ~ N(mu, diag(exp(logvar)))`` differentiably: ``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``.

    ``mu``, ``logvar``: (B, L). Returns z: (B, L). The randomness sits in ``eps`` only, so gradients flow
    to ``mu`` and ``logvar`` (the "reparameterisation trick").
    """
    _check_mu_logvar(mu, logvar, "reparameterize")
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form ``KL(N(mu, diag exp(logvar)) || N(0, I))`` for each image, summed over latent dims.

    ``KL = 0.5 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)``. ``mu``, ``logvar``: (B, L) (or (B, ...):
    every dimension after the first is summed). Returns (B,), in nats.
    """
    _check_mu_logvar(mu, logvar, "gaussian_kl")
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)
    return kl.reshape(kl.shape[0], -1).sum(dim=1)


def elbo_terms(
    x: torch.Tensor,
    x_logits_or_mean: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    likelihood: str = "bernoulli",
    beta: float = 1.0,
    sigma: float = 1.0,
) -> dict:
    """Negative ELBO of a VAE, split into its terms; every term is a mean over the batch (nats per image).

    Args:
        x: data (B, C, H, W); for ``"bernoulli"`` values in [0, 1].
        x_logits_or_mean: decoder output, same shape as ``x``: logits for ``"bernoulli"`` (no sigmoid applied),
            the mean for ``"gaussian"``.
        mu, logvar: encoder outputs (B, L).
        likelihood: ``"bernoulli"`` -> ``rec = BCE-with-logits summed over pixels``;
            ``"gaussian"`` -> ``rec = 0.5 * ||x - mean||^2 / sigma^2`` summed over pixels (fixed variance
            ``sigma^2``; the constant ``0.5 * log(2 pi sigma^2)`` per pixel is dropped).
        beta: weight of the KL term (beta-VAE, Higgins et al. 2017); ``beta=1`` is the ELBO.
        sigma: the fixed standard deviation of the Gaussian likelihood (ignored for ``"bernoulli"``).

    Returns:
        ``dict(loss=rec + beta * kl, rec=rec, kl=kl)``: scalar tensors, means over the batch.
    """
    if x.shape != x_logits_or_mean.shape:
        raise ValueError(
            f"elbo_terms: x and the decoder output must have the same shape, got {tuple(x.shape)} and "
            f"{tuple(x_logits_or_mean.shape)}"
        )
    if x.shape[0] != mu.shape[0]:
        raise ValueError(f"elbo_terms: batch sizes differ: x has {x.shape[0]}, mu has {mu.shape[0]}")
    if beta < 0:
        raise ValueError(f"elbo_terms: beta must be >= 0, got {beta}")
    if likelihood == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(x_logits_or_mean, x, reduction="none")
    elif likelihood == "gaussian":
        if sigma <= 0:
            raise ValueError(f"elbo_terms: sigma must be > 0, got {sigma}")
        rec = 0.5 * (x - x_logits_or_mean).pow(2) / sigma**2
    else:
        raise ValueError(f"elbo_terms: likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    rec = rec.reshape(rec.shape[0], -1).sum(dim=1).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return {"loss": rec + beta * kl, "rec": rec, "kl": kl}


def vae_loss(model, x: torch.Tensor, beta: float = 1.0, likelihood: str = "bernoulli", sigma: float = 1.0) -> dict:
    """The negative ELBO of ``model`` on the batch ``x`` (built in notebook 01, exercise 3).

    ``model(x)`` must return the decoder output and the posterior parameters, as :class:`course_lib.models.VAE`
    does (``x_logits``, ``mu``, ``logvar``; the decoder reads a reparameterised sample ``z``). Returns
    :func:`elbo_terms`: ``dict(loss=rec + beta * kl, rec=rec, kl=kl)``, each a per-image sum averaged over the batch.
    """
    out = model(x)
    for field in ("x_logits", "mu", "logvar"):
        if not hasattr(out, field):
            raise TypeError(f"vae_loss: model(x) should return an object with x_logits, mu and logvar (as "
                            f"course_lib.models.VAE does), got {type(out).__name__} without {field!r}")
    return elbo_terms(x, out.x_logits, out.mu, out.logvar, likelihood=likelihood, beta=beta, sigma=sigma)


class VQLoss(NamedTuple):
    """The VQ-VAE quantizer loss. ``total = codebook + commitment`` (commitment already includes beta)."""

    total: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor


def vq_loss(z_e: torch.Tensor, z_q: torch.Tensor, beta: float = 0.25) -> VQLoss:
    """Codebook and commitment losses of van den Oord et al. 2017 (arXiv:1711.00937), eq. 3.

    * ``codebook = mean((sg[z_e] - z_q)^2)``: moves the chosen codes towards the encoder outputs.
    * ``commitment = beta * mean((z_e - sg[z_q])^2)``: keeps the encoder close to its codes (beta = 0.25 in the paper).

    ``sg`` is stop-gradient (``.detach()``). ``z_e``: encoder output, ``z_q``: the selected codes (the raw codebook
    rows, NOT the straight-through ``z_e + (z_q - z_e).detach()``, which has no gradient to the codebook).
    Both any shape, the same. Means are over all elements.
    """
    if z_e.shape != z_q.shape:
        raise ValueError(f"vq_loss: z_e and z_q must have the same shape, got {tuple(z_e.shape)} and {tuple(z_q.shape)}")
    if beta < 0:
        raise ValueError(f"vq_loss: beta must be >= 0, got {beta}")
    codebook = F.mse_loss(z_q, z_e.detach())
    commitment = beta * F.mse_loss(z_e, z_q.detach())
    return VQLoss(codebook + commitment, codebook, commitment)
