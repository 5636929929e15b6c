"""Checks for notebook 02 (vector quantization): distances, nearest-code assignment, one Lloyd (k-means) step.

* :func:`check_squared_distances` -- ``|z|^2 - 2 z e^T + |e|^2``, (N, K), against the naive broadcast.
* :func:`check_nearest_code` -- the index of the closest code for each row of z. Ties are allowed: the check
  compares the *distance* of the chosen code with the smallest distance, not the indices.
* :func:`check_lloyd_step` -- assign every point to its nearest centroid, move each centroid to the mean of its
  points; a centroid that received no points stays where it was.
"""
from __future__ import annotations

from typing import Any, Callable, Tuple

import numpy as np
import torch

from . import CheckFailed, _record, call_student, check_function, describe_mismatch, passed, records_result

__all__ = ["check_squared_distances", "check_nearest_code", "check_lloyd_step", "reference_lloyd_step"]

def _naive_sqdist(z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """(N, D), (K, D) -> (N, K) squared Euclidean distances, by broadcasting (exact, memory-hungry)."""
    return (z[:, None, :] - e[None, :, :]).pow(2).sum(-1)


def _inputs(seed: int, n: int = 50, k: int = 12, d: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """Float64 data and a codebook whose codes have very different norms (so that |e|^2 matters)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    e = torch.randn(k, d, generator=g, dtype=torch.float64) * torch.linspace(0.2, 3.0, k, dtype=torch.float64)[:, None]
    return z, e


def student_name(fn, default: str) -> str:
    """The name of the student's function for messages (``my_vq_loss``), or ``default`` for a lambda or a wrapper."""
    name = getattr(fn, "__name__", "")
    return name if name.isidentifier() else default


def _call(fn: Callable, name: str, *args):
    return call_student(fn, *(a.clone() for a in args), name=name)


def _as_tensor(value: Any) -> Any:
    """A NumPy answer (array or scalar) as a tensor, so that a right answer in NumPy form is accepted."""
    if isinstance(value, (np.ndarray, np.generic)):
        return torch.as_tensor(np.asarray(value))
    return value


# Tolerances for float32 answers: the expansion |z|^2 - 2 z.e + |e|^2 in float32 (what course_lib.quantize does)
# loses about 1e-7 of |z|^2 + |e|^2 (up to ~40 here) to cancellation; every named mistake is off by O(1).
ATOL, RTOL = 1e-4, 1e-5


# ---------------------------------------------------------------------------------------------------------------
def check_squared_distances(student_fn: Callable, seed: int = 0, n: int = 50, k: int = 12, d: int = 3) -> None:
    """Check ``student_fn(z (N, D), codebook (K, D)) -> (N, K)`` squared distances on 3 random float64 inputs.

    ``seed`` and the sizes ``n, k, d`` pick the inputs (a hidden test uses others). Float32 answers pass.
    """
    mistakes = {
        "the |e|^2 term (squared norm of each code, a row vector of shape (1, K)) is missing.":
            lambda z, e: z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T,
        "the |z|^2 term (squared norm of each input, a column of shape (N, 1)) is missing.":
            lambda z, e: e.pow(2).sum(1)[None, :] - 2 * z @ e.T,
        "the cross term needs a factor 2: |z - e|^2 = |z|^2 - 2 z.e + |e|^2.":
            lambda z, e: z.pow(2).sum(1, keepdim=True) - z @ e.T + e.pow(2).sum(1)[None, :],
        "the cross term has the wrong sign: |z - e|^2 = |z|^2 - 2 z.e + |e|^2.":
            lambda z, e: z.pow(2).sum(1, keepdim=True) + 2 * z @ e.T + e.pow(2).sum(1)[None, :],
        "you returned Euclidean distances (a square root); the exercise asks for SQUARED distances.":
            lambda z, e: _naive_sqdist(z, e).sqrt(),
        "the output is transposed: return (N, K), one row per input vector.":
            lambda z, e: _naive_sqdist(z, e).T,
    }
    name = student_name(student_fn, "squared_distances")
    try:
        check_function(
            lambda z, e: _as_tensor(student_fn(z, e)), _naive_sqdist, lambda i: _inputs(seed + i, n, k, d),
            name=name, mistakes=mistakes, atol=ATOL, rtol=RTOL,
            announce=False,
        )
        _check_no_nkd_tensor(student_fn, name, seed)
    except CheckFailed as exc:
        _record(student_fn, exc)
        raise
    _record(student_fn, None)


def _check_no_nkd_tensor(student_fn: Callable, name: str, seed: int, n: int = 256, k: int = 64, d: int = 32) -> None:
    """Run the student's function under a TensorMemoryMeter: no tensor as large as (N, K, D) may appear."""
    from ..metrics import TensorMemoryMeter

    g = torch.Generator().manual_seed(1000 + seed)
    z, e = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
    with TensorMemoryMeter() as meter:
        call_student(student_fn, z, e, name=name)
    if meter.largest_numel >= n * k * d:
        raise CheckFailed(f"{name}: the values are right, but your function built a tensor of "
                          f"{meter.largest_numel:,} numbers, as large as (N, K, D) = ({n}, {k}, {d}): that is the "
                          "broadcast this exercise avoids. Use the expansion |z|^2 - 2 z.e + |e|^2, whose largest "
                          "tensor is (N, K).")
    passed(f"{name} matches the naive broadcast on 3 random inputs, and its largest tensor has "
           f"{meter.largest_numel:,} numbers, far below (N, K, D) = {n * k * d:,}.")


# ---------------------------------------------------------------------------------------------------------------
def check_nearest_code(student_fn: Callable, seed: int = 0, n: int = 50, k: int = 12, d: int = 3) -> None:
    """Check ``student_fn(z (N, D), codebook (K, D)) -> indices (N,)`` int64 of the nearest codes (ties allowed).

    ``seed`` and the sizes pick the inputs (a hidden test uses others). A chosen code may be farther than the
    nearest by float32 rounding (1e-5), so a float32 solution passes; NumPy index arrays pass too.
    """
    name = student_name(student_fn, "nearest_code")
    for trial in range(seed, seed + 3):
        z, e = _inputs(trial, n, k, d)
        got = _as_tensor(_call(student_fn, name, z, e))
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{name} should return a tensor of indices, got {type(got).__name__}")
        dist = _naive_sqdist(z, e)
        if got.is_floating_point():
            raise CheckFailed(
                f"{name} returned floats ({got.dtype}); return integer indices (argmin gives int64), not distances."
            )
        if tuple(got.shape) == (e.shape[0],) and e.shape[0] != z.shape[0]:
            raise CheckFailed(
                f"{name} returned {e.shape[0]} indices, one per code: take the argmin over the codes (dim=1) of the "
                "(N, K) distance matrix, not over the inputs (dim=0)."
            )
        if tuple(got.shape) != (z.shape[0],):
            raise CheckFailed(f"{name} should return shape ({z.shape[0]},), one index per row of z, got {tuple(got.shape)}")
        got = got.long()
        if got.min() < 0 or got.max() >= e.shape[0]:
            raise CheckFailed(f"{name}: indices must lie in [0, {e.shape[0]}), got values in [{int(got.min())}, {int(got.max())}]")
        chosen = dist.gather(1, got[:, None])[:, 0]
        best = dist.min(1).values
        if torch.allclose(chosen, best, atol=ATOL, rtol=RTOL):
            continue
        if torch.equal(got, dist.argmax(1)):
            raise CheckFailed(f"{name}: you picked the FARTHEST code (argmax of distances); use argmin.")
        if torch.equal(got, (z @ e.T).argmax(1)) or torch.equal(got, (-2 * z @ e.T + z.pow(2).sum(1, keepdim=True)).argmin(1)):
            raise CheckFailed(
                f"{name}: your choice ignores the |e|^2 term. argmax of z.e (or argmin of |z|^2 - 2 z.e) is the nearest "
                "code only when all codes have the same norm; add |e|^2."
            )
        if torch.equal(got, (z @ e.T).argmin(1)):
            raise CheckFailed(f"{name}: you took the argmin of the dot products z.e; take the argmin of the squared distances.")
        wrong = int((chosen > best + ATOL).sum())
        raise CheckFailed(f"{name}: {wrong} of {z.shape[0]} inputs did not get their nearest code (random input #{trial}).")
    passed(f"{name}: every input got a nearest code on 3 random inputs.")


# ---------------------------------------------------------------------------------------------------------------
def reference_lloyd_step(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """One Lloyd iteration: x (N, D), centroids (K, D) -> new centroids (K, D); empty clusters keep their centroid."""
    assign = _naive_sqdist(x, centroids).argmin(1)
    return _update(x, centroids, assign)


def _update(x: torch.Tensor, centroids: torch.Tensor, assign: torch.Tensor) -> torch.Tensor:
    k = centroids.shape[0]
    sums = torch.zeros_like(centroids).index_add_(0, assign, x)
    counts = torch.bincount(assign, minlength=k).to(x.dtype)[:, None]
    return torch.where(counts > 0, sums / counts.clamp_min(1), centroids)


def _lloyd_inputs(seed: int, d: int = 2) -> Tuple[torch.Tensor, torch.Tensor]:
    """Three blobs in d dimensions and four centroids, one of them far away, so that one cluster is always empty."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.zeros(3, d, dtype=torch.float64)
    centres[1, 0], centres[2, 1 % d] = 4.0, 4.0 if d > 1 else -4.0
    x = (centres[:, None, :] + 0.7 * torch.randn(3, 40, d, generator=g, dtype=torch.float64)).reshape(-1, d)
    c = torch.cat([x[torch.randperm(x.shape[0], generator=g)[:3]], torch.full((1, d), 30.0, dtype=torch.float64)])
    return x, c


def check_lloyd_step(student_fn: Callable, seed: int = 0, d: int = 2) -> None:
    """Check ``student_fn(x (N, D), centroids (K, D)) -> new centroids (K, D)`` for one Lloyd (k-means) step.

    ``seed`` and the dimension ``d`` pick the inputs (a hidden test uses others); float32 and NumPy answers pass.
    """
    name = student_name(student_fn, "lloyd_step")
    for trial in range(seed, seed + 3):
        x, c = _lloyd_inputs(trial, d)
        expected = reference_lloyd_step(x, c)
        got = _as_tensor(_call(student_fn, name, x, c))
        if isinstance(got, tuple):
            raise CheckFailed(f"{name} should return only the new centroids (K, D), got a tuple of {len(got)} items.")
        problem = describe_mismatch(got, expected, atol=ATOL, rtol=RTOL, path="new centroids")
        if problem is None:
            continue
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
            raise CheckFailed(f"{name}: {problem}")
        got = got.to(expected.dtype)
        empty = torch.bincount(_naive_sqdist(x, c).argmin(1), minlength=c.shape[0]) == 0  # the far centroid
        if torch.isnan(got).any():
            raise CheckFailed(
                f"{name}: a centroid became nan. A cluster with no points has mean 0/0: keep the old centroid of a "
                "cluster whose count is 0 instead of dividing."
            )
        if torch.allclose(got[~empty], expected[~empty], atol=ATOL) and not torch.allclose(got[empty], expected[empty]):
            raise CheckFailed(
                f"{name}: the non-empty clusters are right, but a centroid with no points moved (to "
                f"{got[empty][0].tolist()}). Keep the old centroid of an empty cluster."
            )
        if torch.allclose(got, c, atol=ATOL):
            raise CheckFailed(f"{name}: the centroids did not move; set each to the mean of the points assigned to it.")
        dist = _naive_sqdist(x, c)
        for hint, assign in {
            "you assigned each point to the FARTHEST centroid (argmax); use argmin of the distances.": dist.argmax(1),
            "the assignment ignores the |e|^2 term (argmin of |x|^2 - 2 x.e or argmax of x.e); add |e|^2.": (x @ c.T).argmax(1),
        }.items():
            if torch.allclose(got, _update(x, c, assign), atol=ATOL):
                raise CheckFailed(f"{name}: {hint}")
        raise CheckFailed(f"{name}: {problem} (on random input #{trial}).")
    passed(f"{name}: one Lloyd step matches the reference on 3 random inputs, empty cluster included.")
