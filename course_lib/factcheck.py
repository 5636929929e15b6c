"""Small measuring helpers for notebook 11 (fact check): a VAE with the VQ-VAE's convolutional body, KL of
categorical posteriors, scale-free variability, FLOP counts and timings, and distance/diversity statistics.

Everything here is used by ``notebooks/11_fact_check``; the models and losses themselves come from
:mod:`course_lib.models`, :mod:`course_lib.quantize` and :mod:`course_lib.gan`.

Shapes: ``B`` batch, ``C, H, W`` image, ``D`` latent channels, ``h, w`` the latent grid, ``K`` codes.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn as nn

from .models import ConvDecoder, ConvEncoder

__all__ = [
    "categorical_kl",
    "coefficient_of_variation",
    "count_flops",
    "median_time",
    "num_parameters",
    "pairwise_distances",
    "distance_correlation",
    "nearest_neighbour_distance",
    "mean_pairwise_hamming",
    "SpatialVAE",
    "SpatialVAEOutput",
]


# ------------------------------------------------------------------------------------------------ claim 1
def categorical_kl(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``KL(q || p) = sum_k q_k log(q_k / p_k)`` in nats over the last dimension, with ``0 log 0 = 0``.

    ``q``, ``p``: (..., K) probability vectors (each sums to 1). Returns (...). Written with ``xlogy`` so that a
    one-hot ``q`` (zeros everywhere but one entry) gives a finite answer rather than ``0 * log 0 = nan``.
    """
    if q.shape != p.shape:
        raise ValueError(f"categorical_kl expects q and p of the same shape (..., K), got {tuple(q.shape)} and {tuple(p.shape)}")
    return (torch.special.xlogy(q, q) - torch.special.xlogy(q, p)).sum(-1)


# ------------------------------------------------------------------------------------------------ claim 4
def coefficient_of_variation(values: Sequence[float]) -> float:
    """``std / mean`` of a sequence (population std): a scale-free measure of how much a quantity fluctuates,
    so that losses or gradient norms of different sizes can be compared. Needs at least 2 values and mean != 0."""
    vals = [float(v) for v in values]
    if len(vals) < 2:
        raise ValueError(f"coefficient_of_variation needs at least 2 values, got {len(vals)}")
    mean = statistics.fmean(vals)
    if mean == 0:
        raise ValueError("coefficient_of_variation is undefined for a mean of 0")
    return statistics.pstdev(vals) / abs(mean)


# ------------------------------------------------------------------------------------------------ claim 5
def count_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of one call of ``fn()`` (forward AND any backward it runs), counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and convolutions; elementwise ops are not
    counted). Deterministic: it depends on shapes, not on the machine's speed."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls (CUDA synchronised)."""
    if repeats < 1:
        raise ValueError("median_time needs repeats >= 1")
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def num_parameters(*modules: nn.Module) -> int:
    """Total number of parameters of the given modules (each parameter counted once)."""
    seen = {id(p): p.numel() for m in modules for p in m.parameters()}
    return sum(seen.values())


# ------------------------------------------------------------------------------------------------ claims 6-7
def pairwise_distances(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between all pairs of the N items of ``x`` (N, ...), flattened: the N(N-1)/2 values
    above the diagonal, as a float64 vector (pair order: row-major upper triangle)."""
    flat = x.detach().reshape(x.shape[0], -1).double()
    if flat.shape[0] < 2:
        raise ValueError("pairwise_distances needs at least 2 items")
    d = torch.cdist(flat, flat)
    i, j = torch.triu_indices(len(flat), len(flat), offset=1)
    return d[i, j]


def distance_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation between the pairwise distances of ``a`` (N, ...) and of ``b`` (N, ...): close to 1
    when ``b`` keeps the geometry of ``a`` (items far apart in ``a`` stay far apart in ``b``)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"distance_correlation needs the same number of items, got {a.shape[0]} and {b.shape[0]}")
    da, db = pairwise_distances(a), pairwise_distances(b)
    return float(torch.corrcoef(torch.stack([da, db]))[0, 1])


def nearest_neighbour_distance(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """For each item of ``x`` (N, ...), the Euclidean distance to its nearest item in ``reference`` (M, ...).
    Returns (N,). Images far from every real image have a large value."""
    a = x.detach().reshape(x.shape[0], -1).float()
    r = reference.detach().reshape(reference.shape[0], -1).float()
    if a.shape[1] != r.shape[1]:
        raise ValueError(f"nearest_neighbour_distance: items of size {a.shape[1]} vs reference items of size {r.shape[1]}")
    return torch.cdist(a, r).min(dim=1).values


def mean_pairwise_hamming(tokens: torch.Tensor) -> float:
    """Mean fraction of positions at which two sequences differ, over all pairs of rows of ``tokens`` (N, T).
    0 when every sequence is the same (total collapse); about 1 - 1/K for independent uniform codes."""
    if tokens.dim() != 2 or tokens.shape[0] < 2:
        raise ValueError(f"mean_pairwise_hamming expects (N >= 2, T) integer sequences, got {tuple(tokens.shape)}")
    t = tokens.detach()
    diff = (t[:, None, :] != t[None, :, :]).double().mean(-1)
    i, j = torch.triu_indices(len(t), len(t), offset=1)
    return float(diff[i, j].mean())


# ------------------------------------------------------------------------------------------------ a spatial VAE
class SpatialVAEOutput(NamedTuple):
    x_hat: torch.Tensor  # (B, C, H, W) reconstruction in pixel space (unbounded)
    mu: torch.Tensor  # (B, D, h, w)
    logvar: torch.Tensor  # (B, D, h, w)


class SpatialVAE(nn.Module):
    """A Gaussian VAE (Kingma & Welling 2013, arXiv:1312.6114) with EXACTLY the body of
    :class:`course_lib.models.VQVAE`: the same :class:`ConvEncoder` and :class:`ConvDecoder`, a latent grid
    (B, D, h, w) instead of codes. The 1x1 convolution before the latent outputs 2D channels (mean and
    log-variance), so only that layer differs in size from the VQ-VAE's ``pre_quant``.

    ``forward(x) -> SpatialVAEOutput(x_hat, mu, logvar)`` with ``z = mu + exp(logvar / 2) * eps``.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, latent_dim: int = 64, downsamples: int = 2,
                 res_blocks: int = 2):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.encoder = ConvEncoder(in_channels, hidden, hidden, downsamples, res_blocks)
        self.pre_latent = nn.Conv2d(hidden, 2 * latent_dim, 1)
        self.decoder = ConvDecoder(latent_dim, hidden, in_channels, downsamples, res_blocks)

    def forward(self, x: torch.Tensor) -> SpatialVAEOutput:
        from .losses import reparameterize

        mu, logvar = self.pre_latent(self.encoder(x)).chunk(2, dim=1)
        logvar = logvar.clamp(-10.0, 10.0)
        return SpatialVAEOutput(self.decoder(reparameterize(mu, logvar)), mu, logvar)
