"""Checks for notebook 05 (codebook collapse): dead-code restarts and FSQ rounding. (The EMA codebook update is
taught and checked in notebook 04: :func:`course_lib.checks.vqvae.check_ema_update`.)

* :func:`check_restart_dead_codes` tests properties (a restart is random): live codes untouched (including codes
  used once), every dead code moved onto a real encoder output, no two onto the same one (drawn without
  replacement), random rather than fixed rows.
* :func:`check_fsq_quantize` compares values AND gradients with :meth:`course_lib.quantize.FSQ.quantize`
  (Mentzer et al. 2023, arXiv:2309.15505), so a rounding without the straight-through estimator is caught; the
  paper's own constants (``(1 - eps)`` and ``tan``, appendix A.1) are accepted too.
* :func:`check_rotation_trick` compares the value and the gradients to ``z`` and ``z_q`` with
  :func:`course_lib.quantize.rotation_trick` (Fifty et al. 2024, arXiv:2410.06424, section 4.2): R and lambda must
  be constants to autograd, lambda present, R's signs right, e, q and r unit vectors.

Every check takes keyword arguments for more cases (``seed=`` and a parameter), which the notebooks' hidden tests
use.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from . import CheckFailed, call_student, check_function, passed, records_result

__all__ = [
    "reference_restart_dead_codes",
    "reference_fsq_quantize",
    "paper_fsq_quantize",
    "check_restart_dead_codes",
    "check_fsq_quantize",
    "reference_rotation_trick",
    "check_rotation_trick",
]


# --------------------------------------------------------------------------------------------- restart
def reference_restart_dead_codes(codebook: torch.Tensor, counts: torch.Tensor, z_recent: torch.Tensor) -> torch.Tensor:
    """Codes with count 0 move onto random rows of z_recent (N, D), drawn without replacement (N >= number of dead
    codes); the others stay. Returns a new (K, D) tensor."""
    new = codebook.clone()
    dead = (counts == 0).nonzero().flatten()
    pick = torch.randperm(z_recent.shape[0])[: len(dead)]
    new[dead] = z_recent[pick]
    return new


def _restart_inputs(trial: int, num_codes: int = 32, code_dim: int = 4):
    g = torch.Generator().manual_seed(3000 + trial)
    k, d = num_codes, code_dim
    n_live = max(2, k // 3)
    codebook = torch.randn(k, d, generator=g) * 0.01 + 5.0  # codes far from the data (a collapsed codebook)
    counts = torch.zeros(k)
    live = torch.randperm(k, generator=g)[:n_live]
    counts[live] = torch.randint(2, 50, (n_live,), generator=g).float()
    counts[live[:2]] = 1.0  # codes chosen exactly once are live too
    n_dead = k - n_live
    # every third trial has barely more rows than dead codes: sampling WITH replacement then repeats rows
    n = n_dead + 4 if trial % 3 == 2 else max(200, 2 * k)
    z_recent = torch.randn(n, d, generator=g)
    return codebook, counts, z_recent


@records_result
def check_restart_dead_codes(student_fn: Callable, *, seed: int = 0, num_codes: int = 32, code_dim: int = 4) -> None:
    """``student_fn(codebook (K, D), counts (K,), z_recent (N, D)) -> new codebook (K, D)``.

    A restart is random, so this checks properties instead of exact values. ``seed``, ``num_codes`` and
    ``code_dim`` give other cases (hidden tests).
    """
    name = "restart_dead_codes"
    for trial in range(seed, seed + 3):
        codebook, counts, z = _restart_inputs(trial, num_codes, code_dim)
        torch.manual_seed(trial)
        out = call_student(student_fn, codebook.clone(), counts.clone(), z.clone(), name=name)
        if isinstance(out, np.ndarray):
            out = torch.from_numpy(out)
        if not isinstance(out, torch.Tensor) or out.shape != codebook.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"{name} must return the whole codebook, a tensor of shape {tuple(codebook.shape)}; "
                              f"got {shape}.")
        out = torch.as_tensor(out).detach().float()
        dead = counts == 0
        live = ~dead
        if not torch.allclose(out[live], codebook[live]):
            once = counts == 1
            if torch.allclose(out[live & ~once], codebook[live & ~once]):
                raise CheckFailed(f"{name}: you restarted codes that were used once (counts == 1): a dead code is "
                                  "one with counts == 0; a code chosen once is alive.")
            if torch.allclose(out[dead], codebook[dead]):
                raise CheckFailed(f"{name}: you moved the codes that ARE used and kept the dead ones: the dead "
                                  "codes are those with counts == 0.")
            raise CheckFailed(f"{name}: you changed codes that are in use (counts > 0): leave them as they are "
                              "and replace only the dead codes (counts == 0).")
        changed = (out[dead] - codebook[dead]).abs().amax(1) > 1e-6
        if not changed.any():
            raise CheckFailed(f"{name}: the dead codes (counts == 0) are unchanged: overwrite them.")
        if not changed.all():
            raise CheckFailed(f"{name}: only {int(changed.sum())} of {int(dead.sum())} dead codes were replaced: "
                              "replace every code with counts == 0.")
        dist = (out[dead][:, None] - z[None]).abs().amax(-1).amin(1)  # to the nearest encoder output (max-norm)
        if (dist > 1e-5).any():
            if torch.allclose(out[dead], z.mean(0).expand_as(out[dead]), atol=1e-5):
                raise CheckFailed(f"{name}: every dead code became the MEAN of z_recent: they all land on the same "
                                  "point and compete for it. Copy a different random row of z_recent into each.")
            raise CheckFailed(f"{name}: the restarted codes are not encoder outputs (e.g. random noise): copy rows of "
                              "z_recent, so each revived code starts where the data actually is.")
        n_dead = int(dead.sum())
        if len(torch.unique(out[dead], dim=0)) == 1:
            raise CheckFailed(f"{name}: every dead code got the SAME encoder output: draw a different random row "
                              "for each (distinct random rows: a random permutation of the row numbers).")
        if len(torch.unique(out[dead], dim=0)) < n_dead:
            raise CheckFailed(f"{name}: two dead codes were moved onto the same encoder output, so they compete for "
                              "one point: draw the rows WITHOUT replacement (a random permutation of the row "
                              "numbers, not independent draws).")
        if len(z) >= len(counts) and torch.allclose(out[dead], z[: len(counts)][dead]):
            raise CheckFailed(f"{name}: you copied z_recent[dead], the rows at the dead codes' own positions: the "
                              "same rows every time, not a random choice. Draw random rows (torch.randperm).")
        if torch.allclose(out[dead], z[:n_dead]):
            raise CheckFailed(f"{name}: you always take the FIRST rows of z_recent: these all come from the first "
                              "images of the batch. Pick random rows (torch.randperm).")
        torch.manual_seed(trial + 1000)
        again = call_student(student_fn, codebook.clone(), counts.clone(), z.clone(), name=name)
        again = torch.from_numpy(again) if isinstance(again, np.ndarray) else torch.as_tensor(again)
        if torch.allclose(again.detach().float()[dead], out[dead]):
            raise CheckFailed(f"{name}: two calls with different random seeds moved the dead codes onto the same "
                              "rows: the choice is not random. Draw the rows with torch.randperm.")
    passed(f"{name}: live codes untouched, every dead code moved onto its own random encoder output "
           "(3 random states).")


# ------------------------------------------------------------------------------------------------- FSQ
def reference_fsq_quantize(z: torch.Tensor, levels: Sequence[int], eps: float = 1e-3) -> torch.Tensor:
    """FSQ of Mentzer et al. 2023: bound each channel with tanh, round with STE, rescale to [-1, 1]. z: (N, d)."""
    L = torch.as_tensor(levels, dtype=z.dtype, device=z.device)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    shift = torch.atanh(offset / half_l)
    bounded = torch.tanh(z + shift) * half_l - offset
    rounded = bounded + (torch.round(bounded) - bounded).detach()  # straight-through
    return rounded / torch.div(L, 2, rounding_mode="floor")


def paper_fsq_quantize(z: torch.Tensor, levels: Sequence[int], eps: float = 1e-3) -> torch.Tensor:
    """The constants of the FSQ paper's own code (Mentzer et al. 2023, appendix A.1): ``half_l = (L-1)(1-eps)/2``
    and ``shift = tan(offset / half_l)``. Same grid of values as :func:`reference_fsq_quantize`; the gradient is
    about 0.2% smaller and values can differ right at a rounding boundary. The check accepts either."""
    L = torch.as_tensor(levels, dtype=z.dtype, device=z.device)
    half_l = (L - 1) * (1 - eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    shift = torch.tan(offset / half_l)
    bounded = torch.tanh(z + shift) * half_l - offset
    rounded = bounded + (torch.round(bounded) - bounded).detach()
    return rounded / torch.div(L, 2, rounding_mode="floor")


def _fsq_no_ste(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    bounded = torch.tanh(z + torch.atanh(offset / half_l)) * half_l - offset
    return torch.round(bounded) / torch.div(L, 2, rounding_mode="floor")


def _fsq_ste_swapped(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    bounded = torch.tanh(z + torch.atanh(offset / half_l)) * half_l - offset
    r = torch.round(bounded)
    return (r + (bounded - r).detach()) / torch.div(L, 2, rounding_mode="floor")


def _fsq_no_offset(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    bounded = torch.tanh(z) * (L - 1) * (1 + eps) / 2
    rounded = bounded + (torch.round(bounded) - bounded).detach()
    return rounded / torch.div(L, 2, rounding_mode="floor")


def _fsq_not_rescaled(z, levels, eps=1e-3):
    return reference_fsq_quantize(z, levels, eps) * torch.div(torch.as_tensor(levels, dtype=z.dtype), 2,
                                                               rounding_mode="floor")


def _fsq_rescale_half_l(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    return reference_fsq_quantize(z, levels, eps) * torch.div(L, 2, rounding_mode="floor") / ((L - 1) / 2)


def _fsq_float_half(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    return reference_fsq_quantize(z, levels, eps) * torch.div(L, 2, rounding_mode="floor") / (L / 2)


def _fsq_shift_no_atanh(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    bounded = torch.tanh(z + offset / half_l) * half_l - offset
    rounded = bounded + (torch.round(bounded) - bounded).detach()
    return rounded / torch.div(L, 2, rounding_mode="floor")


def _fsq_no_bound(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    rounded = z + (torch.round(z) - z).detach()
    return rounded / torch.div(L, 2, rounding_mode="floor")


def _fsq_clamp(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    bounded = torch.maximum(torch.minimum(z, half_l - offset), -half_l - offset)
    rounded = bounded + (torch.round(bounded) - bounded).detach()
    return rounded / torch.div(L, 2, rounding_mode="floor")


def _with_grad(fn):
    """Wrap fn(z, levels) so that it returns the values and d(sum(w * out))/dz."""

    def run(z, levels, w):
        z = z.detach().clone().requires_grad_(True)
        out = fn(z, levels)
        if not isinstance(out, torch.Tensor):
            return {"values": out, "gradient": torch.zeros_like(z)}
        grad = None
        if out.requires_grad:
            grad = torch.autograd.grad((out * w).sum(), z, allow_unused=True)[0]
        return {"values": out.detach(), "gradient": torch.zeros_like(z) if grad is None else grad}

    return run


_FSQ_MISTAKES = {
    "the values are right but no gradient reaches z: torch.round has zero gradient. Use the straight-through "
    "estimator, bounded + (torch.round(bounded) - bounded).detach().": _fsq_no_ste,
    "the straight-through estimator is the wrong way round: the value must be the ROUNDED one and the gradient "
    "that of `bounded`: bounded + (torch.round(bounded) - bounded).detach().": _fsq_ste_swapped,
    "for an even number of levels, tanh * half_l rounds to L + 1 values: shift and offset as in the formula "
    "(offset 0.5 for even L, shift = atanh(offset / half_l)).": _fsq_no_offset,
    "you forgot the rescaling: divide the rounded integers by L // 2 so the codes lie in [-1, 1].":
        _fsq_not_rescaled,
    "you rescaled by (L - 1) / 2: divide the rounded integers by L // 2 (integer division).": _fsq_rescale_half_l,
    "you divided by L / 2 (float division): for an odd L that is not L // 2 (7 / 2 = 3.5, 7 // 2 = 3), so the "
    "grid no longer reaches -1 and 1. Use integer division, L // 2.": _fsq_float_half,
    "the shift is missing its atanh: shift = atanh(offset / half_l), so that z = 0 lands exactly on the grid "
    "value 0 after tanh (offset / half_l alone is slightly off).": _fsq_shift_no_atanh,
    "you rounded z without bounding it first: squash each channel with tanh so it can take only L values.":
        _fsq_no_bound,
    "you bounded with a clamp: use tanh as in the formula (a clamp has zero gradient outside the range, so "
    "saturated channels stop learning).": _fsq_clamp,
}


def _fsq_inputs(seed: int, levels: Optional[Sequence[int]] = None):
    g = torch.Generator().manual_seed(4000 + seed)
    if levels is None:
        levels = [(8, 5, 5, 5), (7, 5, 5, 5, 5), (8, 6, 5), (4, 4, 3)][seed % 4]
    z = torch.randn(64, len(levels), generator=g, dtype=torch.float64) * 1.5
    w = torch.randn(64, len(levels), generator=g, dtype=torch.float64)
    return z, [int(l) for l in levels], w


@records_result
def check_fsq_quantize(student_fn: Callable, *, seed: int = 0, levels: Optional[Sequence[int]] = None) -> None:
    """``student_fn(z (N, d), levels (list of d ints)) -> (N, d)`` values in [-1, 1] with a straight-through gradient.

    Accepts the constants of vector-quantize-pytorch and course_lib (``(1 + eps)``, ``atanh``) and those of the
    paper's code (``(1 - eps)``, ``tan``). ``seed`` and ``levels`` give other cases (hidden tests).
    """
    # check_function calls the wrapped student_fn through call_student: a stub or a crash is reported by name
    inputs = lambda t: _fsq_inputs(seed + t, levels)
    success = "FSQ values (L_i levels per channel, in [-1, 1]) and straight-through gradients match on 4 level sets."
    try:
        check_function(
            _with_grad(student_fn), _with_grad(reference_fsq_quantize), inputs, name="fsq_quantize",
            mistakes={hint: _with_grad(fn) for hint, fn in _FSQ_MISTAKES.items()},
            atol=1e-5, rtol=1e-5, trials=4, success=success,
        )
    except CheckFailed as first:
        try:  # the paper's own constants are right too
            check_function(_with_grad(student_fn), _with_grad(paper_fsq_quantize), inputs, name="fsq_quantize",
                           atol=1e-5, rtol=1e-5, trials=4, success=success[:-1] + " (the paper's tan/(1-eps) form).")
        except CheckFailed:
            raise first from None


# ------------------------------------------------------------------------------------------- rotation trick
def reference_rotation_trick(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """The library's :func:`course_lib.quantize.rotation_trick` (Fifty et al. 2024, arXiv:2410.06424)."""
    from ..quantize import rotation_trick

    return rotation_trick(z, z_q)


def _rotation_variant(detach="all", rescale=True, signs=(-2.0, 2.0), normalise=("e", "q", "r"), swap=False,
                      fix_value=True):
    """A (possibly wrong) rotation trick, for the named mistakes: ``detach`` is "all", "rotation" (lambda keeps its
    gradient) or "none"; ``signs`` are the factors of r r^T and q e^T in R; ``swap`` builds R from q to e."""

    def fn(z, z_q):
        zz, qq = (z, z_q) if detach == "none" else (z.detach(), z_q.detach())
        unit = lambda v, name: v / v.norm(dim=-1, keepdim=True) if name in normalise else v
        e, q = unit(zz, "e"), unit(qq, "q")
        if swap:
            e, q = q, e
        r = unit(e + q, "r")
        lam = (z_q.norm(dim=-1, keepdim=True) / z.norm(dim=-1, keepdim=True) if detach != "all"
               else qq.norm(dim=-1, keepdim=True) / zz.norm(dim=-1, keepdim=True))
        rz = z + signs[0] * r * (r * z).sum(-1, keepdim=True) + signs[1] * q * (e * z).sum(-1, keepdim=True)
        out = lam * rz if rescale else rz
        return out + (z_q - out).detach() if fix_value else out

    return fn


_ROTATION_MISTAKES = {
    "the rotation and the rescaling are not constants: compute e, q, r and lambda from detached copies of z and z_q "
    "(or under torch.no_grad()), so that the gradient reaching z is lambda R^T g.":
        _rotation_variant(detach="none"),
    "lambda still carries a gradient: the rescaling |z_q| / |z| must be a constant to autograd, like R.":
        _rotation_variant(detach="rotation"),
    "the gradient has the norm of the straight-through one: the rescaling by lambda = |z_q| / |z| is missing.":
        _rotation_variant(rescale=False),
    "without the rescaling the value is R z, not z_q: multiply by lambda = |z_q| / |z|.":
        _rotation_variant(rescale=False, fix_value=False),
    "a sign of R = I - 2 r r^T + 2 q e^T is flipped: R must map the direction e of z onto the direction q of z_q "
    "(test it: R e == q).":
        _rotation_variant(signs=(2.0, 2.0)),
    "a sign of R = I - 2 r r^T + 2 q e^T is flipped (the q e^T term): R must map e onto q (test it: R e == q).":
        _rotation_variant(signs=(-2.0, -2.0)),
    "r is not a unit vector: normalise e + q.":
        _rotation_variant(normalise=("e", "q")),
    "e and q must be unit vectors: divide z and z_q by their norms before building r and R.":
        _rotation_variant(normalise=("r",)),
    "R rotates the wrong way: it must take the direction of z to the direction of z_q (the q e^T term, not e q^T).":
        _rotation_variant(swap=True),
    "this is the straight-through estimator: the gradient must be rotated and rescaled, not copied.":
        lambda z, z_q: z + (z_q - z).detach(),
}


def _rotation_inputs(seed: int, code_dim: Optional[int] = None):
    """z, z_q (N, D) with |z_q| / |z| spread over a factor of ~20 and angles up to ~150 degrees (never antipodal,
    where the rotation is ill-defined), and a made-up upstream gradient w."""
    g = torch.Generator().manual_seed(5000 + seed)
    n, d = ((16, 2), (9, 8), (12, 3), (7, 32))[seed % 4]
    d = d if code_dim is None else code_dim
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    z_q = (z + 1.2 * z.norm(dim=1, keepdim=True) * torch.randn(n, d, generator=g, dtype=torch.float64)
           / d ** 0.5) * torch.exp(torch.randn(n, 1, generator=g, dtype=torch.float64))
    cos = torch.nn.functional.cosine_similarity(z, z_q, dim=1)
    z_q[cos < -0.85] *= -1.0
    w = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z, z_q, w


@records_result
def check_rotation_trick(student_fn: Callable, *, seed: int = 0, code_dim: Optional[int] = None) -> None:
    """``student_fn(z (N, D), z_q (N, D))``: the value z_q, no gradient to z_q, and the gradient ``lambda R^T g`` to z
    with R and lambda constants (compared with :func:`course_lib.quantize.rotation_trick`). ``seed`` and
    ``code_dim`` give other cases (hidden tests)."""
    from .ste import _probe_ste, student_name

    name = student_name(student_fn, "rotation_trick")
    check_function(
        _probe_ste(student_fn, name),
        _probe_ste(reference_rotation_trick),
        lambda i: _rotation_inputs(seed + i, code_dim),
        name=name,
        mistakes={hint: _probe_ste(fn) for hint, fn in _ROTATION_MISTAKES.items()},
        atol=1e-6,  # float32 arithmetic inside a correct answer is fine; every named mistake is off by O(0.1) or more
        rtol=1e-4,
        trials=4,
        success=f"{name}: value z_q, and the gradient reaching z rotated and rescaled by the constants R and lambda.",
    )
