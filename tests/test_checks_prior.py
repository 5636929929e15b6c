import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed
from course_lib.checks.prior import (
    check_causal_mask,
    check_sampling_loop,
    check_top_k_probs,
    sample_codes_reference,
    top_k_probs_reference,
)
from course_lib.prior import causal_mask


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- causal mask ------------------------------------------------------------------------------------------------
def test_causal_mask_check_passes_solution(capsys):
    check_causal_mask(causal_mask)
    check_causal_mask(lambda T: torch.ones(T, T).tril().bool())
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (stub, "not implemented"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "diagonal"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).triu(), "upper triangle"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).triu(1), "strict upper"),
        (lambda T: ~torch.ones(T, T, dtype=torch.bool).tril(), "inverted"),
        (lambda T: torch.ones(T, T, dtype=torch.bool), "every entry is True"),
        (lambda T: torch.ones(T, T).tril(), "boolean"),
    ],
)
def test_causal_mask_check_rejects(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_causal_mask(wrong)


# --- top-k probabilities ----------------------------------------------------------------------------------------
def solution_top_k_probs(logits, k, temperature=1.0):
    logits = logits / temperature
    if k is not None:
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return F.softmax(logits, dim=-1)


def test_top_k_probs_check_passes_solution(capsys):
    check_top_k_probs(solution_top_k_probs)
    check_top_k_probs(top_k_probs_reference)
    assert "Check passed" in capsys.readouterr().out


def _mask(logits, k, largest=True):
    idx = torch.topk(logits, k, dim=-1, largest=largest).indices
    return torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (stub, "not implemented"),
        (lambda l, k, t=1.0: F.softmax((l / t).masked_fill(~_mask(l, k, False), float("-inf")), -1), "SMALLEST"),
        (lambda l, k, t=1.0: F.softmax(l / t, -1) * _mask(l, k), "renormalise"),
        (lambda l, k, t=1.0: solution_top_k_probs(l * t * t, k, t), "multiplied"),
        (lambda l, k, t=1.0: solution_top_k_probs(l, k, 1.0), "temperature is ignored"),
        (lambda l, k, t=1.0: F.softmax(l / t, -1), "top-k filter is missing"),
        (lambda l, k, t=1.0: solution_top_k_probs(l, k, t) if k is None else
            F.softmax((l / t).masked_fill(l <= torch.topk(l, k, -1).values[..., -1:], float("-inf")), -1), "k-1"),
    ],
)
def test_top_k_probs_check_rejects(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_top_k_probs(wrong)


def test_top_k_probs_check_rejects_broken_k_none():
    def no_none(logits, k, temperature=1.0):
        return solution_top_k_probs(logits, k, temperature) if k is not None else torch.zeros_like(logits)
    with pytest.raises(CheckFailed, match="k=None"):
        check_top_k_probs(no_none)


# --- the sampling loop ------------------------------------------------------------------------------------------
@torch.no_grad()
def solution_sample_codes(prior, n, temperature=1.0, top_k=None, generator=None):
    codes = torch.zeros(n, prior.seq_len, dtype=torch.long)
    for t in range(prior.seq_len):
        logits = prior(codes)[:, t]
        probs = solution_top_k_probs(logits, top_k, temperature)
        codes[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return codes


def test_sampling_loop_check_passes_solutions(capsys):
    check_sampling_loop(solution_sample_codes)
    check_sampling_loop(sample_codes_reference)
    # the library sampler draws differently (it runs only the prefix) but from the same distribution
    check_sampling_loop(lambda prior, n, temperature, top_k, generator:
                        prior.sample(n, temperature=temperature, top_k=top_k, generator=generator))
    assert "Check passed" in capsys.readouterr().out


def _loop(pick, probs_fn=solution_top_k_probs, draw=None):
    @torch.no_grad()
    def fn(prior, n, temperature=1.0, top_k=None, generator=None):
        codes = torch.zeros(n, prior.seq_len, dtype=torch.long)
        for t in range(prior.seq_len):
            logits = pick(prior, codes, t)
            probs = probs_fn(logits, top_k, temperature)
            codes[:, t] = (draw or (lambda p: torch.multinomial(p, 1, generator=generator).squeeze(1)))(probs)
        return codes
    return fn


@torch.no_grad()
def parallel(prior, n, temperature=1.0, top_k=None, generator=None):
    logits = prior(torch.zeros(n, prior.seq_len, dtype=torch.long))
    probs = solution_top_k_probs(logits.reshape(-1, prior.num_codes), top_k, temperature)
    return torch.multinomial(probs, 1, generator=generator).reshape(n, prior.seq_len)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (stub, "not implemented"),
        (parallel, "ONE forward pass"),
        (_loop(lambda p, c, t: p(c)[:, min(t + 1, p.seq_len - 1)]), r"not logits\[:, t \+ 1\]"),
        (_loop(lambda p, c, t: p(c)[:, max(t - 1, 0)]), r"not logits\[:, t - 1\]"),
        (_loop(lambda p, c, t: p(c)[:, t],
               probs_fn=lambda l, k, T: F.softmax((l / T).masked_fill(~_mask(l, k, False), float("-inf")), -1)),
         "LARGEST"),
        (_loop(lambda p, c, t: p(c)[:, t], probs_fn=lambda l, k, T: F.softmax(l / T, -1)), "not among the top_k"),
        (_loop(lambda p, c, t: p(c)[:, t], probs_fn=lambda l, k, T: solution_top_k_probs(l, k, 1.0)),
         "divide the logits"),
        (_loop(lambda p, c, t: p(c)[:, t], probs_fn=lambda l, k, T: solution_top_k_probs(l, k, 1.0 / T)),
         "don't multiply"),
        (_loop(lambda p, c, t: p(c)[:, t], draw=lambda probs: probs.argmax(-1)), "multinomial"),
        (lambda prior, n, *a: torch.zeros(n, prior.seq_len + 1, dtype=torch.long), "should return"),
        (lambda prior, n, *a: torch.zeros(n, prior.seq_len), "int64"),
    ],
)
def test_sampling_loop_check_rejects(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_sampling_loop(wrong)


# --- hidden-test parameters (issue 10): other sizes, seeds and priors; wrong answers still named ----------------
def test_hidden_cases_pass_the_reference(capsys):
    check_causal_mask(lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool)), sizes=(3, 12))
    check_top_k_probs(top_k_probs_reference, seed=7, ks=(2, 6), temperatures=(0.3, 2.0), num_codes=9)
    check_sampling_loop(sample_codes_reference, seed=3, K=8, T=6)
    assert capsys.readouterr().out.count("Check passed") == 3


def test_hidden_cases_reject_wrong_answers():
    with pytest.raises(CheckFailed, match="upper triangle"):
        check_causal_mask(lambda T: torch.triu(torch.ones(T, T, dtype=torch.bool)), sizes=(3, 12))
    with pytest.raises(CheckFailed, match="multiplied"):
        check_top_k_probs(lambda l, k, t=1.0: solution_top_k_probs(l * t * t, k, t), seed=7, ks=(2, 6),
                          temperatures=(0.3, 2.0), num_codes=9)
    with pytest.raises(CheckFailed, match="ONE forward pass"):
        check_sampling_loop(lambda prior, n, temperature, top_k, generator:
                            prior(torch.zeros(n, prior.seq_len, dtype=torch.long)).argmax(-1), seed=3, K=8, T=6)


def test_top_k_probs_numpy_output_accepted(capsys):
    check_top_k_probs(lambda l, k, t=1.0: solution_top_k_probs(l, k, t).numpy())
    assert "Check passed" in capsys.readouterr().out
