"""Vector quantizers: nearest-code lookup, k-means, the VQ-VAE quantizer and the variants of notebook 05.

Every quantizer takes ``z`` of shape (B, D, H, W) (channels first, like a conv encoder's output) or (N, D) and
returns a :class:`QuantizerOutput`::

    vq = VectorQuantizer(num_codes=512, code_dim=64, beta=0.25)
    out = vq(z)
    out.z_q          # same shape as z; value = the chosen codes, gradient passed straight through to z
    out.indices      # (B, H, W) or (N,) int64
    out.loss         # scalar to add to the reconstruction loss
    vq.codebook      # (K, D)

Variants, all with that call shape:

==============================  =================================================================================
``VectorQuantizer``             van den Oord et al. 2017 (arXiv:1711.00937); options ``kmeans_init``,
                                ``restart_dead_after``, ``cosine``, ``lookup_dim``, ``grad="rotation"``, ``affine``
``EMAVectorQuantizer``          codebook as exponential moving averages (van den Oord et al. 2017, appendix A.1;
                                Razavi et al. 2019, arXiv:1906.00446)
``FactorizedVectorQuantizer``   look up in a low-dimensional (l2-normalised) space (Yu et al. 2021, arXiv:2110.04627)
``RotationVectorQuantizer``     the rotation trick instead of straight-through (Fifty et al. 2024, arXiv:2410.06424)
``FSQ``                         finite scalar quantization, no codebook to learn (Mentzer et al. 2023,
                                arXiv:2309.15505)
``ResidualVQ``                  levels of VQ on the residuals, quantizer dropout (Zeghidour et al. 2021,
                                arXiv:2107.03312; Lee et al. 2022, arXiv:2203.01941); indices (..., levels)
``LFQ``                         lookup-free: the sign of each dimension, entropy penalty (Yu et al. 2023,
                                arXiv:2310.05737)
``BSQ``                         signs on the unit sphere (Zhao et al. 2024, arXiv:2406.07548)
``SimVQ``                       codebook = frozen random codes times a learned linear map (Zhu et al. 2024,
                                arXiv:2411.02038)
==============================  =================================================================================

The steps that notebooks 04 and 05 ask students to write are also here as plain functions: :func:`ema_update`,
:func:`restart_dead_codes` and :func:`fsq_quantize`.

Distances are computed as ``|z|^2 - 2 z.e + |e|^2`` with ONE matrix multiply, in float32 even under autocast;
no (N, K, D) tensor is ever built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.losses import vq_loss

__all__ = [
    "squared_distances",
    "nearest_code",
    "kmeans",
    "KMeansResult",
    "straight_through",
    "rotation_trick",
    "soft_quantize",
    "QuantizerOutput",
    "VectorQuantizer",
    "EMAVectorQuantizer",
    "FactorizedVectorQuantizer",
    "RotationVectorQuantizer",
    "FSQ",
    "ResidualVQ",
    "LFQ",
    "BSQ",
    "SimVQ",
    "binary_entropy_terms",
    "init_codebook_kmeans",
    "init_codebook_gaussian",
    "ema_update",
    "restart_dead_codes",
    "fsq_quantize",
]


# ----------------------------------------------------------------------------------------------------------------
# Distances, nearest codes, k-means
# ----------------------------------------------------------------------------------------------------------------
def _check_pair(z: torch.Tensor, codebook: torch.Tensor, name: str) -> None:
    if not isinstance(z, torch.Tensor) or not isinstance(codebook, torch.Tensor):
        raise TypeError(f"{name} expects tensors z (N, D) and codebook (K, D)")
    if z.dim() != 2 or codebook.dim() != 2:
        raise ValueError(
            f"{name} expects z of shape (N, D) and codebook of shape (K, D), got {tuple(z.shape)} and "
            f"{tuple(codebook.shape)} (flatten a (B, D, H, W) map with z.permute(0, 2, 3, 1).reshape(-1, D))"
        )
    if z.shape[1] != codebook.shape[1]:
        raise ValueError(f"{name}: z has D={z.shape[1]} but the codebook has D={codebook.shape[1]}")


def squared_distances(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """All squared Euclidean distances ``|z_n - e_k|^2`` as an (N, K) float32 tensor.

    Expands ``|z|^2 - 2 z.e + |e|^2`` so the work is ONE matrix multiply (``torch.addmm``): memory O(N K), not the
    O(N K D) of broadcasting ``(z[:, None] - codebook[None]).pow(2).sum(-1)``. Rounding can make the expansion
    slightly negative, so it is clamped at 0. Always float32 (autocast is switched off inside), because in half
    precision ``|z|^2`` and ``2 z.e`` cancel badly.
    """
    _check_pair(z, codebook, "squared_distances")
    with torch.autocast(device_type=z.device.type, enabled=False):
        z32, e32 = z.float(), codebook.float()
        z2 = z32.pow(2).sum(1, keepdim=True)  # (N, 1)
        e2 = e32.pow(2).sum(1)  # (K,)
        d = torch.addmm(z2 + e2, z32, e32.t(), beta=1.0, alpha=-2.0)  # (N, K)
        return d.clamp(min=0.0)


def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code for each row of ``z`` (N, D): an (N,) int64 tensor.

    ``argmin_k |z - e_k|^2 = argmin_k (|e_k|^2 - 2 z.e_k)`` because ``|z|^2`` is the same for every k, so this skips
    it: one ``addmm`` and one ``argmin``, float32, no gradient.
    """
    _check_pair(z, codebook, "nearest_code")
    with torch.no_grad(), torch.autocast(device_type=z.device.type, enabled=False):
        z32, e32 = z.detach().float(), codebook.detach().float()
        e2 = e32.pow(2).sum(1)
        return torch.addmm(e2, z32, e32.t(), beta=1.0, alpha=-2.0).argmin(1)


class KMeansResult(NamedTuple):
    codebook: torch.Tensor  # (k, D)
    assignments: torch.Tensor  # (N,) int64
    distortion_history: List[float]  # mean squared distance to the assigned centre, one entry per Lloyd iteration


def _kmeans_plus_plus(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each new centre drawn with probability ~ D(x)^2."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=gen))
    centres = [x[first]]
    d2 = (x - x[first]).pow(2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:  # fewer distinct points than k: pick any
            j = int(torch.randint(n, (1,), generator=gen))
        else:
            j = int(torch.multinomial(d2 / total, 1, generator=gen))
        centres.append(x[j])
        d2 = torch.minimum(d2, (x - x[j]).pow(2).sum(1))
    return torch.stack(centres)


def kmeans(x: torch.Tensor, k: int, iters: int = 20, seed: int = 0, init: str = "kmeans++") -> KMeansResult:
    """Lloyd's k-means on the rows of ``x`` (N, D).

    Each iteration assigns every point to its nearest centre (:func:`nearest_code`), records the distortion (mean
    over points of the squared distance to the assigned centre), and moves each centre to the mean of its points.
    A centre that lost all its points is re-seeded at the point currently farthest from its centre.
    ``init``: ``"kmeans++"`` (Arthur & Vassilvitskii 2007) or ``"random"`` (k distinct random points).
    Stops early once the assignments no longer change. Runs on x's device, float32, without gradients.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"kmeans expects x of shape (N, D), got {getattr(x, 'shape', type(x))}")
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"kmeans needs 1 <= k <= N, got k={k} for N={n} points")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = x.detach().float()
        if init == "kmeans++":
            centres = _kmeans_plus_plus(x.cpu(), k, gen).to(x.device)
        elif init == "random":
            centres = x[torch.randperm(n, generator=gen)[:k].to(x.device)].clone()
        else:
            raise ValueError(f"kmeans: init must be 'kmeans++' or 'random', got {init!r}")
        history: List[float] = []
        assign = None
        for _ in range(max(1, iters)):
            d = squared_distances(x, centres)
            dist, new_assign = d.min(1)
            history.append(float(dist.mean()))
            if assign is not None and torch.equal(new_assign, assign):
                break
            assign = new_assign
            counts = torch.bincount(assign, minlength=k)
            sums = torch.zeros_like(centres).index_add_(0, assign, x)
            nonempty = counts > 0
            centres[nonempty] = sums[nonempty] / counts[nonempty, None].float()
            empty = (~nonempty).nonzero().flatten()
            if len(empty):
                far = dist.argsort(descending=True)[: len(empty)]
                centres[empty] = x[far]
        assign = nearest_code(x, centres)
    return KMeansResult(centres, assign, history)


# ----------------------------------------------------------------------------------------------------------------
# Gradient estimators
# ----------------------------------------------------------------------------------------------------------------
def straight_through(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator (Bengio, Leonard, Courville 2013, arXiv:1308.3432; used by van den Oord et al. 2017).

    The value is ``z_q``; the gradient with respect to ``z`` is the gradient with respect to the output, copied
    unchanged (the quantization step is treated as the identity in the backward pass). No gradient reaches ``z_q``.
    """
    return z + (z_q - z).detach()


def rotation_trick(z: torch.Tensor, z_q: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The rotation trick (Fifty et al. 2024, "Restructuring Vector Quantization with the Rotation Trick",
    arXiv:2410.06424, section 4.2). ``z``, ``z_q``: (N, D).

    Writes ``z_q = lambda * R z`` with ``R`` the rotation taking the direction of ``z`` to the direction of ``z_q``
    (``R = I - 2 r r^T + 2 q e^T``, ``e = z/|z|``, ``q = z_q/|z_q|``, ``r = (e + q)/|e + q|``) and
    ``lambda = |z_q| / |z|``. ``R`` and ``lambda`` are treated as constants, so the gradient reaching ``z`` is
    ``lambda R^T g`` instead of the straight-through ``g``: its angle to ``z`` matches the angle of ``g`` to ``z_q``.
    The returned value equals ``z_q`` exactly (the last line removes rounding error without touching the gradient).
    No gradient reaches ``z_q``. Built in notebook 05, section 6.
    """
    with torch.no_grad():
        zn = z.norm(dim=-1, keepdim=True).clamp_min(eps)
        qn = z_q.norm(dim=-1, keepdim=True).clamp_min(eps)
        e = z / zn
        q = z_q / qn
        r = e + q
        r = r / r.norm(dim=-1, keepdim=True).clamp_min(eps)
        lam = qn / zn
    # R z = z - 2 r (r.z) + 2 q (e.z), computed without forming the D x D matrix
    rz = z - 2 * r * (r * z).sum(-1, keepdim=True) + 2 * q * (e * z).sum(-1, keepdim=True)
    out = lam * rz
    return out + (z_q - out).detach()


def soft_quantize(z: torch.Tensor, codebook: torch.Tensor, tau, generator: Optional[torch.Generator] = None,
                  hard: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Soft assignment of ``z`` (N, D) to the codes ``codebook`` (K, D) at temperature ``tau``, or a Gumbel-softmax
    sample (Jang, Gu, Poole 2017, arXiv:1611.01144; Maddison, Mnih, Teh 2017, arXiv:1611.00712). Notebook 03.

    * logits ``l_k = -|z - e_k|^2 / tau`` (N, K): the nearer the code, the larger its logit;
    * with a ``generator``: Gumbel noise ``g = -log(-log u)``, ``u = torch.rand((N, K), generator=generator,
      dtype=z.dtype)``, added to the logits (a relaxed sample of the categorical ``softmax(l)``, at relaxation
      temperature 1: Jang et al.'s eq. 1 with ``log pi = l`` up to a constant);
    * ``weights = softmax(l (+ g))`` over the K codes;
    * ``hard=True``: the forward value is the one-hot of the largest weight, the gradient that of the soft weights
      (straight-through, as ``F.gumbel_softmax(..., hard=True)``).

    ``tau`` is a positive number, or an (N, 1) tensor (one temperature per row; the explorer of notebook 03).

    Returns ``(weights (N, K), read_back (N, D))`` with ``read_back = weights @ codebook``. Distances are computed
    in the dtype of ``z`` by broadcasting (an (N, K, D) tensor: meant for the small codebooks of notebook 03).
    """
    _check_pair(z, codebook, "soft_quantize")
    if not bool((torch.as_tensor(tau) > 0).all()):
        raise ValueError(f"soft_quantize: tau must be a positive temperature (a number, or an (N, 1) tensor of "
                         f"them), got {tau!r}")
    logits = -(z[:, None, :] - codebook[None, :, :]).pow(2).sum(-1) / tau
    if generator is not None:
        u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
        logits = logits - torch.log(-torch.log(u))
    weights = logits.softmax(dim=-1)
    if hard:
        one_hot = F.one_hot(weights.argmax(dim=-1), codebook.shape[0]).to(weights.dtype)
        weights = straight_through(weights, one_hot)
    return weights, weights @ codebook.to(weights.dtype)


# ----------------------------------------------------------------------------------------------------------------
# The three steps of notebook 05 as plain functions (the classes below use them)
# ----------------------------------------------------------------------------------------------------------------
def ema_update(cluster_size: torch.Tensor, embed_sum: torch.Tensor, z: torch.Tensor, indices: torch.Tensor,
               decay: float, eps: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One EMA codebook step (van den Oord et al. 2017, appendix A.1, eqs. 6-8; Laplace smoothing as in the
    Sonnet implementation, ``sonnet/src/nets/vqvae.py``, not in the paper). Returns new tensors
    ``(N, m, codebook)``::

        N_k <- decay N_k + (1 - decay) n_k          (n_k: rows of z with index k)      # (K,)
        m_k <- decay m_k + (1 - decay) s_k          (s_k: their sum)                   # (K, D)
        e_k  = m_k / N~_k,  N~_k = (N_k + eps) / (n + K eps) * n,  n = sum_k N_k

    ``N`` is returned unsmoothed. Built in notebook 04, section 4.
    """
    counts, sums = _cluster_statistics(cluster_size, embed_sum, z, indices)
    return _ema_step(cluster_size, embed_sum, counts, sums, decay, eps)


def _cluster_statistics(cluster_size: torch.Tensor, embed_sum: torch.Tensor, z: torch.Tensor,
                        indices: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """This batch's ``n_k`` (K,) and ``s_k`` (K, D) in the dtypes of the running averages."""
    k = cluster_size.shape[0]
    counts = torch.bincount(indices.reshape(-1), minlength=k).to(cluster_size.dtype)  # (K,)
    sums = torch.zeros_like(embed_sum).index_add_(0, indices.reshape(-1), z.to(embed_sum.dtype))  # (K, D)
    return counts, sums


def _ema_step(cluster_size: torch.Tensor, embed_sum: torch.Tensor, counts: torch.Tensor, sums: torch.Tensor,
              decay: float, eps: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    k = cluster_size.shape[0]
    cluster_size = decay * cluster_size + (1 - decay) * counts
    embed_sum = decay * embed_sum + (1 - decay) * sums
    n = cluster_size.sum()
    smoothed = (cluster_size + eps) / (n + k * eps) * n
    return cluster_size, embed_sum, embed_sum / smoothed[:, None]


def restart_dead_codes(codebook: torch.Tensor, counts: torch.Tensor, z_recent: torch.Tensor,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Move every code with ``counts == 0`` onto a random row of ``z_recent`` (N, D), drawn WITHOUT replacement so
    that no two restarted codes land on the same point; live codes are kept. Returns a new (K, D) tensor.

    Restarting unused codes on random encoder outputs goes back to Jukebox (Dhariwal et al. 2020, arXiv:2005.00341,
    codes whose EMA usage falls below a threshold); SoundStream (Zeghidour et al. 2021, arXiv:2107.03312, section
    III-C, "as proposed in" Jukebox) replaces a code unused for several batches by an input vector of the current
    batch, which is what ``VectorQuantizer(restart_dead_after=...)`` does. With more dead codes than rows, only ``N`` of them (a random
    choice) are restarted; the rest wait for the next call. Built in notebook 05, section 4.
    """
    new = codebook.clone()
    dead = (counts == 0).nonzero().flatten().to(codebook.device)
    n = z_recent.shape[0]
    if len(dead) > n:
        dead = dead[torch.randperm(len(dead), generator=generator)[:n].to(dead.device)]
    pick = torch.randperm(n, generator=generator)[: len(dead)].to(z_recent.device)
    new[dead] = z_recent[pick].to(new.dtype).to(new.device)
    return new


def fsq_quantize(z: torch.Tensor, levels: Sequence[int], eps: float = 1e-3) -> torch.Tensor:
    """FSQ rounding (Mentzer et al. 2023, arXiv:2309.15505): (N, d) -> grid values in [-1, 1] with the
    straight-through gradient of rounding. Channel i takes exactly ``levels[i]`` values. See :meth:`FSQ.bound` for
    the constants. Built in notebook 05, section 5.
    """
    L = torch.as_tensor(levels, dtype=z.dtype, device=z.device)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    shift = torch.atanh(offset / half_l)
    bounded = torch.tanh(z + shift) * half_l - offset
    return straight_through(bounded, torch.round(bounded)) / torch.div(L, 2, rounding_mode="floor")


# ----------------------------------------------------------------------------------------------------------------
# torch.distributed: one codebook for all ranks (every helper is a no-op without an initialised process group)
# ----------------------------------------------------------------------------------------------------------------
def _world_size(enabled: bool = True) -> int:
    """The default process group's size when torch.distributed is initialised (and ``enabled``), else 1."""
    if not enabled:
        return 1
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over all ranks, in place; returns it."""
    import torch.distributed as dist

    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def _all_gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's (N_r, D) rows in rank order (the ranks may hold different N_r)."""
    import torch.distributed as dist

    world = dist.get_world_size()
    n = torch.tensor([x.shape[0]], dtype=torch.long, device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes_i = [int(v) for v in sizes]
    padded = x.new_zeros((max(sizes_i), *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, sizes_i)])


def _broadcast_(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    import torch.distributed as dist

    dist.broadcast(t, src=src)
    return t


# ----------------------------------------------------------------------------------------------------------------
# Layout helpers
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class QuantizerOutput:
    """What every quantizer returns.

    ``z_q``: same shape and dtype as the input, quantized values with a gradient to the input.
    ``indices``: (B, H, W) or (N,) int64. ``loss``: scalar to add to the training loss (codebook + commitment, where
    ``commitment_loss`` already includes beta; commitment only for EMA; 0 for FSQ). ``perplexity``: exp of the
    entropy of code usage in THIS batch (a detached scalar tensor; see ``course_lib.metrics.CodeUsageTracker``).
    """

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor
    stats: Optional[dict] = None  # extra detached numbers some quantizers report (LFQ and BSQ: the two entropies)


def _flatten(z: torch.Tensor, dim: int, who: str) -> Tuple[torch.Tensor, tuple]:
    """(B, D, H, W) -> (B*H*W, D) or (N, D) -> (N, D), with clear errors. Returns the flat tensor and the shape."""
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor, got {type(z).__name__}")
    if not z.is_floating_point():
        raise TypeError(f"{who} expects a floating-point z, got dtype {z.dtype}: use z.float()")
    if z.dim() == 4:
        if z.shape[1] != dim:
            hint = ""
            if z.shape[-1] == dim:
                hint = f": is it (B, H, W, D)? use z.permute(0, 3, 1, 2)"
            raise ValueError(
                f"{who} expects z of shape (B, D, H, W) with D={dim} channels first, got {tuple(z.shape)}{hint}"
            )
        return z.permute(0, 2, 3, 1).reshape(-1, dim), tuple(z.shape)
    if z.dim() == 2:
        if z.shape[1] != dim:
            hint = ": is it (D, N)? use z.t()" if z.shape[0] == dim else ""
            raise ValueError(f"{who} expects z of shape (N, D) with D={dim}, got {tuple(z.shape)}{hint}")
        return z, tuple(z.shape)
    raise ValueError(
        f"{who} expects z of shape (B, D, H, W) or (N, D) with D={dim}, got {z.dim()} dims {tuple(z.shape)}"
    )


def _unflatten(flat: torch.Tensor, shape: tuple) -> torch.Tensor:
    """Inverse of :func:`_flatten` (flat may have a different last dimension, e.g. after a projection)."""
    if len(shape) == 2:
        return flat
    b, _, h, w = shape
    return flat.reshape(b, h, w, flat.shape[-1]).permute(0, 3, 1, 2)


def _index_shape(shape: tuple) -> tuple:
    return (shape[0], shape[2], shape[3]) if len(shape) == 4 else (shape[0],)


def _batch_perplexity(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    p = torch.bincount(indices.reshape(-1), minlength=num_codes).float()
    p = p / p.sum().clamp_min(1.0)
    return torch.exp(-torch.special.xlogy(p, p).sum())


def _codes_to_layout(codes: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """codes (..., D) looked up from indices of shape (B, H, W) -> (B, D, H, W); (N,) -> (N, D)."""
    if indices.dim() == 3:
        return codes.permute(0, 3, 1, 2)
    if indices.dim() == 1:
        return codes
    raise ValueError(f"lookup expects indices of shape (B, H, W) or (N,), got {tuple(indices.shape)}")


def _invert_affine(values: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The raw rows ``c`` with ``scale * c + shift == values``: ``(values - shift) / scale``, dividing by the scale
    WITH its sign (a negative scale is a valid reflection; clamping it to a small positive number would store a
    code of the wrong sign and size). A scale component that is exactly 0 (or so small that the quotient overflows)
    maps every raw value to ``shift`` there, so no raw row gives ``values``: that is a ValueError saying which
    dimensions, rather than a silently wrong code."""
    raw = (values - shift) / scale
    bad = ~torch.isfinite(raw).all(0) if raw.dim() > 1 else ~torch.isfinite(raw)
    if bool(bad.any()):
        dims = bad.nonzero().flatten().tolist()
        raise ValueError(
            f"cannot set a code through the affine map: its scale is 0 (or too small to invert) in dimension(s) "
            f"{dims[:8]} (scale there: {[float(scale[d]) for d in dims[:8]]}), where every code equals the shift. "
            "Re-initialise the scale (e.g. vq.affine_scale.data.fill_(1.0)) or train without affine=True."
        )
    return raw


# ----------------------------------------------------------------------------------------------------------------
# The VQ-VAE quantizer and its options
# ----------------------------------------------------------------------------------------------------------------
class VectorQuantizer(nn.Module):
    """The VQ-VAE quantizer of van den Oord, Vinyals, Kavukcuoglu 2017 ("Neural Discrete Representation Learning",
    arXiv:1711.00937).

    ``forward(z)``: nearest code for every D-vector of ``z`` (B, D, H, W) or (N, D); ``z_q`` with the straight-through
    gradient; ``loss = |sg[z] - e|^2 + beta |z - sg[e]|^2`` (:func:`course_lib.losses.vq_loss`).

    Options (notebook 05 compares them as cures for codebook collapse):

    * ``init``: ``"uniform"`` (U(-1/K, 1/K), as in common VQ-VAE code), ``"normal"`` (N(0, 1)) or ``"data"``
      (data-scaled: on the first training forward, codes drawn from a Gaussian with the per-dimension mean and
      standard deviation of that batch's encoder outputs; see :func:`init_codebook_gaussian`).
    * ``kmeans_init=True``: on the first training forward, set the codebook by k-means on that batch's encoder
      outputs (Lancucki et al. 2020, "Robust Training of Vector Quantized Bottleneck Models", arXiv:2005.08520,
      data-dependent initialisation; SoundStream, Zeghidour et al. 2021, arXiv:2107.03312, does the same).
      Same as calling :func:`init_codebook_kmeans` yourself.
    * ``restart_dead_after=N``: in training, a code unused for N consecutive forward calls is moved onto a random
      encoder output of the current batch, drawn without replacement (SoundStream's variant, Zeghidour et al. 2021,
      section III-C, of the restarts of Jukebox, Dhariwal et al. 2020, arXiv:2005.00341, which restarts codes whose
      EMA usage falls below a threshold; Lancucki et al. 2020 re-initialise the codebook periodically by k-means).
      Call :meth:`attach_optimizer` so that a restarted row's optimiser moments are zeroed instead of carrying the
      momentum of its old, dead position (Adam's step count, shared by the whole weight, is not reset: see there). Set the attribute to ``None`` to stop
      restarting (e.g. for the last steps before an evaluation).
    * ``affine=True``: the codes are ``e_k = scale * c_k + shift`` with a learned per-dimension ``scale`` and
      ``shift`` shared by all codes (the affine reparameterisation of Huh et al. 2023, "Straightening Out the
      Straight-Through Estimator", ICML 2023, arXiv:2305.08842): the gradient of the few chosen codes moves the
      shared parameters and with them every code, so unused codes follow the data.
    * ``cosine=True``: l2-normalise both z and the codes before the lookup; ``z_q`` is a unit vector
      (Yu et al. 2021, "Vector-quantized Image Modeling with Improved VQGAN", arXiv:2110.04627).
    * ``lookup_dim=d``: project z down to d dimensions (a linear map), look up there, project the code back up to
      ``code_dim`` (Yu et al. 2021). ``codebook`` is then (K, d); see :class:`FactorizedVectorQuantizer`.
    * ``grad="rotation"``: the rotation trick instead of straight-through (Fifty et al. 2024, arXiv:2410.06424).
    * ``sync_ranks`` (default True): under torch.distributed (DDP, torchrun), everything the codebook learns
      outside the gradient step is computed from the GLOBAL batch: the usage counters of dead-code restarts (and
      the EMA statistics, :class:`EMAVectorQuantizer`) are summed over the ranks before they are used, restart
      candidates and k-means / data initialisation are drawn from all ranks' encoder outputs, and rank 0's choice
      of rows is broadcast. So every replica makes the same update and the codebooks stay identical with no buffer
      broadcast (wrap the model in DDP with :func:`course_lib.vqgan.ddp_kwargs`), as if one process had seen the whole
      batch. In training mode every rank must therefore call ``forward`` the same number of times (as DDP
      training does); in eval mode nothing is communicated. ``sync_ranks=False`` lets each rank learn from its
      own shard (the replicas then drift apart; tests use it to show that the replica check can fail).
      Without an initialised process group nothing changes.
    """

    def __init__(
        self,
        num_codes: int = 512,
        code_dim: int = 64,
        beta: float = 0.25,
        init: str = "uniform",
        *,
        kmeans_init: bool = False,
        restart_dead_after: Optional[int] = None,
        cosine: bool = False,
        lookup_dim: Optional[int] = None,
        grad: str = "ste",
        affine: bool = False,
        sync_ranks: bool = True,
    ):
        super().__init__()
        if num_codes < 1 or code_dim < 1:
            raise ValueError(f"num_codes and code_dim must be >= 1, got {num_codes} and {code_dim}")
        if grad not in ("ste", "rotation"):
            raise ValueError(f"grad must be 'ste' or 'rotation', got {grad!r}")
        if restart_dead_after is not None and restart_dead_after < 1:
            raise ValueError(f"restart_dead_after must be a positive number of steps, got {restart_dead_after}")
        self.num_codes = int(num_codes)
        self.code_dim = int(code_dim)
        self.beta = float(beta)
        self.cosine = bool(cosine)
        self.grad = grad
        self.kmeans_init = bool(kmeans_init)
        self.restart_dead_after = restart_dead_after
        self.sync_ranks = bool(sync_ranks)
        self.lookup_dim = int(lookup_dim) if lookup_dim is not None else None
        d = self.lookup_dim or self.code_dim
        if self.lookup_dim is not None:
            self.project_in = nn.Linear(self.code_dim, d)
            self.project_out = nn.Linear(d, self.code_dim)
        else:
            self.project_in = self.project_out = None
        self.embedding = nn.Embedding(self.num_codes, d)
        self._init_weights(init)
        self.affine = bool(affine)
        if self.affine:
            self.affine_scale = nn.Parameter(torch.ones(d))  # (d,) shared by every code
            self.affine_shift = nn.Parameter(torch.zeros(d))
        self._optimizer = None
        self.init = init
        self.register_buffer("initialized", torch.tensor(not (self.kmeans_init or init == "data")))
        self.register_buffer("steps_unused", torch.zeros(self.num_codes, dtype=torch.long))
        self.restarts = 0  # how many codes were restarted so far (a plain counter for the notebooks)

    # -- codebook -----------------------------------------------------------------------------------------------
    def _init_weights(self, init: str) -> None:
        with torch.no_grad():
            if init == "uniform":
                self.embedding.weight.uniform_(-1.0 / self.num_codes, 1.0 / self.num_codes)
            elif init in ("normal", "data"):  # "data" is replaced on the first training forward
                self.embedding.weight.normal_()
            else:
                raise ValueError(f"init must be 'uniform', 'normal' or 'data', got {init!r}")

    def _raw_codebook(self) -> torch.Tensor:
        return self.embedding.weight

    @property
    def codebook(self) -> torch.Tensor:
        """(K, d) codes used for the lookup (unit vectors when ``cosine``; d = lookup_dim when factorised;
        ``scale * c + shift`` when ``affine``)."""
        e = self._raw_codebook()
        if self.affine:
            e = e * self.affine_scale + self.affine_shift
        return F.normalize(e, dim=1) if self.cosine else e

    def attach_optimizer(self, optimizer: torch.optim.Optimizer) -> "VectorQuantizer":
        """Let restarts and k-means initialisation reset the optimiser state of the rows they overwrite.

        Without it, Adam keeps a restarted row's first and second moments from its old position: the next steps
        push the new code in the old direction. With it, every per-parameter state tensor of the codebook weight
        that has the weight's shape (Adam's ``exp_avg``, ``exp_avg_sq``, SGD's momentum) is zeroed on those rows.
        This is not a fresh Adam for the row: Adam's ``step`` counter belongs to the whole weight, so its bias
        correction is not restarted, and a row reset late in training moves several times the learning rate in
        its first steps (a fresh Adam moves about 1x). Returns ``self``.
        """
        self._optimizer = optimizer
        return self

    @torch.no_grad()
    def _reset_optimizer_rows(self, rows: torch.Tensor) -> None:
        if self._optimizer is None or not hasattr(self, "embedding"):
            return
        weight = self.embedding.weight
        for value in self._optimizer.state.get(weight, {}).values():
            if isinstance(value, torch.Tensor) and value.shape == weight.shape:
                value[rows] = 0

    def _set_codes(self, rows: torch.Tensor, values: torch.Tensor) -> None:
        """Overwrite the codes ``rows`` with ``values`` (used by k-means init and restarts).

        Written through ``.data``: a restart happens after this step's lookup, whose backward (through the cosine
        normalisation, say) still holds the weight; the restarted rows were unused this step, so their gradient is
        zero either way and the write changes no gradient.
        """
        with torch.no_grad():
            values = values.to(self.embedding.weight.dtype)
            if self.affine:  # store the raw row that the affine map takes to `values`
                values = _invert_affine(values, self.affine_scale.detach(), self.affine_shift.detach())
            self.embedding.weight.data[rows] = values
        self._reset_optimizer_rows(rows)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes for ``indices`` in the layout of z: (B, H, W) -> (B, D, H, W); (N,) -> (N, D)."""
        codes = F.embedding(indices, self.codebook)
        if self.project_out is not None:
            codes = self.project_out(codes)
        return _codes_to_layout(codes, indices)

    # -- forward ------------------------------------------------------------------------------------------------
    def _prepare(self, flat: torch.Tensor) -> torch.Tensor:
        """The vectors that are looked up: projected (factorised) and/or normalised (cosine), float32."""
        x = flat.float()
        if self.project_in is not None:
            x = self.project_in(x)
        return F.normalize(x, dim=1) if self.cosine else x

    def _losses(self, x: torch.Tensor, codes: torch.Tensor):
        terms = vq_loss(x, codes, self.beta)
        return terms.total, terms.codebook, terms.commitment

    def _update_codebook(self, x: torch.Tensor, idx: torch.Tensor, world: int = 1) -> Optional[torch.Tensor]:
        """Hook for codebooks that learn without gradients (EMA). Returns the global code counts (K,) when it
        computed them across ``world`` > 1 ranks (so the restart counters need no second all-reduce), else None."""
        return None

    def _codebook_state(self) -> List[torch.Tensor]:
        """The tensors that hold the codes (what a rank-0 broadcast makes identical)."""
        return [self.embedding.weight.data]

    def _initialize_from(self, x: torch.Tensor, world: int) -> None:
        """k-means or data-scaled start on the first training batch; under torch.distributed on the batch of all
        ranks, then rank 0's result is broadcast (the Gaussian start draws a seed from each rank's RNG)."""
        if world > 1:
            x = _all_gather_rows(x.float())
        if self.kmeans_init:
            init_codebook_kmeans(self, x, _prepared=True)
        else:
            init_codebook_gaussian(self, x, seed=int(torch.randint(1 << 30, (1,))), _prepared=True)
        if world > 1:
            with torch.no_grad():
                for t in self._codebook_state():
                    _broadcast_(t)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        who = type(self).__name__
        flat, shape = _flatten(z, self.code_dim, who)
        x = self._prepare(flat)  # (N, d) float32
        world = _world_size(self.sync_ranks) if self.training else 1
        if self.training and not bool(self.initialized):
            self._initialize_from(x.detach(), world)
        idx = nearest_code(x, self.codebook)
        codes = F.embedding(idx, self.codebook)  # (N, d) with gradient to the codebook
        counts = None
        if self.training:
            # EMA codebooks update AFTER the lookup, as in Sonnet's VectorQuantizerEMA: this step's z_q and
            # commitment loss use the codes that were chosen, the update takes effect from the next call
            counts = self._update_codebook(x.detach(), idx, world)
        loss, codebook_loss, commitment_loss = self._losses(x, codes)
        if self.grad == "rotation":
            q = rotation_trick(x, codes.detach())
        else:
            q = straight_through(x, codes)
        if self.project_out is not None:
            q = self.project_out(q)
        perp = _batch_perplexity(idx, self.num_codes)
        if self.training and self.restart_dead_after is not None:
            self._restart_dead(x.detach(), idx, world, counts)
        z_q = _unflatten(q, shape).to(z.dtype)
        return QuantizerOutput(z_q, idx.reshape(_index_shape(shape)), loss, codebook_loss, commitment_loss, perp)

    # -- dead-code restarts -------------------------------------------------------------------------------------
    @torch.no_grad()
    def _restart_dead(self, x: torch.Tensor, idx: torch.Tensor, world: int = 1,
                      counts: Optional[torch.Tensor] = None) -> None:
        if world > 1:  # a code is used if ANY rank chose it; every rank then holds the same counters
            if counts is None:
                counts = _all_reduce_sum(torch.bincount(idx.reshape(-1), minlength=self.num_codes).float())
            used = counts > 0
        else:
            used = torch.zeros(self.num_codes, dtype=torch.bool, device=idx.device)
            used[idx] = True
        self.steps_unused += 1
        self.steps_unused[used] = 0
        dead = (self.steps_unused >= self.restart_dead_after).nonzero().flatten()
        if len(dead) == 0:
            return
        if world > 1:  # candidates from every rank: the global batch, in rank order (float32: any backend takes it)
            x = _all_gather_rows(x.float())
        if len(dead) > x.shape[0]:  # at most one restart per vector of this batch; the others wait a step
            dead = dead[torch.randperm(len(dead), device=dead.device)[: x.shape[0]]]
        pick = torch.randperm(x.shape[0], device=x.device)[: len(dead)]  # without replacement
        if world > 1:
            # Every rank drew the same way from its own RNG (seeded alike, so they agree and stay in step);
            # rank 0's choice is broadcast so that the replicas agree even if the RNG streams ever differ.
            choice = _broadcast_(torch.stack([dead, pick.to(dead.device)]))
            dead, pick = choice[0], choice[1].to(x.device)
        self._set_codes(dead, x[pick])
        self.steps_unused[dead] = 0
        self.restarts += len(dead)

    def extra_repr(self) -> str:
        opts = [f"num_codes={self.num_codes}", f"code_dim={self.code_dim}", f"beta={self.beta}"]
        if self.lookup_dim:
            opts.append(f"lookup_dim={self.lookup_dim}")
        if self.cosine:
            opts.append("cosine=True")
        if self.kmeans_init:
            opts.append("kmeans_init=True")
        if self.restart_dead_after:
            opts.append(f"restart_dead_after={self.restart_dead_after}")
        if self.grad != "ste":
            opts.append(f"grad={self.grad!r}")
        if self.affine:
            opts.append("affine=True")
        return ", ".join(opts)


@torch.no_grad()
def init_codebook_kmeans(vq: VectorQuantizer, z: torch.Tensor, iters: int = 10, seed: int = 0, _prepared: bool = False) -> None:
    """Set ``vq``'s codebook to k-means centres of the encoder outputs ``z`` (Lancucki et al. 2020,
    arXiv:2005.08520, section 3.2). ``z``: (B, D, H, W) or (N, D) in the quantizer's input layout.

    With fewer vectors than codes, vectors are repeated with a little noise. Marks the quantizer as initialised,
    so ``kmeans_init=True`` does not run again.
    """
    x = z if _prepared else vq._prepare(_flatten(z, vq.code_dim, "init_codebook_kmeans")[0])
    x = x.detach().float()
    k = vq.num_codes
    if x.shape[0] < k:
        gen = torch.Generator().manual_seed(seed)
        extra = x[torch.randint(x.shape[0], (k - x.shape[0],), generator=gen).to(x.device)]
        x = torch.cat([x, extra + 0.01 * x.std() * torch.randn(extra.shape, generator=gen).to(x.device)])
    centres = kmeans(x, k, iters=iters, seed=seed).codebook
    if vq.cosine:
        centres = F.normalize(centres, dim=1)
    vq._set_codes(torch.arange(k, device=centres.device), centres)
    vq.initialized.fill_(True)


@torch.no_grad()
def init_codebook_gaussian(vq: VectorQuantizer, z: torch.Tensor, seed: int = 0, _prepared: bool = False) -> None:
    """Data-scaled start: draw ``vq``'s codes from N(mean, std^2) fitted per dimension to the encoder outputs ``z``
    ((B, D, H, W) or (N, D)), so that the codes start at the scale and place of the data, but not on its clusters
    (that is k-means, :func:`init_codebook_kmeans`). Marks the quantizer as initialised."""
    x = z if _prepared else vq._prepare(_flatten(z, vq.code_dim, "init_codebook_gaussian")[0])
    x = x.detach().float()
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(vq.num_codes, x.shape[1], generator=gen).to(x.device)
    centres = x.mean(0) + x.std(0) * noise  # (K, d)
    if vq.cosine:
        centres = F.normalize(centres, dim=1)
    vq._set_codes(torch.arange(vq.num_codes, device=centres.device), centres)
    vq.initialized.fill_(True)


class FactorizedVectorQuantizer(VectorQuantizer):
    """Factorised codes of ViT-VQGAN (Yu et al. 2021, arXiv:2110.04627, section 3.2): a linear map projects z from
    ``code_dim`` down to ``lookup_dim`` (the paper: "reduced from 768-d vector to 32-d or 8-d vector per code"),
    the lookup happens there with l2-normalised vectors, and
    the chosen code is projected back up to ``code_dim``. ``codebook`` is (K, lookup_dim).
    """

    def __init__(self, num_codes: int = 512, code_dim: int = 64, lookup_dim: int = 8, beta: float = 0.25,
                 cosine: bool = True, **kwargs):
        super().__init__(num_codes, code_dim, beta, lookup_dim=lookup_dim, cosine=cosine, **kwargs)


class RotationVectorQuantizer(VectorQuantizer):
    """:class:`VectorQuantizer` whose gradient goes through the rotation trick (Fifty et al. 2024,
    arXiv:2410.06424) instead of straight-through. The forward values are identical."""

    def __init__(self, num_codes: int = 512, code_dim: int = 64, beta: float = 0.25, **kwargs):
        super().__init__(num_codes, code_dim, beta, grad="rotation", **kwargs)


class EMAVectorQuantizer(VectorQuantizer):
    """Codebook learned by exponential moving averages instead of gradients (van den Oord et al. 2017, appendix
    A.1; Razavi et al. 2019, "Generating Diverse High-Fidelity Images with VQ-VAE-2", arXiv:1906.00446).

    In training mode, each forward updates, with ``decay`` (gamma, 0.99):
    ``N_k <- gamma N_k + (1 - gamma) n_k`` (how many vectors chose code k) and
    ``m_k <- gamma m_k + (1 - gamma) sum of those vectors``, then ``e_k = m_k / N~_k`` where
    ``N~_k = (N_k + eps) / (sum N + K eps) * sum N`` is Laplace-smoothed so a rarely used code never divides by 0
    (the smoothing is in Sonnet's code, ``sonnet/src/nets/vqvae.py``, not in the paper). The update runs after the
    lookup, as in Sonnet: ``z_q`` and the loss of a step use the codes before that step's update (see
    :func:`ema_update`). ``loss`` is the commitment term only (``beta |z - sg[e]|^2``); ``codebook_loss`` is
    reported, detached.

    The averages start as if every code had one vector assigned at its initial position (``N_k = 1``,
    ``m_k = e_k``), so the first divisions are by about 1, not by ~eps. An unused code is NOT frozen: after t steps
    without a vector, ``N_k = gamma^t`` and ``m_k = gamma^t e_k(0)``, so
    ``e_k(t) = e_k(0) gamma^t / (gamma^t + eps) * (n + K eps) / n``. It stays almost in place while
    ``gamma^t >> eps`` and then decays towards the origin like ``gamma^t``: with gamma = 0.99 and eps = 1e-5 after
    about 1,100 steps, with gamma = 0.9 after about 110. Combine with ``restart_dead_after`` to revive unused codes.

    Under torch.distributed (``sync_ranks=True``, the default) ``n_k`` and the sums are all-reduced over the ranks
    before the averages are updated: every rank makes the update of the whole global batch (one all-reduce of a
    (K, 1 + d) tensor per step), and the codebooks of the replicas stay identical without a buffer broadcast.
    """

    def __init__(self, num_codes: int = 512, code_dim: int = 64, beta: float = 0.25, decay: float = 0.99,
                 eps: float = 1e-5, init: str = "uniform", **kwargs):
        if kwargs.get("affine"):
            raise ValueError("EMAVectorQuantizer has no gradient-trained codebook, so affine=True does not apply")
        super().__init__(num_codes, code_dim, beta, init=init, **kwargs)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.eps = float(eps)
        weight = self.embedding.weight.detach().clone()
        del self.embedding
        self.register_buffer("embed", weight)  # (K, d) the codes
        self.register_buffer("cluster_size", torch.ones(self.num_codes))  # N_k
        self.register_buffer("embed_sum", weight.clone())  # m_k

    def _raw_codebook(self) -> torch.Tensor:
        return self.embed

    def _set_codes(self, rows: torch.Tensor, values: torch.Tensor) -> None:
        self.embed[rows] = values.to(self.embed.dtype)
        self.embed_sum[rows] = values.to(self.embed.dtype)
        self.cluster_size[rows] = 1.0

    def _losses(self, x: torch.Tensor, codes: torch.Tensor):
        terms = vq_loss(x, codes.detach(), self.beta)
        return terms.commitment, terms.codebook.detach(), terms.commitment

    def _codebook_state(self) -> List[torch.Tensor]:
        return [self.embed, self.embed_sum, self.cluster_size]

    @torch.no_grad()
    def _update_codebook(self, x: torch.Tensor, idx: torch.Tensor, world: int = 1) -> Optional[torch.Tensor]:
        if world == 1:
            size, total, codes = ema_update(self.cluster_size, self.embed_sum, x, idx, self.decay, self.eps)
            counts = None
        else:
            # Under torch.distributed: sum this step's counts n_k and sums s_k over the ranks BEFORE the moving
            # averages, so every rank makes the same update, from the whole global batch (one all-reduce).
            counts, sums = _cluster_statistics(self.cluster_size, self.embed_sum, x, idx)
            stats = _all_reduce_sum(torch.cat([counts[:, None], sums], dim=1))
            counts, sums = stats[:, 0], stats[:, 1:]
            size, total, codes = _ema_step(self.cluster_size, self.embed_sum, counts, sums, self.decay, self.eps)
        self.cluster_size.copy_(size)
        self.embed_sum.copy_(total)
        self.embed.copy_(codes)
        return counts

    def extra_repr(self) -> str:
        return super().extra_repr() + f", decay={self.decay}, eps={self.eps}"


# ----------------------------------------------------------------------------------------------------------------
# Finite scalar quantization
# ----------------------------------------------------------------------------------------------------------------
class _ImplicitCodebook(nn.Module):
    """What the quantizers without a stored codebook share (FSQ, LFQ, BSQ): ``codebook`` enumerates every code from
    ``indices_to_codes``, ``lookup`` maps indices to codes in z's layout through the optional output projection.
    Subclasses set ``num_codes``, ``_basis`` (a buffer on the module's device) and ``project_out``."""

    num_codes: int

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def codebook(self) -> torch.Tensor:
        """The implicit codebook (num_codes, code size before the output projection); row i has index i."""
        return self.indices_to_codes(torch.arange(self.num_codes, device=self._basis.device))

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes for ``indices`` in the layout of z (through the output projection when there is one)."""
        codes = self.indices_to_codes(indices)
        if self.project_out is not None:
            codes = self.project_out(codes)
        return _codes_to_layout(codes, indices)


class FSQ(_ImplicitCodebook):
    """Finite Scalar Quantization (Mentzer, Minnen, Agustsson, Tschannen 2023, "Finite Scalar Quantization: VQ-VAE
    Made Simple", arXiv:2309.15505).

    Each of the ``len(levels)`` channels is bounded with tanh to ``L_i`` possible values, rounded (straight-through
    gradient), and rescaled to [-1, 1]. The codebook is implicit: the grid of all ``prod(levels)`` combinations
    (``levels=(8, 5, 5, 5)`` gives 1000 codes); nothing is learned and ``loss`` is 0 (no codebook or commitment
    term). It has no stuck codes: no code can be stranded away from the data, because the grid is fixed and the
    encoder is bounded onto it. That is not a promise of full usage: a code is used only if the encoder puts some
    input into its cell (notebook 05 measures it). Use the levels the paper recommends for a codebook size (Table 1), e.g. (8, 6, 5) ~ 2^8,
    (8, 5, 5, 5) ~ 2^10, (7, 5, 5, 5, 5) ~ 2^12.

    Input: z with ``len(levels)`` channels. With ``code_dim`` set, linear projections ``code_dim -> len(levels)``
    and back are added (the paper puts them in the encoder/decoder; here they are part of the quantizer), so it
    drops in where a ``VectorQuantizer(code_dim=...)`` was.
    """

    def __init__(self, levels: Sequence[int] = (8, 5, 5, 5), code_dim: Optional[int] = None, eps: float = 1e-3):
        super().__init__()
        levels = tuple(int(l) for l in levels)
        if len(levels) == 0 or min(levels) < 2:
            raise ValueError(f"FSQ levels must be integers >= 2, got {levels}")
        self.levels = levels
        self.num_codes = int(math.prod(levels))
        self.code_dim = int(code_dim) if code_dim is not None else len(levels)
        self.eps = float(eps)
        d = len(levels)
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        basis = torch.cumprod(torch.tensor((1,) + levels[:-1], dtype=torch.long), 0)
        self.register_buffer("_basis", basis, persistent=False)
        if code_dim is not None:
            self.project_in = nn.Linear(self.code_dim, d)
            self.project_out = nn.Linear(d, self.code_dim)
        else:
            self.project_in = self.project_out = None

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash each channel so that rounding gives exactly L_i values (the paper's ``bound``, appendix A.1).

        ``tanh(z + shift) * half_l - offset``; even L_i are shifted by 1/2 so the grid is {-L/2, ..., L/2 - 1}.
        Here ``shift = atanh(offset / half_l)`` (so z = 0 lands exactly on 0) and ``half_l = (L-1)(1+eps)/2`` (so
        the extreme values are reached), as in vector-quantize-pytorch. The paper's code (appendix A.1) writes
        ``half_l = (L-1)(1-eps)/2`` and ``shift = tan(offset / half_l)``: the same grid of values, a gradient about
        0.2% smaller and a slightly different point mapped to 0. Both are accepted by notebook 05's check.
        """
        half_l = (self._levels - 1) * (1 + self.eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """(N, d) -> values on the grid, scaled to [-1, 1], with the straight-through gradient of rounding."""
        bounded = self.bound(z)
        rounded = straight_through(bounded, torch.round(bounded))
        return rounded / (self._levels // 2)  # same as fsq_quantize(z, self.levels, self.eps)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Grid values (N, d) in [-1, 1] -> (N,) int64 indices in [0, prod(levels))."""
        half = self._levels // 2
        digits = torch.round(codes * half + half).long()
        return (digits * self._basis).sum(-1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """(...,) int64 indices -> (..., d) grid values in [-1, 1] (before the output projection)."""
        levels = self._levels.long()
        digits = (indices.unsqueeze(-1) // self._basis) % levels
        half = self._levels // 2
        return (digits.float() - half) / half

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        flat, shape = _flatten(z, self.code_dim, "FSQ")
        x = flat.float()
        if self.project_in is not None:
            x = self.project_in(x)
        q = self.quantize(x)
        idx = self.codes_to_indices(q.detach())
        if self.project_out is not None:
            q = self.project_out(q)
        zero = torch.zeros((), device=z.device)
        z_q = _unflatten(q, shape).to(z.dtype)
        return QuantizerOutput(z_q, idx.reshape(_index_shape(shape)), zero, zero, zero,
                               _batch_perplexity(idx, self.num_codes))

    def extra_repr(self) -> str:
        extra = f", code_dim={self.code_dim}" if self.project_in is not None else ""
        return f"levels={self.levels}, num_codes={self.num_codes}{extra}"


# ----------------------------------------------------------------------------------------------------------------
# The quantizers of today's tokenizers (notebook 14)
# ----------------------------------------------------------------------------------------------------------------
def _bit_basis(bits: int) -> torch.Tensor:
    """(bits,) int64 weights 2^(bits-1), ..., 2, 1: the FIRST dimension is the most significant bit (the order of
    vector-quantize-pytorch's LFQ and of the BSQ authors' code; MAGVIT-v2's eq. 2 writes 2^(i-1) for dimension i,
    the reverse order: the same codes with other labels)."""
    return 2 ** torch.arange(bits - 1, -1, -1, dtype=torch.long)


def _check_bits(bits: int, who: str) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 30:
        raise ValueError(f"{who}: bits must be an integer from 1 to 30 (the codebook has 2**bits codes), got {bits!r}")
    return bits


def _entropy(p: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Entropy in nats over the last dimension, ``-sum p log p``, with the log clamped at ``eps`` (as
    vector-quantize-pytorch's LFQ does), so that a probability of 0 contributes 0 and no NaN."""
    return -(p * p.clamp_min(eps).log()).sum(-1)


def _binary_entropy_of_logits(a: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of a Bernoulli with P(+1) = sigmoid(a), elementwise and stable for large |a|."""
    p = torch.sigmoid(a)
    return p * F.softplus(-a) + (1 - p) * F.softplus(a)


def _binary_entropy(p: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Entropy (nats) of a Bernoulli with P(+1) = p; p is clamped to [eps, 1 - eps] so that the gradient stays
    finite where a mean probability is exactly 0 or 1 (d(p log p)/dp = log p + 1)."""
    p = p.clamp(eps, 1 - eps)
    return -(p * p.log() + (1 - p) * (1 - p).log())


def binary_entropy_terms(x: torch.Tensor, inv_temperature: float, scale: float = 1.0,
                         factorized: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """The two entropies of LFQ's penalty for vectors ``x`` (N, d) and the implicit codebook ``{-scale, +scale}^d``.

    The soft assignment of a vector to the 2^d codes is ``q(c | x) = softmax_c(2 tau x.c)`` (``tau`` =
    ``inv_temperature``; ``2 x.c`` is ``-|x - c|^2`` up to terms that are the same for every code). Returns
    ``(mean over n of H(q(.|x_n)), H(mean over n of q(.|x_n)))`` in nats: the per-sample entropy (the penalty
    wants it LOW: each vector confidently near one code) and the codebook entropy of the batch (wanted HIGH: all
    codes used). MAGVIT-v2 (Yu et al. 2023, arXiv:2310.05737, section 3.1) penalises
    ``E[H(q(z))] - gamma H(E[q(z)])``.

    ``factorized=False`` builds the (N, 2^d) soft assignments, exactly as vector-quantize-pytorch's LFQ (including
    its log clamped at 1e-5): memory N * 2^d, so for d up to about 12. ``factorized=True`` uses that the soft
    assignment factorises over dimensions, ``q(c | x) = prod_i sigmoid(4 tau x_i c_i)``: the
    per-sample entropy is then exactly the sum of d binary entropies, and the codebook entropy is replaced by the
    sum of the d binary entropies of the batch-mean bit probabilities, an upper bound on the true one (the
    entropy of a joint distribution is at most the sum of its marginals' entropies). That is the BSQ authors'
    approximation (Zhao et al. 2024, arXiv:2406.07548; their code with group size 1), memory N * d.
    """
    if x.dim() != 2:
        raise ValueError(f"binary_entropy_terms expects x of shape (N, d), got {tuple(x.shape)}")
    x = x.float()
    d = x.shape[1]
    if factorized:
        a = 4.0 * inv_temperature * scale * x  # logit of P(bit i = +1)
        per_sample = _binary_entropy_of_logits(a).sum(1).mean()
        codebook = _binary_entropy(torch.sigmoid(a).mean(0)).sum()
        return per_sample, codebook
    if d > 16:
        raise ValueError(f"binary_entropy_terms: {d} bits would need an (N, 2^{d}) tensor; use factorized=True")
    bits = ((torch.arange(2 ** d, device=x.device)[:, None] & _bit_basis(d).to(x.device)) != 0).float()
    codebook_vectors = (2 * bits - 1) * scale  # (2^d, d)
    prob = (2.0 * inv_temperature * x @ codebook_vectors.t()).softmax(-1)  # (N, 2^d)
    return _entropy(prob).mean(), _entropy(prob.mean(0))


class ResidualVQ(nn.Module):
    """Residual vector quantization: ``num_levels`` quantizers, each coding what the previous ones left.

    SoundStream (Zeghidour et al. 2021, arXiv:2107.03312, section III-C, Algorithm 1) and RQ-VAE (Lee et al.
    2022, arXiv:2203.01941, section 3.1): ``r_0 = z``; level l picks the code nearest to the residual,
    ``q_l = e^(l)_{k_l}, k_l = argmin_k |r_{l-1} - e^(l)_k|``, and ``r_l = r_{l-1} - q_l``. The output is the sum
    ``q_1 + ... + q_L``. With K codes per level a vector costs ``L log2 K`` bits, and the first k levels alone
    already give a coarser reconstruction.

    Gradients: ONE straight-through estimator for the sum, ``z_q = z + sg[sum_l q_l - z]`` (RQ-VAE's code), so
    the encoder gets the upstream gradient once. Each level adds its VQ-VAE loss on its own residual,
    ``|sg[r_{l-1}] - q_l|^2 + beta |r_{l-1} - sg[q_l]|^2``, and ``loss`` is the SUM over the levels used. The
    residuals are formed with ``sg[q_l]`` (``r_l = r_{l-1} - sg[q_l]``), so ``r_{l-1} = z - sg[q_1 + ... +
    q_{l-1}]`` and the commitment term of level l is RQ-VAE's ``|z - sg[partial sum]|^2``.

    vector-quantize-pytorch's ``ResidualVQ`` picks the same codes and forms the residuals the same way, but adds
    the straight-through outputs of the levels, so its gradient to z is (number of levels used) x the upstream
    gradient; tests/test_quantize_today.py checks both facts.

    Quantizer dropout (SoundStream, section III-C): with ``quantizer_dropout=True``, each training forward uses
    only the first n levels, n drawn uniformly from ``dropout_min_levels .. num_levels`` (one n per batch, as
    vector-quantize-pytorch does; SoundStream draws one per example). One model then serves every rate: decode
    with the first k levels by ``forward(z, num_levels=k)`` or ``lookup(indices[..., :k])``.

    ``indices``: (B, H, W, num_levels) or (N, num_levels) int64, -1 for levels not used. Each level is a
    :class:`VectorQuantizer` (or :class:`EMAVectorQuantizer` with ``ema=True``, SoundStream's choice) built with
    ``level_kwargs`` (e.g. ``kmeans_init=True, restart_dead_after=...``): each initialises and restarts on its own
    residuals. Built in notebook 14, section 2.
    """

    def __init__(self, num_levels: int = 4, num_codes: int = 256, code_dim: int = 64, beta: float = 0.25, *,
                 ema: bool = False, quantizer_dropout: bool = False, dropout_min_levels: int = 1, **level_kwargs):
        super().__init__()
        if not isinstance(num_levels, int) or num_levels < 1:
            raise ValueError(f"ResidualVQ: num_levels must be a positive integer, got {num_levels!r}")
        if not 1 <= dropout_min_levels <= num_levels:
            raise ValueError(f"ResidualVQ: dropout_min_levels must be in 1..{num_levels}, got {dropout_min_levels}")
        cls = EMAVectorQuantizer if ema else VectorQuantizer
        self.levels = nn.ModuleList([cls(num_codes, code_dim, beta, **level_kwargs) for _ in range(num_levels)])
        self.num_levels = num_levels
        self.num_codes = int(num_codes)
        self.code_dim = int(code_dim)
        self.beta = float(beta)
        self.ema = bool(ema)
        self.quantizer_dropout = bool(quantizer_dropout)
        self.dropout_min_levels = int(dropout_min_levels)

    @property
    def codebooks(self) -> torch.Tensor:
        """(num_levels, K, D): the codebook of each level."""
        return torch.stack([level.codebook for level in self.levels])

    @property
    def bits_per_vector(self) -> int:
        return self.num_levels * max(1, (self.num_codes - 1).bit_length())

    def _levels_to_use(self, num_levels: Optional[int]) -> int:
        if num_levels is not None:
            if not isinstance(num_levels, int) or not 1 <= num_levels <= self.num_levels:
                raise ValueError(f"ResidualVQ: num_levels must be in 1..{self.num_levels}, got {num_levels!r}")
            return num_levels
        if self.training and self.quantizer_dropout:
            n = torch.randint(self.dropout_min_levels, self.num_levels + 1, (1,))
            if _world_size() > 1:  # every rank must drop the same levels
                n = _broadcast_(n.to(self.levels[0]._raw_codebook().device)).cpu()
            return int(n)
        return self.num_levels

    def forward(self, z: torch.Tensor, num_levels: Optional[int] = None) -> QuantizerOutput:
        """Quantize ``z`` (B, D, H, W) or (N, D) with the first ``num_levels`` levels (default: all of them, or a
        random number under quantizer dropout in training)."""
        flat, shape = _flatten(z, self.code_dim, "ResidualVQ")
        x = flat.float()
        used = self._levels_to_use(num_levels)
        residual, total = x, torch.zeros_like(x)
        indices = torch.full((x.shape[0], self.num_levels), -1, dtype=torch.long, device=x.device)
        loss = codebook_loss = commitment_loss = x.new_zeros(())
        perplexities = []
        for l, level in enumerate(self.levels[:used]):
            out = level(residual)  # nearest code to the residual; its own codebook + beta * commitment loss
            codes = out.z_q.detach()  # (N, D) the chosen codes q_l
            residual = residual - codes  # r_l = r_{l-1} - sg[q_l]: keeps its gradient path to z
            total = total + codes
            indices[:, l] = out.indices
            loss = loss + out.loss
            codebook_loss = codebook_loss + out.codebook_loss
            commitment_loss = commitment_loss + out.commitment_loss
            perplexities.append(out.perplexity)
        z_q = _unflatten(straight_through(x, total), shape).to(z.dtype)  # one straight-through for the sum
        index_shape = _index_shape(shape) + (self.num_levels,)
        return QuantizerOutput(z_q, indices.reshape(index_shape), loss, codebook_loss, commitment_loss,
                               torch.stack(perplexities).mean(), {"levels_used": used})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Sum of the codes of ``indices`` (B, H, W, k) or (N, k), k <= num_levels (entries -1 are skipped), in
        the layout of z: (B, D, H, W) or (N, D). Decoding with the first k levels is ``lookup(indices[..., :k])``."""
        if not isinstance(indices, torch.Tensor) or indices.dim() not in (2, 4):
            shape = tuple(indices.shape) if isinstance(indices, torch.Tensor) else type(indices).__name__
            raise ValueError(f"ResidualVQ.lookup expects indices of shape (B, H, W, levels) or (N, levels), got {shape}")
        k = indices.shape[-1]
        if k > self.num_levels:
            raise ValueError(f"ResidualVQ.lookup: indices have {k} levels, the quantizer has {self.num_levels}")
        total = 0.0
        for l in range(k):
            idx = indices[..., l]
            codes = F.embedding(idx.clamp_min(0), self.levels[l].codebook)  # (..., D)
            total = total + codes * (idx >= 0).unsqueeze(-1).to(codes.dtype)
        return _codes_to_layout(total, indices[..., 0])

    def extra_repr(self) -> str:
        return (f"num_levels={self.num_levels}, num_codes={self.num_codes}, code_dim={self.code_dim}, "
                f"beta={self.beta}, ema={self.ema}, quantizer_dropout={self.quantizer_dropout}")


class _SignQuantizer(_ImplicitCodebook):
    """What LFQ and BSQ share: ``bits`` signs as the code, the implicit codebook of the 2^bits corners (scaled by
    ``corner``), the index as the binary number of the signs (first dimension most significant, see
    :func:`_bit_basis`), optional linear projections ``code_dim -> bits`` and back, and the straight-through
    output with the entropy statistics."""

    corner: float  # the magnitude of each entry of a code (before the output projection)

    def _init_signs(self, bits: int, code_dim: Optional[int], name: str) -> None:
        self.bits = _check_bits(bits, name)
        self.num_codes = 2 ** self.bits
        self.code_dim = int(code_dim) if code_dim is not None else self.bits
        self.register_buffer("_basis", _bit_basis(self.bits), persistent=False)
        if self.code_dim != self.bits:
            self.project_in = nn.Linear(self.code_dim, self.bits)
            self.project_out = nn.Linear(self.bits, self.code_dim)
        else:
            self.project_in = self.project_out = None

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """(...,) int64 -> (..., bits) corners in {-corner, +corner} (before the output projection)."""
        bits = (indices.unsqueeze(-1) & self._basis) != 0
        return (2 * bits.float() - 1) * self.corner

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """(..., bits) -> (...,) int64: the binary number of the signs, first dimension most significant."""
        return ((codes > 0).long() * self._basis).sum(-1)

    def _project_in(self, z: torch.Tensor, name: str) -> Tuple[torch.Tensor, Tuple[int, ...]]:
        flat, shape = _flatten(z, self.code_dim, name)
        x = flat.float()
        return (self.project_in(x) if self.project_in is not None else x), shape

    def _output(self, z: torch.Tensor, shape, x: torch.Tensor, q: torch.Tensor, entropy_loss: torch.Tensor,
                commitment: torch.Tensor, per_sample: torch.Tensor, codebook: torch.Tensor) -> QuantizerOutput:
        """The straight-through output ``x + sg[q - x]`` (projected back), the indices of ``x``'s signs, the losses."""
        idx = self.codes_to_indices(x)
        out = straight_through(x, q)
        if self.project_out is not None:
            out = self.project_out(out)
        z_q = _unflatten(out, shape).to(z.dtype)
        stats = {"per_sample_entropy": per_sample.detach(), "codebook_entropy": codebook.detach()}
        return QuantizerOutput(z_q, idx.reshape(_index_shape(shape)), entropy_loss + commitment, entropy_loss,
                               commitment, _batch_perplexity(idx, self.num_codes), stats)


class LFQ(_SignQuantizer):
    """Lookup-free quantization (Yu et al. 2023, "Language Model Beats Diffusion -- Tokenizer is Key to Visual
    Generation" (MAGVIT-v2), arXiv:2310.05737, section 3.1).

    Each of the ``bits`` dimensions is quantized to its sign: ``q_i = +scale if z_i > 0 else -scale``, so the
    implicit codebook is the 2^bits corners of a cube and nothing is looked up. The index is the binary number of
    the signs, first dimension most significant (see :func:`_bit_basis`). ``z_q`` has the straight-through
    gradient.

    Nothing stops the encoder from using few corners, so MAGVIT-v2 adds an entropy penalty,
    ``E[H(q(z))] - gamma H(E[q(z)])`` (:func:`binary_entropy_terms`): each vector should sit confidently near
    one corner (low per-sample entropy) while the batch spreads over all corners (high codebook entropy).
    ``loss = entropy_weight * penalty + commitment_weight * |z - sg[q]|^2``. The defaults are
    vector-quantize-pytorch's (entropy weight 0.1, gamma 1, inverse temperature 100, commitment 0); MAGVIT-v2
    reports an entropy weight of 0.1 and a commitment loss too. ``entropy="full"`` computes the penalty exactly
    over all 2^bits codes, ``"factorized"`` per bit (an upper bound on the codebook entropy, memory N * bits);
    ``"auto"`` picks full up to 12 bits.

    With ``code_dim`` different from ``bits``, linear projections ``code_dim -> bits`` and back are added (as in
    vector-quantize-pytorch). ``codebook_loss`` holds the weighted entropy penalty, ``commitment_loss`` the
    weighted commitment term, ``stats`` the two entropies (nats). Built in notebook 14, section 3.
    """

    def __init__(self, bits: int = 10, code_dim: Optional[int] = None, *, entropy_weight: float = 0.1,
                 diversity_gamma: float = 1.0, inv_temperature: float = 100.0, commitment_weight: float = 0.0,
                 scale: float = 1.0, entropy: str = "auto"):
        super().__init__()
        if entropy not in ("auto", "full", "factorized"):
            raise ValueError(f"LFQ: entropy must be 'auto', 'full' or 'factorized', got {entropy!r}")
        self._init_signs(bits, code_dim, "LFQ")
        self.entropy_weight = float(entropy_weight)
        self.diversity_gamma = float(diversity_gamma)
        self.inv_temperature = float(inv_temperature)
        self.commitment_weight = float(commitment_weight)
        self.scale = float(scale)
        self.factorized = entropy == "factorized" or (entropy == "auto" and self.bits > 12)

    @property
    def corner(self) -> float:
        return self.scale

    def entropy_terms(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(per-sample entropy, codebook entropy) of the vectors x (N, bits), in nats."""
        return binary_entropy_terms(x, self.inv_temperature, self.scale, self.factorized)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        x, shape = self._project_in(z, "LFQ")
        q = torch.where(x > 0, self.scale, -self.scale)  # (N, bits)
        per_sample, codebook = self.entropy_terms(x)
        penalty = per_sample - self.diversity_gamma * codebook
        commitment = self.commitment_weight * F.mse_loss(x, q)
        entropy_loss = self.entropy_weight * penalty
        return self._output(z, shape, x, q, entropy_loss, commitment, per_sample, codebook)

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, code_dim={self.code_dim}, entropy_weight={self.entropy_weight}, "
                f"diversity_gamma={self.diversity_gamma}, inv_temperature={self.inv_temperature}, "
                f"commitment_weight={self.commitment_weight}, factorized={self.factorized}")


class BSQ(_SignQuantizer):
    """Binary spherical quantization (Zhao, Xiong, Kraehenbuehl 2024, "Image and Video Tokenization with Binary
    Spherical Quantization", arXiv:2406.07548, ICLR 2025).

    Project onto the unit sphere, then take signs on the sphere: ``u = z / |z|``,
    ``q = sign(u) / sqrt(d)`` (d = ``bits``), a corner of the cube scaled to unit length; ``z_q = u + sg[q - u]``.
    Every code has norm 1 like every input, so the quantization error is bounded (|u - q| < sqrt(2), whatever the
    encoder does), which plain LFQ does not have. Index: the binary number of the signs, first dimension most
    significant.

    Entropy penalty as in the authors' code (github.com/zhaoyue-zephyrus/bsq-vit,
    ``transcoder/models/quantizer/bsq.py``): soft assignments ``q(c | u) = softmax_c(2 tau u.c)`` over the
    codes, which factorise into bits with ``P(bit i = +1) = sigmoid(4 tau u_i / sqrt(d))``; the per-sample
    entropy is computed exactly that way and the codebook entropy as the sum of the bits' entropies of the batch
    mean (``factorized=True`` of :func:`binary_entropy_terms`; their group size 1). ``penalty = gamma0 *
    per_sample - gamma * codebook``, ``loss = entropy_weight * penalty / tau + commitment_weight * mean_n
    |u_n - sg[q_n]|^2`` with their defaults gamma0 = gamma = 1, tau = 1, commitment 0, and 0.1 as the weight of
    the quantizer loss in their training configuration.

    One difference on purpose: their code scales the straight-through output by 1/sqrt(d) AFTER the estimator,
    so the encoder's gradient is divided by sqrt(d); here (as in vector-quantize-pytorch's ``LFQ(spherical=True)``)
    the gradient reaches u unscaled. Built in notebook 14, section 3.
    """

    def __init__(self, bits: int = 10, code_dim: Optional[int] = None, *, entropy_weight: float = 0.1,
                 gamma0: float = 1.0, gamma: float = 1.0, inv_temperature: float = 1.0,
                 commitment_weight: float = 0.0):
        super().__init__()
        self._init_signs(bits, code_dim, "BSQ")
        self.entropy_weight = float(entropy_weight)
        self.gamma0 = float(gamma0)
        self.gamma = float(gamma)
        self.inv_temperature = float(inv_temperature)
        self.commitment_weight = float(commitment_weight)

    @property
    def corner(self) -> float:
        """Codes are unit vectors: entries +-1/sqrt(bits)."""
        return 1.0 / math.sqrt(self.bits)

    def entropy_terms(self, u: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(per-sample entropy, factorised codebook entropy) of unit vectors u (N, bits), in nats."""
        return binary_entropy_terms(u, self.inv_temperature, 1.0 / math.sqrt(self.bits), factorized=True)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        x, shape = self._project_in(z, "BSQ")
        u = F.normalize(x, dim=1)  # (N, bits) on the unit sphere
        q = torch.where(u > 0, 1.0, -1.0) * self.corner
        per_sample, codebook = self.entropy_terms(u)
        penalty = self.gamma0 * per_sample - self.gamma * codebook
        entropy_loss = self.entropy_weight * penalty / self.inv_temperature
        commitment = self.commitment_weight * (u - q).pow(2).sum(1).mean()
        return self._output(z, shape, u, q, entropy_loss, commitment, per_sample, codebook)

    def extra_repr(self) -> str:
        return (f"bits={self.bits}, code_dim={self.code_dim}, entropy_weight={self.entropy_weight}, "
                f"gamma0={self.gamma0}, gamma={self.gamma}, inv_temperature={self.inv_temperature}")


class SimVQ(VectorQuantizer):
    """SimVQ (Zhu, Li, Xin, Xia, Xu 2024, "Addressing Representation Collapse in Vector Quantized Models with One
    Linear Layer", arXiv:2411.02038, ICCV 2025): the codebook is reparameterised as ``E = C W^T`` with a FROZEN
    random base codebook ``C`` (K, D) and a learned linear map ``W`` (D, D). The lookup, the straight-through
    estimator and the loss are :class:`VectorQuantizer`'s (``|sg[z] - e|^2 + beta |z - sg[e]|^2``), but the
    codebook loss trains ``W``, which moves EVERY code at once, so no code is left behind where the encoder no
    longer goes. ``C`` is drawn from N(0, 1/D) as in vector-quantize-pytorch's ``SimVQ``.

    ``grad="rotation"`` uses the rotation trick (vector-quantize-pytorch's default for SimVQ). k-means
    initialisation, restarts, ``affine``, ``cosine`` and ``lookup_dim`` do not apply (the codes are not free
    rows). Built in notebook 14, section 3.
    """

    def __init__(self, num_codes: int = 512, code_dim: int = 64, beta: float = 0.25, *, grad: str = "ste"):
        super().__init__(num_codes, code_dim, beta, init="normal", grad=grad)
        del self.embedding
        self.register_buffer("frozen_codebook", torch.randn(self.num_codes, self.code_dim) * self.code_dim ** -0.5)
        self.code_transform = nn.Linear(self.code_dim, self.code_dim, bias=False)

    def _raw_codebook(self) -> torch.Tensor:
        return self.code_transform(self.frozen_codebook)  # (K, D) = C W^T

    def _set_codes(self, rows: torch.Tensor, values: torch.Tensor) -> None:
        raise ValueError("SimVQ's codes are C W^T with C frozen: they cannot be set one by one (no k-means "
                         "initialisation or restarts; use VectorQuantizer for those)")

    def _codebook_state(self) -> List[torch.Tensor]:
        return [self.frozen_codebook, self.code_transform.weight.data]

    def extra_repr(self) -> str:
        return f"num_codes={self.num_codes}, code_dim={self.code_dim}, beta={self.beta}, grad={self.grad!r}"
