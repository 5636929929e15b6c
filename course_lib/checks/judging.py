"""Checks for notebook 10 (judging image models): the radially averaged log power spectrum and the bootstrap
interval of KID.

* :func:`check_radial_spectrum` -- ``radial_log_spectrum(x) -> (N, K)``: each image's luminance, mean removed, power
  ``|FFT|^2 / (H W)`` averaged over rings of integer radius 1..K (``round(sqrt(fx^2 + fy^2) * min(H, W))`` with fx,
  fy in cycles per pixel), then the natural log; K = min(H, W) // 2 (reference
  :func:`course_lib.image_quality.radial_log_spectrum`). Removing the mean changes only the zero frequency, which
  no ring 1..K holds, so that step cannot be told apart by the values; keeping ring 0 can (one column too many).

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

__all__ = ["check_bootstrap_kid", "reference_bootstrap_kid", "check_radial_spectrum", "reference_radial_spectrum"]


# ------------------------------------------------------------------------------ radially averaged log power spectrum
def reference_radial_spectrum(x: torch.Tensor) -> torch.Tensor:
    """The library's :func:`course_lib.image_quality.radial_log_spectrum` (float64, (N, K))."""
    from ..image_quality import radial_log_spectrum

    return radial_log_spectrum(x)


def _spectrum_variant(x: torch.Tensor, *, amplitude: bool = False, centre: str = "fftfreq", ring: str = "round",
                      log_first: bool = False, per_channel: bool = False, scale: bool = True, log=torch.log,
                      ring_zero: bool = False, demean: bool = True) -> torch.Tensor:
    """The reference with one step changed: the named mistakes of :func:`check_radial_spectrum`."""
    g = x.detach().double()
    g = g if per_channel else g.mean(1, keepdim=True)
    g = g - g.mean(dim=(-2, -1), keepdim=True) if demean else g
    h, w = g.shape[-2:]
    f = torch.fft.fft2(g).abs()
    power = f if amplitude else f ** 2
    power = power / (h * w) if scale else power
    s = min(h, w)
    if centre == "fftfreq":
        fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None] * s
        fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :] * s
    elif centre == "grid":        # a centred grid of indices, but the spectrum was never fftshift-ed
        fy = (torch.arange(h, dtype=torch.float64)[:, None] - h // 2) * s / h
        fx = (torch.arange(w, dtype=torch.float64)[None, :] - w // 2) * s / w
    else:                         # "corner": raw array indices, the zero frequency at (0, 0) and no wrap-around
        fy = torch.arange(h, dtype=torch.float64)[:, None] * s / h
        fx = torch.arange(w, dtype=torch.float64)[None, :] * s / w
    if ring == "max":
        r = torch.maximum(fx.abs().expand(h, w), fy.abs().expand(h, w))
    else:
        r = torch.sqrt(fx ** 2 + fy ** 2)
    r = torch.floor(r).long() if ring == "floor" else torch.round(r).long()
    prof = []
    for k in range(0 if ring_zero else 1, s // 2 + 1):
        vals = power[..., r == k]                                  # (N, C, ring size)
        prof.append(log(vals + 1e-10).mean(-1).mean(1) if log_first else log(vals.mean(-1).mean(1) + 1e-10))
    return torch.stack(prof, -1)                                   # per channel: the channels' power averaged


# Non-square sides whose ratio has an odd denominator (18/27 = 2/3, 15/21 = 5/7): no radius is then exactly k + 1/2,
# so torch.round, numpy's round and floor(r + 0.5) put every frequency in the same ring.
_SPECTRUM_SHAPES = ((4, 1, 16, 16), (3, 3, 20, 20), (2, 1, 18, 27), (3, 3, 21, 15))


def _spectrum_inputs(seed: int, shapes=_SPECTRUM_SHAPES) -> Tuple[torch.Tensor]:
    """Images with structure at every scale (smooth blobs, edges, noise) in [0, 1], float32."""
    g = torch.Generator().manual_seed(1000 + seed)
    n, c, h, w = shapes[seed % len(shapes)]
    coarse = torch.rand(n, c, max(2, h // 4), max(2, w // 4), generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    x = 0.6 * smooth + 0.25 * (torch.rand(n, 1, h, w, generator=g) > 0.7).float() + 0.15 * torch.rand(n, c, h, w,
                                                                                                     generator=g)
    return (x.clamp(0, 1),)


@records_result
def check_radial_spectrum(student_fn: Callable, seed: int = 0, trials: int = 4,
                          shapes: Tuple[Tuple[int, int, int, int], ...] = _SPECTRUM_SHAPES) -> None:
    """Check ``student_fn(x) -> (N, K)`` against the library's radially averaged log power spectrum on ``trials``
    random batches (grey and colour, square and not; ``seed`` and ``shapes`` change them: a hidden test uses
    others). Float32 or float64 results, tensors or NumPy arrays, are accepted."""
    from . import check_function

    name = getattr(student_fn, "__name__", "") or "radial_log_spectrum"
    name = name if name.isidentifier() else "radial_log_spectrum"
    v = _spectrum_variant
    mistakes = {
        "this is the log of the mean AMPLITUDE |F|; the power spectrum squares it, |F|^2.": lambda x: v(x, amplitude=True),
        "the radius is measured from the centre of the array, but the zero frequency of torch.fft.fft2 sits at index "
        "(0, 0): shift the spectrum (torch.fft.fftshift) or measure frequencies with torch.fft.fftfreq.":
            lambda x: v(x, centre="grid"),
        "the radius is measured from index (0, 0) without wrapping: frequencies past the middle of the array are "
        "negative ones (torch.fft.fftfreq gives them).": lambda x: v(x, centre="corner"),
        "the log is taken before averaging over each ring: average the power first, then take its log.":
            lambda x: v(x, log_first=True),
        "the rings are squares (the larger of |fx| and |fy|): a ring holds the frequencies at the same Euclidean "
        "distance from zero.": lambda x: v(x, ring="max"),
        "the ring radii are rounded down: round them to the nearest integer.": lambda x: v(x, ring="floor"),
        "each colour channel has its own spectrum: average the channels to one grey image first.":
            lambda x: v(x, per_channel=True),
        "the power is not divided by H * W (so it depends on the image size).": lambda x: v(x, scale=False),
        "this is log10: use the natural log (torch.log).": lambda x: v(x, log=torch.log10),
        "ring 0 (the zero frequency, the mean brightness) is kept: the rings run from 1 to K = min(H, W) // 2.":
            lambda x: v(x, ring_zero=True),
        "ring 0 (the zero frequency, the mean brightness) is kept, and the mean was not removed: the rings run from "
        "1 to K = min(H, W) // 2.": lambda x: v(x, ring_zero=True, demean=False),
    }
    check_function(student_fn, reference_radial_spectrum, lambda i: _spectrum_inputs(seed + i, shapes), name=name,
                   mistakes=mistakes, atol=1e-4, rtol=1e-4, trials=trials, announce=False)
    passed(f"{name}: power of the centred spectrum, averaged over Euclidean rings 1..K, then the log.")




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
