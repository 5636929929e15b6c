"""The notebook-07 checks pass the solution and reject the stub and plausible wrong answers with a specific hint."""
import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks.perceptual import check_lpips_from_features, check_normalize_channels


def stub(*args, **kwargs):
    raise NotImplementedError()


# ------------------------------------------------------------------------------------------ normalize_channels
def norm_solution(x, eps=1e-10):
    x = x.float()  # half precision: compute the norm in float32
    return x / torch.sqrt(x.pow(2).sum(dim=1, keepdim=True) + eps)


def norm_float16_unsafe(x, eps=1e-10):
    """Right in float32, but computed in x's own dtype: NaN / inf / 0 on float16 features (issue 11, 07)."""
    return x / torch.sqrt(x.pow(2).sum(dim=1, keepdim=True) + eps)


def test_normalize_in_place_passes_with_a_note(capsys):
    """A right answer that divides its input in place (review: exercise-checks 1c) passes, and says so."""
    def in_place(x, eps=1e-10):
        if x.dtype == torch.float16 or x.requires_grad:
            return norm_solution(x, eps)
        return x.div_(torch.sqrt(x.pow(2).sum(dim=1, keepdim=True) + eps))

    check_normalize_channels(in_place)
    assert "changed its input in place" in capsys.readouterr().out
    check_normalize_channels(norm_solution)
    assert "in place" not in capsys.readouterr().out


def test_normalize_solution_passes(capsys):
    check_normalize_channels(norm_solution)
    assert "Check passed" in capsys.readouterr().out


def test_normalize_f_normalize_passes():
    # torch's own F.normalize (norm clamped at eps) is an acceptable answer, computed in float32 ...
    check_normalize_channels(lambda x: torch.nn.functional.normalize(x.float(), dim=1))
    # ... and in float16 it is just as wrong as the hand-written formula
    with pytest.raises(CheckFailed, match="float16"):
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


def test_normalize_float16_unsafe_rejected():
    with pytest.raises(CheckFailed, match="float16"):
        check_normalize_channels(norm_float16_unsafe)


def test_normalize_float16_output_and_hidden_cases_accepted(capsys):
    # computed in float32, returned in the input's dtype: also right
    check_normalize_channels(lambda x, eps=1e-10: norm_solution(x, eps).to(x.dtype))
    check_normalize_channels(norm_solution, seed=5, shape=(2, 3, 4, 4))
    check_normalize_channels(norm_solution, seed=9, shape=(1, 16, 2, 3))
    assert capsys.readouterr().out.count("Check passed") == 3


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


def test_lpips_paper_eq1_form_named_not_called_a_mistake():
    # Zhang et al.'s eq. 1 puts w inside the norm; the official code multiplies the squared difference by w
    def eq1(fx, fy, ws):
        return sum(((norm(a) - norm(b)) * w.view(1, -1, 1, 1)).pow(2).sum(1).mean((1, 2)) for a, b, w in zip(fx, fy, ws))
    with pytest.raises(CheckFailed, match="eq. 1") as info:
        check_lpips_from_features(eq1)
    assert "official lpips code" in str(info.value) and "mistake" not in str(info.value)


def test_lpips_hidden_cases(capsys):
    check_lpips_from_features(lpips_solution, seed=7, shapes=((3, 4, 4), (5, 2, 2), (2, 1, 1)))
    assert "Check passed" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="SUMMED over the positions"):
        check_lpips_from_features(_sum_space, seed=7, shapes=((3, 4, 4), (5, 2, 2)))


def test_normalize_check_names_a_hard_coded_eps_not_the_zero_vectors():
    """Review 2026-12-06 (checks/perceptual.py:67-69): eps = 1e-6 hard-coded is wrong at a small NON-zero position,
    and the message must say so instead of blaming the all-zero vectors."""
    def hard_coded_eps(x, eps=1e-10):
        x = x.float()
        return x / torch.sqrt(x.pow(2).sum(dim=1, keepdim=True) + 1e-6)

    with pytest.raises(CheckFailed, match="eps much larger") as err:
        check_normalize_channels(hard_coded_eps)
    assert "every channel is 0" not in str(err.value)


def test_normalize_check_still_names_a_wrong_zero_vector():
    def nonzero_at_zero(x, eps=1e-10):
        x = x.float()
        out = x / torch.sqrt(x.pow(2).sum(dim=1, keepdim=True) + eps)
        return torch.where((x == 0).all(1, keepdim=True), torch.full_like(out, 0.5), out)

    with pytest.raises(CheckFailed, match="every channel is 0 the output should be 0"):
        check_normalize_channels(nonzero_at_zero)
