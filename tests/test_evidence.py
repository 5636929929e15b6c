"""course_lib.evidence: bootstrap and t intervals, the paired t-test; hand-computed cases and coverage on known answers
(fixed seeds: deterministic, never flaky)."""
import math

import numpy as np
import pytest
import torch

from course_lib.evidence import (Interval, PairedTest, bootstrap_interval, bootstrap_values, paired_difference,
                                 percentile_interval, replicate_interval, sd_interval, t_quantile)


def test_interval_str_and_helpers():
    ci = Interval(0.0123, 0.0101, 0.0150, 0.95, "bootstrap over images, B=200")
    assert str(ci) == "0.0123 [0.0101, 0.0150] (95% bootstrap over images, B=200)"
    assert ci.contains(0.012) and ci.excludes(0.0) and not ci.excludes(0.011)
    assert ci.half_width == pytest.approx(0.00245)
    s = ci.scaled(1e3)
    assert (s.value, s.low, s.high) == pytest.approx((12.3, 10.1, 15.0)) and s.method == ci.method
    assert ci.short(".2f") == "0.01 [0.01, 0.01]"
    assert ci.overlaps(Interval(0.015, 0.015, 0.02, 0.95, "x")) and not ci.overlaps(Interval(0.02, 0.016, 0.03, 0.95, "x"))
    assert str(Interval(24.13, 23.9, 24.4, 0.9, "t")) == "24.13 [23.9, 24.4] (90% t)"
    with pytest.raises(ValueError):
        ci.scaled(0)


def test_percentile_interval_hand_computed():
    # quantiles 0.025 and 0.975 of 0..100 by linear interpolation are 2.5 and 97.5
    assert percentile_interval(list(range(101)), 0.95) == pytest.approx((2.5, 97.5))
    assert percentile_interval(np.arange(11.0), 0.8) == pytest.approx((1.0, 9.0))
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile_interval([1.0, 2.0], 95)


def test_bootstrap_interval_value_method_and_reproducible():
    x = torch.arange(10.0)
    ci = bootstrap_interval(lambda a: a.mean(), x, n_boot=100, seed=3)
    assert ci.value == 4.5 and ci.low < 4.5 < ci.high and ci.level == 0.95
    assert ci.method == "bootstrap over images, B=100"
    assert ci == bootstrap_interval(lambda a: a.mean(), x, n_boot=100, seed=3)
    assert ci != bootstrap_interval(lambda a: a.mean(), x, n_boot=100, seed=4)
    # a constant sample has a degenerate interval
    c = bootstrap_interval(lambda a: a.mean(), torch.full((7,), 2.0), n_boot=50)
    assert c.low == c.high == c.value == 2.0
    # NumPy arrays and lists work too
    assert bootstrap_interval(np.mean, np.arange(10.0), n_boot=100, seed=3).low == pytest.approx(ci.low)
    assert bootstrap_interval(lambda a: sum(a) / len(a), list(range(10)), n_boot=100, seed=3).low == pytest.approx(ci.low)


def test_bootstrap_resamples_each_sample_independently_or_paired():
    seen = []

    def spy(a, b):
        seen.append((a.clone(), b.clone()))
        return 0.0

    a, b = torch.arange(20.0), torch.arange(100.0, 120.0)
    bootstrap_values(spy, a, b, n_boot=30)
    assert all(len(x) == 20 and len(y) == 20 for x, y in seen)
    assert any(len(set(x.tolist())) < 20 for x, _ in seen)                    # with replacement
    assert any(not torch.equal(x, y - 100) for x, y in seen)                 # independent rows
    seen.clear()
    bootstrap_values(spy, a, b, n_boot=30, paired=True)
    assert all(torch.equal(x, y - 100) for x, y in seen)                     # the same rows
    with pytest.raises(ValueError, match="equal sizes"):
        bootstrap_values(spy, a, b[:5], paired=True)
    assert "paired" in bootstrap_interval(lambda a, b: (a - b).mean(), a, b, paired=True, n_boot=20).method


def test_bootstrap_bad_input():
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_interval(lambda a: a.mean(), torch.rand(5), n_boot=1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        bootstrap_interval(lambda a: a.mean(), torch.rand(1))
    with pytest.raises(ValueError, match="one number"):
        bootstrap_interval(lambda a: a, torch.rand(5))
    with pytest.raises(TypeError, match="rows along the first"):
        bootstrap_interval(lambda a: 0.0, 3.0)


def test_bootstrap_coverage_of_a_known_mean():
    """The percentile bootstrap of a mean of n=40 normal values covers the true mean close to 95% of the time."""
    g = torch.Generator().manual_seed(0)
    hits = 0
    reps = 200
    for r in range(reps):
        x = 1.0 + torch.randn(40, generator=g, dtype=torch.float64)
        ci = bootstrap_interval(lambda a: a.mean(), x, n_boot=200, seed=r)
        hits += ci.contains(1.0)
    assert 0.88 <= hits / reps <= 0.99, hits / reps


def test_replicate_interval_hand_computed_and_refusals():
    ci = replicate_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, t_{0.975, 2} = 4.302653: half width 4.302653 / sqrt(3) = 2.484138
    assert ci.value == 2.0 and ci.high - 2 == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert "3 independent replicates" in ci.method and "dof 2" in ci.method
    assert replicate_interval(torch.tensor([1.0, 3.0])).high == pytest.approx(2 + 12.706205, rel=1e-6)
    with pytest.raises(ValueError, match="at least 2 independent"):
        replicate_interval([1.0])
    with pytest.raises(ValueError, match="finite"):
        replicate_interval([1.0, float("nan")])


def test_replicate_interval_coverage_is_exact_for_normal_data():
    rng = np.random.default_rng(1)
    reps = 2000
    hits = sum(replicate_interval(rng.normal(5.0, 2.0, size=4)).contains(5.0) for _ in range(reps))
    assert 0.93 <= hits / reps <= 0.97, hits / reps


def test_sd_interval_hand_computed_coverage_and_refusals():
    ci = sd_interval([1.0, 2.0, 3.0])
    # sd 1, dof 2: chi2_{0.975, 2} = 7.377759, chi2_{0.025, 2} = 0.050636
    assert ci.value == 1.0
    assert ci.low == pytest.approx(math.sqrt(2 / 7.377759), rel=1e-6)
    assert ci.high == pytest.approx(math.sqrt(2 / 0.050636), rel=1e-4)
    assert "3 independent replicates" in ci.method and "dof 2" in ci.method
    rng = np.random.default_rng(2)
    hits = sum(sd_interval(rng.normal(0.0, 3.0, size=5)).contains(3.0) for _ in range(2000))
    assert 0.93 <= hits / 2000 <= 0.97, hits / 2000
    with pytest.raises(ValueError, match="at least 2 independent"):
        sd_interval([4.0])


def test_paired_difference_hand_computed():
    a, b = [3.0, 4.0, 6.0], [1.0, 3.0, 3.0]          # differences 2, 1, 3: mean 2, sd 1
    r = paired_difference(a, b)
    assert isinstance(r, PairedTest)
    assert r.mean_diff == 2.0 and r.dof == 2 and r.n == 3
    assert r.t == pytest.approx(2 / (1 / math.sqrt(3)))
    from scipy import stats
    assert r.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert r.low == pytest.approx(2 - t_quantile(0.975, 2) / math.sqrt(3))
    assert "2 degrees of freedom" in r.method and "two-sided" in r.method
    assert "dof = 2" in str(r)
    assert r.interval.contains(2.0)


def test_paired_difference_with_two_seeds_says_one_degree_of_freedom():
    r = paired_difference(np.array([1.0, 1.2]), torch.tensor([0.0, 0.1]))
    assert r.dof == 1 and "1 degree of freedom" in r.method and "12.7" in r.method
    same = paired_difference([1.0, 2.0], [0.5, 1.5])     # identical differences: sd 0
    assert same.t == math.inf and same.p == 0.0 and same.low == same.high == 0.5
    with pytest.raises(ValueError, match="pair up"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_difference([1.0], [2.0])
