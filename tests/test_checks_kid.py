"""check_kid (notebook 06, exercise 1): the unbiased squared MMD with the cubic kernel of Binkowski et al. (2018)."""
import numpy as np
import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks.kid import check_kid, kid_reference
from course_lib.image_quality import kernel_distance, kid_all_pairs


def stub(*args, **kwargs):
    raise NotImplementedError()


def solution(fx, fy):
    d, m, n = fx.shape[1], len(fx), len(fy)
    kxx, kyy, kxy = (fx @ fx.T / d + 1) ** 3, (fy @ fy.T / d + 1) ** 3, (fx @ fy.T / d + 1) ** 3
    return (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) \
        - 2 * kxy.mean()


def test_reference_is_the_library_estimator_and_the_subset_average_agrees():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 8, generator=g), torch.randn(50, 8, generator=g) + 0.5
    assert kid_reference(x, y) == pytest.approx(kid_all_pairs(x, y))
    assert float(solution(x.double(), y.double())) == pytest.approx(kid_all_pairs(x, y), rel=1e-9)
    # one subset holding every row (equal sizes) is the all-pairs estimate
    x2, y2 = x[:50], y
    assert kernel_distance(x2, y2, subsets=1, subset_size=50, n_boot=0).mean == pytest.approx(kid_all_pairs(x2, y2))


def test_check_accepts_right_answers_written_differently(capsys):
    check_kid(solution)
    check_kid(lambda fx, fy: float(solution(fx.double(), fy.double())))              # a Python float
    check_kid(lambda fx, fy: np.float32(solution(fx, fy).item()))                       # a NumPy scalar

    def numpy_version(fx, fy):
        a, b = fx.numpy().astype(np.float64), fy.numpy().astype(np.float64)
        d = a.shape[1]
        kxx, kyy, kxy = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
        np.fill_diagonal(kxx, 0)
        np.fill_diagonal(kyy, 0)
        return kxx.sum() / (len(a) * (len(a) - 1)) + kyy.sum() / (len(b) * (len(b) - 1)) - 2 * kxy.mean()
    check_kid(numpy_version)
    check_kid(solution, seed=3, cases=((20, 33, 5), (50, 45, 32)))                      # the hidden case
    assert capsys.readouterr().out.count("kid:") >= 4


def _k(fx, fy, scale=None, power=3):
    fx, fy = fx.double(), fy.double()
    s = fx.shape[1] if scale is None else scale
    return (fx @ fx.T / s + 1) ** power, (fy @ fy.T / s + 1) ** power, (fx @ fy.T / s + 1) ** power


def _offdiag(k):
    return k.sum() - k.diagonal().sum()


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (stub, "not implemented"),
        # the biased estimator: the diagonal kept
        (lambda fx, fy: sum(k.mean() * c for k, c in zip(_k(fx, fy), (1, 1, -2))), "BIASED"),
        # the wrong kernel normalisation: x.y instead of x.y / d, or / sqrt(d)
        (lambda fx, fy: (lambda kxx, kyy, kxy: _offdiag(kxx) / (len(fx) * (len(fx) - 1))
                         + _offdiag(kyy) / (len(fy) * (len(fy) - 1)) - 2 * kxy.mean())(*_k(fx, fy, scale=1.0)),
         "not normalised by the feature dimension"),
        (lambda fx, fy: (lambda kxx, kyy, kxy: _offdiag(kxx) / (len(fx) * (len(fx) - 1))
                         + _offdiag(kyy) / (len(fy) * (len(fy) - 1)) - 2 * kxy.mean())(*_k(fx, fy, scale=fx.shape[1] ** 0.5)),
         "sqrt"),
        # the sign of the cross term, or of the whole
        (lambda fx, fy: (lambda kxx, kyy, kxy: _offdiag(kxx) / (len(fx) * (len(fx) - 1))
                         + _offdiag(kyy) / (len(fy) * (len(fy) - 1)) + 2 * kxy.mean())(*_k(fx, fy)), "SUBTRACTED"),
        (lambda fx, fy: -solution(fx, fy), "sign is flipped"),
        # other slips
        (lambda fx, fy: (lambda kxx, kyy, kxy: _offdiag(kxx) / len(fx) ** 2 + _offdiag(kyy) / len(fy) ** 2
                         - 2 * kxy.mean())(*_k(fx, fy)), "m \\(m - 1\\) pairs"),
        (lambda fx, fy: (lambda kxx, kyy, kxy, m: _offdiag(kxx) / (m * (m - 1)) + _offdiag(kyy) / (m * (m - 1))
                         - 2 * kxy.sum() / m ** 2)(*_k(fx, fy), len(fx)), "may differ in size"),
        (lambda fx, fy: solution(fx, fy).clamp_min(0).sqrt(), "square root"),
        (lambda fx, fy: torch.ones(3), "one number"),
    ],
)
def test_check_rejects_named_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_kid(wrong)


def test_hidden_case_rejects_the_biased_estimator():
    with pytest.raises(CheckFailed, match="BIASED"):
        check_kid(lambda fx, fy: sum(k.mean() * c for k, c in zip(_k(fx, fy), (1, 1, -2))), seed=3,
                  cases=((20, 33, 5), (50, 45, 32)))


def test_a_wrong_answer_falls_back_to_the_reference_in_later_cells(capsys):
    """After check_kid rejects an answer, solved_or_reference uses the library's estimator (not the wrong one)."""
    from course_lib.checks import solved_or_reference

    def biased(fx, fy):
        return sum(k.mean() * c for k, c in zip(_k(fx, fy), (1, 1, -2)))

    with pytest.raises(CheckFailed):
        check_kid(biased)
    kid = solved_or_reference(biased, kid_all_pairs, "kid")
    x, y = torch.randn(20, 4), torch.randn(25, 4)
    assert float(kid(x, y)) == pytest.approx(kid_all_pairs(x, y))
    assert "does not pass its check" in capsys.readouterr().out
