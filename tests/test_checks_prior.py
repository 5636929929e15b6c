import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed
from course_lib.checks.prior import (
    check_causal_mask,
    check_prior_loss,
    prior_loss_reference,
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


def test_top_k_probs_accepts_a_large_negative_instead_of_minus_inf(capsys):
    """-1e9 instead of -inf gives the same probabilities (exp(-1e9) = 0): a right answer for probabilities."""
    def finite_mask(logits, k, temperature=1.0):
        logits = logits / temperature
        if k is not None:
            kth = torch.topk(logits, k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, -1e9)
        return F.softmax(logits, dim=-1)
    check_top_k_probs(finite_mask)
    assert "Check passed" in capsys.readouterr().out


# --- the sampling loop, review 2026-12-06 (exercise-checks G11 and "ignores generator") ---------------------------
def test_sampling_loop_rejects_a_loop_that_ignores_its_generator():
    """The review's answer: Categorical(probs).sample() draws from the global random state."""
    with pytest.raises(CheckFailed, match="ignores its `generator`"):
        check_sampling_loop(_loop(lambda p, c, t: p(c)[:, t],
                                  draw=lambda probs: torch.distributions.Categorical(probs=probs).sample()))


def test_sampling_loop_checks_later_positions_not_only_the_first():
    """The review's two answers that passed before: temperature applied only at t = 0, and argmax after code 0."""
    def temperature_at_first_step_only(prior, n, temperature=1.0, top_k=None, generator=None):
        codes = torch.zeros(n, prior.seq_len, dtype=torch.long)
        for t in range(prior.seq_len):
            probs = solution_top_k_probs(prior(codes)[:, t], top_k, temperature if t == 0 else 1.0)
            codes[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return codes

    def argmax_after_the_first(prior, n, temperature=1.0, top_k=None, generator=None):
        codes = torch.zeros(n, prior.seq_len, dtype=torch.long)
        for t in range(prior.seq_len):
            probs = solution_top_k_probs(prior(codes)[:, t], top_k, temperature)
            codes[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1) if t == 0 else probs.argmax(-1)
        return codes

    with torch.no_grad():
        for kw in ({}, dict(seed=3, K=8, T=6)):
            with pytest.raises(CheckFailed, match="at EVERY step"):
                check_sampling_loop(temperature_at_first_step_only, **kw)
            with pytest.raises(CheckFailed, match="argmax of each conditional"):
                check_sampling_loop(argmax_after_the_first, **kw)


def test_sampling_loop_accepts_gumbel_max_with_the_generator(capsys):
    def gumbel(probs, generator=None):
        u = torch.rand(probs.shape, generator=generator).clamp_min(1e-12)
        return (probs.log() - (-u.log()).log()).argmax(-1)

    @torch.no_grad()
    def fn(prior, n, temperature=1.0, top_k=None, generator=None):
        codes = torch.zeros(n, prior.seq_len, dtype=torch.long)
        for t in range(prior.seq_len):
            codes[:, t] = gumbel(solution_top_k_probs(prior(codes)[:, t], top_k, temperature), generator)
        return codes
    check_sampling_loop(fn)
    assert "Check passed" in capsys.readouterr().out


# --- the prior's training loss (issue 21) -----------------------------------------------------------------------
def solution_prior_loss(prior, grids, labels):
    K = prior.num_codes
    codes = grids.flatten(1)                                          # (B, T) raster order
    inputs = torch.cat([(K + labels)[:, None], codes[:, :-1]], dim=1)  # class token, then codes shifted by one
    logits = prior.next_code_logits(inputs)                           # (B, T, K)
    return F.cross_entropy(logits.reshape(-1, K), codes.reshape(-1))


def test_prior_loss_check_passes_solutions(capsys):
    check_prior_loss(solution_prior_loss)
    check_prior_loss(prior_loss_reference)
    # written differently: a per-position log-softmax and gather, float64
    def gathered(prior, grids, labels):
        codes = grids.reshape(len(grids), -1)
        start = prior.start_token_id(labels, len(grids))
        logp = prior.next_code_logits(torch.cat([start[:, None], codes[:, :-1]], 1)).double().log_softmax(-1)
        return -logp.gather(-1, codes[..., None]).mean()
    check_prior_loss(gathered)
    check_prior_loss(solution_prior_loss, seed=2, grid=(3, 2), K=9, num_classes=4)      # the hidden case
    assert capsys.readouterr().out.count("Check passed") == 4


def _seq_with_class(prior, grids, labels):
    return torch.cat([(prior.num_codes + labels)[:, None], grids.flatten(1)], 1)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (stub, "not implemented"),
        # no shift: the input is the codes themselves
        (lambda p, g, y: F.cross_entropy(p.next_code_logits(g.flatten(1)).reshape(-1, p.num_codes),
                                         g.flatten(1).reshape(-1)), "no shift"),
        # predicting the class token: the targets are the input sequence, class token included
        (lambda p, g, y: F.cross_entropy(p.next_code_logits(_seq_with_class(p, g, y)[:, :-1]).reshape(-1, p.num_codes),
                                         _seq_with_class(p, g, y)[:, :-1].reshape(-1)), "predicting the class token"),
        # flattening in the wrong order
        (lambda p, g, y: solution_prior_loss(p, g.transpose(1, 2), y), "column by column"),
        # mean vs sum
        (lambda p, g, y: solution_prior_loss(p, g, y) * g[0].numel() * len(g), "summed the cross-entropy"),
        (lambda p, g, y: solution_prior_loss(p, g, y) * g[0].numel(), "summed over the positions"),
        (lambda p, g, y: solution_prior_loss(p, g, y) * len(g), "summed over the batch"),
        # the class token forgotten, the label read as a code, bits instead of nats, no gradient
        (lambda p, g, y: F.cross_entropy(p.next_code_logits(g.flatten(1)[:, :-1]).reshape(-1, p.num_codes),
                                         g.flatten(1)[:, 1:].reshape(-1)), "class token is missing"),
        (lambda p, g, y: F.cross_entropy(p.next_code_logits(torch.cat([y[:, None], g.flatten(1)[:, :-1]], 1)).reshape(-1, p.num_codes),
                            g.flatten(1).reshape(-1)), "read as a CODE"),
        (lambda p, g, y: solution_prior_loss(p, g, y) / 0.6931471805599453, "bits"),
        (lambda p, g, y: solution_prior_loss(p, g, y).detach(), "without a gradient"),
        (lambda p, g, y: solution_prior_loss(p, g, y).item(), "no .item()"),
    ],
)
def test_prior_loss_check_rejects(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_prior_loss(wrong)


def test_prior_loss_hidden_case_rejects_the_column_major_flatten():
    with pytest.raises(CheckFailed, match="column by column"):
        check_prior_loss(lambda p, g, y: solution_prior_loss(p, g.transpose(1, 2), y), seed=2, grid=(3, 2), K=9,
                         num_classes=4)


def test_next_code_logits_is_the_prior_shifted_by_one():
    from course_lib.prior import CodePrior
    torch.manual_seed(0)
    for classes in (None, 3):
        p = CodePrior(num_codes=7, seq_len=6, d_model=16, n_layers=1, n_heads=2, num_classes=classes).eval()
        tok = torch.randint(0, 7, (4, 6))
        y = None if classes is None else torch.tensor([0, 2, 1, 0])
        inputs = torch.cat([p.start_token_id(y, 4)[:, None], tok[:, :-1]], 1)
        assert torch.equal(p.next_code_logits(inputs), p(tok, y))
        with pytest.raises(ValueError, match="last code is only a target"):
            p.next_code_logits(torch.cat([inputs, tok[:, -1:]], 1))


def test_a_wrong_prior_loss_falls_back_to_the_reference(capsys):
    from course_lib.checks import solved_or_reference

    def summed(p, g, y):
        return solution_prior_loss(p, g, y) * g[0].numel()

    with pytest.raises(CheckFailed):
        check_prior_loss(summed)
    loss = solved_or_reference(summed, prior_loss_reference, "prior_loss")
    from course_lib.checks.prior import _check_prior
    prior = _check_prior(K=6, T=6, num_classes=3)
    g, y = torch.randint(0, 6, (4, 2, 3)), torch.tensor([0, 1, 2, 0])
    assert torch.allclose(loss(prior, g, y), prior_loss_reference(prior, g, y))
    assert "does not pass its check" in capsys.readouterr().out
