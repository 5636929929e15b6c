"""The check of notebook 10 (bootstrap interval of KID) rejects the stub and each named mistake, accepts right
answers written differently, and the reference equals the library's estimator on real features."""
import numpy as np
import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks.judging import check_bootstrap_kid, reference_bootstrap_kid


def stub(kid_of_rows, n_a, n_b, n_boot=200, level=0.95, generator=None):
    raise NotImplementedError()


def make(draw_a, draw_b, quantiles=None, value=None, size=lambda n: n, loop_draw=True):
    """A bootstrap_kid built from parts, to write the mistakes compactly."""

    def fn(kid_of_rows, n_a, n_b, n_boot=200, level=0.95, generator=None):
        v = kid_of_rows(torch.arange(n_a), torch.arange(n_b)) if value is None else value(kid_of_rows, n_a, n_b)
        boots = []
        fixed = (draw_a(n_a, size(n_a), generator), draw_b(n_b, size(n_b), generator, None))
        for _ in range(n_boot):
            ra = draw_a(n_a, size(n_a), generator) if loop_draw else fixed[0]
            rb = draw_b(n_b, size(n_b), generator, ra) if loop_draw else fixed[1]
            boots.append(kid_of_rows(ra, rb))
        b = torch.tensor(boots, dtype=torch.float64)
        if quantiles is None:
            lo, hi = torch.quantile(b, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
        else:
            lo, hi = quantiles(b, level)
        return v, lo, hi

    return fn


with_repl = lambda n, k, g: torch.randint(n, (k,), generator=g)                 # noqa: E731
with_repl_b = lambda n, k, g, ra: torch.randint(n, (k,), generator=g)          # noqa: E731
perm = lambda n, k, g: torch.randperm(n, generator=g)[:k]                       # noqa: E731


def test_reference_and_equivalent_answers_pass(capsys):
    check_bootstrap_kid(reference_bootstrap_kid)
    check_bootstrap_kid(reference_bootstrap_kid, seed=5, level=0.9)            # the hidden tests' cases

    def numpy_version(kid_of_rows, n_a, n_b, n_boot=200, level=0.95, generator=None):
        rng = np.random.default_rng(0)
        value = kid_of_rows(np.arange(n_a), np.arange(n_b))
        vals = [kid_of_rows(rng.integers(0, n_a, n_a), rng.choice(n_b, size=n_b, replace=True)) for _ in range(n_boot)]
        low, high = np.percentile(vals, [50 * (1 - level), 50 * (1 + level)])
        return np.float64(value), low, high

    def sorted_index_version(kid_of_rows, n_a, n_b, n_boot=200, level=0.95, generator=None):
        value = torch.tensor(kid_of_rows(torch.arange(n_a), torch.arange(n_b)))
        vals = sorted(kid_of_rows(torch.multinomial(torch.ones(n_a), n_a, replacement=True),
                                  torch.randint(0, n_b, (n_b,))) for _ in range(n_boot))
        return value, vals[int((1 - level) / 2 * n_boot)], vals[int((1 + level) / 2 * n_boot) - 1]

    def returns_interval(kid_of_rows, n_a, n_b, n_boot=200, level=0.95, generator=None):
        from course_lib.evidence import Interval
        v, lo, hi = reference_bootstrap_kid(kid_of_rows, n_a, n_b, n_boot, level, generator)
        return Interval(v, lo, hi, level, "bootstrap")

    for fn in (numpy_version, sorted_index_version, returns_interval):
        check_bootstrap_kid(fn)
    assert capsys.readouterr().out.count("Check passed") >= 4


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (make(with_repl, lambda n, k, g, ra: torch.arange(n)), "only set A is resampled"),
    (make(lambda n, k, g: torch.arange(n), with_repl_b), "only set B is resampled"),
    (make(perm, lambda n, k, g, ra: torch.randperm(n, generator=g)), "without replacement"),
    (make(with_repl, lambda n, k, g, ra: torch.randperm(n, generator=g)), "set B is drawn without replacement"),
    (make(with_repl, with_repl_b, quantiles=lambda b, lv: torch.quantile(b, torch.tensor([lv / 2, 1 - lv / 2], dtype=b.dtype))),
     "tails"),
    (make(with_repl, with_repl_b, quantiles=lambda b, lv: torch.quantile(b, torch.tensor([1 - lv, lv], dtype=b.dtype))),
     "level quantiles"),
    (make(with_repl, with_repl_b, quantiles=lambda b, lv: (b.mean() - 1.96 * b.std(), b.mean() + 1.96 * b.std())),
     "normal approximation"),
    (make(with_repl, with_repl_b, quantiles=lambda b, lv: (b.min(), b.max())), "quantiles"),
    (make(with_repl, with_repl_b, size=lambda n: n // 2), "as many rows as the set has"),
    (make(with_repl, lambda n, k, g, ra: ra), "same row indices are used for both sets"),
    (make(with_repl, with_repl_b, loop_draw=False), "every resample is the same"),
    (make(with_repl, with_repl_b, value=lambda kid, n_a, n_b: kid(torch.randint(n_a, (n_a,)), torch.randint(n_b, (n_b,)))),
     "whole sets"),
])
def test_named_mistakes_are_rejected(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_bootstrap_kid(wrong)


def test_wrong_return_type_is_explained():
    with pytest.raises(CheckFailed, match=r"\(value, low, high\)"):
        check_bootstrap_kid(lambda kid, n_a, n_b, n_boot=200, level=0.95, generator=None: (1.0, 2.0))


def test_reference_with_the_library_statistic_matches_the_library_interval():
    """On real features, the reference loop around kid_on_rows agrees with kernel_distance's bootstrap (both
    resample images from both sets and skip self-copy pairs) to within Monte Carlo noise."""
    from course_lib.image_quality import kernel_distance, kid_all_pairs, kid_on_rows
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(120, 8, generator=g), torch.randn(100, 8, generator=g) + 0.3
    kid = kid_on_rows(a, b)
    assert kid(torch.arange(120), torch.arange(100)) == pytest.approx(kid_all_pairs(a, b), rel=1e-10)
    v, lo, hi = reference_bootstrap_kid(kid, 120, 100, n_boot=400, generator=torch.Generator().manual_seed(1))
    lib = kernel_distance(a, b, n_boot=400)
    width = lib.high - lib.low
    assert abs(lo - lib.low) < 0.25 * width and abs(hi - lib.high) < 0.25 * width
    with pytest.raises(ValueError, match="row indices"):
        kid(torch.tensor([0, 200]), torch.arange(100))


def test_a_wrong_answer_falls_back_to_the_reference_in_later_cells(capsys):
    from course_lib.checks import solved_or_reference

    def only_a(kid_of_rows, n_a, n_b, n_boot=200, level=0.95, generator=None):
        value = kid_of_rows(torch.arange(n_a), torch.arange(n_b))
        vals = [kid_of_rows(torch.randint(n_a, (n_a,)), torch.arange(n_b)) for _ in range(n_boot)]
        lo, hi = np.quantile(vals, [0.025, 0.975])
        return value, lo, hi

    with pytest.raises(CheckFailed):
        check_bootstrap_kid(only_a)
    fn = solved_or_reference(only_a, reference_bootstrap_kid, "bootstrap_kid")
    calls = []
    fn(lambda ra, rb: calls.append(rb.clone()) or 0.0, 5, 6, n_boot=10)
    assert any(not torch.equal(rb, torch.arange(6)) for rb in calls[1:])      # the reference resamples set B too
    assert "does not pass its check" in capsys.readouterr().out
