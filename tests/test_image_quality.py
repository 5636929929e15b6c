"""Tests for course_lib.image_quality: SSIM, PSNR, the shipped feature net, Frechet distances."""
import json
from pathlib import Path

import pytest
import torch

from course_lib import image_quality as iq
from course_lib.image_quality import (FeatureNet, frechet_distance, frechet_feature_distance, load_feature_net,
                                      ssim)

WEIGHTS = Path(__file__).resolve().parent.parent / "course_lib" / "assets" / "weights" / "feature_net.pt"


# ------------------------------------------------------------------------------------------------- SSIM
def test_ssim_identical_is_one():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert ssim(x, x, reduction="none").shape == (3,)


def test_ssim_constant_images_hand_checked():
    # Constant images: variances and covariance are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1),
    # C1 = (0.01)^2 = 1e-4: a = 0.2, b = 0.4 -> 0.1601 / 0.2001 = 0.800100
    x = torch.full((1, 1, 16, 16), 0.2)
    y = torch.full((1, 1, 16, 16), 0.4)
    assert ssim(x, y).item() == pytest.approx(0.1601 / 0.2001, abs=1e-5)


def test_ssim_structure_term_hand_checked():
    # One 11x11 window (a 1x1 SSIM map). y = mu + s (x - mu) keeps the weighted mean mu (luminance term 1),
    # scales the std by s and the covariance is s var, so SSIM = (2 s var + C2) / ((1 + s^2) var + C2).
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 1, 11, 11, generator=g)  # one 11x11 window -> SSIM map of one value
    w = iq._gaussian_window(11, 1.5, torch.float64, "cpu")
    w2 = torch.outer(w, w)
    base = base.double()
    mu = (w2 * base[0, 0]).sum()
    x = base
    y = mu + 0.5 * (base - mu)  # same weighted mean, contrast halved
    var = (w2 * (base[0, 0] - mu) ** 2).sum()
    c2 = 0.03**2
    expected = (2 * 0.5 * var + c2) / ((1 + 0.25) * var + c2)
    assert ssim(x, y).item() == pytest.approx(expected.item(), abs=1e-9)


def test_ssim_symmetric_and_decreases_with_noise():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 1, 28, 28, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    z = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert ssim(x, y).item() == pytest.approx(ssim(y, x).item(), abs=1e-6)
    assert 1.0 > ssim(x, y).item() > ssim(x, z).item()


def test_ssim_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        ssim(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 15))
    with pytest.raises(ValueError, match="unsqueeze"):
        ssim(torch.rand(1, 16, 16), torch.rand(1, 16, 16))
    with pytest.raises(ValueError, match="at least"):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


# -------------------------------------------------------------------------------------------- feature net
def test_weights_load_with_weights_only_and_are_small():
    assert WEIGHTS.is_file(), "run python data/make_feature_net.py"
    assert WEIGHTS.stat().st_size < 2_000_000
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values())
    info = json.loads(WEIGHTS.with_suffix(".json").read_text())
    for key in ("training_data", "test_accuracy_grey", "date", "seed"):
        assert key in info
    assert info["test_accuracy_grey"] > 0.8


def test_feature_net_shapes_grey_and_colour():
    net = load_feature_net()
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    grey = torch.rand(2, 1, 28, 28)
    colour = torch.rand(2, 3, 32, 32)
    for x in (grey, colour):
        feats = net.features(x)
        assert [tuple(f.shape) for f in feats] == [(2, 32, 32, 32), (2, 64, 16, 16), (2, 128, 8, 8), (2, 128, 4, 4)]
        assert net.embed(x).shape == (2, 128)
    # a grey image and its 3-channel copy give the same features
    assert torch.allclose(net.embed(grey), net.embed(grey.repeat(1, 3, 1, 1)), atol=1e-5)
    with pytest.raises(ValueError, match="channels"):
        net.embed(torch.rand(2, 28, 28, 3))


def test_feature_net_classifies_fashion_samples():
    # the shipped classifier must actually work: a handful of test images from the Debian package or data.py
    try:
        from course_lib.data import load_dataset
        ds = load_dataset("fashion-mnist", split="test", n=200)
        x, y = ds.x, ds.y
    except Exception:
        import importlib.util
        spec = importlib.util.spec_from_file_location("mfn", WEIGHTS.parent.parent / "make_feature_net.py")
        mfn = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mfn)
        if not mfn.DEBIAN.is_dir():
            pytest.skip("no Fashion-MNIST available")
        _, _, x, y, _ = mfn.load_fashion()
        x, y = x[:200], y[:200]
    net = load_feature_net()
    with torch.no_grad():
        acc = (net(x).argmax(1) == y).float().mean().item()
    assert acc > 0.75


def test_missing_weights_error_names_script(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_feature_net.py"):
        load_feature_net(path=tmp_path / "nope.pt")


def test_feature_net_train_variant_builds():
    net = FeatureNet(batchnorm=True)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)


# ---------------------------------------------------------------------------------------- Frechet distance
def test_frechet_identical_sets_zero():
    f = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)


def test_frechet_shifted_gaussians_equal_covariance():
    f = torch.randn(400, 6, generator=torch.Generator().manual_seed(0)) @ torch.randn(6, 6)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, 1.0])
    # same sample shifted: identical covariance, so FD = ||shift||^2 exactly
    assert frechet_distance(f, f + shift) == pytest.approx(shift.pow(2).sum().item(), rel=1e-6)


def test_frechet_known_diagonal_case():
    # N(0, I) vs N(0, 4 I) in d dims: Tr(I + 4I - 2*2I) = d (population values; samples approximate it)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g, dtype=torch.float64)
    b = 2 * torch.randn(20000, 3, generator=g, dtype=torch.float64)
    assert frechet_distance(a, b) == pytest.approx(3.0, abs=0.15)


def test_frechet_bad_input():
    with pytest.raises(ValueError):
        frechet_distance(torch.randn(10), torch.randn(10, 2))
    with pytest.raises(ValueError, match="differ"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 2))


def test_frechet_feature_distance_orders_corruptions():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 32, 32, generator=g)
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # some spatial structure
    net = load_feature_net()
    same = frechet_feature_distance(x, x, net=net)
    noisy = frechet_feature_distance(x, (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1), net=net)
    assert same == pytest.approx(0.0, abs=1e-6)
    assert noisy > 0.01


def test_try_inception_fid_offline_returns_none(monkeypatch, capsys):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("torchmetrics"):
            raise ImportError("no torchmetrics")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert iq.try_inception_fid(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)) is None
    assert "frechet_feature_distance" in capsys.readouterr().out


def test_kernel_distance_unbiased_near_zero_for_same_distribution_and_positive_for_shift():
    from course_lib.image_quality import kernel_distance
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g)
    same = kernel_distance(a, b, subsets=30, subset_size=100)
    shifted = kernel_distance(a, b + 0.5, subsets=30, subset_size=100)
    assert same.low <= 0.0 <= same.high or abs(same.mean) < 0.02      # unbiased: zero is plausible
    assert shifted.low > same.high and shifted.mean > 0.05
    assert "95% interval" in str(shifted) and shifted.subset_size == 100
    with pytest.raises(ValueError, match="feature sizes differ"):
        kernel_distance(a, torch.randn(10, 8))


def test_kernel_feature_distance_ranks_noise_above_a_copy():
    from course_lib.image_quality import kernel_feature_distance
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 1, 28, 28, generator=g)
    noisy = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert kernel_feature_distance(x, noisy, subsets=10, subset_size=32).mean > \
        kernel_feature_distance(x, x.clone(), subsets=10, subset_size=32).mean


def test_feature_net_folded_matches_the_batchnorm_network_in_eval_mode():
    import torch

    from course_lib.image_quality import FeatureNet

    torch.manual_seed(0)
    net = FeatureNet(widths=(8, 8, 16, 16), batchnorm=True)
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    x = torch.rand(4, 3, 32, 32)
    net.eval()
    plain = net.folded()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    torch.testing.assert_close(plain(x), net(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="BatchNorm variant"):
        plain.folded()
