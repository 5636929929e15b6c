import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed
from course_lib.checks.generation import check_complete_codes, check_top_p_filter, complete_codes_reference
from course_lib.prior import top_k_filter, top_p_filter


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- nucleus (top-p) filter on logits ---------------------------------------------------------------------------
def solution_top_p_filter(logits, p):
    """The notebook's solution: sort, running sum of the probabilities, drop what is ranked below the nucleus."""
    probs = torch.softmax(logits, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    above = sorted_probs.cumsum(-1) - sorted_probs
    drop = torch.zeros_like(above, dtype=torch.bool).scatter(-1, order, above >= p)
    return logits.masked_fill(drop, float("-inf"))


def hf_style_top_p(logits, p):
    """Right, written differently: Hugging Face's TopPLogitsWarper (ascending sort, drop a tail of mass <= 1 - p)."""
    sorted_logits, order = torch.sort(logits, descending=False)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cum <= (1 - p)
    remove[..., -1:] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def shifted_top_p(logits, p):
    """Right, written differently: the common 'cumsum > p, shifted right by one' recipe, in NumPy, 2-D rows only."""
    import numpy as np

    x = logits.detach().cpu().numpy()
    flat = x.reshape(-1, x.shape[-1])
    out = flat.copy()
    for r, row in enumerate(flat):
        e = np.exp(row - row.max())
        probs = e / e.sum()
        order = np.argsort(-probs)
        cum = np.cumsum(probs[order])
        remove = np.concatenate([[False], cum[:-1] > p])
        out[r, order[remove]] = -np.inf
    return torch.from_numpy(out.reshape(x.shape)).to(logits.dtype)


def loop_top_p(logits, p):
    """Right, written differently: grow the nucleus one code at a time, per row."""
    flat = logits.reshape(-1, logits.shape[-1])
    out = torch.full_like(flat, float("-inf"))
    for r in range(flat.shape[0]):
        probs = torch.softmax(flat[r].double(), 0)
        mass = 0.0
        for i in torch.argsort(probs, descending=True):
            out[r, i] = flat[r, i]
            mass += float(probs[i])
            if mass >= p:
                break
    return out.reshape(logits.shape)


HIDDEN_TOP_P = dict(seed=1, trials=(((5, 2, 9), 0.8, 2.0), ((3, 16), 0.95, 0.5)))   # the notebook's hidden test


@pytest.mark.parametrize("kwargs", [{}, HIDDEN_TOP_P])
@pytest.mark.parametrize("right", [solution_top_p_filter, top_p_filter, hf_style_top_p, shifted_top_p, loop_top_p])
def test_top_p_filter_check_passes(capsys, right, kwargs):
    check_top_p_filter(right, **kwargs)
    assert capsys.readouterr().out.count("Check passed") == 1


def _sorted_mask(l, p, descending=True):
    probs = torch.softmax(l, -1)
    s, o = probs.sort(-1, descending=descending)
    return s, o, s.cumsum(-1) - s


def no_shift(l, p):
    s, o, _ = _sorted_mask(l, p)
    return l.masked_fill(torch.zeros_like(s, dtype=torch.bool).scatter(-1, o, s.cumsum(-1) > p), float("-inf"))


def ascending(l, p):
    s, o, above = _sorted_mask(l, p, descending=False)
    return l.masked_fill(torch.zeros_like(s, dtype=torch.bool).scatter(-1, o, above >= p), float("-inf"))


def on_logits(l, p):
    s, o = l.sort(-1, descending=True)
    return l.masked_fill(torch.zeros_like(s, dtype=torch.bool).scatter(-1, o, s.cumsum(-1) - s >= p), float("-inf"))


def no_unsort(l, p):
    _, _, above = _sorted_mask(l, p)
    return l.masked_fill(above >= p, float("-inf"))


def big_negative(l, p):
    return solution_top_p_filter(l, p).clamp(min=-1e9)


def dim_one(l, p):
    probs = torch.softmax(l, dim=1)
    s, o = probs.sort(dim=1, descending=True)
    above = s.cumsum(1) - s
    return l.masked_fill(torch.zeros_like(above, dtype=torch.bool).scatter(1, o, above >= p), float("-inf"))


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (no_shift, "takes the running sum past p"),
    (ascending, "least likely"),
    (on_logits, "summed the logits"),
    (no_unsort, "sorted order but was applied"),
    (lambda l, p: solution_top_p_filter(l, p).masked_fill(torch.isinf(solution_top_p_filter(l, p)), 0.0), "-inf"),
    (lambda l, p: F.softmax(solution_top_p_filter(l, p), -1), "probabilities"),
    (big_negative, "1e9"),
    (lambda l, p: top_k_filter(l, 3), "fixed number"),
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_TOP_P])
def test_top_p_filter_check_rejects(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_top_p_filter(wrong, **kwargs)


def test_top_p_filter_check_names_the_wrong_dim_on_3d_logits():
    check_top_p_filter(dim_one, trials=(((4, 10), 0.9, 1.0),))            # on (B, K) dim 1 is the last dim: right
    with pytest.raises(CheckFailed, match="LAST dim"):
        check_top_p_filter(dim_one)


def test_top_p_filter_reference():
    logits = torch.log(torch.tensor([[0.5, 0.1, 0.3, 0.1], [0.05, 0.9, 0.03, 0.02]]))
    out = top_p_filter(logits, 0.75)          # row 0: 0.5 + 0.3 reaches 0.75; row 1: 0.9 alone does
    assert torch.isfinite(out).tolist() == [[True, False, True, False], [False, True, False, False]]
    assert torch.equal(out[torch.isfinite(out)], logits[torch.isfinite(out)])
    assert torch.equal(top_p_filter(logits, None), logits) and torch.equal(top_p_filter(logits, 1.0), logits)
    assert torch.isfinite(top_p_filter(logits, 1e-6)).sum(-1).tolist() == [1, 1]   # the most likely code survives
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(logits, 0.0)


# --- completion around known codes ------------------------------------------------------------------------------
@torch.no_grad()
def solution_complete(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    codes = tokens.clone()
    for t in range(prior.seq_len):
        logits = prior(codes, labels)[:, t] / temperature
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
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
            logits = top_k_filter(logits, top_k)
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


def test_a_wrong_top_p_filter_falls_back_to_the_reference(capsys):
    from course_lib.checks import solved_or_reference

    with pytest.raises(CheckFailed):
        check_top_p_filter(no_shift)
    use = solved_or_reference(no_shift, top_p_filter, "top_p_filter")
    logits = torch.randn(3, 9)
    assert torch.equal(use(logits, 0.6), top_p_filter(logits, 0.6))
    assert "does not pass its check" in capsys.readouterr().out
