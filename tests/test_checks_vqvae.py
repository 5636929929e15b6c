"""Notebook 04's checks (bits per image, perplexity): right answers in every numeric form pass, the visible and the
hidden (seeded) variants both run, and the wrong answers named in issue 11 are rejected with a specific hint."""
import math

import numpy as np
import pytest
import torch

from course_lib import metrics
from course_lib.checks import CheckFailed
from course_lib.checks import vqvae as V


def stub(*args, **kwargs):
    raise NotImplementedError()


def rejects(check, fn, match, **kwargs):
    with pytest.raises(CheckFailed, match=match):
        check(fn, **kwargs)


# ------------------------------------------------------------------------------------------------- bits
def test_reference_bits_is_fixed_length_and_matches_metrics():
    assert V.reference_bits_per_image(7, 7, 512) == metrics.bits_per_image(7, 7, 512) == 441.0
    assert V.reference_bits_per_image(8, 8, 1000) == metrics.bits_per_image(8, 8, 1000) == 640.0  # 10 bits, not 9.97
    for seed in (None, 0, 7, 123):
        for h, w, k in V._bits_cases(seed):
            assert V.reference_bits_per_image(h, w, k) == metrics.bits_per_image(h, w, k)


def test_hidden_bits_cases_include_non_powers_of_two():
    for seed in (1, 7, 99):
        ks = [k for _, _, k in V._bits_cases(seed)]
        assert any(k & (k - 1) for k in ks), ks  # at least one K that is not a power of two
        assert any(not k & (k - 1) for k in ks), ks
        assert V._bits_cases(seed) != V._bits_cases(None)


RIGHT_BITS = [
    V.reference_bits_per_image,
    lambda h, w, k: h * w * math.ceil(math.log2(k)),  # an int
    lambda h, w, k: h * w * (k - 1).bit_length(),
    lambda h, w, k: np.float32(h * w * np.ceil(np.log2(k))),  # a NumPy float32 scalar
    lambda h, w, k: np.int64(h) * w * int(np.ceil(np.log2(k))),  # a NumPy int64
    lambda h, w, k: torch.tensor(float(h * w), dtype=torch.float32) * math.ceil(math.log2(k)),  # a 0-d tensor
]


@pytest.mark.parametrize("right", RIGHT_BITS)
@pytest.mark.parametrize("seed", [None, 7])
def test_bits_accepts_ceil_answers_in_every_form(right, seed, capsys):
    V.check_bits_per_image(right, seed=seed)
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, match", [
    (stub, "not implemented"),
    (lambda h, w, k: h * w * math.log2(k), "exact log2"),  # what the old check demanded (issue 11)
    (lambda h, w, k: h * w * int(math.log2(k)), "rounded log2\\(num_codes\\) down"),
    (lambda h, w, k: h * w * round(math.log2(k)), "rounded log2\\(num_codes\\) down"),
    (lambda h, w, k: h * w * k.bit_length(), "bit_length"),
    (lambda h, w, k: h * w * math.log(k), "natural log"),
    (lambda h, w, k: h * w * math.ceil(math.log(k)), "natural log"),
    (lambda h, w, k: math.ceil(math.log2(k)), "ONE index"),
    (lambda h, w, k: h * math.ceil(math.log2(k)), "one side"),
    (lambda h, w, k: h * w * k, "one-hot"),
    (lambda h, w, k: h * w * math.ceil(math.log2(k)) / 8, "bytes"),
    (lambda h, w, k: h * w * math.ceil(math.log2(k)) + 1, "differs|is "),
    ("not a function", "expected a function"),
])
@pytest.mark.parametrize("seed", [None, 7])
def test_bits_rejects(wrong, match, seed):
    rejects(V.check_bits_per_image, wrong, match, seed=seed)


def test_bits_hidden_case_catches_a_power_of_two_only_answer():
    """An answer right only for powers of two (hard-coded log2) passes no seed's cases."""
    def only_pow2(h, w, k):
        return h * w * math.log2(k)
    for seed in (1, 2, 3):
        rejects(V.check_bits_per_image, only_pow2, "exact log2", seed=seed)


# ------------------------------------------------------------------------------------------ perplexity
def _float32_perplexity(idx, k):
    counts = torch.bincount(idx.reshape(-1), minlength=k).float()
    p = counts / counts.sum()
    return torch.exp(-torch.special.xlogy(p, p).sum())  # a 0-d float32 tensor


def _numpy_perplexity(idx, k):
    c = np.bincount(idx.reshape(-1).numpy(), minlength=k).astype(np.float32)
    p = c[c > 0] / c.sum()
    return np.exp(-(p * np.log(p)).sum())  # a NumPy float32 scalar


def _base2_perplexity(idx, k):
    c = torch.bincount(idx.reshape(-1), minlength=k).double()
    p = c[c > 0] / c.sum()
    return float(2 ** (-(p * torch.log2(p)).sum()))


@pytest.mark.parametrize("right", [V.reference_perplexity, _float32_perplexity, _numpy_perplexity, _base2_perplexity,
                                   lambda idx, k: metrics.perplexity(idx, k)])
@pytest.mark.parametrize("seed", [0, 7])
def test_perplexity_accepts_right_answers(right, seed, capsys):
    V.check_perplexity(right, seed=seed)
    assert "Check passed" in capsys.readouterr().out


def _nan_perplexity(idx, k):
    p = torch.bincount(idx.reshape(-1), minlength=k).double()
    p = p / p.sum()
    return float(torch.exp(-(p * torch.log(p)).sum()))


def _first_image_only(idx, k):
    return V.reference_perplexity(idx[0], k)


@pytest.mark.parametrize("wrong, match", [
    (stub, "not implemented"),
    (_nan_perplexity, "0 \\* log\\(0\\)"),
    (V._entropy_nats, "returned the entropy"),
    (V._entropy_bits, "entropy in bits"),
    (V._log2_then_exp, "mixed log bases"),
    (V._unnormalised, "forgot to normalise"),
    (V._unnormalised_mean, "divided the counts by num_codes"),
    (V._per_image_mean, "per-image"),
    (V._codes_used, "distinct codes"),
    (_first_image_only, "differs|is "),
])
@pytest.mark.parametrize("seed", [0, 7])
def test_perplexity_rejects(wrong, match, seed):
    rejects(V.check_perplexity, wrong, match, seed=seed)


def test_perplexity_hidden_seed_uses_other_inputs():
    a, _ = V._perplexity_inputs(0)
    b, _ = V._perplexity_inputs(21, (3, 5, 4))
    assert a.shape != b.shape


def test_perplexity_hidden_case_catches_a_hard_coded_answer():
    """A function that returns the visible case's number passes seed 0's first input only."""
    idx, k = V._perplexity_inputs(0)
    visible = V.reference_perplexity(idx, k)
    with pytest.raises(CheckFailed):
        V.check_perplexity(lambda i, kk: visible, seed=7)
