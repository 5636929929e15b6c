"""The prerequisite self-check of notebook 00 (issue 24.4): each item passes right answers written differently,
rejects the stub and at least two named wrong answers, and a wrong try is answered with the explanation."""
import math

import numpy as np
import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks import basics as b


def stub(*args):
    raise NotImplementedError()


def _grad(f, x):
    x = x.detach().clone().requires_grad_(True)
    f(x).backward()
    return x.grad


ITEMS = {
    "pairwise_differences": (b.check_pairwise_differences,
                             [lambda a, c: a.unsqueeze(1) - c.unsqueeze(0),
                              lambda a, c: torch.stack([a[i] - c for i in range(len(a))])],
                             [(lambda a, c: a[None] - c[:, None], "wrong way round"),
                              (lambda a, c: c[None] - a[:, None], "sign is flipped")]),
    "batched_scores": (b.check_batched_scores,
                       [lambda q, k: torch.einsum("btd,bsd->bts", q, k), lambda q, k: torch.bmm(q, k.transpose(-1, -2))],
                       [(lambda q, k: k @ q.transpose(1, 2), "transposed"),
                        (lambda q, k: (q * k[:, :1]).sum(-1, keepdim=True).expand(-1, -1, k.shape[1]), "differs")]),
    "row_norms": (b.check_row_norms,
                  [lambda x: torch.linalg.vector_norm(x, dim=1), lambda x: np.sqrt((x.numpy() ** 2).sum(1))],
                  [(lambda x: (x ** 2).sum(1), "squared norm"), (lambda x: x.abs().sum(1), "L1"),
                   (lambda x: x.norm(dim=0), "column")]),
    "gradient_at": (b.check_gradient_at, [_grad, lambda f, x: torch.func.grad(f)(x)],
                    [(lambda f, x: f(x), "the value"), (lambda f, x: 2 * x, "differs")]),
    "frozen_scale": (b.check_frozen_scale, [lambda x, s: x * s.detach(), lambda x, s: torch.mul(x, s.data)],
                     [(lambda x, s: x * s, "reaches s"), (lambda x, s: x.detach() * s, "on x"),
                      (lambda x, s: (x * s).detach(), "whole product")]),
    "softmax": (b.check_softmax,
                [lambda x: (x - x.max(-1, keepdim=True).values).exp() / (x - x.max(-1, keepdim=True).values).exp().sum(-1, keepdim=True),
                 lambda x: torch.nn.functional.softmax(x.float(), dim=1)],
                [(lambda x: x.exp() / x.exp().sum(-1, keepdim=True), "nan"),     # overflows at logits near 1000
                 (lambda x: x.exp() / x.exp().sum(0, keepdim=True), "wrong axis"),
                 (lambda x: x.exp(), "not normalised")]),
    "gaussian_log_density": (b.check_gaussian_log_density,
                             [lambda x, m, s: torch.distributions.Normal(m, s).log_prob(x),
                              lambda x, m, s: -0.5 * torch.log(2 * math.pi * s ** 2) - (x - m) ** 2 / (2 * s ** 2)],
                             [(lambda x, m, s: -torch.log(s) - 0.5 * ((x - m) / s) ** 2, "2 pi"),
                              (lambda x, m, s: -0.5 * math.log(2 * math.pi) - torch.log(s) - 0.5 * (x - m) ** 2 / s, "sigma^2"),
                              (lambda x, m, s: torch.distributions.Normal(m, s).log_prob(x).exp(), "not its log")]),
    "kl_gaussians": (b.check_kl_gaussians,
                     [lambda m1, s1, m2, s2: torch.distributions.kl_divergence(torch.distributions.Normal(m1, s1),
                                                                               torch.distributions.Normal(m2, s2)),
                      lambda m1, s1, m2, s2: 0.5 * (s1 ** 2 / s2 ** 2 + (m1 - m2) ** 2 / s2 ** 2 - 1 + 2 * torch.log(s2 / s1))],
                     [(lambda m1, s1, m2, s2: b.reference_kl_gaussians(m2, s2, m1, s1), "other way round"),
                      (lambda m1, s1, m2, s2: b.reference_kl_gaussians(m1, s1, m2, s2) + 0.5, "-1/2")]),
    "expected_square": (b.check_expected_square,
                        [lambda m, s: s * s + m * m, lambda m, s: (m ** 2 + s ** 2).float()],
                        [(lambda m, s: m ** 2, "variance is missing"), (lambda m, s: m ** 2 + s, "not sigma")]),
    "entropy_bits": (b.check_entropy_bits,
                     [lambda p: -(torch.where(p > 0, p * torch.log2(p), torch.zeros_like(p))).sum(-1),
                      lambda p: torch.distributions.Categorical(probs=p).entropy() / math.log(2)],
                     [(lambda p: -torch.special.xlogy(p, p).sum(-1), "nats"), (lambda p: (p * torch.log2(p)).sum(-1), "nan"),
                      (lambda p: torch.special.xlogy(p, p).sum(-1) / math.log(2), "sign")]),
}


@pytest.mark.parametrize("item", ITEMS)
def test_item_accepts_right_answers(item, capsys):
    check, rights, _ = ITEMS[item]
    for fn in rights:
        check(fn)
        check(fn, seed=7)
    out = capsys.readouterr().out
    assert out.count("right.") == 2 * len(rights), out


@pytest.mark.parametrize("item", ITEMS)
def test_item_rejects_the_stub_and_named_mistakes_with_the_answer(item):
    check, _, wrongs = ITEMS[item]
    with pytest.raises(CheckFailed, match="not implemented yet") as info:
        check(stub)
    assert "The answer" not in str(info.value)               # nothing given away before a try
    assert len(wrongs) >= 2
    for fn, fragment in wrongs:
        with pytest.raises(CheckFailed) as info:
            check(fn)
        msg = str(info.value)
        assert fragment in msg and "The answer:" in msg, msg
