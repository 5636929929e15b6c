import pytest
import torch

from course_lib.classical import bicubic_upsample, downsample


def test_downsample_is_block_mean():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(downsample(x, 2), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    assert torch.equal(downsample(x, 1), x)
    with pytest.raises(ValueError):
        downsample(torch.rand(1, 1, 28, 28), 3)


def test_bicubic_upsample_shape_range_and_constant():
    x = torch.rand(2, 1, 7, 7)
    y = bicubic_upsample(x, 4)
    assert y.shape == (2, 1, 28, 28) and y.min() >= 0 and y.max() <= 1
    c = torch.full((1, 1, 7, 7), 0.3)
    assert torch.allclose(bicubic_upsample(c, 4), torch.full((1, 1, 28, 28), 0.3), atol=1e-6)


def test_bicubic_beats_nearest_on_a_smooth_image():
    t = torch.linspace(0, 1, 28)
    x = (0.5 + 0.4 * torch.sin(6 * t)[:, None] * torch.cos(5 * t)[None, :]).view(1, 1, 28, 28)
    low = downsample(x, 4)
    nearest = low.repeat_interleave(4, -1).repeat_interleave(4, -2)
    assert (bicubic_upsample(low, 4) - x).pow(2).mean() < (nearest - x).pow(2).mean()
