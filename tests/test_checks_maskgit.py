"""course_lib.checks.maskgit: MaskGIT's training loss (exercise 2 of notebook 13) and one decoding step (exercise 3).

Each check must accept right answers written differently, reject the stub and the named wrong answers (the brief's:
the loss over all positions, the schedule inverted, the same count for every image, the ratio used as a count), and
the visible check of the decoding step must already reject a scalar or hard-coded count (review: exercise-checks.md,
1b)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, solved_or_reference
from course_lib.checks.maskgit import check_masked_decode_step, check_masked_token_loss, count_distributions


def stub(*args, **kwargs):
    raise NotImplementedError()


# --- the training loss ------------------------------------------------------------------------------------------
HIDDEN_LOSS = dict(seed=4, seq_len=12, num_codes=9)


def _counts(r, T, how="ceil"):
    g = torch.cos(math.pi * r / 2) * T
    return {"ceil": torch.ceil(g), "floor": torch.floor(g), "round": torch.round(g)}[how].clamp(1, T)


def make_loss(count=None, order="rank", feed="mask_id", score="masked", r_shape="per_row", ret="pair"):
    """A family of answers: the right one by default, one named mistake per changed argument."""

    def fn(model, tokens, generator=None):
        B, T = tokens.shape
        r = torch.rand(B if r_shape == "per_row" else (), generator=generator)
        noise = torch.rand(B, T, generator=generator)
        if count == "bernoulli":
            mask = noise < torch.cos(math.pi * r / 2).reshape(-1, 1)
        else:
            if count is None:
                n = _counts(r, T)
            elif count == "inverted":
                n = torch.ceil((1 - torch.cos(math.pi * r / 2)) * T).clamp(1, T)
            elif count == "linear":
                n = torch.ceil((1 - r) * T).clamp(1, T)
            elif count == "ratio":
                n = torch.cos(math.pi * r / 2)
            else:
                n = _counts(r, T, count)
            n = n.expand(B) if n.dim() == 0 else n
            rank = noise.argsort(1).argsort(1) if order == "rank" else torch.arange(T).expand(B, T)
            mask = rank < n.reshape(-1, 1)
        inp = {"mask_id": tokens.masked_fill(mask, model.mask_id), "zero": tokens.masked_fill(mask, 0),
               "none": tokens}[feed]
        logits = model(inp)
        if score == "masked":
            loss = F.cross_entropy(logits[mask], tokens[mask])
        elif score == "all":
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))
        elif score == "sum":
            loss = F.cross_entropy(logits[mask], tokens[mask], reduction="sum")
        else:   # per row
            ce = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none")
            loss = ((ce * mask).sum(1) / mask.sum(1)).mean()
        if ret == "loss":
            return loss
        if ret == "item":
            return loss.item(), mask
        return loss, mask
    return fn


def loss_by_permutation(model, tokens, generator=None):
    """A different right answer: NumPy for the ratio, a loop of randperm, float64 logits, a 0/1 int mask."""
    B, T = tokens.shape
    rng = np.random.default_rng(0)
    n = np.clip(np.ceil(np.cos(np.pi * rng.random(B) / 2) * T), 1, T).astype(int)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        mask[b, torch.randperm(T)[: n[b]]] = 1
    logits = model(torch.where(mask.bool(), torch.full_like(tokens, model.mask_id), tokens)).double()
    return F.nll_loss(F.log_softmax(logits[mask.bool()], -1), tokens[mask.bool()]), mask.numpy()


def loss_by_topk(model, tokens, generator=None):
    B, T = tokens.shape
    n = torch.ceil(torch.cos(0.5 * math.pi * torch.rand(B, 1, dtype=torch.float64)) * T).clamp_min(1).long()
    order = torch.rand(B, T).argsort(dim=1)
    mask = torch.zeros(B, T, dtype=torch.bool)
    for b in range(B):
        mask[b, order[b, : int(n[b])]] = True
    out = model(tokens.masked_fill(mask, model.mask_id))
    return F.cross_entropy(out[mask], tokens[mask]), mask


def test_the_library_version_passes(capsys):
    from course_lib.maskgit import masked_token_loss

    check_masked_token_loss(masked_token_loss)
    check_masked_token_loss(masked_token_loss, **HIDDEN_LOSS)
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize("fn", [make_loss(), loss_by_permutation, loss_by_topk],
                         ids=["rank of noise", "randperm + numpy + float64", "topk-style loop"])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_LOSS])
def test_masked_token_loss_accepts(fn, kwargs, capsys):
    check_masked_token_loss(fn, **kwargs)
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (make_loss(score="all"), "over ALL positions"),                       # the loss over all positions
    (make_loss(count="inverted"), "share to KEEP"),                       # the schedule inverted
    (make_loss(r_shape="batch"), "same number of positions"),             # the same count for every image
    (make_loss(count="ratio"), "ratio gamma"),                            # the ratio compared with ranks
    (make_loss(count="bernoulli"), "probability gamma"),                  # the ratio as a per-position probability
    (make_loss(count="linear"), "linear schedule"),
    (make_loss(count="floor"), "rounded the count down"),
    (make_loss(order="first"), "first n positions"),
    (make_loss(feed="none"), "true codes everywhere"),
    (make_loss(feed="zero"), "not model.mask_id"),
    (make_loss(score="sum"), "summed"),
    (make_loss(score="per_row"), "averaged per row"),
    (make_loss(ret="loss"), "return the pair"),
    (make_loss(ret="item"), "not .item()"),
])
@pytest.mark.parametrize("kwargs", [{}, HIDDEN_LOSS])
def test_masked_token_loss_rejects(wrong, hint, kwargs):
    with pytest.raises(CheckFailed, match=hint):
        check_masked_token_loss(wrong, **kwargs)


def test_masked_token_loss_rejects_an_in_place_change_of_the_tokens():
    def in_place(model, tokens, generator=None):
        loss, mask = make_loss()(model, tokens.clone(), generator)
        tokens[mask] = 0
        return loss, mask
    with pytest.raises(CheckFailed, match="in place"):
        check_masked_token_loss(in_place)


def test_the_count_distributions_are_far_apart_at_the_sizes_checked():
    """The check tells the named schedules apart only if their distributions differ by well over its 0.05 tolerance
    at the sizes it uses; a correct answer's empirical gap is far below it (4,000 rows: sd about 0.008). Masking
    each position with probability gamma(r) is caught first by its rows with nothing masked."""
    for T in (7, 12):
        d = count_distributions(T)
        for key in ("inverted", "linear", "floor", "round"):
            assert np.abs(d[key] - d["right"]).max() > 0.075, (T, key)
    assert np.abs(count_distributions(7)["bernoulli"] - count_distributions(7)["right"]).max() > 0.065


def test_a_wrong_loss_falls_back_to_the_reference_in_later_cells(capsys):
    from course_lib.maskgit import masked_token_loss

    wrong = make_loss(score="all")
    with pytest.raises(CheckFailed):
        check_masked_token_loss(wrong)
    fn = solved_or_reference(wrong, masked_token_loss, "masked_token_loss")
    assert fn.__wrapped__ is wrong
    from course_lib.maskgit import MaskedTokenModel
    m = MaskedTokenModel(4, 6, d_model=8, n_layers=1, n_heads=2)
    out = fn(m, torch.randint(0, 4, (5, 6)), generator=torch.Generator().manual_seed(0))
    assert hasattr(out, "mask")                                           # the library's MaskedLoss
    assert "does not pass its check" in capsys.readouterr().out


def test_check_masked_token_loss_bad_arguments():
    with pytest.raises(ValueError):
        check_masked_token_loss(make_loss(), batch=10)


# --- one decoding step ------------------------------------------------------------------------------------------
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


def solution_topk(logits, tokens, mask, n):                # ranks of -inf-filled confidences
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


def _python_int(l, t, m, n):                               # the review's W5: n used as a Python int
    conf, pred = l.softmax(-1).max(-1)
    rank = conf.masked_fill(~m, float("-inf")).argsort(1, descending=True).argsort(1)
    keep = m & (rank < int(n))
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
    (_python_int, "one count per row"),
    (lambda l, t, m, n: solution_topk(l, t, m, 3), "masked_decode_step"),                  # n hard-coded to 3
    (lambda l, t, m, n: solution_topk(l, t, m, torch.as_tensor(n).max()), "largest count"),
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
