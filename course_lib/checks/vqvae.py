"""Checks for notebook 04 (VQ-VAE): the VQ layer's forward pass, one EMA codebook update, perplexity.

* :func:`check_vq_layer` -- ``vq_layer(z, codebook, beta) -> (z_q, indices, loss)``: compares the indices, ``z_q``,
  the loss and the gradients (from ``z_q`` and from the loss, to ``z`` and to the codebook) with
  :func:`reference_vq_layer` (the numbers of :class:`course_lib.quantize.VectorQuantizer`) and names the usual
  mistakes: swapped stop-gradients or beta on the codebook term, no straight-through estimator, argmax, the argmin
  over the wrong axis, reshaping without the permute.
* :func:`check_ema_update` compares with :func:`reference_ema_update`, the update of
  :class:`course_lib.quantize.EMAVectorQuantizer` (van den Oord et al. 2017, appendix A.1; Laplace smoothing as in
  Sonnet's code), and names the usual mistakes (no Laplace smoothing, decay the wrong way round, smoothed counts
  stored, ...). Inputs are float32, as in a model, so float32 idioms (``one_hot(...).float().T @ z``) pass.
* :func:`check_perplexity` -- exp of the entropy of the code usage over all positions (natural log instead of
  log2, counts not normalised, per-image perplexity, ... are named).

Every check takes ``seed=`` (and a parameter) for other cases, which the notebook's hidden tests use.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..losses import vq_loss
from ..quantize import squared_distances, straight_through
from . import CheckFailed, call_student, check_function, passed, records_result

__all__ = ["reference_vq_layer", "check_vq_layer", "reference_ema_update", "check_ema_update",
           "reference_perplexity", "check_perplexity"]


def _as_number(fn: Callable) -> Callable:
    """Call ``fn`` and turn a NumPy scalar or a one-element array/tensor into a Python number, so that answers
    computed with NumPy or ``torch`` are compared by value."""
    if not callable(fn):
        return fn  # call_student says "expected a function"

    def call(*args):
        out = fn(*args)
        if isinstance(out, np.generic) or (isinstance(out, np.ndarray) and out.size == 1):
            return out.item()
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            return out.item()
        return out

    call.__name__ = getattr(fn, "__name__", "student_fn")
    return call


# ---------------------------------------------------------------------------------------------- the VQ layer
def reference_vq_layer(z: torch.Tensor, codebook: torch.Tensor, beta: float = 0.25):
    """The VQ-VAE quantizer's forward pass as one function, made of the course_lib pieces of notebooks 02-03.

    ``z`` (B, D, H, W), ``codebook`` (K, D) -> ``(z_q (B, D, H, W), indices (B, H, W) int64, loss)`` with
    ``loss = mean((sg[z] - e)^2) + beta * mean((z - sg[e])^2)`` (van den Oord et al. 2017, eq. 3) and ``z_q`` the
    chosen codes with the straight-through gradient to ``z``. The same numbers as
    :class:`course_lib.quantize.VectorQuantizer` given its ``codebook``."""
    b, d, h, w = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, d)  # (N, D), one row per position
    indices = squared_distances(flat, codebook).argmin(1)  # (N,) nearest code, one matmul inside
    codes = codebook[indices]  # (N, D) with a gradient to the codebook
    loss = vq_loss(flat, codes, beta).total
    z_q = straight_through(flat, codes).reshape(b, h, w, d).permute(0, 3, 1, 2)  # back to (B, D, H, W)
    return z_q, indices.reshape(b, h, w), loss


_VQ_FIELDS = ("z_q", "indices", "loss")


def _unpack_vq(out: Any, name: str):
    """(z_q, indices, loss) from a tuple or list of three, a dict, or an object with those attributes (the course's
    quantizer output)."""
    if isinstance(out, Mapping) and all(k in out for k in _VQ_FIELDS):
        return tuple(out[k] for k in _VQ_FIELDS)
    if all(hasattr(out, k) for k in _VQ_FIELDS) and not isinstance(out, torch.Tensor):
        return tuple(getattr(out, k) for k in _VQ_FIELDS)
    if isinstance(out, (tuple, list)) and len(out) == 3:
        return tuple(out)
    got = f"a {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
    raise CheckFailed(f"{name} should return the three outputs (z_q, indices, loss), got {got}.")


def _probe_vq_layer(fn: Callable, name: str = "vq_layer") -> Callable:
    """Wrap ``fn(z, codebook, beta)`` into its outputs and the four gradients that tell the mistakes apart: from
    ``z_q`` (under a made-up upstream gradient ``g``) and from the loss, to ``z`` and to the codebook."""

    def probe(z: torch.Tensor, codebook: torch.Tensor, beta: float, g: torch.Tensor) -> Dict[str, torch.Tensor]:
        b, d, h, w = z.shape
        k = codebook.shape[0]
        z = z.detach().clone().requires_grad_(True)
        e = codebook.detach().clone().requires_grad_(True)
        z_q, indices, loss = _unpack_vq(fn(z, e, beta), name)
        if not isinstance(indices, torch.Tensor) or indices.dtype.is_floating_point:
            raise CheckFailed(f"{name}: indices should be an integer tensor (argmin gives int64), got "
                              f"{getattr(indices, 'dtype', type(indices).__name__)}.")
        if tuple(indices.shape) != (b, h, w):
            if indices.numel() == b * h * w:
                raise CheckFailed(f"{name}: indices have shape {tuple(indices.shape)}: give one index per position, "
                                  f"in the layout of the code map (B, H, W) = {(b, h, w)} (reshape them).")
            if indices.numel() == k:
                raise CheckFailed(f"{name}: you took the argmin over the wrong axis: you got one index per CODE "
                                  f"({k}); each of the N = B*H*W vectors needs the nearest of the K codes, the argmin "
                                  "over the codes' axis of the (N, K) distances (dim=1).")
            raise CheckFailed(f"{name}: indices have shape {tuple(indices.shape)}, expected (B, H, W) = {(b, h, w)}.")
        if not isinstance(z_q, torch.Tensor):
            raise CheckFailed(f"{name}: z_q should be a tensor, got {type(z_q).__name__}.")
        if tuple(z_q.shape) != (b, d, h, w):
            if tuple(z_q.shape) == (b, h, w, d):
                hint = "it is channels-last (B, H, W, D): permute it back with .permute(0, 3, 1, 2)"
            elif z_q.numel() == z.numel():
                hint = "bring the (N, D) rows back with .reshape(B, H, W, D).permute(0, 3, 1, 2)"
            else:
                hint = "it must have the shape of z"
            raise CheckFailed(f"{name}: z_q has shape {tuple(z_q.shape)}, expected (B, D, H, W) = {(b, d, h, w)}: "
                              f"{hint}.")
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise CheckFailed(f"{name}: the loss should be one number, a scalar tensor (take means), got {got}.")
        loss = loss.reshape(())

        def grads(out, retain):
            if not out.requires_grad:
                return torch.zeros_like(z), torch.zeros_like(e)
            gz, ge = torch.autograd.grad(out, [z, e], retain_graph=retain, allow_unused=True)
            return (torch.zeros_like(z) if gz is None else gz), (torch.zeros_like(e) if ge is None else ge)

        zq_to_z, zq_to_e = grads((z_q * g.to(z_q.dtype)).sum(), True)
        loss_to_z, loss_to_e = grads(loss, False)
        return {"indices": indices.detach().long(), "z_q": z_q.detach(), "loss": loss.detach(),
                "the gradient from z_q to z (straight-through)": zq_to_z,
                "the gradient from z_q to the codebook": zq_to_e,
                "the gradient of the loss to the codebook": loss_to_e,
                "the gradient of the loss to z": loss_to_z}

    return probe


def _flat(z):
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def _unflat(rows, z):
    b, d, h, w = z.shape
    return rows.reshape(b, h, w, d).permute(0, 3, 1, 2)


def _vq_variant(*, distances=None, pick="argmin", flatten=_flat, unflatten=_unflat, ste="right", loss="right"):
    """A VQ layer with one piece changed: the building block of the named mistakes below."""
    mse = F.mse_loss

    def fn(z, codebook, beta):
        b, d, h, w = z.shape
        x = flatten(z)
        dist = (x.pow(2).sum(1, keepdim=True) - 2 * x @ codebook.t() + codebook.pow(2).sum(1)
                if distances is None else distances(x, codebook))
        idx = {"argmin": lambda: dist.argmin(1), "argmax": lambda: dist.argmax(1),
               "axis0": lambda: dist.argmin(0)}[pick]()
        e = codebook[idx]
        losses = {
            "right": lambda: mse(e, x.detach()) + beta * mse(x, e.detach()),
            "swapped": lambda: mse(e.detach(), x) + beta * mse(x.detach(), e),
            "no beta": lambda: mse(e, x.detach()) + mse(x, e.detach()),
            "0.25": lambda: mse(e, x.detach()) + 0.25 * mse(x, e.detach()),
            "commitment only": lambda: beta * mse(x, e.detach()),
            "codebook only": lambda: mse(e, x.detach()),
            "no sg": lambda: mse(e, x) + beta * mse(x, e),
            "sum": lambda: (e - x.detach()).pow(2).sum() + beta * (x - e.detach()).pow(2).sum(),
            "beta on both": lambda: beta * (mse(e, x.detach()) + mse(x, e.detach())),
        }
        out = {"right": lambda: x + (e - x).detach(), "none": lambda: e, "reversed": lambda: e + (x - e).detach(),
               "detached": lambda: e.detach()}[ste]()
        return unflatten(out, z), idx.reshape(b, h, w), losses[loss]()

    return fn


_VQ_MISTAKES = {
    "the codebook moves with weight beta and the encoder with weight 1: either the stop-gradients are swapped "
    "(the codebook term must detach z, mse(e, z.detach()); the commitment term must detach the codes) or beta "
    "multiplies the codebook term instead of the commitment term. Both give the same gradients.":
        _vq_variant(loss="swapped"),
    "no gradient reaches z from z_q: you returned the codes themselves. Use the straight-through estimator, "
    "z + (codes - z).detach(), so the decoder's gradient is copied to the encoder.": _vq_variant(ste="none"),
    "no gradient reaches z from z_q, and none reaches the codebook: you detached the codes without adding the "
    "straight-through term (z + (codes - z).detach()).": _vq_variant(ste="detached"),
    "z_q has the value of z: the straight-through estimator is the wrong way round. Its value must be the codes "
    "and its gradient that of z.": _vq_variant(ste="reversed"),
    "you took the argmax: the nearest code has the SMALLEST distance (argmin).": _vq_variant(pick="argmax"),
    "you took the argmin over the wrong axis: each of the N = B*H*W vectors needs the nearest of the K codes, so "
    "the argmin runs over the codes' axis (dim=1) of the (N, K) distances.": _vq_variant(pick="axis0"),
    "you picked the code with the largest dot product z.e: that ignores the codes' lengths. Use the squared "
    "distance |z|^2 - 2 z.e + |e|^2 (dropping |z|^2 is fine, |e|^2 is not).":
        _vq_variant(distances=lambda x, e: -(x @ e.t())),
    "the cross term has the wrong sign: |z - e|^2 = |z|^2 - 2 z.e + |e|^2.":
        _vq_variant(distances=lambda x, e: x.pow(2).sum(1, keepdim=True) + 2 * x @ e.t() + e.pow(2).sum(1)),
    "you reshaped z from (B, D, H, W) to (N, D) without moving the channels last: each row must be one position's "
    "D channels, z.permute(0, 2, 3, 1).reshape(-1, D).": _vq_variant(flatten=lambda z: z.reshape(-1, z.shape[1])),
    "you reshaped between (B, D, H, W) and (N, D) without permuting: a row of z.reshape(-1, D) mixes the channels of "
    "different positions. Use z.permute(0, 2, 3, 1).reshape(-1, D), and .reshape(B, H, W, D).permute(0, 3, 1, 2) "
    "on the way back.": _vq_variant(flatten=lambda z: z.reshape(-1, z.shape[1]),
                                    unflatten=lambda rows, z: rows.reshape(z.shape)),
    "z_q's layout is scrambled: the (N, D) rows go back with .reshape(B, H, W, D).permute(0, 3, 1, 2), not with a "
    "plain reshape to (B, D, H, W).": _vq_variant(unflatten=lambda rows, z: rows.reshape(z.shape)),
    "the loss is missing beta: loss = codebook term + beta * commitment term.": _vq_variant(loss="no beta"),
    "you hard-coded beta = 0.25: multiply the commitment term by the argument beta.": _vq_variant(loss="0.25"),
    "the codebook term is missing: loss = mean((sg[z] - e)^2) + beta * mean((z - sg[e])^2); without it the codes "
    "never move (only an EMA codebook, section 4, does without it).": _vq_variant(loss="commitment only"),
    "the commitment term is missing: add beta * mean((z - sg[e])^2), which keeps the encoder close to its codes.":
        _vq_variant(loss="codebook only"),
    "a stop-gradient is missing: each term must move only one side (the codebook term the codes, the commitment "
    "term the encoder); use .detach().": _vq_variant(loss="no sg"),
    "use means, not sums, in the two loss terms (F.mse_loss or .pow(2).mean()).": _vq_variant(loss="sum"),
    "beta multiplies both terms: only the commitment term gets beta.": _vq_variant(loss="beta on both"),
}

_VQ_BETAS = (0.25, 0.5, 1.7, 0.1)


def _vq_layer_inputs(seed: int, beta: Optional[float] = None):
    """z (B, D, H, W), a codebook whose codes have different lengths, beta, and an upstream gradient for z_q.
    Seed 0 has as many codes as positions (K = N), so an argmin over the wrong axis runs and can be named."""
    g = torch.Generator().manual_seed(5000 + seed)
    b, d, h, w = [(2, 3, 2, 3), (3, 4, 3, 3), (2, 5, 4, 2), (1, 2, 5, 5)][seed % 4]
    k = b * h * w if seed == 0 else int(torch.randint(5, 40, (1,), generator=g))
    z = torch.randn(b, d, h, w, generator=g, dtype=torch.float64)
    codebook = torch.randn(k, d, generator=g, dtype=torch.float64) * (0.3 + 1.5 * torch.rand(k, 1, generator=g,
                                                                                             dtype=torch.float64))
    grad = torch.randn(b, d, h, w, generator=g, dtype=torch.float64)
    return z, codebook, float(_VQ_BETAS[seed % len(_VQ_BETAS)] if beta is None else beta), grad


@records_result
def check_vq_layer(student_fn: Callable, seed: int = 0, beta: Optional[float] = None) -> None:
    """``student_fn(z (B, D, H, W), codebook (K, D), beta) -> (z_q, indices, loss)``: the VQ layer's forward pass.

    Compares the indices, ``z_q``, the loss and four gradients (from ``z_q`` and from the loss, to ``z`` and to the
    codebook) with :func:`reference_vq_layer` on three random inputs of different shapes and betas, and names the
    usual mistakes. Swapped stop-gradients and beta on the codebook term give identical values AND gradients, so one
    hint names both. The output may be a tuple, a dict or an object with ``.z_q``, ``.indices``, ``.loss``; float32
    arithmetic inside is fine. ``seed`` and ``beta`` give other cases (hidden tests)."""
    name = "vq_layer"
    check_function(
        _probe_vq_layer(student_fn, name), _probe_vq_layer(reference_vq_layer),
        lambda t: _vq_layer_inputs(seed + t, beta), name=name,
        mistakes={hint: _probe_vq_layer(fn) for hint, fn in _VQ_MISTAKES.items()},
        atol=1e-5, rtol=1e-4, trials=3,
        success=f"{name}: nearest codes, z_q with the straight-through gradient, codebook + beta * commitment loss "
                "(3 random shapes).",
    )


# ------------------------------------------------------------------------------------------------ EMA
def _counts_and_sums(z, indices, k):
    counts = torch.bincount(indices, minlength=k).to(z.dtype)  # n_k: how many vectors chose code k
    sums = torch.zeros(k, z.shape[1], dtype=z.dtype).index_add_(0, indices, z)  # sum of those vectors
    return counts, sums


def reference_ema_update(cluster_size: torch.Tensor, embed_sum: torch.Tensor, z: torch.Tensor,
                         indices: torch.Tensor, decay: float, eps: float
                         ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One EMA step. cluster_size (K,), embed_sum (K, D), z (N, D), indices (N,) -> (N_k, m_k, codebook (K, D))."""
    k = cluster_size.shape[0]
    counts, sums = _counts_and_sums(z, indices, k)
    new_size = decay * cluster_size + (1 - decay) * counts
    new_sum = decay * embed_sum + (1 - decay) * sums
    n = new_size.sum()
    smoothed = (new_size + eps) / (n + k * eps) * n  # Laplace smoothing: no division by ~0
    return new_size, new_sum, new_sum / smoothed[:, None]


def _ema_no_smoothing(cs, es, z, idx, decay, eps):
    size, s, _ = reference_ema_update(cs, es, z, idx, decay, eps)
    return size, s, s / size[:, None]


def _ema_swapped(cs, es, z, idx, decay, eps):
    return reference_ema_update(cs, es, z, idx, 1 - decay, eps)


def _ema_stores_smoothed(cs, es, z, idx, decay, eps):
    size, s, e = reference_ema_update(cs, es, z, idx, decay, eps)
    n = size.sum()
    return (size + eps) / (n + len(size) * eps) * n, s, e


def _ema_no_one_minus(cs, es, z, idx, decay, eps):
    k = cs.shape[0]
    counts, sums = _counts_and_sums(z, idx, k)
    size, s = decay * cs + counts, decay * es + sums
    n = size.sum()
    return size, s, s / ((size + eps) / (n + k * eps) * n)[:, None]


def _ema_batch_only(cs, es, z, idx, decay, eps):
    size, s, _ = reference_ema_update(cs, es, z, idx, decay, eps)
    counts, sums = _counts_and_sums(z, idx, cs.shape[0])
    n = counts.sum()
    return size, s, sums / ((counts + eps) / (n + len(counts) * eps) * n)[:, None]


def _ema_old_stats(cs, es, z, idx, decay, eps):
    size, s, _ = reference_ema_update(cs, es, z, idx, decay, eps)
    n = cs.sum()
    return size, s, es / ((cs + eps) / (n + len(cs) * eps) * n)[:, None]


def _ema_smooth_no_rescale(cs, es, z, idx, decay, eps):
    size, s, _ = reference_ema_update(cs, es, z, idx, decay, eps)
    n = size.sum()
    return size, s, s / ((size + eps) / (n + len(size) * eps))[:, None]


_EMA_MISTAKES = {
    "the codebook divides by the raw counts N_k: apply Laplace smoothing first, "
    "N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j, and divide m_k by N~_k.": _ema_no_smoothing,
    "the decay is applied the wrong way round: the OLD average keeps the weight decay (e.g. 0.99) and the new "
    "batch statistics get (1 - decay): N_k <- decay * N_k + (1 - decay) * n_k.": _ema_swapped,
    "you returned the smoothed counts as the new cluster_size: keep N_k unsmoothed in the running average and "
    "smooth only for the division that gives the codebook.": _ema_stores_smoothed,
    "the new batch statistics are missing the factor (1 - decay): N_k <- decay * N_k + (1 - decay) * n_k, and the "
    "same for m_k.": _ema_no_one_minus,
    "the codebook uses only this batch's counts and sums: divide the running averages m_k by the (smoothed) "
    "running N_k.": _ema_batch_only,
    "the codebook uses the averages from BEFORE this step: update N_k and m_k first, then e_k = m_k / N~_k.":
        _ema_old_stats,
    "the Laplace smoothing is missing its rescaling: N~_k = (N_k + eps) / (n + K eps) * n with n = sum_j N_j "
    "(without '* n' the smoothed counts are fractions that sum to 1).": _ema_smooth_no_rescale,
}


def _ema_inputs(seed: int, decay: Optional[float] = None, eps: Optional[float] = None):
    g = torch.Generator().manual_seed(2000 + seed)
    k, d, n = [16, 32, 8][seed % 3], [4, 3, 2][seed % 3], 64
    cluster_size = torch.rand(k, generator=g) * 5 + 0.05  # float32, like a model's buffers
    embed_sum = torch.randn(k, d, generator=g) * cluster_size[:, None]
    z = torch.randn(n, d, generator=g)
    idx = torch.randint(0, k // 2 + 1, (n,), generator=g)  # the upper codes are unused in this batch
    decay = [0.9, 0.8, 0.95][seed % 3] if decay is None else float(decay)
    eps = [0.1, 0.5, 0.2][seed % 3] if eps is None else float(eps)  # large enough for the smoothing to show
    return cluster_size, embed_sum, z, idx, decay, eps


_EMA_OUTPUTS = ("the new cluster_size N_k (first output)", "the new embed_sum m_k (second output)",
                "the new codebook e_k (third output)")


def _named_ema(fn: Callable) -> Callable:
    """Wrap ``fn`` so that its three outputs carry names: a mismatch then says "the new codebook e_k (third
    output) differs ...", not "output[2] differs"."""

    def named(*args):
        out = fn(*args)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise CheckFailed("ema_update must return a tuple (cluster_size, embed_sum, codebook).")
        return {key: torch.as_tensor(v) for key, v in zip(_EMA_OUTPUTS, out)}

    named.__name__ = getattr(fn, "__name__", "ema_update")
    return named


@records_result
def check_ema_update(student_fn: Callable, *, seed: int = 0, decay: Optional[float] = None,
                     eps: Optional[float] = None) -> None:
    """``student_fn(cluster_size, embed_sum, z, indices, decay, eps) -> (cluster_size, embed_sum, codebook)``.

    ``seed`` shifts the random states tried; ``decay`` and ``eps`` replace the values tried (hidden tests: use a
    decay far from 0.5, where ``decay`` and ``1 - decay`` would be the same number)."""
    # 1. a code with N_k = 0 that nobody chose: without smoothing, 0 / 0
    k, d = 4, 2
    cs = torch.tensor([2.0, 1.0, 0.5, 0.0])
    es = torch.randn(k, d, generator=torch.Generator().manual_seed(7)) * cs[:, None]
    z = torch.randn(6, d, generator=torch.Generator().manual_seed(8))
    idx = torch.tensor([0, 0, 1, 2, 1, 0])
    out = call_student(student_fn, cs.clone(), es.clone(), z.clone(), idx.clone(), 0.99, 1e-5, name="ema_update")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailed("ema_update must return a tuple (cluster_size, embed_sum, codebook).")
    codebook = torch.as_tensor(out[2]).float()
    if not torch.isfinite(codebook).all():
        raise CheckFailed(
            "ema_update: the codebook has nan/inf for a code that was never chosen (N_k = 0, m_k = 0, so 0 / 0). "
            "Apply Laplace smoothing before dividing: N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j."
        )
    # 2. random states and batches, against the reference and the known mistakes
    check_function(
        _named_ema(student_fn), _named_ema(reference_ema_update), lambda t: _ema_inputs(seed + t, decay, eps),
        name="ema_update", mistakes={hint: _named_ema(fn) for hint, fn in _EMA_MISTAKES.items()},
        atol=1e-5, rtol=1e-4, trials=3,
        success="one EMA step (counts, sums, decay, Laplace smoothing) matches the reference on 3 random states.",
    )


# ---------------------------------------------------------------------------------------- perplexity
def reference_perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(entropy) of the code-usage distribution over ALL positions in ``indices`` (any shape)."""
    counts = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
    p = counts / counts.sum()
    entropy = -torch.special.xlogy(p, p).sum()  # 0 * log 0 = 0 for unused codes
    return float(torch.exp(entropy))


def _entropy_nats(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / counts.sum()
    return float(-torch.special.xlogy(p, p).sum())


def _unnormalised(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    return float(torch.exp(-torch.special.xlogy(counts, counts).sum()))


def _unnormalised_mean(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / k
    return float(torch.exp(-torch.special.xlogy(p, p).sum()))


def _per_image_mean(indices, k):
    return float(sum(reference_perplexity(row, k) for row in indices) / len(indices))


def _log2_then_exp(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / counts.sum()
    return float(torch.exp(-(p[p > 0] * torch.log2(p[p > 0])).sum()))


def _codes_used(indices, k):
    return float(torch.unique(indices).numel())


def _entropy_bits(indices, k):
    return _entropy_nats(indices, k) / math.log(2)


_PERPLEXITY_MISTAKES = {
    "you returned the entropy: perplexity is exp(entropy) (or 2**entropy when the entropy is in bits).":
        _entropy_nats,
    "you returned the entropy in bits: perplexity is 2**H when H uses log2 (or exp(H) with the natural log).":
        _entropy_bits,
    "you mixed log bases: the entropy used log2 but you exponentiated with exp. Use exp with ln, or 2** with log2.":
        _log2_then_exp,
    "you forgot to normalise: divide the counts by their total (the number of positions) to get probabilities.":
        _unnormalised,
    "you divided the counts by num_codes: probabilities are counts / (number of positions), so they sum to 1.":
        _unnormalised_mean,
    "you averaged a per-image perplexity: compute ONE usage distribution over all positions of all images "
    "(per-image or per-batch perplexity is bounded by the number of positions and is too small).":
        _per_image_mean,
    "you counted the distinct codes used: perplexity weighs codes by how often they are used, exp(-sum p log p).":
        _codes_used,
}


def _perplexity_inputs(seed: int, shape=(8, 7, 7)):
    g = torch.Generator().manual_seed(1000 + seed)
    k = [64, 512, 16][seed % 3]
    b, h, w = shape
    # a skewed usage: a few popular codes, many rare ones, many never used
    logits = torch.randn(k, generator=g) * 2.0
    probs = torch.softmax(logits, 0)
    probs[torch.randperm(k, generator=g)[: k // 3]] = 0  # a third of the codes are dead
    idx = torch.multinomial(probs / probs.sum(), b * h * w, replacement=True, generator=g).view(b, h, w)
    return idx, k


@records_result
def check_perplexity(student_fn: Callable[[torch.Tensor, int], float], seed: int = 0) -> None:
    """``student_fn(indices (B, h, w) int64, num_codes) -> float``: exp of the entropy of code usage over all positions.

    ``seed=0`` is the visible check; another seed draws other usages, grid shapes and codebook sizes."""
    seed = int(seed)
    idx, k = _perplexity_inputs(seed)
    got = call_student(_as_number(student_fn), idx.clone(), k, name="perplexity")
    got_f = float(got) if isinstance(got, (int, float)) else None
    if got_f is not None and math.isnan(got_f):
        raise CheckFailed(
            "perplexity: you got nan. Unused codes have p = 0 and 0 * log(0) is nan in floating point: drop the "
            "zero entries (p = p[p > 0]) or use torch.special.xlogy(p, p), which defines 0 * log 0 = 0."
        )
    _run_perplexity_check(student_fn, seed)


def _run_perplexity_check(student_fn, seed: int = 0):
    # three random skewed usages, then two edge cases with known answers
    edge = [
        (torch.full((4, 3, 3), 5, dtype=torch.long), 16),  # one code everywhere: perplexity 1
        (torch.arange(64).view(1, 8, 8), 64),  # every code once: perplexity K
    ]
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 7, 7)] if seed == 0 else [tuple(int(v) for v in torch.randint(2, 9, (3,), generator=g))]
    shapes += [tuple(int(v) for v in torch.randint(2, 9, (3,), generator=g)) for _ in range(2)]

    def make(i):
        return edge[i - 3] if i >= 3 else _perplexity_inputs(seed * 3 + i, shapes[i])

    check_function(
        _as_number(student_fn),
        reference_perplexity,
        make,
        name="perplexity",
        mistakes=_PERPLEXITY_MISTAKES,
        atol=1e-6,
        rtol=1e-5,
        trials=5,
        success="perplexity = exp(-sum p log p) over all positions, 1 for a single code, K for uniform usage.",
    )
