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


# --- MaskGIT's decoding step ------------------------------------------------------------------------------------
from course_lib.checks.restoration import check_masked_decode_step  # noqa: E402

HIDDEN_STEP = dict(seed=5, shape=(3, 12, 7), n=(1, 4, 12))


def solution_step(logits, tokens, mask, n):                # a student-style answer with a loop over rows
    probs = torch.softmax(logits, dim=-1)
    conf, pred = probs.max(dim=-1)
    tokens, mask = tokens.clone(), mask.clone()
    n = torch.as_tensor(n).expand(len(tokens)) if torch.as_tensor(n).dim() == 0 else torch.as_tensor(n)
    for b in range(len(tokens)):
        idx = torch.nonzero(mask[b]).flatten()
        order = idx[conf[b, idx].argsort(descending=True)][: int(n[b])]
        tokens[b, order] = pred[b, order]
        mask[b, order] = False
    return tokens, mask


def solution_topk(logits, tokens, mask, n):                # topk on -inf-filled confidences
    conf, pred = logits.softmax(-1).max(-1)
    conf = torch.where(mask, conf, torch.tensor(float("-inf")))
    rank = conf.argsort(1, descending=True).argsort(1)
    keep = mask & (rank < torch.as_tensor(n).reshape(-1, 1))
    return torch.where(keep, pred, tokens), mask & ~keep


@pytest.mark.parametrize("fn", [
    solution_step,
    solution_topk,
    lambda *a: [t.numpy() for t in solution_topk(*a)],                      # NumPy arrays in a list
    lambda *a: (solution_topk(*a)[0].int(), solution_topk(*a)[1].float()),   # int32 tokens, 0/1 float mask
    lambda l, t, m, n: solution_topk(l.log_softmax(-1), t, m, n),           # log-probabilities rank the same
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_STEP])
def test_masked_decode_step_accepts(fn, kwargs, capsys):
    check_masked_decode_step(fn, **kwargs)
    assert "Check passed" in capsys.readouterr().out


def _least(l, t, m, n):
    conf, pred = l.softmax(-1).max(-1)
    rank = conf.masked_fill(~m, float("inf")).argsort(1).argsort(1)            # ascending: least first
    keep = m & (rank < torch.as_tensor(n).reshape(-1, 1))
    return torch.where(keep, pred, t), m & ~keep


def _remask_known(l, t, m, n):                             # ranks known positions too and overwrites them
    conf, pred = l.softmax(-1).max(-1)
    keep = conf.argsort(1, descending=True).argsort(1) < torch.as_tensor(n).reshape(-1, 1)
    return torch.where(keep, pred, t), m & ~keep


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (_least, "LEAST confident"),
    (_remask_known, "known ones too"),
    (lambda l, t, m, n: (solution_topk(l, t, m, n)[0], m), "returned the input mask"),
    (lambda l, t, m, n: (solution_topk(l, t, m, n)[0], m & ~solution_topk(l, t, m, n)[1]), "kept positions as"),
    (lambda l, t, m, n: (torch.where(m, l.argmax(-1), t), solution_topk(l, t, m, n)[1]), "every masked position"),
    (lambda l, t, m, n: solution_topk(l, t, m, n)[0], "pair"),
    (lambda l, t, m, n: solution_topk(l, t, m, torch.as_tensor(n) + 1), "masked_decode_step"),   # off by one
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_STEP])
def test_masked_decode_step_rejects(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_masked_decode_step(wrong, **kwargs)


def test_masked_decode_step_rejects_logit_ranking():
    def by_logit(l, t, m, n):
        c, p = l.max(-1)
        keep = m & (c.masked_fill(~m, float("-inf")).argsort(1, descending=True).argsort(1)
                    < torch.as_tensor(n).reshape(-1, 1))
        return torch.where(keep, p, t), m & ~keep
    with pytest.raises(CheckFailed, match="raw logit"):
        check_masked_decode_step(by_logit)


def test_masked_decode_step_bad_arguments():
    with pytest.raises(ValueError):
        check_masked_decode_step(solution_topk, shape=(1, 10, 6))
    with pytest.raises(ValueError):
        check_masked_decode_step(solution_topk, n=(1, 2))
