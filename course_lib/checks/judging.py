"""Checks for notebook 10 (judging image models): the bootstrap interval of KID.

* :func:`check_bootstrap_kid` -- ``bootstrap_kid(kid_of_rows, n_a, n_b, n_boot, level, generator) -> (value, low,
  high)``: the KID of the two whole sets, and the percentile interval of ``n_boot`` KIDs of resamples, each drawing
  ``n_a`` rows of set A and ``n_b`` rows of set B uniformly WITH replacement, the two sets independently
  (reference :func:`reference_bootstrap_kid`; the library's version is :func:`course_lib.image_quality.kid_bootstrap`
  inside :func:`course_lib.image_quality.kernel_distance`).

The resampling is random, so the check does not compare numbers with a reference run. It hands the student's
function a spy in place of ``kid_of_rows`` that records every resample and returns a number that depends on the rows
drawn; then it checks the resamples (sizes, replacement, both sets, independence, a fresh draw each time) and that
the interval is the right pair of quantiles of the values the spy returned.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Tuple

import torch

from . import CheckFailed, call_student, passed, records_result

__all__ = ["check_bootstrap_kid", "reference_bootstrap_kid"]


def reference_bootstrap_kid(kid_of_rows: Callable, n_a: int, n_b: int, n_boot: int = 200, level: float = 0.95,
                            generator: Optional[torch.Generator] = None) -> Tuple[float, float, float]:
    """(value, low, high): KID of the whole sets and the percentile bootstrap interval over images."""
    value = float(kid_of_rows(torch.arange(n_a), torch.arange(n_b)))
    boots = []
    for _ in range(n_boot):
        rows_a = torch.randint(n_a, (n_a,), generator=generator)
        rows_b = torch.randint(n_b, (n_b,), generator=generator)
        boots.append(float(kid_of_rows(rows_a, rows_b)))
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    low, high = torch.quantile(torch.tensor(boots, dtype=torch.float64), q)
    return value, float(low), float(high)


class _Spy:
    """Stands in for ``kid_of_rows``: records each call's row indices, returns a number that depends on them."""

    def __init__(self, n_a: int, n_b: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.n_a, self.n_b = n_a, n_b
        self.va = torch.randn(n_a, generator=g, dtype=torch.float64)
        self.vb = torch.randn(n_b, generator=g, dtype=torch.float64)
        self.calls: List[Tuple[torch.Tensor, torch.Tensor]] = []
        # a skewed statistic of the rows drawn, so that a normal-approximation interval differs from the percentile one
        self.values: List[float] = []

    def __call__(self, rows_a: Any, rows_b: Any) -> float:
        ra = self._rows(rows_a, self.n_a, "rows_a")
        rb = self._rows(rows_b, self.n_b, "rows_b")
        self.calls.append((ra, rb))
        value = self.statistic(self.va[ra], self.vb[rb])
        self.values.append(value)
        return value

    @staticmethod
    def statistic(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(torch.exp(3 * (a.mean() - b.mean())))

    @staticmethod
    def _rows(rows: Any, n: int, name: str) -> torch.Tensor:
        try:
            import numpy as np

            r = torch.as_tensor(np.asarray(rows) if not isinstance(rows, torch.Tensor) else rows)
        except Exception:
            raise CheckFailed(f"kid_of_rows was called with {name} of type {type(rows).__name__}; pass a tensor "
                              f"(or array) of row indices") from None
        if r.is_floating_point() or r.dtype == torch.bool:
            raise CheckFailed(f"kid_of_rows expects integer row indices for {name}, got dtype {r.dtype} (a boolean "
                              f"mask or float weights is not a resample: draw indices with torch.randint)")
        r = r.reshape(-1).long()
        if r.numel() and (int(r.min()) < 0 or int(r.max()) >= n):
            raise CheckFailed(f"kid_of_rows got {name} with indices outside [0, {n}): set A has n_a rows and set B "
                              f"n_b rows; did you swap them?")
        return r


def _unpack(out: Any, name: str) -> Tuple[float, float, float]:
    if hasattr(out, "value") and hasattr(out, "low") and hasattr(out, "high"):
        out = (out.value, out.low, out.high)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailed(f"{name} should return (value, low, high), got {type(out).__name__}"
                          + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
    vals = []
    for what, v in zip(("value", "low", "high"), out):
        if isinstance(v, torch.Tensor):
            if v.numel() != 1:
                raise CheckFailed(f"{name}: {what} should be one number, got a tensor of shape {tuple(v.shape)}")
            v = v.item()
        try:
            vals.append(float(v))
        except (TypeError, ValueError):
            raise CheckFailed(f"{name}: {what} should be a number, got {type(v).__name__}") from None
    return vals[0], vals[1], vals[2]


def _within_one_rank(x: float, sorted_vals: torch.Tensor, q: float) -> bool:
    """True when x lies between the order statistics one rank either side of the q quantile (so that
    sorted(values)[int(q * B)] and other common definitions of a quantile pass too)."""
    b = sorted_vals.numel()
    pos = q * (b - 1)
    lo = sorted_vals[max(0, math.floor(pos) - 1)].item()
    hi = sorted_vals[min(b - 1, math.ceil(pos) + 1)].item()
    return lo - 1e-9 <= x <= hi + 1e-9


def _diagnose_quantiles(low: float, high: float, vals: torch.Tensor, level: float) -> str:
    s = torch.sort(vals).values
    mean, sd = vals.mean().item(), vals.std().item()
    qs = lambda a, b: (torch.quantile(vals, a).item(), torch.quantile(vals, b).item())  # noqa: E731
    if math.isclose(low, mean - 1.96 * sd, rel_tol=1e-3, abs_tol=1e-6) or \
            math.isclose(low, mean - 1.96 * sd / math.sqrt(len(vals)), rel_tol=1e-3, abs_tol=1e-6):
        return ("the interval is mean +- 1.96 sd (a normal approximation): use the percentile interval, the "
                "(1 - level) / 2 and (1 + level) / 2 quantiles of the bootstrap values.")
    for (a, b), why in (((1 - level, level), "the (1 - level) and level quantiles: that is a 90% interval for "
                                             "level 0.95; split the missing 5% between the two tails"),
                        ((level / 2, 1 - level / 2), "level / 2 and 1 - level / 2: the tails are (1 - level) / 2 each"),
                        ((0.025, 0.975), "the 0.025 and 0.975 quantiles whatever the level: use level")):
        if 0 < a < 1 and 0 < b < 1:
            ql, qh = qs(min(a, b), max(a, b))
            if _within_one_rank(low, s, min(a, b)) and _within_one_rank(high, s, max(a, b)) and \
                    not (math.isclose(min(a, b), (1 - level) / 2) and math.isclose(max(a, b), (1 + level) / 2)):
                return f"the interval uses {why}."
    if high < low:
        return "low is above high: return (value, low, high) with low <= high."
    return ("low and high are not the (1 - level) / 2 and (1 + level) / 2 quantiles of the values kid_of_rows "
            "returned for your resamples (use torch.quantile or numpy.quantile on all n_boot values).")


def _check_once(student_fn: Callable, name: str, n_a: int, n_b: int, n_boot: int, level: float, seed: int) -> None:
    spy = _Spy(n_a, n_b, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    out = call_student(student_fn, spy, n_a, n_b, n_boot=n_boot, level=level, generator=gen, name=name)
    value, low, high = _unpack(out, name)
    full = (torch.arange(n_a), torch.arange(n_b))
    whole = [i for i, (ra, rb) in enumerate(spy.calls)
             if torch.equal(torch.sort(ra).values, full[0]) and torch.equal(torch.sort(rb).values, full[1])]
    expected_value = spy.statistic(spy.va, spy.vb)
    if not math.isclose(value, expected_value, rel_tol=1e-6, abs_tol=1e-9):
        raise CheckFailed(f"{name}: value should be the KID of the two whole sets, kid_of_rows(torch.arange(n_a), "
                          f"torch.arange(n_b)), not a bootstrap average or a resample's KID.")
    resamples = [c for i, c in enumerate(spy.calls) if i not in whole[:1]]
    if len(resamples) != n_boot:
        raise CheckFailed(f"{name}: kid_of_rows was called for {len(resamples)} resamples (besides the whole sets), "
                          f"expected n_boot = {n_boot}: one KID per resample.")
    sizes_a = {int(ra.numel()) for ra, _ in resamples}
    sizes_b = {int(rb.numel()) for _, rb in resamples}
    if sizes_a != {n_a} or sizes_b != {n_b}:
        raise CheckFailed(f"{name}: each resample should draw as many rows as the set has (n_a = {n_a} from A, "
                          f"n_b = {n_b} from B), got sizes {sorted(sizes_a)} and {sorted(sizes_b)}. A smaller "
                          f"resample overstates the uncertainty.")
    first_a, first_b = resamples[0]
    if all(torch.equal(ra, first_a) and torch.equal(rb, first_b) for ra, rb in resamples):
        raise CheckFailed(f"{name}: every resample is the same: draw new row indices inside the loop, once per "
                          f"bootstrap replicate.")
    if all(torch.equal(rb, full[1]) for _, rb in resamples):
        raise CheckFailed(f"{name}: only set A is resampled; set B stays the same every time. Both sets are "
                          f"samples (of real and of generated images): resample both, independently.")
    if all(torch.equal(ra, full[0]) for ra, _ in resamples):
        raise CheckFailed(f"{name}: only set B is resampled; set A stays the same every time. Resample both sets, "
                          f"independently.")
    perm_a = all(torch.equal(torch.sort(ra).values, full[0]) for ra, _ in resamples)
    perm_b = all(torch.equal(torch.sort(rb).values, full[1]) for _, rb in resamples)
    if perm_a and perm_b:
        raise CheckFailed(f"{name}: your resamples draw each row exactly once (a permutation, i.e. without "
                          f"replacement), so every resample has the same KID. Draw WITH replacement: "
                          f"torch.randint(n, (n,)).")
    if perm_a or perm_b:
        which, n = ("A", "n_a") if perm_a else ("B", "n_b")
        raise CheckFailed(f"{name}: set {which} is drawn without replacement (each row exactly once). Draw both sets "
                          f"with replacement: torch.randint({n}, ({n},)).")
    if n_a == n_b and all(torch.equal(ra, rb) for ra, rb in resamples):
        raise CheckFailed(f"{name}: the same row indices are used for both sets. The two sets are independent "
                          f"samples (row i of A has nothing to do with row i of B): draw their rows separately.")
    vals = torch.tensor(spy.values, dtype=torch.float64)
    if whole:
        vals = torch.tensor([v for i, v in enumerate(spy.values) if i != whole[0]], dtype=torch.float64)
    s = torch.sort(vals).values
    if not (_within_one_rank(low, s, (1 - level) / 2) and _within_one_rank(high, s, (1 + level) / 2)):
        raise CheckFailed(f"{name}: {_diagnose_quantiles(low, high, vals, level)}")


@records_result
def check_bootstrap_kid(student_fn: Callable, seed: int = 0, level: float = 0.95,
                        sizes: Tuple[Tuple[int, int], ...] = ((40, 40), (30, 50))) -> None:
    """Check ``student_fn(kid_of_rows, n_a, n_b, n_boot=..., level=..., generator=...) -> (value, low, high)``
    with a spy ``kid_of_rows`` (see the module docstring), on equal and unequal set sizes. ``seed`` and ``level``
    change the cases (a hidden test uses others)."""
    name = getattr(student_fn, "__name__", "") or "bootstrap_kid"
    name = name if name.isidentifier() else "bootstrap_kid"
    for i, (n_a, n_b) in enumerate(sizes):
        _check_once(student_fn, name, n_a, n_b, n_boot=200 + 40 * i, level=level, seed=seed + 17 * i)
    passed(f"{name}: the whole-set KID and the {level:.0%} percentile interval of resamples drawn with replacement "
           f"from both sets, independently.")
