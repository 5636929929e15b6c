"""Tests for course_lib.augment.diff_augment (DiffAugment, Zhao et al. 2020, arXiv:2006.10738)."""
import pytest
import torch

from course_lib.augment import POLICIES, diff_augment


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_shape_dtype_and_identity():
    x = torch.rand(4, 3, 16, 16)
    for policy in ["color", "translation", "cutout", "color,translation,cutout", "cutout , color"]:
        y = diff_augment(x, policy, generator=_gen())
        assert y.shape == x.shape and y.dtype == x.dtype
        assert not torch.equal(y, x), policy
    assert torch.equal(diff_augment(x, ""), x)
    assert diff_augment(x.double(), generator=_gen()).dtype == torch.float64


def test_reproducible_with_generator_and_random_across_images():
    x = torch.rand(6, 1, 16, 16)
    a = diff_augment(x, generator=_gen(3))
    b = diff_augment(x, generator=_gen(3))
    c = diff_augment(x, generator=_gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # each image gets its own draw: identical inputs come out different
    same = x[:1].expand(6, -1, -1, -1).contiguous()
    y = diff_augment(same, generator=_gen(0))
    assert not all(torch.equal(y[0], y[i]) for i in range(1, 6))


def test_differentiable_every_policy():
    for policy in POLICIES + ("color,translation,cutout",):
        x = torch.rand(3, 3, 12, 12, requires_grad=True)
        y = diff_augment(x, policy, generator=_gen())
        (g,) = torch.autograd.grad((y * torch.randn_like(y)).sum(), x)
        assert torch.isfinite(g).all() and g.abs().sum() > 0, policy


def test_translation_is_an_integer_shift_with_grey_border():
    x = torch.arange(100.0).view(1, 1, 10, 10).repeat(8, 1, 1, 1)
    y = diff_augment(x, "translation", generator=_gen(1))
    for n in range(8):
        found = False
        for dy in range(-1, 2):  # 1/8 of 10 px rounds to 1 px
            for dx in range(-1, 2):
                shifted = torch.full((10, 10), 0.5)
                src = x[n, 0]
                ys, xs = slice(max(dy, 0), 10 + min(dy, 0)), slice(max(dx, 0), 10 + min(dx, 0))
                yt, xt = slice(max(-dy, 0), 10 + min(-dy, 0)), slice(max(-dx, 0), 10 + min(-dx, 0))
                shifted[ys, xs] = src[yt, xt]
                found |= torch.equal(y[n, 0], shifted)
        assert found, f"image {n} is not a shift of at most 1 px with a 0.5 border"
    # and over several images at least one is actually moved
    assert not all(torch.equal(y[n], x[n]) for n in range(8))


def test_cutout_fills_one_rectangle_with_grey_and_keeps_the_rest():
    x = torch.rand(16, 2, 12, 12) * 0.4  # never 0.5 itself
    y = diff_augment(x, "cutout", generator=_gen(2))
    for n in range(16):
        hole = (y[n] == 0.5).all(dim=0)
        assert torch.equal(y[n][:, ~hole], x[n][:, ~hole])
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert hole.sum() == len(rows) * len(cols)  # a rectangle
        assert 0 < len(rows) <= 6 and 0 < len(cols) <= 6  # half of 12, possibly clipped at the border
    full = sum(int((y[n] == 0.5).all(dim=0).sum()) == 36 for n in range(16))
    assert full >= 1  # some holes lie entirely inside the image


def test_color_changes_brightness_and_keeps_grey_images_grey():
    x = torch.rand(64, 1, 8, 8)
    y = diff_augment(x, "color", generator=_gen(5))
    shift = (y.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3)))
    assert shift.abs().max() <= 0.25 + 1e-6 and shift.std() > 0.05  # brightness U(-0.25, 0.25)
    rgb_grey = x.expand(-1, 3, -1, -1).contiguous()
    z = diff_augment(rgb_grey, "color", generator=_gen(5))
    assert torch.allclose(z[:, 0], z[:, 1]) and torch.allclose(z[:, 1], z[:, 2])  # saturation of grey is grey


def test_cpu_generator_with_other_device_images_and_errors():
    x = torch.rand(2, 1, 8, 8)
    diff_augment(x, generator=torch.Generator(device="cpu").manual_seed(0))
    assert diff_augment(torch.rand(0, 1, 8, 8)).shape == (0, 1, 8, 8)
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        diff_augment(x, "colour")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        diff_augment(torch.rand(8, 8))
    with pytest.raises(TypeError):
        diff_augment(torch.zeros(2, 1, 8, 8, dtype=torch.long))
    with pytest.raises(TypeError):
        diff_augment(x, ["color"])
