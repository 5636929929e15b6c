"""Checks for notebook 02 (vector quantization): distances, nearest-code assignment, one Lloyd (k-means) step.

* :func:`check_squared_distances` -- ``|z|^2 - 2 z e^T + |e|^2``, (N, K), against the naive broadcast.
* :func:`check_nearest_code` -- the index of the closest code for each row of z. Ties are allowed: the check
  compares the *distance* of the chosen code with the smallest distance, not the indices.
* :func:`check_lloyd_step` -- assign every point to its nearest centroid, move each centroid to the mean of its
  points; a centroid that received no points stays where it was.
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch

from . import CheckFailed, call_student, check_function, describe_mismatch, passed

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


def _call(fn: Callable, name: str, *args):
    return call_student(fn, *(a.clone() for a in args), name=name)


# ---------------------------------------------------------------------------------------------------------------
def check_squared_distances(student_fn: Callable) -> None:
    """Check ``student_fn(z (N, D), codebook (K, D)) -> (N, K)`` squared distances."""
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
    check_function(
        student_fn, _naive_sqdist, _inputs, name="squared_distances", mistakes=mistakes, atol=1e-8, rtol=1e-8,
        success="squared_distances matches the naive broadcast (z[:, None] - e[None]).pow(2).sum(-1) on 3 random inputs.",
    )


# ---------------------------------------------------------------------------------------------------------------
def check_nearest_code(student_fn: Callable) -> None:
    """Check ``student_fn(z (N, D), codebook (K, D)) -> indices (N,)`` int64 of the nearest codes (ties allowed)."""
    name = "nearest_code"
    for seed in range(3):
        z, e = _inputs(seed)
        got = _call(student_fn, name, z, e)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{name} should return a tensor of indices, got {type(got).__name__}")
        d = _naive_sqdist(z, e)
        if got.is_floating_point():
            raise CheckFailed(
                f"{name} returned floats ({got.dtype}); return integer indices (argmin gives int64), not distances."
            )
        if tuple(got.shape) == (e.shape[0],):
            raise CheckFailed(
                f"{name} returned {e.shape[0]} indices, one per code: take the argmin over the codes (dim=1) of the "
                "(N, K) distance matrix, not over the inputs (dim=0)."
            )
        if tuple(got.shape) != (z.shape[0],):
            raise CheckFailed(f"{name} should return shape ({z.shape[0]},), one index per row of z, got {tuple(got.shape)}")
        got = got.long()
        if got.min() < 0 or got.max() >= e.shape[0]:
            raise CheckFailed(f"{name}: indices must lie in [0, {e.shape[0]}), got values in [{int(got.min())}, {int(got.max())}]")
        chosen = d.gather(1, got[:, None])[:, 0]
        best = d.min(1).values
        if torch.allclose(chosen, best, atol=1e-9, rtol=0):
            continue
        if torch.equal(got, d.argmax(1)):
            raise CheckFailed(f"{name}: you picked the FARTHEST code (argmax of distances); use argmin.")
        if torch.equal(got, (z @ e.T).argmax(1)) or torch.equal(got, (-2 * z @ e.T + z.pow(2).sum(1, keepdim=True)).argmin(1)):
            raise CheckFailed(
                f"{name}: your choice ignores the |e|^2 term. argmax of z.e (or argmin of |z|^2 - 2 z.e) is the nearest "
                "code only when all codes have the same norm; add |e|^2."
            )
        if torch.equal(got, (z @ e.T).argmin(1)):
            raise CheckFailed(f"{name}: you took the argmin of the dot products z.e; take the argmin of the squared distances.")
        wrong = int((chosen > best + 1e-9).sum())
        raise CheckFailed(f"{name}: {wrong} of {z.shape[0]} inputs did not get their nearest code (random input #{seed}).")
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


def _lloyd_inputs(seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Three blobs and four centroids, one of them far away, so that one cluster is always empty."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    x = (centres[:, None, :] + 0.7 * torch.randn(3, 40, 2, generator=g, dtype=torch.float64)).reshape(-1, 2)
    c = torch.cat([x[torch.randperm(x.shape[0], generator=g)[:3]], torch.tensor([[30.0, 30.0]], dtype=torch.float64)])
    return x, c


def check_lloyd_step(student_fn: Callable) -> None:
    """Check ``student_fn(x (N, D), centroids (K, D)) -> new centroids (K, D)`` for one Lloyd (k-means) step."""
    name = "lloyd_step"
    for seed in range(3):
        x, c = _lloyd_inputs(seed)
        expected = reference_lloyd_step(x, c)
        got = _call(student_fn, name, x, c)
        if isinstance(got, tuple):
            raise CheckFailed(f"{name} should return only the new centroids (K, D), got a tuple of {len(got)} items.")
        problem = describe_mismatch(got, expected, atol=1e-8, rtol=1e-8, path="new centroids")
        if problem is None:
            continue
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
            raise CheckFailed(f"{name}: {problem}")
        got = got.to(expected.dtype)
        empty = torch.bincount(_naive_sqdist(x, c).argmin(1), minlength=c.shape[0]) == 0  # the far centroid
        if torch.isnan(got).any():
            raise CheckFailed(
                f"{name}: a centroid became nan. A cluster with no points has mean 0/0: keep its old centroid "
                "(e.g. torch.where(counts > 0, sums / counts.clamp_min(1), centroids))."
            )
        if torch.allclose(got[~empty], expected[~empty], atol=1e-8) and not torch.allclose(got[empty], expected[empty]):
            raise CheckFailed(
                f"{name}: the non-empty clusters are right, but a centroid with no points moved (to "
                f"{got[empty][0].tolist()}). Keep the old centroid of an empty cluster."
            )
        if torch.allclose(got, c, atol=1e-8):
            raise CheckFailed(f"{name}: the centroids did not move; set each to the mean of the points assigned to it.")
        d = _naive_sqdist(x, c)
        for hint, assign in {
            "you assigned each point to the FARTHEST centroid (argmax); use argmin of the distances.": d.argmax(1),
            "the assignment ignores the |e|^2 term (argmin of |x|^2 - 2 x.e or argmax of x.e); add |e|^2.": (x @ c.T).argmax(1),
        }.items():
            if torch.allclose(got, _update(x, c, assign), atol=1e-8):
                raise CheckFailed(f"{name}: {hint}")
        raise CheckFailed(f"{name}: {problem} (on random input #{seed}).")
    passed(f"{name}: one Lloyd step matches the reference on 3 random inputs, empty cluster included.")
