"""Notebook 05's rotation-trick check: it rejects the stub and the named mistakes, accepts right answers written
differently, and records its result for solved_or_reference; the library's rotation trick is the paper's."""
import pytest
import torch

from course_lib.checks import CheckFailed, solved_or_reference
from course_lib.checks.collapse import _rotation_variant, check_rotation_trick
from course_lib.quantize import rotation_trick, straight_through


def stub(z, z_q):
    raise NotImplementedError()


def with_matrices(z, z_q):
    """The D x D matrix R built explicitly in float32, .detach() instead of no_grad, no value fix-up: still right."""
    zd, qd = z.detach().float(), z_q.detach().float()
    e = torch.nn.functional.normalize(zd, dim=1)
    q = torch.nn.functional.normalize(qd, dim=1)
    r = torch.nn.functional.normalize(e + q, dim=1)
    eye = torch.eye(z.shape[1]).expand(len(z), -1, -1)
    R = eye - 2 * r[:, :, None] * r[:, None, :] + 2 * q[:, :, None] * e[:, None, :]
    lam = (qd.norm(dim=1) / zd.norm(dim=1))[:, None]
    return (lam * torch.einsum("nij,nj->ni", R, z.float())).double()


def test_accepts_reference_and_equivalents(capsys):
    check_rotation_trick(rotation_trick)
    check_rotation_trick(with_matrices)
    check_rotation_trick(rotation_trick, seed=9, code_dim=5)
    assert capsys.readouterr().out.count("Check passed") == 3


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (_rotation_variant(detach="none"), "not constants"),
    (_rotation_variant(detach="rotation"), "lambda still carries a gradient"),
    (_rotation_variant(rescale=False), "rescaling by lambda"),
    (_rotation_variant(rescale=False, fix_value=False), "the value is R z"),
    (_rotation_variant(signs=(2.0, 2.0)), "sign of R"),
    (_rotation_variant(signs=(-2.0, -2.0)), "sign of R"),
    (_rotation_variant(normalise=("e", "q")), "r is not a unit vector"),
    (_rotation_variant(normalise=("r",)), "unit vectors"),
    (_rotation_variant(swap=True), "wrong way"),
    (straight_through, "straight-through"),
    (lambda z, z_q: rotation_trick(z, z_q)[:2], "shape"),
    (lambda z, z_q: 0.5 * rotation_trick(z, z_q), "differs"),
])
def test_rejects_named_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_rotation_trick(wrong)


def test_wrong_answer_falls_back_to_the_reference(capsys):
    def my_rotation_trick(z, z_q):
        return _rotation_variant(rescale=False)(z, z_q)

    with pytest.raises(CheckFailed, match="^my_rotation_trick: the gradient has the norm"):
        check_rotation_trick(my_rotation_trick)
    z, z_q = torch.randn(5, 3, requires_grad=True), torch.randn(5, 3)
    fn = solved_or_reference(my_rotation_trick, rotation_trick, "rotation_trick")
    (g1,) = torch.autograd.grad(fn(z, z_q).sum(), z)
    (g2,) = torch.autograd.grad(rotation_trick(z, z_q).sum(), z)
    assert torch.equal(g1, g2) and "does not pass its check" in capsys.readouterr().out
    fn = solved_or_reference(stub, rotation_trick, "rotation_trick")
    assert torch.equal(fn(z, z_q), rotation_trick(z, z_q))


def test_library_rotation_is_the_papers():
    """Fifty et al. 2024: R maps e onto q, is orthogonal, and the gradient reaching z is lambda R^T g, so its angle to
    z equals the angle of g to z_q and its norm is lambda |g|."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    z_q = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    g = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    out = rotation_trick(z, z_q)
    assert torch.allclose(out, z_q)
    (grad,) = torch.autograd.grad((out * g).sum(), z)
    lam = z_q.norm(dim=1) / z.detach().norm(dim=1)
    assert torch.allclose(grad.norm(dim=1), lam * g.norm(dim=1))
    cos = torch.nn.functional.cosine_similarity
    assert torch.allclose(cos(grad, z.detach(), dim=1), cos(g, z_q, dim=1))
