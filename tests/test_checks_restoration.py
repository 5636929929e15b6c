import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed
from course_lib.checks.restoration import check_code_prediction_loss, check_gram_matrix


def stub(*args, **kwargs):
    raise NotImplementedError()


HIDDEN_CE = dict(seed=3, shape=(3, 11, 2, 5))
HIDDEN_GRAM = dict(seed=3, shape=(3, 5, 2, 7))


# --- code-prediction loss ---------------------------------------------------------------------------------------
def solution_ce(logits, targets):
    return F.cross_entropy(logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1]), targets.reshape(-1))


@pytest.mark.parametrize("fn", [
    solution_ce,
    lambda l, t: F.cross_entropy(l, t),
    lambda l, t: -F.log_softmax(l, 1).gather(1, t[:, None]).mean(),
    lambda l, t: float(F.cross_entropy(l, t)),                              # a Python float
    lambda l, t: np.float32(F.cross_entropy(l, t).item()),                  # a numpy float32 scalar
    lambda l, t: F.cross_entropy(l.double(), t).float(),                    # float32 tensor from float64 maths
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_CE])
def test_code_prediction_loss_accepts(fn, kwargs, capsys):
    check_code_prediction_loss(fn, **kwargs)
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (lambda l, t: F.cross_entropy(l.reshape(-1, l.shape[1]), t.reshape(-1)), "without moving K last"),
    (lambda l, t: F.nll_loss(F.log_softmax(l, dim=-1), t), "wrong axis"),
    (lambda l, t: F.cross_entropy(l, t, reduction="sum"), "summed the loss"),
    (lambda l, t: F.cross_entropy(l, t, reduction="none").sum((1, 2)).mean(), "h w grid"),
    (lambda l, t: F.cross_entropy(l, t) / math.log(2), "bits"),
    (lambda l, t: F.cross_entropy(F.softmax(l, dim=1), t), "probabilities"),
    (lambda l, t: F.nll_loss(l, t), "log-probabilities"),
    (lambda l, t: F.cross_entropy(l, t.flip(0)), "code_prediction_loss"),          # targets of another image
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_CE])
def test_code_prediction_loss_rejects(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_code_prediction_loss(wrong, **kwargs)


def test_code_prediction_loss_shape_must_separate_axes():
    with pytest.raises(ValueError):
        check_code_prediction_loss(solution_ce, shape=(2, 4, 4, 4))


# --- Gram matrix ------------------------------------------------------------------------------------------------
def solution_gram(f):
    b, c, h, w = f.shape
    return torch.einsum("bip,bjp->bij", f.flatten(2), f.flatten(2)) / (h * w)


@pytest.mark.parametrize("fn", [
    solution_gram,
    lambda f: (f.flatten(2) @ f.flatten(2).transpose(1, 2)) / (f.shape[2] * f.shape[3]),
    lambda f: solution_gram(f.double()).float(),
    lambda f: solution_gram(f).numpy(),                                        # a numpy array
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_GRAM])
def test_gram_matrix_accepts(fn, kwargs, capsys):
    check_gram_matrix(fn, **kwargs)
    assert "Check passed" in capsys.readouterr().out


def _flat(f):
    return f.reshape(f.shape[0], f.shape[1], -1)


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (lambda f: _flat(f) @ _flat(f).transpose(1, 2), "did not divide"),
    (lambda f: _flat(f) @ _flat(f).transpose(1, 2) / f[0].numel(), "C H W"),
    (lambda f: solution_gram(f - f.mean((2, 3), keepdim=True)), "centred"),
    (lambda f: (f.transpose(0, 1).reshape(f.shape[1], -1) @ f.transpose(0, 1).reshape(f.shape[1], -1).T
                / (f.shape[0] * f.shape[2] * f.shape[3])).expand(f.shape[0], -1, -1), "mixed the images"),
    (lambda f: f.reshape(f.shape[0], -1, f.shape[1]).transpose(1, 2) @ f.reshape(f.shape[0], -1, f.shape[1])
     / (f.shape[2] * f.shape[3]), "without moving the channels"),
    (lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2) / (f.shape[2] * f.shape[3]), "gram_matrix"),  # (B, HW, HW)
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_GRAM])
def test_gram_matrix_rejects(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_gram_matrix(wrong, **kwargs)


def test_code_prediction_loss_wrong_answer_falls_back_to_the_reference(capsys):
    """A wrong answer that its check rejected is replaced by the library's version in later cells."""
    from course_lib.checks import solved_or_reference
    from course_lib.restoration import code_prediction_loss

    def wrong(l, t):
        return F.cross_entropy(l, t, reduction="sum")

    with pytest.raises(CheckFailed):
        check_code_prediction_loss(wrong)
    fn = solved_or_reference(wrong, code_prediction_loss, "code_prediction_loss")
    logits, targets = torch.randn(2, 5, 3, 4), torch.randint(0, 5, (2, 3, 4))
    assert torch.allclose(fn(logits, targets), F.cross_entropy(logits, targets))
    assert "does not pass its check" in capsys.readouterr().out
