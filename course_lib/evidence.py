"""Intervals a statistician would sign: the bootstrap over samples, t-intervals over replicates, paired seed tests.

Three questions come up in every experiment of the course, and each has one home here:

* *How sure is one number computed from a sample of images?* (a KID, a mean PSNR, a Frechet distance):
  :func:`bootstrap_interval` resamples the images (the rows of each sample) with replacement and recomputes the
  statistic, ``n_boot`` times; the interval is the percentile interval of those values (Efron & Tibshirani 1993,
  "An Introduction to the Bootstrap", ch. 13). It describes the uncertainty that comes from *which images* were drawn,
  not from which training run: for that, repeat the run.
* *How sure is a mean over independent runs (seeds)?* :func:`replicate_interval`: the mean and a Student-t interval
  with n - 1 degrees of freedom. With 2 runs the t quantile is 12.7 (95%): say so, or run more seeds.
* *Did arm A beat arm B over the same seeds?* :func:`paired_difference`: the paired t-test on the per-seed
  differences (Student 1908), with its degrees of freedom and two-sided p-value printed.

    from course_lib.evidence import bootstrap_interval, replicate_interval, paired_difference
    ci = bootstrap_interval(lambda a, b: (a - b).pow(2).mean(), recon, x)   # two samples, resampled independently
    ci = bootstrap_interval(psnr_fn, recon, x, paired=True)                 # rows resampled together (same images)
    print(ci)              # 0.0123 [0.0101, 0.0150] (95% bootstrap over images, B=200, paired)
    print(replicate_interval([24.1, 24.6, 23.9]))
    print(paired_difference(psnr_a_per_seed, psnr_b_per_seed))

Only numbers computed by these functions (or by the bootstrap inside :mod:`course_lib.image_quality`) should be
called a "confidence interval" in the course.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np
import torch

__all__ = ["Interval", "PairedTest", "bootstrap_interval", "bootstrap_values", "percentile_interval",
           "replicate_interval", "sd_interval", "paired_difference", "t_quantile"]


def _fmt(v: float) -> str:
    """4 decimals below 1 (0.0123), 4 significant digits above (24.13), scientific outside [1e-3, 1e5)."""
    if v is None or not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:.4g}"


class Interval(NamedTuple):
    """A point value with an interval: ``value`` (the statistic on the data as observed), ``low``, ``high``,
    ``level`` (e.g. 0.95) and ``method`` (how it was computed, in words: it is printed with the numbers).

    ``str(ci)`` gives ``0.0123 [0.0101, 0.0150] (95% bootstrap over images, B=200)``. ``ci.scaled(1e3)`` multiplies
    value and bounds (for tables in units of 1e-3); ``ci.excludes(0)`` says whether a value lies outside it."""
    value: float
    low: float
    high: float
    level: float
    method: str

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes(self, x: float) -> bool:
        """True when ``x`` lies outside [low, high]."""
        return x < self.low or x > self.high

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def overlaps(self, other: "Interval") -> bool:
        """True when the two intervals share a point. (Non-overlap of two 95% intervals is a stricter rule than a
        test at 5%; overlap does not mean 'no difference'. Compare a difference with its own interval instead.)"""
        return self.low <= other.high and other.low <= self.high

    def scaled(self, factor: float) -> "Interval":
        """The same interval with value and bounds multiplied by ``factor`` (> 0), e.g. ``kid.scaled(1e3)``."""
        if factor <= 0:
            raise ValueError(f"scaled() needs a positive factor, got {factor}")
        return Interval(self.value * factor, self.low * factor, self.high * factor, self.level, self.method)

    def short(self, fmt: Optional[str] = None) -> str:
        """``value [low, high]`` without the method, e.g. for a table cell; ``fmt`` like ``".2f"`` (default: 4
        significant digits)."""
        f = (lambda v: format(v, fmt)) if fmt else _fmt
        return f"{f(self.value)} [{f(self.low)}, {f(self.high)}]"

    def __str__(self) -> str:
        return f"{self.short()} ({self.level:.0%} {self.method})"


class PairedTest(NamedTuple):
    """The paired t-test of ``a - b`` over n paired replicates (e.g. two arms trained on the same seeds).

    ``mean_diff``: mean of a - b; ``low, high``: its t-interval at ``level``; ``t``: the t statistic; ``dof``: n - 1;
    ``p``: two-sided p-value; ``n``: number of pairs; ``method``: the test in words (printed by ``str``)."""
    mean_diff: float
    low: float
    high: float
    t: float
    dof: int
    p: float
    n: int
    method: str
    level: float = 0.95

    @property
    def interval(self) -> Interval:
        return Interval(self.mean_diff, self.low, self.high, self.level, self.method)

    def significant(self, alpha: float = 0.05) -> bool:
        """True when the two-sided p-value is below ``alpha``."""
        return self.p < alpha

    def __str__(self) -> str:
        return (f"mean difference {_fmt(self.mean_diff)} [{_fmt(self.low)}, {_fmt(self.high)}] "
                f"({self.level:.0%} t-interval), t = {self.t:.2f}, dof = {self.dof}, p = {self.p:.3g} ({self.method})")


# ----------------------------------------------------------------------------------------------- helpers
def _check_level(level: float) -> float:
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")
    return level


def _n_rows(x: Any, name: str) -> int:
    if isinstance(x, torch.Tensor) or isinstance(x, np.ndarray):
        if x.ndim == 0:
            raise ValueError(f"{name} must have rows (a first dimension to resample), got a scalar")
        return int(x.shape[0])
    if isinstance(x, (list, tuple)):
        return len(x)
    raise TypeError(f"{name} must be a torch.Tensor, a NumPy array or a list (rows along the first dimension), "
                    f"got {type(x).__name__}")


def _take(x: Any, idx: torch.Tensor) -> Any:
    if isinstance(x, torch.Tensor):
        return x[idx.to(x.device)]
    if isinstance(x, np.ndarray):
        return x[idx.numpy()]
    return [x[i] for i in idx.tolist()]


def _as_float(v: Any, what: str) -> float:
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            raise ValueError(f"{what} must return one number, got a tensor of shape {tuple(v.shape)}")
        v = v.item()
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must return a number, got {type(v).__name__}") from None


def percentile_interval(values: Sequence[float], level: float = 0.95) -> tuple:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of ``values`` (linear interpolation, as
    ``torch.quantile`` and ``numpy.quantile`` default): the percentile bootstrap interval."""
    level = _check_level(level)
    v = torch.as_tensor(np.asarray(values, dtype=np.float64))
    if v.numel() < 2:
        raise ValueError("a percentile interval needs at least 2 values")
    q = torch.quantile(v, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(q[0]), float(q[1])


def bootstrap_values(statistic: Callable[..., Any], *samples: Any, n_boot: int = 200, seed: int = 0,
                     paired: bool = False) -> torch.Tensor:
    """The ``n_boot`` bootstrap replicates of ``statistic(*samples)`` (float64 tensor), as used by
    :func:`bootstrap_interval`: each replicate draws, for each sample, as many rows as it has, uniformly with
    replacement (independently per sample; the same rows of all samples when ``paired``)."""
    if not samples:
        raise ValueError("bootstrap needs at least one sample (rows along the first dimension)")
    n_boot = int(n_boot)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2 (200 or more for a 95% interval), got {n_boot}")
    sizes = [_n_rows(s, f"sample {i}") for i, s in enumerate(samples)]
    if any(n < 2 for n in sizes):
        raise ValueError(f"each sample needs at least 2 rows to resample, got sizes {sizes}")
    if paired and len(set(sizes)) != 1:
        raise ValueError(f"paired=True resamples the same rows of every sample, so they need equal sizes, got {sizes}")
    g = torch.Generator().manual_seed(int(seed))
    out = torch.empty(n_boot, dtype=torch.float64)
    for b in range(n_boot):
        if paired:
            idx = torch.randint(sizes[0], (sizes[0],), generator=g)
            res = [_take(s, idx) for s in samples]
        else:
            res = [_take(s, torch.randint(n, (n,), generator=g)) for s, n in zip(samples, sizes)]
        out[b] = _as_float(statistic(*res), "statistic")
    return out


def bootstrap_interval(statistic: Callable[..., Any], *samples: Any, n_boot: int = 200, level: float = 0.95,
                       seed: int = 0, paired: bool = False, unit: str = "images") -> Interval:
    """Percentile bootstrap interval of ``statistic(*samples)``.

    Args:
        statistic: a function of the samples returning one number (float or 1-element tensor).
        samples: one or more tensors / arrays / lists whose first dimension indexes independent units (images).
        n_boot: bootstrap replicates (200 is enough for a 95% interval to about +-10% of its width; use more for
            a 99% interval).
        level: coverage, e.g. 0.95.
        seed: seed of the resampling (the interval is reproducible).
        paired: False (default) resamples the rows of each sample independently (two independent sets of images,
            e.g. generated vs real); True resamples the same row indices in every sample (the samples are paired
            row by row, e.g. reconstructions and their originals).
        unit: what a row is, for the printed method ("images", "seeds", ...).
    Returns:
        :class:`Interval` with ``value = statistic(*samples)`` on the data as observed.

    The percentile interval is right when the statistic's bootstrap distribution is roughly symmetric around it and
    unbiased; for a biased statistic (the Frechet distance) it describes the spread at this sample size, not the
    limit of infinitely many samples.
    """
    level = _check_level(level)
    value = _as_float(statistic(*samples), "statistic")
    boots = bootstrap_values(statistic, *samples, n_boot=n_boot, seed=seed, paired=paired)
    if not torch.isfinite(boots).all():
        raise ValueError("the statistic returned a non-finite value on a bootstrap resample; make it finite for "
                         "repeated rows (e.g. avoid dividing by a variance that can be 0)")
    low, high = percentile_interval(boots, level)
    method = f"bootstrap over {unit}, B={int(n_boot)}" + (", paired" if paired else "")
    return Interval(value, low, high, level, method)


def t_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``dof`` degrees of freedom (scipy)."""
    from scipy import stats

    return float(stats.t.ppf(p, dof))


def _values(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(v).all():
        raise ValueError(f"{name} must be finite numbers, got {v.tolist()}")
    return v


def replicate_interval(values: Any, level: float = 0.95, unit: str = "replicates") -> Interval:
    """Mean of independent replicates (e.g. one number per training seed) and its Student-t interval,
    ``mean +- t_{(1+level)/2, n-1} * sd / sqrt(n)`` with n - 1 degrees of freedom.

    Refuses fewer than 2 values. The method says how many replicates and degrees of freedom; with 2 replicates the
    95% t quantile is 12.7 (the interval is wide by necessity: run more seeds rather than narrow it by hand)."""
    level = _check_level(level)
    v = _values(values, "values")
    n = v.size
    if n < 2:
        raise ValueError(f"replicate_interval needs at least 2 independent replicates (seeds) to estimate a spread, "
                         f"got {n}; run more seeds, or report the single value without an interval")
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    tq = t_quantile((1 + level) / 2, n - 1)
    half = tq * sd / math.sqrt(n)
    method = f"t-interval over {n} independent {unit} (dof {n - 1}, t = {tq:.2f})"
    return Interval(mean, mean - half, mean + half, level, method)


def sd_interval(values: Any, level: float = 0.95, unit: str = "replicates") -> Interval:
    """Standard deviation (n - 1 in the denominator) of independent replicates and its chi-square interval,
    ``[sd * sqrt((n-1) / chi2_{(1+level)/2, n-1}), sd * sqrt((n-1) / chi2_{(1-level)/2, n-1})]``.

    Use it to judge a spread that is itself estimated from a few runs (e.g. "is the bootstrap's width close to the
    spread of independent replicates?"): with 5 replicates the 95% interval runs from 0.6 to 2.9 times the estimate.
    It assumes the replicates are roughly normal; refuses fewer than 2 values."""
    from scipy import stats

    level = _check_level(level)
    v = _values(values, "values")
    n = v.size
    if n < 2:
        raise ValueError(f"sd_interval needs at least 2 independent replicates to estimate a spread, got {n}")
    sd = float(v.std(ddof=1))
    low = sd * math.sqrt((n - 1) / stats.chi2.ppf((1 + level) / 2, n - 1))
    high = sd * math.sqrt((n - 1) / stats.chi2.ppf((1 - level) / 2, n - 1))
    return Interval(sd, low, high, level, f"chi-square interval of an sd over {n} independent {unit} (dof {n - 1})")


def paired_difference(a: Any, b: Any, level: float = 0.95, unit: str = "seeds") -> PairedTest:
    """Paired t-test of ``a - b`` where ``a[i]`` and ``b[i]`` come from the same replicate ``i`` (the same seed,
    data order and initialisation): mean difference, its t-interval, t = mean / (sd / sqrt(n)), dof = n - 1 and the
    two-sided p-value. With n = 2 there is 1 degree of freedom (the 95% t quantile is 12.7): the method says so.
    Identical differences (sd = 0) give t = +-inf and p = 0 when the mean is not 0."""
    from scipy import stats

    level = _check_level(level)
    av, bv = _values(a, "a"), _values(b, "b")
    if av.size != bv.size:
        raise ValueError(f"a and b must pair up one to one (same seeds), got {av.size} and {bv.size} values")
    n = av.size
    if n < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {n}; run more seeds")
    d = av - bv
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    dof = n - 1
    tq = t_quantile((1 + level) / 2, dof)
    se = sd / math.sqrt(n)
    if se == 0:
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), dof))
    method = f"paired t-test over n={n} {unit}, {dof} degree{'s' if dof != 1 else ''} of freedom, two-sided"
    if dof == 1:
        method += " (with 1 degree of freedom |t| must exceed 12.7 for p < 0.05: run more seeds)"
    return PairedTest(mean, mean - tq * se, mean + tq * se, t, dof, p, n, method, level)
