"""The strongest classical baselines (course_lib.classical): the scikit-image wrappers equal direct scikit-image calls,
the hand-written harmonic fill and back-projection pass hand-computed cases, and every method is tuned the same way."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import restoration

from course_lib import classical as C


def _blocks(n=6, c=1, size=28, seed=0):
    """Piecewise-constant images (7x7 blocks of 4x4 pixels)."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, c, size // 4, size // 4, generator=g), size=size, mode="nearest")


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tv_and_nlm_equal_direct_scikit_image_calls(c, dtype):
    x = C.add_gaussian_noise(_blocks(n=2, c=c), 0.1, seed=1).to(dtype)
    ca = None if c == 1 else -1
    tv, nlm = C.tv_denoise(x, 0.07), C.nl_means_denoise(x, 0.08)
    assert tv.dtype == dtype and nlm.dtype == dtype and tv.shape == x.shape
    for i in range(2):
        img = x[i, 0].double().numpy() if c == 1 else x[i].double().permute(1, 2, 0).numpy()
        ref_tv = restoration.denoise_tv_chambolle(img, weight=0.07, channel_axis=ca)
        ref_nlm = restoration.denoise_nl_means(img, patch_size=5, patch_distance=6, h=0.08, fast_mode=True,
                                               channel_axis=ca)
        got_tv = tv[i, 0].double().numpy() if c == 1 else tv[i].double().permute(1, 2, 0).numpy()
        got_nlm = nlm[i, 0].double().numpy() if c == 1 else nlm[i].double().permute(1, 2, 0).numpy()
        tol = 1e-12 if dtype == torch.float64 else 1e-6
        np.testing.assert_allclose(got_tv, ref_tv, atol=tol)
        np.testing.assert_allclose(got_nlm, ref_nlm, atol=tol)


def test_denoise_clips_and_refuses_unknown_methods():
    x = C.add_gaussian_noise(_blocks(n=2), 0.3, seed=2)
    for m, p in (("gaussian", 1.0), ("median", 3), ("tv", 0.1), ("nlm", 0.1)):
        out = C.denoise(m, x, p)
        assert out.min() >= 0 and out.max() <= 1 and out.shape == x.shape
    with pytest.raises(ValueError, match="unknown denoiser"):
        C.denoise("bm3d", x, 1.0)
    with pytest.raises(TypeError, match="float images"):
        C.tv_denoise((x * 255).to(torch.uint8), 0.1)


def test_tuning_picks_the_best_grid_value_on_validation_only():
    clean_val, clean_test = _blocks(seed=3), _blocks(seed=4)
    noisy_val, noisy_test = C.add_gaussian_noise(clean_val, 0.1, seed=5), C.add_gaussian_noise(clean_test, 0.1, seed=6)
    t = C.tune_denoiser("tv", noisy_val, clean_val, grid=(0.01, 0.05, 0.1, 0.5))
    assert t.param == max(t.scores, key=t.scores.get) and t.val_psnr == max(t.scores.values())
    from course_lib.metrics import psnr
    assert t.scores[0.05] == pytest.approx(psnr(C.denoise("tv", noisy_val, 0.05), clean_val))
    with pytest.warns(UserWarning, match="end of its grid"):
        C.tune_denoiser("gaussian", noisy_val, clean_val, grid=(3.0, 4.0, 5.0))
    rows = C.classical_denoisers(noisy_test, clean_test, noisy_val, clean_val, methods=("gaussian", "tv"),
                                 grids={"gaussian": (0.2, 0.5, 1.0, 1.5, 3.0), "tv": (0.02, 0.05, 0.1, 0.2)})
    assert [r.parameter for r in rows] == ["sigma", "weight"] and len(C.BASELINE_HEADERS) == len(rows[0])
    tv_param = C.tune_denoiser("tv", noisy_val, clean_val, grid=(0.02, 0.05, 0.1, 0.2)).param
    assert rows[1].value == tv_param
    assert rows[1].psnr == pytest.approx(psnr(C.denoise("tv", noisy_test, tv_param), clean_test))
    assert rows[1].psnr > rows[0].psnr   # piecewise-constant images: total variation beats the Gaussian filter


def test_best_denoiser_still_works_and_can_tune_on_held_out_images():
    clean, clean_val = _blocks(seed=7), _blocks(seed=8)
    noisy, noisy_val = C.add_gaussian_noise(clean, 0.2, seed=9), C.add_gaussian_noise(clean_val, 0.2, seed=10)
    oracle = C.best_denoiser(noisy, clean)
    assert set(oracle) == {"gaussian", "median"}
    held = C.best_denoiser(noisy, clean, methods=("gaussian", "tv"), noisy_val=noisy_val, clean_val=clean_val)
    assert set(held) == {"gaussian", "tv"} and held["gaussian"].psnr <= oracle["gaussian"].psnr + 1e-9
    assert held["tv"].name.startswith("total variation")


def test_harmonic_fill_hand_computed():
    # a single missing pixel: the mean of its 4 neighbours
    x = torch.rand(1, 1, 5, 5, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    m = torch.zeros(5, 5, dtype=torch.bool)
    m[2, 2] = True
    out = C.harmonic_fill(x, m)
    assert out[0, 0, 2, 2].item() == pytest.approx((x[0, 0, 1, 2] + x[0, 0, 3, 2] + x[0, 0, 2, 1] + x[0, 0, 2, 3]).item() / 4)
    assert torch.equal(out[..., ~m], x[..., ~m])                      # known pixels kept exactly
    # a linear ramp is harmonic: a hole is filled exactly, in every channel
    ramp = (torch.linspace(0, 1, 16).view(1, 1, 1, 16) * torch.tensor([1.0, 0.5, 0.2]).view(1, 3, 1, 1)).expand(2, 3, 16, 16)
    hole = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    hole[..., 4:12, 3:13] = True
    torch.testing.assert_close(C.harmonic_fill(ramp.contiguous(), hole), ramp.contiguous(), atol=1e-6, rtol=0)
    # a hole at the image border (Neumann there) still takes the known values: constant stays constant
    const = torch.full((1, 1, 8, 8), 0.3)
    edge = torch.zeros(8, 8, dtype=torch.bool)
    edge[:3, :] = True
    torch.testing.assert_close(C.harmonic_fill(const, edge), const)


def test_harmonic_fill_errors():
    x = torch.rand(2, 1, 6, 6)
    with pytest.raises(ValueError, match="every pixel is masked"):
        C.harmonic_fill(x, torch.ones(6, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        C.harmonic_fill(x, torch.zeros(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        C.harmonic_fill(x, torch.full((6, 6), 0.5))


@pytest.mark.parametrize("c", [1, 3])
def test_biharmonic_fill_equals_scikit_image(c):
    x = _blocks(n=2, c=c, size=16, seed=12).double()
    m = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    m[0, 0, 5:10, 5:10] = True
    m[1, 0, 2:6, 8:14] = True
    out = C.biharmonic_fill(x, m)
    for i in range(2):
        if c == 1:
            ref = restoration.inpaint_biharmonic(x[i, 0].numpy(), m[i, 0].numpy())
            np.testing.assert_allclose(out[i, 0].numpy(), ref, atol=1e-12)
        else:
            ref = restoration.inpaint_biharmonic(x[i].permute(1, 2, 0).numpy(), m[i, 0].numpy(), channel_axis=-1)
            np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy(), ref, atol=1e-12)


def test_psf_and_blur_hand_computed():
    psf = C.gaussian_psf(1.0)
    assert psf.shape == (7, 7) and psf.sum().item() == pytest.approx(1.0)
    const = torch.full((1, 3, 12, 12), 0.4)
    torch.testing.assert_close(C.blur(const, psf), const)
    delta = torch.zeros(1, 1, 15, 15, dtype=torch.float64)
    delta[..., 7, 7] = 1
    torch.testing.assert_close(C.blur(delta, psf)[0, 0, 4:11, 4:11], psf)          # the impulse response is the PSF
    from scipy import ndimage
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    asym = torch.rand(3, 5, dtype=torch.float64)
    ref = ndimage.convolve(x[0, 0].numpy(), (asym / asym.sum()).numpy(), mode="mirror")
    np.testing.assert_allclose(C.blur(x, asym)[0, 0].numpy(), ref, atol=1e-12)     # a true convolution
    with pytest.raises(ValueError, match="odd sides"):
        C.blur(x, torch.ones(4, 4))


def test_deconvolve_equals_scikit_image_on_the_padded_image():
    x = _blocks(n=1, size=24, seed=13).double()
    psf = C.gaussian_psf(1.0)
    b = C.blur(x, psf)
    p = psf.shape[0]
    padded = F.pad(b, (p, p, p, p), mode="reflect")[0, 0].numpy()
    ref_w = np.clip(restoration.wiener(padded, psf.numpy(), 0.01, clip=False)[p:-p, p:-p], 0, 1)
    ref_rl = np.clip(restoration.richardson_lucy(np.clip(padded, 0, 1), psf.numpy(), num_iter=7, clip=False)[p:-p, p:-p], 0, 1)
    np.testing.assert_allclose(C.deconvolve(b, psf, "wiener", 0.01)[0, 0].numpy(), ref_w, atol=1e-12)
    np.testing.assert_allclose(C.deconvolve(b, psf, "richardson_lucy", 7)[0, 0].numpy(), ref_rl, atol=1e-12)
    with pytest.raises(ValueError, match="unknown method"):
        C.deconvolve(b, psf, "blind")


@pytest.mark.filterwarnings("ignore:.*end of its grid")
def test_deblurrers_beat_the_blurred_input_after_tuning():
    from course_lib.metrics import psnr
    psf = C.gaussian_psf(1.0)
    val, test = _blocks(n=4, seed=14), _blocks(n=4, seed=15)
    bv, bt = C.blur(val, psf), C.blur(test, psf)
    rows = C.classical_deblurrers(bt, test, bv, val, psf, grids={"wiener": (0.001, 0.01, 0.1),
                                                                 "richardson_lucy": (5, 20, 50)})
    assert [r.parameter for r in rows] == ["balance", "iterations"]
    assert all(r.psnr > psnr(bt, test) + 1 for r in rows)


def test_back_projection_hand_checks():
    low = torch.rand(3, 1, 7, 7, generator=torch.Generator().manual_seed(16))
    torch.testing.assert_close(C.back_projection_upsample(low, 4, iters=0), C.bicubic_upsample(low, 4))
    const = torch.full((1, 3, 5, 5), 0.6)
    torch.testing.assert_close(C.back_projection_upsample(const, 2), torch.full((1, 3, 10, 10), 0.6))
    # the back-projection constraint: downsampling the estimate reproduces the input better and better
    err0 = (C.downsample(C.bicubic_upsample(low, 4), 4) - low).abs().mean()
    err = (C.downsample(C.back_projection_upsample(low, 4, iters=30), 4) - low).abs().mean()
    assert err < 0.3 * err0
    with pytest.raises(ValueError, match="iters"):
        C.back_projection_upsample(low, 4, iters=-1)


@pytest.mark.filterwarnings("ignore:.*end of its grid")
def test_upsamplers_tuned_and_back_projection_beats_bicubic_on_smooth_images():
    t = torch.linspace(0, 1, 28)
    base = lambda f: (0.5 + 0.4 * torch.sin(f * t)[:, None] * torch.cos((f - 1) * t)[None, :]).view(1, 1, 28, 28)  # noqa: E731
    val = torch.cat([base(f) for f in (5, 6, 7)])
    test = torch.cat([base(f) for f in (5.5, 6.5)])
    rows = C.classical_upsamplers(C.downsample(test, 4), test, C.downsample(val, 4), val, 4, iters_grid=(1, 5, 20))
    assert rows[0].method.startswith("bicubic") and rows[0].value is None
    assert rows[1].psnr > rows[0].psnr
