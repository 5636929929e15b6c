"""Tests for course_lib.metrics against hand-computed values."""
import math

import pytest
import torch

from course_lib.metrics import (
    CodeUsageTracker,
    bits_per_image,
    code_histogram,
    code_usage,
    codes_used,
    dead_code_fraction,
    nmse,
    perplexity,
    psnr,
    sharpness,
)


def test_histogram_used_dead():
    idx = torch.tensor([[0, 0, 2], [2, 2, 3]])
    assert code_histogram(idx, 5).tolist() == [2, 0, 3, 1, 0]
    assert codes_used(idx, 5) == 3
    assert dead_code_fraction(idx, 5) == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        code_histogram(idx, 3)
    with pytest.raises(TypeError):
        code_histogram(idx.float(), 5)


def test_code_usage_summary():
    u = code_usage(torch.tensor([0, 0, 1, 2]), 8)
    assert u.used == 3 and u.dead_fraction == pytest.approx(5 / 8) and u.perplexity == pytest.approx(2**1.5)
    assert u.counts.tolist() == [2, 1, 1, 0, 0, 0, 0, 0]
    t = CodeUsageTracker(8).update(torch.tensor([0, 0])).update(torch.tensor([1, 2]))
    assert t.summary().perplexity == pytest.approx(u.perplexity) and t.summary().used == 3


def test_perplexity_hand_computed():
    assert perplexity(torch.arange(8), 8) == pytest.approx(8.0)
    assert perplexity(torch.zeros(10, dtype=torch.long), 8) == pytest.approx(1.0)
    # p = (1/2, 1/4, 1/4): H = 1.5 ln 2, perplexity = 2^1.5
    idx = torch.tensor([0, 0, 1, 2])
    assert perplexity(idx, 4) == pytest.approx(2**1.5)
    assert perplexity(code_histogram(idx, 4)) == pytest.approx(2**1.5)  # counts work too
    assert perplexity(torch.tensor([2, 1, 1, 0]), counts=True) == pytest.approx(2**1.5)
    with pytest.raises(ValueError):
        perplexity(torch.tensor([0, 1]))  # indices without num_codes


def test_tracker_accumulates_over_batches():
    t = CodeUsageTracker(16)
    for b in range(4):  # each batch uses 4 codes; together all 16
        idx = torch.arange(4 * b, 4 * b + 4)
        assert perplexity(idx, 16) == pytest.approx(4.0)
        t.update(idx)
    assert t.total == 16 and t.used() == 16
    assert t.perplexity() == pytest.approx(16.0) and t.dead_fraction() == 0.0
    assert "used=16" in repr(t)
    t.reset()
    assert t.total == 0 and t.dead_fraction() == 1.0


def test_bits_per_image():
    assert bits_per_image(8, 8, 512) == 8 * 8 * 9
    # a fixed-length index into 1000 codes needs 10 whole bits, not log2(1000) = 9.97
    assert bits_per_image(7, 7, 1000) == 49 * 10
    assert bits_per_image(7, 7, 1000, fixed_length=False) == pytest.approx(49 * math.log2(1000))
    assert bits_per_image(4, 6, 3) == 24 * 2 and bits_per_image(1, 1, 1) == 0.0
    for k in (2, 4, 1024, 2**20):  # exact powers of two are not rounded up by float error
        assert bits_per_image(1, 1, k) == math.log2(k)
    with pytest.raises(ValueError):
        bits_per_image(0, 7, 512)


def test_psnr_and_nmse():
    x = torch.zeros(2, 1, 4, 4)
    y = x.clone()
    y[0] += 0.1  # MSE 0.01 -> 20 dB
    y[1] += 0.01  # MSE 1e-4 -> 40 dB
    assert psnr(x, y, reduction="none").tolist() == pytest.approx([20.0, 40.0], abs=1e-4)
    assert psnr(x, y) == pytest.approx(30.0, abs=1e-4)
    assert psnr(x, y, data_range=2.0) == pytest.approx(30.0 + 20 * math.log10(2), abs=1e-4)
    data = torch.tensor([[0.0, 1.0, 0.0, 1.0]])  # variance (unbiased) 1/3
    assert nmse(data, data.mean().expand_as(data)) == pytest.approx(0.25 / (1 / 3))
    assert nmse(data, data + 0.1, data_variance=0.5) == pytest.approx(0.01 / 0.5)
    with pytest.raises(ValueError):
        psnr(x, y[:1])


def test_sharpness():
    flat = torch.full((1, 1, 5, 5), 0.5)
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 5, 5) * 0.1  # dx = 0.1, dy = 0
    checker = ((torch.arange(5)[:, None] + torch.arange(5)[None]) % 2).float().view(1, 1, 5, 5)  # |dx|=|dy|=1
    s = sharpness(torch.cat([flat, ramp, checker]))
    assert s.tolist() == pytest.approx([0.0, 0.1, math.sqrt(2)], abs=1e-6)
    blurred = torch.nn.functional.avg_pool2d(checker, 3, 1, 1)
    assert sharpness(blurred)[0] < s[2]
