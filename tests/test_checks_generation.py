import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed
from course_lib.checks.generation import check_complete_codes, check_top_k_filter, complete_codes_reference
from course_lib.prior import top_k_filter


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- top-k filter on logits -------------------------------------------------------------------------------------
def solution_top_k_filter(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def test_top_k_filter_check_passes(capsys):
    check_top_k_filter(solution_top_k_filter)
    check_top_k_filter(top_k_filter)
    assert "Check passed" in capsys.readouterr().out


def _keep(l, k, largest=True):
    idx = torch.topk(l, k, dim=-1, largest=largest).indices
    return torch.zeros_like(l, dtype=torch.bool).scatter(-1, idx, True)


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (lambda l, k: l.masked_fill(~_keep(l, k), 0.0), "-inf"),
    (lambda l, k: l.masked_fill(~_keep(l, k, False), float("-inf")), "SMALLEST"),
    (lambda l, k: l.masked_fill(l <= torch.topk(l, k, -1).values[..., -1:], float("-inf")), "k-1"),
    (lambda l, k: F.softmax(solution_top_k_filter(l, k), -1), "probabilities"),
    (lambda l, k: l.masked_fill(_keep(l, k), float("-inf")), "wrong entries"),
])
def test_top_k_filter_check_rejects(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_top_k_filter(wrong)


# --- completion around known codes ------------------------------------------------------------------------------
@torch.no_grad()
def solution_complete(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    codes = tokens.clone()
    for t in range(prior.seq_len):
        logits = prior(codes, labels)[:, t] / temperature
        if top_k is not None:
            logits = solution_top_k_filter(logits, top_k)
        new = torch.multinomial(F.softmax(logits, -1), 1, generator=generator).squeeze(1)
        codes[:, t] = torch.where(keep[:, t], tokens[:, t], new)
    return codes


def test_complete_check_passes(capsys):
    check_complete_codes(solution_complete)
    check_complete_codes(complete_codes_reference)
    # the library's sampler with known=(mask, tokens)
    check_complete_codes(lambda prior, tokens, keep, labels, temperature, top_k, generator: prior.sample(
        tokens.shape[0], temperature=temperature, top_k=top_k, labels=labels, known=(keep, tokens),
        generator=generator))
    assert "Check passed" in capsys.readouterr().out


@torch.no_grad()
def paste_after(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    free = solution_complete(prior, torch.zeros_like(tokens), torch.zeros_like(keep), labels, temperature, top_k,
                             generator)
    return torch.where(keep, tokens, free)


@torch.no_grad()
def zeros_context(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    codes, out = torch.zeros_like(tokens), tokens.clone()
    for t in range(prior.seq_len):
        logits = prior(codes, labels)[:, t] / temperature
        if top_k is not None:
            logits = solution_top_k_filter(logits, top_k)
        new = torch.multinomial(F.softmax(logits, -1), 1, generator=generator).squeeze(1)
        codes[:, t] = new
        out[:, t] = torch.where(keep[:, t], tokens[:, t], new)
    return out


def overwrite(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    return solution_complete(prior, tokens, torch.zeros_like(keep), labels, temperature, top_k, generator)


def no_labels(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    return solution_complete(prior, tokens, keep, None, temperature, top_k, generator)


@torch.no_grad()
def argmax_always(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    return complete_codes_reference(prior, tokens, keep, labels, top_k=1)


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (overwrite, "changed"),
    (paste_after, "pasted the known codes"),
    (zeros_context, "pasted the known codes"),
    (no_labels, "labels are ignored"),
    (argmax_always, "multinomial"),
    (lambda prior, tokens, *a: tokens[:, :-1], "shaped like tokens"),
])
def test_complete_check_rejects(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_complete_codes(wrong)
