"""Checks for notebook 15 (fact check).

* :func:`check_categorical_kl` -- ``KL(q || p) = sum_k q_k log(q_k / p_k)`` over the last dimension, in nats,
  with ``0 log 0 = 0`` so that a one-hot posterior (the VQ-VAE's) gives a finite value. Tested on batches that mix
  one-hot rows and dense rows, so that the cross-entropy (which equals the KL only for one-hot q) is caught.
  ``seed``, ``num_codes`` and ``dtype`` vary the inputs (the hidden tests of the notebook use other values than the
  visible check); float32 and NumPy answers are accepted with a float32 tolerance. The check remembers its outcome
  (:func:`course_lib.checks.records_result`), so ``solved_or_reference`` falls back after a wrong answer too.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import numpy as np
import torch

from . import CheckFailed, call_student, describe_mismatch, outputs_match, passed, records_result

__all__ = ["check_categorical_kl", "reference_categorical_kl"]


def reference_categorical_kl(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """(..., K), (..., K) -> (...) KL(q || p) in nats, 0 log 0 = 0."""
    return (torch.special.xlogy(q, q) - torch.special.xlogy(q, p)).sum(-1)


def _inputs(seed: int, k: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """q: 3 one-hot rows then 4 dense rows; p: dense (no zeros), its first row uniform. float64; K = ``k`` or, when
    None, one of 5, 8, 16 by seed."""
    g = torch.Generator().manual_seed(seed)
    k = (5, 8, 16)[seed % 3] if k is None else int(k)
    onehot = torch.nn.functional.one_hot(torch.randint(k, (3,), generator=g), k).double()
    dense = torch.softmax(2.0 * torch.randn(4, k, generator=g, dtype=torch.float64), dim=-1)
    q = torch.cat([onehot, dense])
    p = torch.softmax(torch.randn(7, k, generator=g, dtype=torch.float64), dim=-1)
    p[0] = 1.0 / k
    return q, p


_MISTAKES = {
    "you computed the cross-entropy -sum q log p. KL(q || p) = sum q log q - sum q log p: the cross-entropy minus "
    "the entropy of q. (They agree only when q is one-hot, because then the entropy of q is 0.)":
        lambda q, p: -torch.special.xlogy(q, p).sum(-1),
    "the answer is in bits (log base 2); the course measures KL in nats (natural log, torch.log).":
        lambda q, p: reference_categorical_kl(q, p) / math.log(2),
    "the sign is flipped: KL(q || p) = sum q log(q / p) >= 0.":
        lambda q, p: -reference_categorical_kl(q, p),
    "q and p are swapped: you computed KL(p || q). KL is not symmetric; the posterior q comes first.":
        lambda q, p: reference_categorical_kl(p, q),
}


@records_result
def check_categorical_kl(student_fn: Callable, seed: int = 0, num_codes: Optional[int] = None,
                         dtype: torch.dtype = torch.float64) -> None:
    """Check ``student_fn(q (N, K), p (N, K)) -> (N,)`` = KL(q || p) per row, in nats, finite for one-hot q.

    Three random cases from ``seed``, ``seed + 1``, ``seed + 2``; ``num_codes`` fixes K (default: 5, 8 or 16 by seed);
    ``dtype`` is the dtype of the inputs given to the student (float64 or float32)."""
    name = "categorical_kl"
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"check_categorical_kl: dtype must be torch.float32 or torch.float64, got {dtype}")
    for case in range(int(seed), int(seed) + 3):
        q, p = _inputs(case, num_codes)
        if dtype == torch.float32:  # the reference sees exactly what the student sees
            q, p = q.float().double(), p.float().double()
        expected = reference_categorical_kl(q, p)
        got = call_student(student_fn, q.to(dtype).clone(), p.to(dtype).clone(), name=name)
        if isinstance(got, (np.ndarray, np.generic)):
            got = torch.as_tensor(np.asarray(got))
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{name} should return a tensor of shape {tuple(expected.shape)} (one KL per row), "
                              f"got {type(got).__name__}.")
        if got.shape != expected.shape:
            if tuple(got.shape) == (q.shape[1],):
                hint = "you summed over the batch dimension (dim 0); sum over the last dimension, the K codes."
            elif got.numel() == 1:
                hint = "you returned one number for the whole batch; return one KL per row: (N, K) -> (N,)."
            elif got.shape == q.shape:
                hint = "you forgot to sum over the codes: KL is a sum over k of q_k log(q_k / p_k)."
            else:
                hint = f"the output has shape {tuple(got.shape)}, expected {tuple(expected.shape)} (one KL per row)."
            raise CheckFailed(f"{name}: {hint}")
        single = dtype == torch.float32 or got.dtype in (torch.float32, torch.float16, torch.bfloat16)
        atol, rtol = (1e-5, 1e-4) if single else (1e-8, 1e-6)
        got = got.detach().to("cpu", torch.float64)
        bad = ~torch.isfinite(got)
        if bad.any():
            onehot_rows = (q == 0).any(-1)
            if bool(torch.isinf(got[bad]).all()) and bool((got[bad] > 0).all()):
                hint = ("the output is +inf where q has zeros: q and p are probably swapped (KL(p || q) is infinite "
                        "when q is one-hot). KL(q || p) = sum q log(q / p), posterior q first.")
            elif bool(onehot_rows[bad].all()):
                hint = ("the output is nan for one-hot rows: 0 * log 0 is nan in floating point, but the KL uses the "
                        "convention 0 log 0 = 0. Use torch.special.xlogy(q, q) (it returns 0 where q == 0) or mask "
                        "the zero entries.")
            else:
                hint = "the output contains nan or inf for rows where every probability is positive."
            raise CheckFailed(f"{name}: {hint}")
        problem = describe_mismatch(got, expected, atol=atol, rtol=rtol)
        if problem is None:
            continue
        for hint, wrong_fn in _MISTAKES.items():
            if outputs_match(got, wrong_fn(q, p), atol=atol, rtol=rtol):
                raise CheckFailed(f"{name}: {hint}")
        raise CheckFailed(f"{name}: {problem} (on random input #{case}, K = {q.shape[1]}). Compare your code with "
                          "KL(q || p) = sum_k q_k (log q_k - log p_k).")
    passed(f"{name} matches sum_k q_k log(q_k / p_k) on one-hot and dense rows, with 0 log 0 = 0.")
