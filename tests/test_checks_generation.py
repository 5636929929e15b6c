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
    check_top_k_filter(solution_top_k_filter, seed=1, shape=(3, 2, 7), ks=(2, 7))     # the notebook's hidden test
    assert capsys.readouterr().out.count("Check passed") == 3


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
@pytest.mark.parametrize("kwargs", [{}, dict(seed=1, shape=(3, 2, 7), ks=(2, 7))])
def test_top_k_filter_check_rejects(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_top_k_filter(wrong, **kwargs)


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


@torch.no_grad()
def categorical_complete(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    """Right, but draws with torch.distributions (another random stream): the check compares distributions."""
    codes = tokens.clone()
    for t in range(prior.seq_len):
        logits = top_k_filter(prior(codes, labels)[:, t].float() / temperature, top_k)
        new = torch.distributions.Categorical(logits=logits).sample()
        codes[:, t] = torch.where(keep[:, t], tokens[:, t], new)
    return codes


HIDDEN = dict(seed=1, temperature=0.5, top_k=2)          # the notebook's hidden test


@pytest.mark.parametrize("kwargs", [{}, HIDDEN])
def test_complete_check_passes(capsys, kwargs):
    check_complete_codes(solution_complete, **kwargs)
    check_complete_codes(complete_codes_reference, **kwargs)
    check_complete_codes(categorical_complete, **kwargs)
    # the library's sampler with known=(mask, tokens)
    check_complete_codes(lambda prior, tokens, keep, labels, temperature, top_k, generator: prior.sample(
        tokens.shape[0], temperature=temperature, top_k=top_k, labels=labels, known=(keep, tokens),
        generator=generator), **kwargs)
    assert capsys.readouterr().out.count("Check passed") == 4


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


def _variant(transform):
    """A completion that is right except for how it turns logits into probabilities."""
    @torch.no_grad()
    def fn(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
        codes = tokens.clone()
        for t in range(prior.seq_len):
            probs = transform(prior(codes, labels)[:, t], temperature, top_k)
            new = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            codes[:, t] = torch.where(keep[:, t], tokens[:, t], new)
        return codes
    return fn


# issue 11: with temperature 1.0 and top_k None or 1 only, `logits * temperature` used to pass
times_temperature = _variant(lambda l, T, k: F.softmax(top_k_filter(l * T, k), -1))
no_temperature = _variant(lambda l, T, k: F.softmax(top_k_filter(l, k), -1))
no_top_k = _variant(lambda l, T, k: F.softmax(l / T, -1) if k != 1 else F.softmax(top_k_filter(l, 1), -1))


@pytest.mark.parametrize("kwargs", [{}, HIDDEN])
@pytest.mark.parametrize("wrong, hint", [
    (times_temperature, "multiplied the logits by the temperature"),
    (no_temperature, "temperature is ignored"),
    (no_top_k, "top_k is ignored"),
])
def test_complete_check_rejects_temperature_and_top_k_mistakes(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_complete_codes(wrong, **kwargs)


def test_times_temperature_passed_the_old_settings():
    """Why the check now varies temperature and top_k: at temperature 1 the wrong answer is indistinguishable."""
    check_complete_codes(times_temperature, temperature=1.0, top_k=None)


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (overwrite, "changed"),
    (paste_after, "pasted the known codes"),
    (zeros_context, "pasted the known codes"),
    (no_labels, "labels are ignored"),
    (argmax_always, "multinomial"),
    (lambda prior, tokens, *a: tokens[:, :-1], "shaped like tokens"),
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN])
def test_complete_check_rejects(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_complete_codes(wrong, **kwargs)
