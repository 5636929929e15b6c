"""Notebook 09's spectral-normalisation exercise: the library's step equals torch.nn.utils.spectral_norm, and the
check rejects the stub and the named mistakes, accepts right answers written differently, and falls back."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.checks import CheckFailed, solved_or_reference
from course_lib.checks.gan import check_spectral_normalize
from course_lib.gan import spectral_normalize

HIDDEN = dict(seed=9, shapes=((16, 8, 3, 3), (5, 7), (3, 12, 4, 4)))


@pytest.mark.parametrize("module, x", [(nn.Conv2d(3, 8, 4, stride=2), torch.randn(2, 3, 10, 10)),
                                       (nn.Linear(10, 6), torch.randn(4, 10))])
def test_library_step_is_torch_spectral_norm(module, x):
    torch.manual_seed(0)
    sn = torch.nn.utils.spectral_norm(module)
    for _ in range(3):                                    # three training forwards, u carried from one to the next
        u, w = sn.weight_u.clone(), sn.weight_orig.detach().clone()
        sn.train()
        sn(x)
        w_sn, sigma, u_new = spectral_normalize(w, u)
        assert torch.allclose(w_sn, sn.weight, atol=1e-6) and torch.allclose(u_new, sn.weight_u, atol=1e-6)
    w = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    u = torch.randn(6, dtype=torch.float64)
    sigma = spectral_normalize(w, u / u.norm(), n_iters=200)[1]
    assert sigma.item() == pytest.approx(torch.linalg.matrix_norm(w.flatten(1), ord=2).item(), rel=1e-6)
    with pytest.raises(ValueError, match="u should have shape"):
        spectral_normalize(w, torch.ones(5))


def stub(weight, u, n_iters=1):
    raise NotImplementedError()


def float32_normalize_version(weight, u, n_iters=1):
    w = weight.float().flatten(1)
    u, v = u.float().detach(), None
    for _ in range(n_iters):
        v = F.normalize(w.detach().t().mv(u), dim=0)
        u = F.normalize(w.detach().mv(v), dim=0)
    sigma = torch.dot(u, w.mv(v))
    return (w / sigma).reshape(weight.shape), sigma.item(), u.numpy()


def sigma_detached(weight, u, n_iters=1):
    w_sn, sigma, u = spectral_normalize(weight, u, n_iters)
    return weight / sigma.detach(), sigma.detach(), u


def no_no_grad(weight, u, n_iters=1):
    w = weight.reshape(weight.shape[0], -1)
    for _ in range(n_iters):
        v = w.T @ u
        v = v / v.norm()
        u = w @ v
        u = u / u.norm()
    return weight / (u @ w @ v), u @ w @ v, u


def old_u_in_sigma(weight, u, n_iters=1):
    w = weight.reshape(weight.shape[0], -1)
    u0 = u
    with torch.no_grad():
        for _ in range(n_iters):
            v = F.normalize(w.T @ u, dim=0)
            u = F.normalize(w @ v, dim=0)
    sigma = u0 @ w @ v
    return weight / sigma, sigma, u


def keeps_old_u(weight, u, n_iters=1):
    w_sn, sigma, _ = spectral_normalize(weight, u, n_iters)
    return w_sn, sigma, u


def u_not_normalised(weight, u, n_iters=1):
    w = weight.reshape(weight.shape[0], -1)
    with torch.no_grad():
        for _ in range(n_iters):
            v = F.normalize(w.T @ u, dim=0)
            u = w @ v
    sigma = u @ w @ v
    return weight / sigma, sigma, u


def frobenius(weight, u, n_iters=1):
    sigma = weight.norm()
    return weight / sigma, sigma, spectral_normalize(weight, u, n_iters)[2]


def exact_svd(weight, u, n_iters=1):
    sigma = torch.linalg.matrix_norm(weight.flatten(1), ord=2)
    return weight / sigma, sigma, spectral_normalize(weight, u, n_iters)[2]


@pytest.mark.parametrize("right", [spectral_normalize, float32_normalize_version])
def test_right_answers_pass(right, capsys):
    check_spectral_normalize(right)
    check_spectral_normalize(right, **HIDDEN)
    assert capsys.readouterr().out.count("\u2705") == 2


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (sigma_detached, "sigma is detached"),
    (no_no_grad, "part of the autograd graph"),
    (old_u_in_sigma, "sigma uses the u you were given"),
    (keeps_old_u, "returned u is the one passed in"),
    (u_not_normalised, "u is not rescaled"),
    (frobenius, "Frobenius"),
    (exact_svd, "exact largest singular value"),
    (lambda weight, u, n_iters=1: spectral_normalize(weight, u, n_iters)[:2], r"\(weight / sigma, sigma, u\)"),
])
def test_named_mistakes_are_rejected(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_spectral_normalize(wrong)


def test_a_wrong_answer_falls_back_to_the_reference(capsys):
    with pytest.raises(CheckFailed):
        check_spectral_normalize(frobenius)
    fn = solved_or_reference(frobenius, spectral_normalize, "spectral_normalize")
    w, u = torch.randn(4, 6), torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert torch.allclose(fn(w, u)[1], spectral_normalize(w, u)[1])
    assert "does not pass its check" in capsys.readouterr().out
    assert torch.allclose(solved_or_reference(stub, spectral_normalize, "spectral_normalize")(w, u)[0],
                          spectral_normalize(w, u)[0])
