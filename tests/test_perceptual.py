"""Tests for course_lib.perceptual: normalisation, the LPIPS-style distance, PerceptualLoss and its backends."""
import sys

import pytest
import torch

from course_lib import perceptual
from course_lib.perceptual import PerceptualLoss, lpips_distance, normalize_channels


@pytest.fixture(scope="module")
def loss():
    return PerceptualLoss(backend="course", verbose=False)


def _images(seed, n=2, c=3, s=32):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.avg_pool2d(torch.rand(n, c, s, s, generator=g), 3, 1, 1)


# ------------------------------------------------------------------------------------------- normalisation
def test_normalize_channels_unit_norm_and_zero_vectors():
    x = torch.relu(torch.randn(2, 5, 4, 4))
    x[:, :, 0, 0] = 0
    y = normalize_channels(x)
    norms = y.pow(2).sum(1)
    nonzero = x.pow(2).sum(1) > 0
    assert torch.allclose(norms[nonzero], torch.ones_like(norms[nonzero]), atol=1e-5)
    assert torch.all(y[:, :, 0, 0] == 0)


def test_normalize_channels_safe_gradient_finite_unsafe_nan():
    x = torch.zeros(1, 4, 2, 2, requires_grad=True)
    normalize_channels(x, safe=True).sum().backward()
    assert torch.isfinite(x.grad).all()
    x.grad = None
    normalize_channels(x, safe=False).sum().backward()
    assert torch.isnan(x.grad).any()  # d sqrt(s)/ds is infinite at s = 0


def test_normalize_channels_half_precision():
    x = torch.zeros(1, 4, 2, 2, dtype=torch.float16)
    x[..., 1, 1] = 300.0  # sum of squares 360000 > 65504: overflows float16
    unsafe = normalize_channels(x, safe=False)
    assert torch.isnan(unsafe[..., 0, 0]).all()  # 0 / (0 + 1e-10 -> 0 in float16) = nan
    assert (unsafe[..., 1, 1] == 0).all()  # 300 / inf = 0: the direction is lost
    safe = normalize_channels(x, safe=True)
    assert safe.dtype == torch.float32 and torch.isfinite(safe).all()
    assert torch.allclose(safe[0, :, 1, 1], torch.full((4,), 0.5))


def test_normalize_channels_bad_shape():
    with pytest.raises(ValueError, match="B, C, H, W"):
        normalize_channels(torch.randn(4, 4))


def test_lpips_distance_by_hand():
    # one stage, one position, 2 channels: x -> (1, 0), y -> (0, 1): d = w0 * 1 + w1 * 1
    fx = torch.tensor([3.0, 0.0]).view(1, 2, 1, 1)
    fy = torch.tensor([0.0, 2.0]).view(1, 2, 1, 1)
    assert lpips_distance([fx], [fy], [torch.tensor([0.5, 2.0])]).item() == pytest.approx(2.5, abs=1e-6)
    # spatial mean: a 2x1 map where only one position differs -> half
    fx2 = torch.cat([fx, fx], dim=2)
    fy2 = torch.cat([fy, fx], dim=2)
    assert lpips_distance([fx2], [fy2]).item() == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------------------- PerceptualLoss
def test_shapes_zero_identical_grey_and_colour(loss):
    for c, s in ((1, 28), (3, 32)):
        x, y = _images(0, 3, c, s), _images(1, 3, c, s)
        d = loss(x, y)
        assert d.shape == (3,) and (d > 0).all()
        assert torch.allclose(loss(x, x), torch.zeros(3), atol=1e-6)
    assert loss.backend_name == "course"


def test_symmetric_and_grows_with_noise(loss):
    x = _images(0, 4)
    g = torch.Generator().manual_seed(1)
    small = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    large = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert torch.allclose(loss(x, small), loss(small, x), atol=1e-5)
    assert (loss(x, small) < loss(x, large)).all()


def test_gradient_flows_to_input_not_to_net(loss):
    x = _images(0).requires_grad_(True)
    loss(x, _images(1)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def test_stays_eval_when_parent_trains(loss):
    parent = torch.nn.Sequential(loss)
    parent.train()
    assert not loss.net.training


def test_bf16_autocast_safe_path_finite(loss):
    x = torch.zeros(2, 1, 28, 28)  # black images: many all-zero feature vectors
    y = _images(0, 2, 1, 28).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = loss(x, y)
    assert d.dtype == torch.float32 and torch.isfinite(d).all()
    d.sum().backward()
    assert torch.isfinite(y.grad).all()


def test_fp16_features_safe_vs_unsafe():
    # the course net's first stage on a black image has positions where every channel is 0 (ReLU)
    feats = [torch.relu(torch.randn(1, 8, 4, 4)).half() for _ in range(2)]
    feats[0][:, :, 0, 0] = 0
    feats[1][:, :, 0, 0] = 0
    safe = lpips_distance([feats[0]], [feats[1]], safe=True)
    unsafe = lpips_distance([feats[0]], [feats[1]], safe=False)
    assert torch.isfinite(safe).all()
    assert torch.isnan(unsafe).all()


def test_unsafe_flag_exposed():
    unsafe = PerceptualLoss(backend="course", safe=False, verbose=False)
    assert unsafe.safe is False
    x = _images(0)
    assert torch.isfinite(unsafe(x, _images(1))).all()  # fine in float32 forward


def test_custom_weights_and_bad_weights():
    ones = PerceptualLoss(backend="course", verbose=False)
    halves = PerceptualLoss(backend="course", weights=[torch.full((c,), 0.5) for c in ones.net.widths], verbose=False)
    x, y = _images(0), _images(1)
    assert torch.allclose(halves(x, y), ones(x, y) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="weights"):
        PerceptualLoss(backend="course", weights=[torch.ones(3)], verbose=False)


def test_bad_inputs(loss):
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="channels"):
        loss(torch.rand(2, 2, 32, 32), torch.rand(2, 2, 32, 32))
    with pytest.raises(ValueError, match="backend"):
        PerceptualLoss(backend="vgg")


# ----------------------------------------------------------------------------------------------- backends
@pytest.fixture
def fresh_messages(monkeypatch):
    """Each test sees the backend message even if another test printed the same one (it is printed once per
    process)."""
    monkeypatch.setattr(perceptual, "_ANNOUNCED", set())


def test_auto_falls_back_offline_with_message(monkeypatch, capsys, fresh_messages):
    def no_lpips():
        raise ImportError("No module named 'lpips'")

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(perceptual, "_lpips_vgg", no_lpips)
    p = PerceptualLoss(backend="auto")
    out = capsys.readouterr().out
    assert p.backend_name == "course"
    assert out.count("PerceptualLoss:") == 1
    assert "course feature net" in out and "stand-in for LPIPS-VGG" in out and "lpips package is not installed" in out
    assert "Error" not in out          # said in words, not as an exception name
    PerceptualLoss(backend="auto")
    assert "PerceptualLoss:" not in capsys.readouterr().out   # the same message is not repeated


def test_auto_falls_back_when_vgg_weights_cannot_download(monkeypatch, capsys, fresh_messages):
    def no_network():
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(perceptual, "_lpips_vgg", no_network)
    assert PerceptualLoss(backend="auto").backend_name == "course"
    assert "could not be loaded (no network?)" in capsys.readouterr().out


def test_explicit_lpips_backend_errors_clearly(monkeypatch):
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(perceptual, "_lpips_vgg", lambda: (_ for _ in ()).throw(ImportError("no lpips")))
    with pytest.raises(RuntimeError, match="pip install lpips"):
        PerceptualLoss(backend="lpips-vgg")


def _no_download_allowed(monkeypatch):
    """Every way torch would fetch weights fails the test; and lpips itself must not even be tried."""
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"a download was attempted under COURSE_OFFLINE=1: {args[:1]}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", forbidden)
    monkeypatch.setattr(torch.hub, "download_url_to_file", forbidden)
    monkeypatch.setattr(perceptual, "_lpips_vgg", forbidden)
    return calls


def test_offline_auto_attempts_no_download(monkeypatch, tmp_path, capsys, fresh_messages):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))     # no cached VGG-16 weights
    calls = _no_download_allowed(monkeypatch)
    p = PerceptualLoss(backend="auto")
    assert p.backend_name == "course" and calls == []
    assert "COURSE_OFFLINE is set" in capsys.readouterr().out


def test_offline_explicit_lpips_raises_before_any_download(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    calls = _no_download_allowed(monkeypatch)
    with pytest.raises(RuntimeError, match="COURSE_OFFLINE"):
        PerceptualLoss(backend="lpips-vgg")
    assert calls == []


def test_offline_uses_cached_vgg_weights(monkeypatch, tmp_path):
    """With the VGG-16 file already in the hub cache nothing needs downloading, so offline 'auto' may use LPIPS."""
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / perceptual.VGG16_FILE).write_bytes(b"")
    tried = []
    monkeypatch.setattr(perceptual, "_lpips_vgg", lambda: tried.append(1) or (_ for _ in ()).throw(ImportError("x")))
    assert PerceptualLoss(backend="auto", verbose=False).backend_name == "course"
    assert tried == [1]


def test_lpips_backend_matches_lpips_package_when_installed(monkeypatch):
    lpips = pytest.importorskip("lpips")
    # a randomly initialised VGG (pnet_rand=True: no download) with the package's shipped linear heads
    model = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()
    weights = [lin.model[-1].weight.detach().flatten().clone() for lin in model.lins]
    monkeypatch.setattr(perceptual, "_lpips_vgg", lambda: (model.scaling_layer, model.net, weights))
    p = PerceptualLoss(backend="auto", verbose=False)
    assert p.backend_name == "lpips-vgg"
    x, y = _images(0, 2, 3, 32), _images(1, 2, 3, 32)
    with torch.no_grad():
        ref = model(x, y, normalize=True).flatten()
    assert torch.allclose(p(x, y), ref, rtol=1e-4, atol=1e-6)


def test_missing_weights_message(monkeypatch, tmp_path):
    from course_lib import image_quality
    monkeypatch.setattr(image_quality, "feature_net_path", lambda: tmp_path / "feature_net.pt")
    with pytest.raises(FileNotFoundError, match="make_feature_net.py"):
        PerceptualLoss(backend="course", verbose=False)


# ----------------------------------------------------------------------------------- notebook 07's image helpers
def test_shift_image_moves_content_and_fills_with_zero():
    from course_lib.perceptual import shift_image

    img = torch.arange(1, 17, dtype=torch.float32).view(1, 1, 4, 4)
    right = shift_image(img, 1)
    assert torch.equal(right[..., :, 1:], img[..., :, :-1]) and (right[..., :, 0] == 0).all()
    down_left = shift_image(img, -1, 2)
    assert torch.equal(down_left[..., 2:, :-1], img[..., :-2, 1:]) and (down_left[..., :2, :] == 0).all()
    with pytest.raises(ValueError, match="N, C, H, W"):
        shift_image(img[0], 1)


def test_shifted_average_leaves_out_the_unshifted_image():
    from course_lib.perceptual import shift_image, shifted_average

    img = torch.rand(2, 1, 6, 6)
    expected = (shift_image(img, -2) + shift_image(img, -1) + shift_image(img, 1) + shift_image(img, 2)) / 4
    assert torch.allclose(shifted_average(img), expected)


def test_gaussian_blur_per_image_sigma_preserves_mass_and_smooths():
    from course_lib.perceptual import gaussian_blur

    img = torch.zeros(2, 1, 21, 21)
    img[:, :, 10, 10] = 1.0
    out = gaussian_blur(img, torch.tensor([0.5, 3.0]), radius=9)
    assert torch.allclose(out.sum((1, 2, 3)), torch.ones(2), atol=1e-5)     # a centred impulse loses no mass
    assert out[0].max() > out[1].max()                                     # the larger sigma spreads it more
    assert torch.allclose(out[1, 0], out[1, 0].T, atol=1e-6)               # separable and isotropic


def test_match_mse_picks_the_closest_distortion_per_image():
    from course_lib.perceptual import match_mse

    x = torch.zeros(3, 1, 2, 2)
    imgs, mse = match_mse(lambda s: x + s, torch.tensor([0.1, 0.2, 0.3]), x, torch.tensor([0.01, 0.04, 0.08]))
    assert torch.allclose(mse, torch.tensor([0.01, 0.04, 0.09]))
    assert torch.allclose(imgs[:, 0, 0, 0], torch.tensor([0.1, 0.2, 0.3]))


def test_edge_agreement_is_one_for_the_original_and_drops_with_noise():
    from course_lib.perceptual import edge_agreement

    g = torch.Generator().manual_seed(0)
    x = torch.zeros(4, 1, 16, 16)
    x[:, :, 4:12, 4:12] = 1.0
    assert torch.allclose(edge_agreement(x, x), torch.ones(4), atol=1e-5)
    assert torch.allclose(edge_agreement(0.3 * x + 0.2, x), torch.ones(4), atol=1e-5)   # contrast does not matter
    noisy = x + 0.3 * torch.randn(x.shape, generator=g)
    assert (edge_agreement(noisy, x) < 0.8).all()
