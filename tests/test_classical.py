"""Classical denoising baselines: the noise is zero-mean, the filters remove noise, the best width is chosen."""
import pytest
import torch

from course_lib.classical import add_gaussian_noise, best_denoiser, gaussian_denoise, median_denoise


def _images(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(8, 1, 4, 4, generator=g)
    return torch.nn.functional.interpolate(x, size=28, mode="bilinear", align_corners=False)  # smooth images


def test_noise_is_zero_mean_even_at_black_and_white():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, :14] = 1.0
    n = add_gaussian_noise(x, 0.3, seed=1) - x
    assert abs(float(n.mean())) < 0.01 and abs(float(n.std()) - 0.3) < 0.01
    assert torch.equal(add_gaussian_noise(x, 0.3, seed=1), add_gaussian_noise(x, 0.3, seed=1))


def test_filters_remove_noise_and_keep_shape():
    x = _images()
    noisy = add_gaussian_noise(x, 0.2, seed=0)
    for out in (gaussian_denoise(noisy, 1.0), median_denoise(noisy, 3)):
        assert out.shape == x.shape
        assert (out - x).pow(2).mean() < 0.5 * (noisy - x).pow(2).mean()
    c = torch.rand(2, 3, 9, 9)
    assert torch.allclose(gaussian_denoise(c, 0), c) and median_denoise(c, 1).equal(c)
    ramp = torch.linspace(0, 1, 9).view(1, 1, 1, 9).expand(1, 1, 9, 9).contiguous()
    assert torch.allclose(gaussian_denoise(ramp, 1.0)[..., 3:-3], ramp[..., 3:-3], atol=1e-5)  # linear preserved


def test_best_denoiser_picks_the_best_width():
    x = _images(1)
    noisy = add_gaussian_noise(x, 0.25, seed=2)
    best = best_denoiser(noisy, x, sigmas=(0.3, 1.0, 3.0), sizes=(3, 5))
    assert set(best) == {"gaussian", "median"}
    from course_lib.classical import _psnr
    for s in (0.3, 1.0, 3.0):
        assert best["gaussian"].psnr >= _psnr(gaussian_denoise(noisy, s).clamp(0, 1), x) - 1e-9
    assert best["gaussian"].psnr > _psnr(noisy, x)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gaussian_denoise(torch.rand(28, 28), 1.0)
    with pytest.raises(ValueError, match="odd"):
        median_denoise(torch.rand(1, 1, 8, 8), 4)
