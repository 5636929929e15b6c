"""Check for notebook 06's KID exercise: the kernel distance of Binkowski et al. (2018) from two feature sets.

    from course_lib.checks.kid import check_kid
    check_kid(kid)          # kid(feats_x (m, d), feats_y (n, d)) -> the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3

The reference is :func:`course_lib.image_quality.kid_all_pairs` (every pair of rows, no subsets):

    sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1)) - 2 sum_{i, j} k(x_i, y_j) / (m n)

The check tries float32 and float64 features, sets of different sizes (m != n), and accepts a Python float, a NumPy
scalar or a one-element tensor.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from . import CheckFailed, call_student, passed, records_result
from ..image_quality import kid_all_pairs

__all__ = ["check_kid", "kid_reference"]


def kid_reference(feats_x: torch.Tensor, feats_y: torch.Tensor) -> float:
    """The unbiased squared MMD with the cubic kernel over all pairs (:func:`course_lib.image_quality.kid_all_pairs`)."""
    return kid_all_pairs(feats_x, feats_y)


def _kernels(x: torch.Tensor, y: torch.Tensor, scale: float, power: int = 3):
    x, y = x.double(), y.double()
    return (x @ x.T / scale + 1) ** power, (y @ y.T / scale + 1) ** power, (x @ y.T / scale + 1) ** power


def _off(k: torch.Tensor) -> torch.Tensor:
    return k.sum() - k.diagonal().sum()


def _mistakes():
    def biased(x, y):
        kxx, kyy, kxy = _kernels(x, y, x.shape[1])
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()

    def no_scale(x, y):
        kxx, kyy, kxy = _kernels(x, y, 1.0)
        m, n = len(x), len(y)
        return _off(kxx) / (m * (m - 1)) + _off(kyy) / (n * (n - 1)) - 2 * kxy.mean()

    def sqrt_scale(x, y):
        kxx, kyy, kxy = _kernels(x, y, math.sqrt(x.shape[1]))
        m, n = len(x), len(y)
        return _off(kxx) / (m * (m - 1)) + _off(kyy) / (n * (n - 1)) - 2 * kxy.mean()

    def plus_cross(x, y):
        kxx, kyy, kxy = _kernels(x, y, x.shape[1])
        m, n = len(x), len(y)
        return _off(kxx) / (m * (m - 1)) + _off(kyy) / (n * (n - 1)) + 2 * kxy.mean()

    def minus_within(x, y):
        return -kid_reference(x, y)

    def square_denominator(x, y):
        kxx, kyy, kxy = _kernels(x, y, x.shape[1])
        m, n = len(x), len(y)
        return _off(kxx) / (m * m) + _off(kyy) / (n * n) - 2 * kxy.mean()

    def one_size(x, y):
        kxx, kyy, kxy = _kernels(x, y, x.shape[1])
        m = len(x)
        return _off(kxx) / (m * (m - 1)) + _off(kyy) / (m * (m - 1)) - 2 * kxy.sum() / (m * m)

    def no_cross_factor(x, y):
        kxx, kyy, kxy = _kernels(x, y, x.shape[1])
        m, n = len(x), len(y)
        return _off(kxx) / (m * (m - 1)) + _off(kyy) / (n * (n - 1)) - kxy.mean()

    def square_kernel(x, y):
        kxx, kyy, kxy = _kernels(x, y, x.shape[1], power=2)
        m, n = len(x), len(y)
        return _off(kxx) / (m * (m - 1)) + _off(kyy) / (n * (n - 1)) - 2 * kxy.mean()

    def root(x, y):
        return math.sqrt(max(kid_reference(x, y), 0.0))

    return {
        "you kept the diagonal terms k(x_i, x_i) and k(y_j, y_j) (the mean of every entry): that is the BIASED "
        "estimator, too large by about E k(x, x) / m. Leave out the pairs i = j in the two within-set sums and "
        "divide by m (m - 1) and n (n - 1).": biased,
        "the kernel is not normalised by the feature dimension: k(x, y) = (x . y / d + 1)^3, with d = "
        "feats_x.shape[1].": no_scale,
        "you divided x . y by sqrt(d); the KID kernel divides by d itself: (x . y / d + 1)^3.": sqrt_scale,
        "sign: the cross term is SUBTRACTED (MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)).": plus_cross,
        "the sign is flipped: MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y), which is >= 0 in expectation.":
            minus_within,
        "you left out the diagonal but still divided by m^2 (and n^2): there are m (m - 1) pairs with i != j.":
            square_denominator,
        "the two sets may differ in size: use m = len(feats_x) for the x terms and n = len(feats_y) for the y "
        "terms (and m n for the cross term).": one_size,
        "the cross term counts twice: - 2 E k(x, y) (k(x, y) and k(y, x) are both in the expansion of the "
        "squared distance).": no_cross_factor,
        "the kernel is cubic: (x . y / d + 1) to the power 3.": square_kernel,
        "you returned the square root: KID is the squared MMD (it can be slightly negative).": root,
    }


def _as_float(value, name: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise CheckFailed(f"{name} should return one number (a float or a one-element tensor), got a tensor of "
                              f"shape {tuple(value.shape)}.")
        return float(value.detach().cpu().double())
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value.reshape(()))
    raise CheckFailed(f"{name} should return one number, got {type(value).__name__}.")


def _features(seed: int, m: int, n: int, d: int, dtype) -> tuple:
    """Two feature sets from different distributions (shifted and rescaled), so that the MMD is clearly > 0."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, d, generator=g)
    y = 0.8 * torch.randn(n, d, generator=g) + 0.3
    return x.to(dtype), y.to(dtype)


@records_result
def check_kid(student_fn: Callable, seed: int = 0, cases=((40, 30, 16), (25, 36, 8), (30, 30, 12))) -> None:
    """student_fn(feats_x (m, d), feats_y (n, d)) -> the unbiased MMD^2 with the cubic kernel (one number).

    ``cases``: (m, n, d) per trial; the first is float32, the others float64. ``seed`` picks other features (the
    hidden tests use it)."""
    name = "kid"
    mistakes = _mistakes()
    for i, (m, n, d) in enumerate(cases):
        dtype = torch.float32 if i == 0 else torch.float64
        x, y = _features(100 * seed + i, m, n, d, dtype)
        expected = kid_reference(x, y)
        got = call_student(student_fn, x.clone(), y.clone(), name=name)
        value = _as_float(got, name)
        tol = 1e-5 + 1e-4 * abs(expected)
        if math.isfinite(value) and abs(value - expected) <= tol:
            continue
        for hint, wrong_fn in mistakes.items():
            try:
                wrong = float(wrong_fn(x.clone(), y.clone()))
            except Exception:
                continue
            if math.isfinite(value) and abs(value - wrong) <= 1e-5 + 1e-4 * abs(wrong):
                raise CheckFailed(f"{name}: {hint}")
        raise CheckFailed(f"{name}: returned {value:.6g}, expected {expected:.6g} (m = {m}, n = {n}, d = {d}, "
                          f"{str(dtype).replace('torch.', '')} features). Compare your code with the formula above.")
    passed(f"{name}: the unbiased MMD^2 with the cubic kernel (x . y / d + 1)^3, diagonal pairs left out, "
           "sets of different sizes and dtypes.")
