"""Checks for notebook 07 (perceptual loss): channel-unit normalisation and the LPIPS-style distance.

* :func:`check_normalize_channels` -- ``normalize_channels(x, eps=1e-10)``: x / sqrt(sum_c x^2 + eps) over dim 1,
  finite (value AND gradient) where a whole channel vector is zero, and right on float16 features (computed in
  float32).
* :func:`check_lpips_from_features` -- ``lpips_from_features(feats_x, feats_y, weights)``: sum over stages of the
  spatial MEAN of the channel-weighted squared difference of channel-normalised features, shape (B,).
"""
from __future__ import annotations

from typing import Callable, List

import torch

from . import CheckFailed, call_student, check_function, describe_mismatch, passed, records_result
from .. import perceptual

__all__ = ["check_normalize_channels", "check_lpips_from_features"]


def _features(seed: int, b: int = 3, c: int = 6, h: int = 5, w: int = 4, zero_positions: bool = True) -> torch.Tensor:
    """ReLU-like features (B, C, H, W) with a few positions where every channel is 0 (as behind a black background)."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(b, c, h, w, generator=g)
    if not zero_positions:  # strictly positive: every formula stays finite, so only the formula is compared
        return f.abs() * 3 + 0.05
    f = torch.relu(f) * 3
    if zero_positions:
        f[:, :, 0, 0] = 0
        f[0, :, min(2, h - 1), min(1, w - 1)] = 0
    return f


def _reference_normalize(x: torch.Tensor) -> torch.Tensor:
    return perceptual.normalize_channels(x, eps=1e-10, safe=True)


def _float16_features(seed: int, c: int = 8) -> torch.Tensor:
    """float16 features where the float16 formula breaks: tiny vectors (sum of squares underflows to 0, so
    0/0 or x/0), an all-zero vector (eps = 1e-10 rounds to 0 in float16) and a large one (sum of squares
    above 65504 overflows to inf)."""
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(2, c, 3, 3, generator=g) + 0.5                     # ordinary values
    f[:, :, 0, 0] = 1e-4 * (1 + torch.rand(2, c, generator=g))       # squares ~1e-8: below float16's range
    f[:, :, 1, 1] = 0.0                                              # all-zero channel vector
    f[:, :, 2, 2] = 300.0 * (1 + torch.rand(2, c, generator=g))      # squares ~1e5 > 65504
    return f.half()


@records_result
def check_normalize_channels(student_fn: Callable, seed: int = 0, shape=(3, 6, 5, 4)) -> None:
    """student_fn(x) -> x / sqrt(sum over channels of x^2 + eps), same shape as x (B, C, H, W).

    Also a float16 case: the result must be right (float16 or float32 output) where float16 arithmetic would give
    NaN, inf or 0 -- compute the norm in float32. ``seed`` and ``shape`` pick other inputs (hidden tests)."""
    name = "normalize_channels"
    b, c, h, w = shape
    # 1) the value on features WITHOUT all-zero positions (so that a missing eps does not hide other mistakes)
    changed_input = False
    for s in range(seed, seed + 3):
        x = _features(s, b, c, h, w, zero_positions=False)
        changed_input |= _compare_normalize(student_fn, x, name)
    # 2) all-zero channel vectors: the value must stay finite ...
    x = _features(seed + 7, b, c, h, w).requires_grad_(True)
    out = call_student(student_fn, x, name=name)
    if not torch.isfinite(out).all():
        raise CheckFailed(f"{name}: the output has nan/inf where every channel is 0 (0/0): the eps is missing. "
                          "Add a small eps inside the square root: x / sqrt(sum_c x^2 + eps).")
    ref = _reference_normalize(x.detach())
    if tuple(out.shape) == tuple(ref.shape):
        zero = (x.detach() == 0).all(dim=1, keepdim=True).expand_as(ref)       # positions where every channel is 0
        if not torch.allclose(out.detach().float()[zero], ref[zero], atol=1e-5):
            raise CheckFailed(f"{name}: where every channel is 0 the output should be 0.")
        off = (out.detach().float() - ref).abs()[~zero]
        if off.numel() and float(off.max()) > 1e-5 + 1e-4 * float(ref.abs().max()):
            small = x.detach().pow(2).sum(1, keepdim=True).expand_as(ref)[~zero]
            where = float(small[off.argmax()])
            raise CheckFailed(
                f"{name}: the output differs from x / sqrt(sum_c x^2 + eps) by up to {float(off.max()):.2g} at a "
                f"position whose sum of squares is {where:.2g}: is your eps much larger than the eps argument "
                "(1e-10 by default)? Use the eps you are given.")
    problem = describe_mismatch(out, ref, atol=1e-5)
    if problem:
        raise CheckFailed(f"{name}: {problem}.")
    # 3) ... and so must the gradient
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 3))
    (out * r).sum().backward()
    if x.grad is None or not torch.isfinite(x.grad).all():
        raise CheckFailed(f"{name}: the value is fine but the GRADIENT is nan where every channel is 0: the derivative "
                          "of sqrt(s) is infinite at s = 0 and 0 * inf = nan. Put eps INSIDE the square root, "
                          "sqrt(sum_c x^2 + eps), not after it.")
    # 4) half precision: float16 features (a .half() model) must not give NaN, inf or a lost direction
    x16 = _float16_features(seed, c)
    out16 = call_student(student_fn, x16.clone(), name=name)
    if not isinstance(out16, torch.Tensor) or tuple(out16.shape) != tuple(x16.shape):
        raise CheckFailed(f"{name}: on float16 features of shape {tuple(x16.shape)} the output should have the "
                          "same shape.")
    if not torch.isfinite(out16.float()).all() or describe_mismatch(out16.float(), _reference_normalize(x16),
                                                                    atol=2e-3, rtol=2e-3) is not None:
        raise CheckFailed(f"{name}: wrong on float16 features (nan, inf or 0 where the norm is tiny or large): in "
                          "float16, eps = 1e-10 rounds to 0, squares below about 3e-8 vanish and sums above 65504 "
                          "overflow. Compute in float32: start with x = x.float().")
    note = (" (Note: your function changed its input in place, e.g. x.div_(...): the caller's features would "
            "change too. Return a new tensor, x / norm.)" if changed_input else "")
    passed(f"{name}: unit L2 norm over the channels (dim 1), finite value and gradient at all-zero positions, "
           "right in float16 too." + note)


_NORMALIZE_MISTAKES = {
    "you normalised over the wrong dimension: dim 0 is the batch. LPIPS normalises the C channels at each position, "
    "i.e. sum over dim=1 with keepdim=True.": lambda x: x / x.pow(2).sum(0, keepdim=True).sqrt(),
    "you normalised over the spatial dimensions (H, W); LPIPS normalises the channel vector at each position: "
    "sum over dim=1 (C), keepdim=True.": lambda x: x / x.pow(2).sum((2, 3), keepdim=True).sqrt(),
    "you normalised over the last dimension (W); the channels are dim=1 in (B, C, H, W).":
        lambda x: x / x.pow(2).sum(-1, keepdim=True).sqrt(),
    "you divided by the squared norm (sum of squares) instead of the norm: take the square root.":
        lambda x: x / (x.pow(2).sum(1, keepdim=True) + 1e-10),
    "you divided by the L1 norm (sum of |x|); LPIPS uses the L2 norm sqrt(sum x^2).":
        lambda x: x / (x.abs().sum(1, keepdim=True) + 1e-10),
    "you divided by the root of the MEAN of squares instead of the sum: the result should have unit L2 norm over C.":
        lambda x: x / x.pow(2).mean(1, keepdim=True).sqrt(),
}


def _compare_normalize(student_fn: Callable, x: torch.Tensor, name: str) -> bool:
    """Compare on x; True when the student's function changed its input in place (a note, not a failure)."""
    given = x.clone()
    got = call_student(student_fn, given, name=name)
    changed = not torch.equal(given, x)
    problem = describe_mismatch(got, _reference_normalize(x), atol=1e-5)
    if problem is None:
        return changed
    for hint, wrong in _NORMALIZE_MISTAKES.items():
        if describe_mismatch(got, wrong(x), atol=1e-5) is None:
            raise CheckFailed(f"{name}: {hint}")
    raise CheckFailed(f"{name}: {problem}. Expected x / sqrt(sum over dim 1 of x^2 + eps), keepdim=True.")


def _feature_lists(seed: int, shapes=((4, 5, 6), (6, 3, 3))):
    g = torch.Generator().manual_seed(seed)
    # stages: (C, H, W) with different sizes
    fx = [torch.relu(torch.randn(2, *s, generator=g)) for s in shapes]
    fy = [torch.relu(torch.randn(2, *s, generator=g)) for s in shapes]
    ws = [torch.rand(s[0], generator=g) for s in shapes]
    return fx, fy, ws


def _norm(f):
    return perceptual.normalize_channels(f)


def _wrong_sum_space(fx, fy, ws):
    return sum(((_norm(a) - _norm(b)).pow(2) * w.view(1, -1, 1, 1)).sum(1).sum((1, 2)) for a, b, w in zip(fx, fy, ws))


def _wrong_no_weights(fx, fy, ws):
    return sum((_norm(a) - _norm(b)).pow(2).sum(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _wrong_channel_mean(fx, fy, ws):
    return sum(((_norm(a) - _norm(b)).pow(2) * w.view(1, -1, 1, 1)).mean(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _wrong_not_normalised(fx, fy, ws):
    return sum(((a - b).pow(2) * w.view(1, -1, 1, 1)).sum(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _wrong_no_square(fx, fy, ws):
    return sum(((_norm(a) - _norm(b)).abs() * w.view(1, -1, 1, 1)).sum(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _wrong_stage_mean(fx, fy, ws):
    return perceptual.lpips_distance(fx, fy, ws) / len(fx)


def _wrong_weight_after_square_root(fx, fy, ws):
    return sum(((_norm(a) - _norm(b)) * w.view(1, -1, 1, 1)).pow(2).sum(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _wrong_batch_mean(fx, fy, ws):
    return perceptual.lpips_distance(fx, fy, ws).mean()


@records_result
def check_lpips_from_features(student_fn: Callable, seed: int = 0, shapes=((4, 5, 6), (6, 3, 3))) -> None:
    """student_fn(feats_x, feats_y, weights) -> (B,) LPIPS-style distance (lists of stage features, weights (C_l,)).

    ``seed`` and ``shapes`` (one (C, H, W) per stage) pick other inputs (hidden tests)."""
    def spatial_map(fx, fy, ws):  # forgot the spatial average: a (B, H, W) map per stage (first stage returned)
        a, b, w = fx[0], fy[0], ws[0]
        return ((_norm(a) - _norm(b)).pow(2) * w.view(1, -1, 1, 1)).sum(1)

    check_function(
        student_fn, lambda fx, fy, ws: perceptual.lpips_distance(fx, fy, ws),
        lambda s: _feature_lists(seed + s, shapes),
        name="lpips_from_features",
        mistakes={
            "you SUMMED over the positions (h, w) instead of averaging: the distance then grows with the image size "
            "and later stages (fewer positions) barely count. Use .mean(dim=(1, 2)) (or (2, 3) before summing C).":
                _wrong_sum_space,
            "the spatial average is missing: return one number per image, shape (B,), by averaging over (h, w).":
                spatial_map,
            "you averaged over the batch: return one distance per image, shape (B,).": _wrong_batch_mean,
            "the channel weights are not used: multiply the squared difference by w (shape (C,) -> view(1, C, 1, 1)) "
            "before summing over channels.": _wrong_no_weights,
            "you averaged over the channels; LPIPS SUMS the weighted channels: (w * d^2).sum(dim=1).":
                _wrong_channel_mean,
            "the features are not channel-normalised: apply normalize_channels to each stage's features first.":
                _wrong_not_normalised,
            "the difference is not squared: LPIPS uses (f_x - f_y)^2.": _wrong_no_square,
            "you averaged over the stages; LPIPS SUMS the per-stage distances.": _wrong_stage_mean,
            "you put w inside the square, (w (f_x - f_y))^2 = w^2 (f_x - f_y)^2. That is how Zhang et al. write "
            "eq. 1 (w inside the norm), but the official lpips code, which this exercise follows, multiplies the "
            "squared difference by w: use w * (f_x - f_y)^2.":
                _wrong_weight_after_square_root,
        },
        success="lpips_from_features: sum over stages of the spatial mean of sum_c w_c (f_x - f_y)^2 on normalised features.",
    )
