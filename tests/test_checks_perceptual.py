"""The notebook-07 checks pass the solution and reject the stub and plausible wrong answers with a specific hint."""
import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks.perceptual import check_lpips_from_features, check_normalize_channels


def stub(*args, **kwargs):
    raise NotImplementedError()


# ------------------------------------------------------------------------------------------ normalize_channels
def norm_solution(x, eps=1e-10):
    return x / torch.sqrt(x.pow(2).sum(dim=1, keepdim=True) + eps)


def test_normalize_solution_passes(capsys):
    check_normalize_channels(norm_solution)
    assert "Check passed" in capsys.readouterr().out


def test_normalize_f_normalize_passes():
    # torch's own F.normalize (norm clamped at eps) is an acceptable answer
    check_normalize_channels(lambda x: torch.nn.functional.normalize(x, dim=1))


def test_normalize_stub_rejected():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_normalize_channels(stub)


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, eps=1e-10: x / torch.sqrt(x.pow(2).sum(0, keepdim=True) + eps), "dim 0 is the batch"),
    (lambda x, eps=1e-10: x / torch.sqrt(x.pow(2).sum((2, 3), keepdim=True) + eps), "spatial"),
    (lambda x, eps=1e-10: x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps), "last dimension"),
    (lambda x, eps=1e-10: x / (x.pow(2).sum(1, keepdim=True) + eps), "squared norm"),
    (lambda x, eps=1e-10: x / torch.sqrt(x.pow(2).mean(1, keepdim=True) + eps), "MEAN of squares"),
    (lambda x, eps=1e-10: x / x.pow(2).sum(1, keepdim=True).sqrt(), "eps is missing"),
    (lambda x, eps=1e-10: x / x.norm(dim=1, keepdim=True), "eps is missing"),
    (lambda x, eps=1e-10: x / (x.pow(2).sum(1, keepdim=True).sqrt() + eps), "INSIDE the square root"),
])
def test_normalize_wrong_answers_rejected_with_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_normalize_channels(wrong)


def test_normalize_not_callable():
    with pytest.raises(CheckFailed):
        check_normalize_channels(None)


# ------------------------------------------------------------------------------------------ lpips_from_features
def norm(f, eps=1e-10):
    return f / torch.sqrt(f.pow(2).sum(1, keepdim=True) + eps)


def lpips_solution(feats_x, feats_y, weights):
    total = 0
    for fx, fy, w in zip(feats_x, feats_y, weights):
        d = (norm(fx) - norm(fy)).pow(2)
        total = total + (d * w.view(1, -1, 1, 1)).sum(dim=1).mean(dim=(1, 2))
    return total


def test_lpips_solution_passes(capsys):
    check_lpips_from_features(lpips_solution)
    assert "Check passed" in capsys.readouterr().out


def test_lpips_stub_rejected():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_lpips_from_features(stub)


def _sum_space(fx, fy, ws):
    return sum(((norm(a) - norm(b)).pow(2) * w.view(1, -1, 1, 1)).sum(1).sum((1, 2)) for a, b, w in zip(fx, fy, ws))


def _no_spatial_mean(fx, fy, ws):
    return sum(((norm(a) - norm(b)).pow(2) * w.view(1, -1, 1, 1)).sum(1) for a, b, w in zip(fx[:1], fy[:1], ws[:1]))


def _channel_mean(fx, fy, ws):
    return sum(((norm(a) - norm(b)).pow(2) * w.view(1, -1, 1, 1)).mean(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _raw(fx, fy, ws):
    return sum(((a - b).pow(2) * w.view(1, -1, 1, 1)).sum(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _no_weights(fx, fy, ws):
    return sum((norm(a) - norm(b)).pow(2).sum(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))


def _batch_mean(fx, fy, ws):
    return lpips_solution(fx, fy, ws).mean()


@pytest.mark.parametrize("wrong, hint", [
    (_sum_space, "SUMMED over the positions"),
    (_no_spatial_mean, "spatial average is missing"),
    (_channel_mean, "averaged over the channels"),
    (_raw, "not channel-normalised"),
    (_no_weights, "weights are not used"),
    (_batch_mean, "averaged over the batch"),
    (lambda fx, fy, ws: lpips_solution(fx, fy, ws) / 2, "averaged over the stages"),
    (lambda fx, fy, ws: lpips_solution(fx, fy, ws) * 1.7, "differs from the reference"),
])
def test_lpips_wrong_answers_rejected_with_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_lpips_from_features(wrong)
