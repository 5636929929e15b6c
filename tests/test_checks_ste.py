"""The checks of notebook 03 reject the stub and each known mistake (with its hint) and pass the reference."""
import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed
from course_lib.checks.ste import check_straight_through, check_vq_loss
from course_lib.losses import vq_loss
from course_lib.quantize import straight_through


def stub(*args):
    raise NotImplementedError()


def test_straight_through_accepts_reference_and_equivalents(capsys):
    check_straight_through(straight_through)
    check_straight_through(lambda z, z_q: z - (z - z_q).detach())
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (stub, "not implemented"),
        (lambda z, z_q: z_q.detach(), "detach"),
        (lambda z, z_q: z + (z_q - z), "cancel"),
        (lambda z, z_q: z_q, "cancel"),
        (lambda z, z_q: z_q + (z - z_q).detach(), "wrong term"),
        (lambda z, z_q: z, "forward value must be z_q"),
        (lambda z, z_q: z + (z - z_q).detach(), "wrong sign"),
        (lambda z, z_q: 0.5 * (z + z_q), "differs"),
        (lambda z, z_q: z_q[:2], "shape"),
    ],
)
def test_straight_through_rejects_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_straight_through(wrong)


def test_vq_loss_accepts_reference(capsys):
    check_vq_loss(lambda z, e, b: tuple(vq_loss(z, e, b))[1:])
    check_vq_loss(lambda z, e, b: ((z.detach() - e).pow(2).mean(), b * (z - e.detach()).pow(2).mean()))
    assert "Check passed" in capsys.readouterr().out


def test_vq_loss_accepts_float32_arithmetic_and_hidden_parameters(capsys):
    """A right answer computed in float32 passes (issue 11); the hidden tests' seed/beta parameters work."""

    def float32_answer(z, e, b):
        zf, ef = z.float(), e.float()
        return (mse(ef, zf.detach()).double(), (b * mse(zf, ef.detach())).double())

    check_vq_loss(float32_answer)
    check_vq_loss(lambda z, e, b: tuple(vq_loss(z, e, b))[1:], seed=7, beta=2.0)
    check_straight_through(lambda z, z_q: (z.float() + (z_q - z).float().detach()).double(), seed=3)
    assert capsys.readouterr().out.count("Check passed") == 3


def test_vq_loss_rejects_hard_coded_beta():
    """Issue 11: a vq_loss with beta hard-coded to 0.25 passed when only beta = 0.25 was tried."""

    def hard_coded(z_e, z_q, beta=0.25):
        return mse(z_q, z_e.detach()), 0.25 * mse(z_e, z_q.detach())

    with pytest.raises(CheckFailed, match="hard-coded beta"):
        check_vq_loss(hard_coded)
    with pytest.raises(CheckFailed, match="hard-coded beta"):  # the hidden test's beta alone catches it too
        check_vq_loss(hard_coded, seed=7, beta=2.0, trials=1)


def test_checks_vary_shapes():
    from course_lib.checks.ste import _ste_inputs, _vq_inputs

    assert len({tuple(_ste_inputs(s)[0].shape) for s in range(3)}) == 3
    assert len({(tuple(_vq_inputs(s)[0].shape), _vq_inputs(s)[2]) for s in range(3)}) == 3


mse = F.mse_loss


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (stub, "not implemented"),
        (lambda z, e, b: (mse(z, e.detach()), b * mse(z.detach(), e)), "swapped"),
        (lambda z, e, b: (b * mse(e, z.detach()), mse(z, e.detach())), "taming-transformers"),
        (lambda z, e, b: (mse(e, z), b * mse(z, e)), "missing"),
        (lambda z, e, b: (mse(e, z), b * mse(z, e.detach())), "codebook term lacks"),
        (lambda z, e, b: (mse(e, z.detach()), b * mse(z, e)), "commitment term lacks"),
        (lambda z, e, b: (mse(e, z.detach()), mse(z, e.detach())), "missing beta"),
        (lambda z, e, b: ((e - z.detach()).pow(2).sum(), b * (z - e.detach()).pow(2).sum()), "mean"),
        (lambda z, e, b: (mse(e, z.detach()), 0.5 * b * mse(z, e.detach())), "differs"),
        (lambda z, e, b: mse(e, z.detach()) + b * mse(z, e.detach()), "pair"),
    ],
)
def test_vq_loss_rejects_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_vq_loss(wrong)


def test_messages_name_the_students_function():
    def my_vq_loss(z_e, z_q, beta=0.25):
        raise NotImplementedError()

    def my_straight_through(z, z_q):
        return z_q

    with pytest.raises(CheckFailed, match="^my_vq_loss is not implemented"):
        check_vq_loss(my_vq_loss)
    with pytest.raises(CheckFailed, match="^my_straight_through: "):
        check_straight_through(my_straight_through)


def test_vq_loss_names_the_papers_sum_over_d():
    """Review F-03-2: the paper's squared norms (sum over D, mean over positions) get a named hint."""
    with pytest.raises(CheckFailed, match="summed over the code dimension"):
        check_vq_loss(lambda z, e, b: ((e - z.detach()).pow(2).sum(-1).mean(), b * (z - e.detach()).pow(2).sum(-1).mean()))


def test_hints_do_not_print_the_whole_fix():
    """exercise-checks review: a hint names the mistake without handing over the line."""
    with pytest.raises(CheckFailed) as info:
        check_straight_through(lambda z, z_q: z_q.detach())
    assert "(z_q - z).detach()" not in str(info.value)
    with pytest.raises(CheckFailed) as info:
        check_vq_loss(lambda z, e, b: (F.mse_loss(e, z), b * F.mse_loss(z, e.detach())))
    assert "mse(z_q, z_e.detach())" not in str(info.value)


def test_messages_name_the_outputs():
    """exercise-checks review: "output['gradient to z_q']" / "output[2]" now read as names."""
    with pytest.raises(CheckFailed) as info:
        check_straight_through(lambda z, z_q: z_q + z - z.detach())
    assert "output[" not in str(info.value) and "gradient to z_q" in str(info.value)
