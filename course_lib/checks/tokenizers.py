"""Checks for notebook 14 (tokenizers of today): the residual VQ forward pass and lookup-free quantization.

* :func:`check_residual_vq` -- ``residual_vq(z (N, D), codebooks (L, K, D), beta) -> (z_q, indices (N, L), loss)``:
  each level picks the code nearest to what the previous levels left (the residual), ``z_q`` is the sum of the
  chosen codes with ONE straight-through estimator, and ``loss`` adds each level's VQ-VAE loss on its own residual
  (reference: :class:`course_lib.quantize.ResidualVQ`; Zeghidour et al. 2021, Lee et al. 2022).
* :func:`check_lfq` -- ``lfq(z (N, d), inv_temperature, gamma) -> (z_q, indices (N,), penalty)``: signs with the
  straight-through estimator, the index as a binary number (first dimension most significant), and MAGVIT-v2's
  entropy penalty ``mean_n H(q(.|z_n)) - gamma H(mean_n q(.|z_n))`` with ``q(c|z) = softmax_c(-tau |z - c|^2)``
  over the 2^d sign vectors (reference: :func:`course_lib.quantize.binary_entropy_terms`; Yu et al. 2023).

Both compare values AND gradients (a missing or misplaced stop-gradient changes only the gradients), on float64
inputs whose shapes and parameters change with ``seed``; the hidden tests use other seeds and parameters.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F

from . import CheckFailed, check_function
from .ste import student_name

__all__ = ["reference_residual_vq", "reference_lfq", "check_residual_vq", "check_lfq"]


def _grad_or_zero(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(t) if t.grad is None else t.grad.detach().clone()


def _nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    return (x[:, None, :] - codebook[None]).pow(2).sum(-1).argmin(1)  # small sizes: the plain form is fine here


# ------------------------------------------------------------------------------------------------ residual VQ
def reference_residual_vq(z: torch.Tensor, codebooks: torch.Tensor, beta: float):
    residual, total = z, torch.zeros_like(z)
    loss, indices = z.new_zeros(()), []
    for codebook in codebooks:
        k = _nearest(residual.detach(), codebook.detach())
        q = codebook[k]
        loss = loss + F.mse_loss(q, residual.detach()) + beta * F.mse_loss(residual, q.detach())
        residual = residual - q.detach()
        total = total + q
        indices.append(k)
    return z + (total - z).detach(), torch.stack(indices, 1), loss


def _rvq_variant(*, quantize_z=False, keep_residual_grad=False, ste_per_level=False, no_ste=False,
                 mean_loss=False, loss_on_sum=False, loss_against_z=False, beta_swapped=False,
                 grads_swapped=False, transposed=False):
    """A known wrong answer (each flag is one mistake)."""

    def fn(z, codebooks, beta):
        residual, total, ste_sum = z, torch.zeros_like(z), torch.zeros_like(z)
        loss, indices = z.new_zeros(()), []
        for codebook in codebooks:
            target = z if quantize_z else residual
            k = _nearest(target.detach(), codebook.detach())
            q = codebook[k]
            ref = z if loss_against_z else target
            if grads_swapped:
                loss = loss + F.mse_loss(q.detach(), ref) + beta * F.mse_loss(ref.detach(), q)
            elif beta_swapped:
                loss = loss + beta * F.mse_loss(q, ref.detach()) + F.mse_loss(ref, q.detach())
            else:
                loss = loss + F.mse_loss(q, ref.detach()) + beta * F.mse_loss(ref, q.detach())
            ste_sum = ste_sum + target + (q - target).detach()
            residual = residual - (q if keep_residual_grad else q.detach())
            total = total + q
            indices.append(k)
        if mean_loss:
            loss = loss / len(codebooks)
        if loss_on_sum:
            loss = F.mse_loss(total, z.detach()) + beta * F.mse_loss(z, total.detach())
        if ste_per_level:
            z_q = ste_sum
        elif no_ste:
            z_q = total
        else:
            z_q = z + (total - z).detach()
        idx = torch.stack(indices, 0 if transposed else 1)
        return z_q, idx, loss

    return fn


_RVQ_MISTAKES = {
    "every level quantizes z itself: level l must quantize the RESIDUAL left by levels 1..l-1 "
    "(residual = residual - code).": _rvq_variant(quantize_z=True),
    "each level's codebook and commitment terms must compare the code with that level's residual, not with z.":
        _rvq_variant(loss_against_z=True),
    "the loss is computed once on the sum of the codes: add up each level's own loss (codebook + beta * "
    "commitment on its residual) instead.": _rvq_variant(loss_on_sum=True),
    "you averaged the levels' losses: this exercise (and course_lib.quantize.ResidualVQ) ADDS them, each level "
    "being a quantizer with its own loss (RQ-VAE averages instead; a choice of scale).": _rvq_variant(mean_loss=True),
    "the gradient to z is (number of levels) x the upstream gradient: you applied the straight-through estimator "
    "at every level and added the results. Apply it once, to the sum of the codes.": _rvq_variant(ste_per_level=True),
    "no gradient reaches z through z_q: apply the straight-through estimator to the sum of the codes.":
        _rvq_variant(no_ste=True),
    "subtract the DETACHED code from the residual: otherwise the later levels' losses pull on the earlier "
    "levels' codebooks.": _rvq_variant(keep_residual_grad=True),
    "beta is on the codebook term instead of the commitment term (or, which gives the same gradients here, the "
    "stop-gradients are swapped): beta weighs the term that moves the encoder.": _rvq_variant(beta_swapped=True),
    "indices should have shape (N, levels): stack the levels' indices along dim 1.": _rvq_variant(transposed=True),
}


def _three_results(result, z: torch.Tensor, name: str, third: str, scalar_hint: str):
    """Unpack (z_q, indices, <third>) from a student's function, with a one-line error for each wrong form."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise CheckFailed(f"{name} should return three things (z_q, indices, {third}), got {type(result).__name__}")
    z_q, indices, scalar = result
    if not isinstance(z_q, torch.Tensor) or z_q.shape != z.shape:
        got = tuple(z_q.shape) if isinstance(z_q, torch.Tensor) else type(z_q).__name__
        raise CheckFailed(f"{name}: z_q should be a tensor of the shape of z {tuple(z.shape)}, got {got}")
    if not isinstance(scalar, torch.Tensor) or scalar.dim() != 0:
        got = tuple(scalar.shape) if isinstance(scalar, torch.Tensor) else type(scalar).__name__
        raise CheckFailed(f"{name}: the {third} should be a scalar tensor{scalar_hint}, got {got}")
    return z_q, indices, scalar


def _probe_rvq(fn: Callable, name: str = "residual_vq") -> Callable:
    """Wrap fn(z, codebooks, beta) into its values and the gradients of z_q and of the loss to z and the codebooks."""

    def probe(z, codebooks, beta, w):
        z = z.detach().requires_grad_(True)
        cbs = codebooks.detach().requires_grad_(True)
        z_q, indices, loss = _three_results(fn(z, cbs, beta), z, name, "loss", " (use means, keep it a tensor)")
        out = {"z_q": z_q.detach(), "indices": torch.as_tensor(indices).detach(), "loss": loss.detach()}
        if z_q.requires_grad:
            (z_q * w).sum().backward(retain_graph=True)
        out["gradient of z_q to z"] = _grad_or_zero(z)
        out["gradient of z_q to the codebooks"] = _grad_or_zero(cbs)
        z.grad = cbs.grad = None
        if loss.requires_grad:
            loss.backward()
        out["gradient of the loss to z"] = _grad_or_zero(z)
        out["gradient of the loss to the codebooks"] = _grad_or_zero(cbs)
        return out

    return probe


_RVQ_SHAPES = ((3, 8, 3), (2, 16, 5), (4, 4, 2), (3, 6, 4))  # (levels L, codes K, dimension D)
_BETAS = (0.25, 1.7, 0.5, 0.1)


def _rvq_inputs(seed: int, beta: Optional[float] = None):
    """z (N, D), codebooks (L, K, D) with coarser codes at the first levels, beta, and an upstream gradient w.
    Inputs are redrawn until every level's nearest code wins by a clear margin, so that a float32 distance in a
    right answer picks the same codes."""
    g = torch.Generator().manual_seed(1000 + seed)
    L, K, D = _RVQ_SHAPES[seed % len(_RVQ_SHAPES)]
    n = 12 + 5 * (seed % 3)
    while True:
        scales = 0.5 ** torch.arange(L, dtype=torch.float64)
        codebooks = torch.randn(L, K, D, generator=g, dtype=torch.float64) * scales[:, None, None]
        z = torch.randn(n, D, generator=g, dtype=torch.float64)
        residual, clear = z, True
        for cb in codebooks:
            dist = (residual[:, None] - cb[None]).pow(2).sum(-1)  # (N, K)
            two = dist.topk(2, dim=1, largest=False).values
            clear &= bool((two[:, 1] - two[:, 0] > 1e-3).all())
            residual = residual - cb[dist.argmin(1)]
        if clear:
            break
    w = torch.randn(n, D, generator=g, dtype=torch.float64)
    return z, codebooks, float(_BETAS[seed % len(_BETAS)] if beta is None else beta), w


def check_residual_vq(student_fn: Callable, seed: int = 0, beta: Optional[float] = None, trials: int = 3) -> None:
    """Check ``student_fn(z, codebooks, beta) -> (z_q, indices, loss)`` against :func:`reference_residual_vq`:
    values, indices, and the gradients of z_q and of the loss to z and to the codebooks. ``seed`` changes the
    numbers of levels, codes and dimensions; ``beta`` fixes beta in every trial (hidden tests use both)."""
    name = student_name(student_fn, "residual_vq")
    check_function(
        _probe_rvq(student_fn, name),
        _probe_rvq(reference_residual_vq),
        lambda i: _rvq_inputs(seed + i, beta),
        name=name,
        mistakes={hint: _probe_rvq(fn) for hint, fn in _RVQ_MISTAKES.items()},
        atol=1e-6,
        rtol=1e-5,
        trials=trials,
        success=f"{name}: each level codes the residual, one straight-through estimator for the sum, and the "
                "levels' losses added.",
    )


# ------------------------------------------------------------------------------------------------ LFQ
def _sign_vectors(d: int, dtype) -> torch.Tensor:
    """(2^d, d) the codes in index order: row i is the binary number i, first dimension most significant, as +-1."""
    weights = 2 ** torch.arange(d - 1, -1, -1)
    bits = (torch.arange(2 ** d)[:, None] // weights) % 2
    return (2 * bits - 1).to(dtype)


def _plain_entropy(p: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum(-1)


def reference_lfq(z: torch.Tensor, inv_temperature: float, gamma: float):
    d = z.shape[1]
    codes = _sign_vectors(d, z.dtype)
    q = torch.where(z > 0, 1.0, -1.0).to(z.dtype)
    z_q = z + (q - z).detach()
    indices = ((z > 0).long() * 2 ** torch.arange(d - 1, -1, -1)).sum(1)
    prob = (-inv_temperature * (z[:, None, :] - codes[None]).pow(2).sum(-1)).softmax(-1)  # (N, 2^d)
    penalty = _plain_entropy(prob).mean() - gamma * _plain_entropy(prob.mean(0))
    return z_q, indices, penalty


def _lfq_variant(*, sign_fn=False, lsb_first=False, no_ste=False, terms="right", tau_ignored=False,
                 tau_divides=False, no_factor_two=False, zero_one_codes=False, log2=False, hard_counts=False):
    def fn(z, tau, gamma):
        d = z.shape[1]
        codes = _sign_vectors(d, z.dtype)
        q = torch.sign(z) if sign_fn else torch.where(z > 0, 1.0, -1.0).to(z.dtype)
        z_q = q if no_ste else z + (q - z).detach()
        weights = 2 ** (torch.arange(d) if lsb_first else torch.arange(d - 1, -1, -1))
        indices = ((z > 0).long() * weights).sum(1)
        t = 1.0 if tau_ignored else (1.0 / tau if tau_divides else tau)
        c = (codes + 1) / 2 if zero_one_codes else codes
        logits = (1.0 if no_factor_two else 2.0) * t * z @ c.t()
        prob = logits.softmax(-1)
        h = (lambda p: _plain_entropy(p) / math.log(2)) if log2 else _plain_entropy
        sample = h(prob).mean()
        if hard_counts:
            batch = h(torch.bincount(indices, minlength=2 ** d).to(z.dtype) / len(indices))
        else:
            batch = h(prob.mean(0))
        penalty = {"right": sample - gamma * batch, "signs": -sample + gamma * batch,
                   "swapped": batch - gamma * sample, "gamma": gamma * sample - batch}[terms]
        return z_q, indices, penalty

    return fn


_LFQ_MISTAKES = {
    "torch.sign(0) is 0, which is not a code: use torch.where(z > 0, 1.0, -1.0), so that 0 counts as negative.":
        _lfq_variant(sign_fn=True),
    "the bit order is reversed: in this notebook the FIRST dimension is the most significant bit "
    "(index = sum_i bit_i * 2^(d-1-i)).": _lfq_variant(lsb_first=True),
    "no gradient reaches z through z_q: use the straight-through estimator z + (q - z).detach().":
        _lfq_variant(no_ste=True),
    "the signs of the penalty are swapped: the per-sample entropy should be LOW (+) and the batch entropy HIGH "
    "(- gamma * ...).": _lfq_variant(terms="signs"),
    "the two entropies are swapped: per-sample = mean over n of H(q(.|z_n)); batch = H of the mean over n of "
    "q(.|z_n).": _lfq_variant(terms="swapped"),
    "gamma multiplies the wrong term: it weighs the batch (codebook) entropy.": _lfq_variant(terms="gamma"),
    "the inverse temperature is not used: the logits are -tau |z - c|^2.": _lfq_variant(tau_ignored=True),
    "tau is an INVERSE temperature: multiply the logits by it, do not divide.": _lfq_variant(tau_divides=True),
    "the logits are half what they should be: -tau |z - c|^2 = 2 tau z.c + (the same constant for every code), "
    "with the codes c in {-1, +1}^d (bits in {0, 1}^d also halve it).": _lfq_variant(no_factor_two=True),
    "use natural logarithms (nats), not log2.": _lfq_variant(log2=True),
    "the batch entropy must come from the mean of the SOFT assignments, not from counts of the hard indices "
    "(counts have no gradient).": _lfq_variant(hard_counts=True),
}

_LFQ_CASES = ((16, 3, 1.0, 0.5), (40, 4, 1.5, 1.0), (7, 2, 0.4, 1.5), (25, 5, 0.8, 0.7))  # N, d, tau, gamma


def _lfq_inputs(seed: int, inv_temperature: Optional[float] = None, gamma: Optional[float] = None):
    g = torch.Generator().manual_seed(2000 + seed)
    n, d, tau, gam = _LFQ_CASES[seed % len(_LFQ_CASES)]
    z = 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    if seed % 2 == 1:
        z[0, 0] = 0.0  # exactly on the boundary: counts as negative
    w = torch.randn(n, d, generator=g, dtype=torch.float64)
    return (z, float(tau if inv_temperature is None else inv_temperature), float(gam if gamma is None else gamma), w)


def _probe_lfq(fn: Callable, name: str = "lfq") -> Callable:
    def probe(z, tau, gamma, w) -> Dict[str, torch.Tensor]:
        z = z.detach().requires_grad_(True)
        z_q, indices, penalty = _three_results(fn(z, tau, gamma), z, name, "penalty", "")
        out = {"z_q": z_q.detach(), "indices": torch.as_tensor(indices).detach(), "penalty": penalty.detach()}
        if z_q.requires_grad:
            (z_q * w).sum().backward(retain_graph=True)
        out["gradient of z_q to z"] = _grad_or_zero(z)
        z.grad = None
        if penalty.requires_grad:
            penalty.backward()
        out["gradient of the penalty to z"] = _grad_or_zero(z)
        return out

    return probe


def check_lfq(student_fn: Callable, seed: int = 0, inv_temperature: Optional[float] = None,
              gamma: Optional[float] = None, trials: int = 3) -> None:
    """Check ``student_fn(z, inv_temperature, gamma) -> (z_q, indices, penalty)`` against :func:`reference_lfq`:
    values, indices, and the gradients of z_q and of the penalty to z. ``seed`` changes N, d, tau and gamma (and
    puts an exact 0 in z on odd seeds); ``inv_temperature``/``gamma`` fix them (hidden tests use all three)."""
    name = student_name(student_fn, "lfq")
    check_function(
        _probe_lfq(student_fn, name),
        _probe_lfq(reference_lfq),
        lambda i: _lfq_inputs(seed + i, inv_temperature, gamma),
        name=name,
        mistakes={hint: _probe_lfq(fn) for hint, fn in _LFQ_MISTAKES.items()},
        atol=1e-5,
        rtol=1e-4,
        trials=trials,
        success=f"{name}: signs with the straight-through gradient, indices as binary numbers, and the entropy "
                "penalty (per-sample low, batch high).",
    )
