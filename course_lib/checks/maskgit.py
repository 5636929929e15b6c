"""Checks for notebook 13's two MaskGIT exercises: the training loss with its cosine mask schedule, and one step of
iterative decoding (Chang et al. 2022, "MaskGIT", arXiv:2202.04200, sec. 3.1-3.3).

    from course_lib.checks.maskgit import check_masked_token_loss, check_masked_decode_step
    check_masked_token_loss(masked_token_loss)        # (model, tokens, generator) -> (loss, mask)
    check_masked_token_loss(masked_token_loss, seed=4, seq_len=12, num_codes=9)   # more cases (hidden tests)
    check_masked_decode_step(masked_decode_step)      # (logits, tokens, mask, n) -> (tokens, mask); n int or (B,)
    check_masked_decode_step(masked_decode_step, seed=5, shape=(3, 12, 7), n=(1, 4, 12))

The loss draws random numbers, so its check cannot compare one output with a reference. It checks what must hold
for ANY correct draw, on a batch of 4,000 sequences: the model saw ``mask_id`` exactly at the returned mask, the
loss is the cross-entropy at the masked positions only, the masked positions are spread uniformly, and the
number masked per row has the distribution of ``ceil(cos(pi r / 2) T)`` with ``r ~ U(0, 1)`` (a Kolmogorov distance
under 0.05 from the exact one; a correct answer fails that with probability below 1e-8). Wrong schedules (the
fraction to keep, a linear one, rounding down) and the other named mistakes are recognised by their own
distributions.
"""
from __future__ import annotations

import math
from typing import Callable, Dict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import CheckFailed, call_student, check_function, passed, records_result
from ..maskgit import masked_decode_step as _step_ref

__all__ = ["check_masked_token_loss", "check_masked_decode_step", "count_distributions"]


# ------------------------------------------------------------------------------------------ the training loss
class _ProbeModel(nn.Module):
    """A stand-in for :class:`course_lib.maskgit.MaskedTokenModel`: fixed random logits that depend on each input
    token and its position (so the loss changes with what the model sees), and a record of every input."""

    def __init__(self, num_codes: int, seq_len: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(5000 + seed)
        self.num_codes, self.seq_len, self.mask_id = num_codes, seq_len, num_codes
        self.table = 2.0 * torch.randn(num_codes + 1, num_codes, generator=g, dtype=torch.float64)
        self.pos = torch.randn(seq_len, num_codes, generator=g, dtype=torch.float64)
        self.scale = nn.Parameter(torch.ones((), dtype=torch.float64))
        self.seen = []

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.scale * (self.table[tokens.long()] + self.pos)

    def forward(self, tokens) -> torch.Tensor:
        t = torch.as_tensor(tokens)
        if t.dim() != 2 or t.shape[1] != self.seq_len:
            raise CheckFailed(f"masked_token_loss: the model takes code sequences (B, {self.seq_len}), it got "
                              f"{tuple(t.shape)}.")
        if t.is_floating_point() or int(t.min()) < 0 or int(t.max()) > self.mask_id:
            raise CheckFailed(f"masked_token_loss: the model takes integer codes in [0, {self.mask_id}] "
                              f"({self.mask_id} = model.mask_id, the [MASK] token); it got values in "
                              f"[{float(t.min()):g}, {float(t.max()):g}].")
        self.seen.append(t.detach().clone().long())
        return self.logits(t)


def count_distributions(seq_len: int) -> Dict[str, np.ndarray]:
    """P(count <= k) for k = 1..T of the number of masked positions per row, under the right schedule and under the
    named wrong ones (the check compares the student's counts with each)."""
    T = int(seq_len)
    k = np.arange(1, T + 1, dtype=np.float64)
    acos = lambda v: np.arccos(np.clip(v, -1.0, 1.0))  # noqa: E731
    r = (np.arange(20000) + 0.5) / 20000                  # midpoints of [0, 1] for the mixtures
    gam = np.cos(np.pi * r / 2)
    from scipy.stats import binom

    bern = np.array([np.mean(binom.cdf(kk, T, gam)) for kk in k])
    return {
        "right": 1 - 2 / np.pi * acos(k / T),                      # ceil(cos(pi r / 2) T)
        "inverted": 2 / np.pi * acos(1 - k / T),                   # ceil((1 - cos(pi r / 2)) T): the share kept
        "linear": k / T,                                           # ceil((1 - r) T)
        "floor": 1 - 2 / np.pi * acos((k + 1) / T),                # max(1, floor(cos(pi r / 2) T))
        "round": 1 - 2 / np.pi * acos((k + 0.5) / T),              # max(1, round(cos(pi r / 2) T))
        "bernoulli": bern,                                         # each position masked with probability gamma
    }


_COUNT_HINTS = {
    "inverted": "you masked the share 1 - gamma(r), the share to KEEP. gamma(r) = cos(pi r / 2) is the share to MASK: "
                "r near 0 masks almost every position, r near 1 almost none.",
    "linear": "your counts follow a linear schedule (1 - r). MaskGIT's schedule is the cosine, gamma(r) = cos(pi r / 2).",
    "floor": "you rounded the count down. The paper masks ceil(gamma(r) T) positions: round up (at least 1).",
    "round": "you rounded the count to the nearest integer. The paper rounds up: ceil(gamma(r) T).",
    "bernoulli": "you masked each position on its own with probability gamma(r), so the count varies by chance. Mask "
                 "exactly n = ceil(gamma(r) T) positions per row: the n positions with the smallest random numbers.",
}


def _loss_mistakes(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> Dict[str, torch.Tensor]:
    k = logits.shape[-1]
    per_pos = F.cross_entropy(logits.reshape(-1, k), tokens.reshape(-1), reduction="none").view(tokens.shape)
    m = mask.double()
    return {
        "you averaged the cross-entropy over ALL positions; the loss counts only the masked positions "
        "(logits[mask], tokens[mask]), the ones the model could not see.": per_pos.mean(),
        "you scored the positions the model could SEE; score the masked ones (logits[mask], tokens[mask]).":
            per_pos[~mask].mean(),
        "you summed the cross-entropy; return the MEAN over the masked positions.": per_pos[mask].sum(),
        "you averaged per row, then over rows; average over all masked positions of the batch at once "
        "(F.cross_entropy(logits[mask], tokens[mask])).": ((per_pos * m).sum(1) / m.sum(1).clamp_min(1)).mean(),
        "you returned bits (divided by log 2); the loss is in nats, as F.cross_entropy gives it.":
            per_pos[mask].mean() / math.log(2),
        "you passed probabilities (a softmax) to the cross-entropy, which applies log-softmax itself: pass the "
        "raw logits.": F.cross_entropy(logits[mask].softmax(-1), tokens[mask]),
        "you used the logits as log-probabilities (nll_loss without log_softmax): normalise them first.":
            F.nll_loss(logits[mask], tokens[mask]),
    }


def _more_counts(student_fn: Callable, K: int, T: int, B: int, seed: int):
    """The masked counts per row of two more calls with other random draws (to tell a count that is always 1 from
    one shared draw of r that happened to give 1)."""
    for extra in (1, 2):
        tokens = torch.randint(0, K, (B, T), generator=torch.Generator().manual_seed(9000 + 31 * seed + extra))
        try:
            out = student_fn(_ProbeModel(K, T, seed), tokens, generator=torch.Generator().manual_seed(177 + extra))
            yield torch.as_tensor(np.asarray(out[1]) if not isinstance(out[1], torch.Tensor) else out[1]).sum(1)
        except Exception:
            return


@records_result
def check_masked_token_loss(student_fn: Callable, seed: int = 0, batch: int = 4000, seq_len: int = 7,
                            num_codes: int = 5) -> None:
    """student_fn(model, tokens (B, T) int64, generator=None) -> (loss, mask): MaskGIT's training loss.

    Per row: draw r ~ U(0, 1), mask n = ceil(cos(pi r / 2) T) positions (at least 1) chosen at random, call the
    model on the tokens with ``model.mask_id`` there, return the mean cross-entropy over all masked positions of the
    batch and the (B, T) bool mask. Checked on ``batch`` random sequences with a stand-in model (module docstring)."""
    name = "masked_token_loss"
    B, T, K = int(batch), int(seq_len), int(num_codes)
    if B < 1000 or T < 4 or K < 2:
        raise ValueError(f"check_masked_token_loss needs batch >= 1000, seq_len >= 4, num_codes >= 2; got {B}, "
                         f"{T}, {K}")
    g = torch.Generator().manual_seed(4000 + 31 * seed)
    tokens = torch.randint(0, K, (B, T), generator=g)
    model = _ProbeModel(K, T, seed)
    given = tokens.clone()
    out = call_student(student_fn, model, given, generator=torch.Generator().manual_seed(77 + seed), name=name)

    # ---- what came back
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"{name}: return the pair (loss, mask): the scalar loss and the (B, T) bool mask you drew.")
    loss, mask = out
    if not isinstance(loss, torch.Tensor):
        raise CheckFailed(f"{name}: the loss is a {type(loss).__name__}; return the tensor F.cross_entropy gives "
                          "(not .item()), so that the optimiser can follow its gradient.")
    if loss.numel() != 1:
        raise CheckFailed(f"{name}: the loss should be one number, got shape {tuple(loss.shape)}.")
    if not loss.requires_grad:
        raise CheckFailed(f"{name}: the loss carries no gradient to the model (detached, or computed without its "
                          "output); compute it from the model's logits.")
    mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).detach().cpu()
    if tuple(mask.shape) != (B, T):
        raise CheckFailed(f"{name}: the mask should have the shape of tokens, {(B, T)}, got {tuple(mask.shape)}.")
    if mask.dtype != torch.bool:
        if bool(((mask != 0) & (mask != 1)).any()):
            raise CheckFailed(f"{name}: the mask should be True (masked) or False, got other values.")
        mask = mask.bool()
    if not torch.equal(given, tokens):
        raise CheckFailed(f"{name}: you changed tokens in place (e.g. tokens[mask] = model.mask_id), so the targets "
                          "are lost; build the model's input as a new tensor (tokens.masked_fill(mask, model.mask_id)).")
    if not model.seen:
        raise CheckFailed(f"{name}: you never called the model; its logits on the masked tokens give the loss.")

    # ---- how many per row
    counts = mask.sum(1)
    if bool((counts == 0).any()):
        raise CheckFailed(f"{name}: {int((counts == 0).sum())} rows have no masked position. " + (
            _COUNT_HINTS["bernoulli"] if int(counts.unique().numel()) > 2 else
            "Mask n = ceil(gamma(r) T) positions per row, at least 1."))
    if bool((counts == counts[0]).all()):
        if int(counts[0]) == 1 and all(bool((c == 1).all()) for c in _more_counts(student_fn, K, T, B, seed)):
            raise CheckFailed(f"{name}: every row masks exactly one position: you compared the positions' ranks with "
                              "the ratio gamma(r), a number below 1. Compare them with the count n = ceil(gamma(r) T).")
        raise CheckFailed(f"{name}: every row masks the same number of positions ({int(counts[0])}): draw one r per "
                          "image, torch.rand(B), not one for the whole batch, so that the model sees every amount of "
                          "context.")
    emp = np.array([float((counts <= k).double().mean()) for k in range(1, T + 1)])
    dists = {key: float(np.abs(emp - cdf).max()) for key, cdf in count_distributions(T).items()}
    if dists["right"] > 0.05:
        wrong = min((k for k in dists if k != "right"), key=dists.get)
        if dists[wrong] <= 0.05:
            raise CheckFailed(f"{name}: {_COUNT_HINTS[wrong]}")
        share = float(counts.double().mean()) / T
        expected = sum(math.ceil(math.cos(math.pi * (i + 0.5) / 2000 / 2) * T) for i in range(2000)) / 2000 / T
        raise CheckFailed(f"{name}: the number masked per row does not follow ceil(cos(pi r / 2) T) with r ~ U(0, 1): "
                          f"you mask {share:.0%} of the positions on average, the schedule about {expected:.0%} (the "
                          f"largest gap between the two distributions is {dists['right']:.2f}).")

    # ---- which positions
    first = torch.arange(T)[None] < counts[:, None]
    if torch.equal(mask, first) or torch.equal(mask, first.flip(1)):
        raise CheckFailed(f"{name}: you masked the {'first' if torch.equal(mask, first) else 'last'} n positions of "
                          "each row; choose them at random (rank the positions by torch.rand(B, T)).")
    freq = mask.double().mean(0)
    if float((freq - freq.mean()).abs().max()) > 0.08:
        raise CheckFailed(f"{name}: some positions are masked far more often than others ({float(freq.min()):.0%} to "
                          f"{float(freq.max()):.0%}); choose the masked positions uniformly at random.")

    # ---- what the model saw
    seen = model.seen[-1]
    expected_in = tokens.masked_fill(mask, K)
    if not torch.equal(seen, expected_in):
        if torch.equal(seen, tokens):
            hint = ("the model saw the true codes everywhere: replace the masked positions with model.mask_id before "
                    "calling it (tokens.masked_fill(mask, model.mask_id)).")
        elif torch.equal(seen, tokens.masked_fill(~mask, K)):
            hint = "you replaced the positions you keep; put model.mask_id where mask is True."
        elif torch.equal(seen[~mask], tokens[~mask]) and not bool((seen[mask] == K).all()):
            hint = (f"the masked positions hold {int(seen[mask][seen[mask] != K][0])}, not model.mask_id ({K}): use "
                    "model.mask_id, the extra [MASK] token, which no real code uses.")
        else:
            hint = ("the model's input should be tokens with model.mask_id at the returned mask's positions and the "
                    "true codes elsewhere; return the mask you used.")
        raise CheckFailed(f"{name}: {hint}")

    # ---- the loss
    with torch.no_grad():
        logits = model.logits(expected_in)
        reference = F.cross_entropy(logits[mask], tokens[mask])
        got = float(loss.detach().double())
        if not math.isclose(got, float(reference), rel_tol=1e-4, abs_tol=1e-5):
            for hint, wrong in _loss_mistakes(logits, tokens, mask).items():
                if math.isclose(got, float(wrong), rel_tol=1e-4, abs_tol=1e-5):
                    raise CheckFailed(f"{name}: {hint}")
            raise CheckFailed(f"{name}: the loss is {got:.5f}, the mean cross-entropy of the true codes at the masked "
                              f"positions is {float(reference):.5f}. Compare your code with the formula above.")
    passed(f"{name} masks ceil(cos(pi r / 2) T) random positions per image, one r each, and scores only those.")


# ------------------------------------------------------------------------------------------ one decoding step
def check_masked_decode_step(student_fn: Callable, seed: int = 0, shape: tuple = (4, 10, 6), n=3) -> None:
    """student_fn(logits (B, T, K), tokens (B, T), mask (B, T) bool, n) -> (tokens, mask): MaskGIT's decoding
    step (keep the n most confident masked predictions, by the softmax probability of the argmax code).

    Three random trials of ``shape`` = (B, T, K). ``n`` an int: the first trial passes it as an int, the other two
    pass one count per row as a (B,) tensor (drawn at random, so a hard-coded count fails); ``n`` a sequence of B
    ints: every trial passes it as a tensor. Rows have different numbers of masked positions, one of them fewer
    than the count, and the known positions hold the most confident predictions of all (so ranking them too
    shows)."""
    b, t, k = shape
    if b < 2 or t < 4 or k < 2:
        raise ValueError(f"check_masked_decode_step needs B >= 2, T >= 4, K >= 2, got {shape}")
    fixed = None if isinstance(n, int) else torch.as_tensor(list(n), dtype=torch.long)
    if fixed is not None and fixed.shape != (b,):
        raise ValueError(f"n must be an int or one value per row ({b}), got {n}")
    name = "masked_decode_step"

    def make_inputs(trial):
        g = torch.Generator().manual_seed(3000 + 31 * seed + trial)
        logits = 3.0 * torch.randn(b, t, k, generator=g)
        if fixed is not None:
            n_arg = fixed
        elif trial == 0:
            n_arg = n
        else:
            n_arg = torch.randint(1, t, (b,), generator=g)
            n_arg[0] = n_arg[1] + 1                                        # rows differ
        counts = torch.as_tensor(n_arg).expand(b) if torch.as_tensor(n_arg).dim() == 0 else torch.as_tensor(n_arg)
        n_masked = torch.randint(2, t, (b,), generator=g)
        n_masked[0] = max(1, int(counts[0]) - 1)                           # a row with fewer masked than its count
        rank = torch.rand(b, t, generator=g).argsort(1).argsort(1)
        mask = rank < n_masked[:, None]
        logits[~mask] *= 4.0                                               # known positions: the most peaked
        tokens = torch.randint(0, k, (b, t), generator=g).masked_fill(mask, k)      # [MASK] = K where unknown
        return logits, tokens, mask, n_arg

    def conf_pred(l):
        return l.softmax(-1).max(-1)

    def keep_by(score, n_):
        rank = score.argsort(1, descending=True).argsort(1)
        return rank < torch.as_tensor(n_).reshape(-1, 1)

    def least(l, tok, m, n_):
        c, p = conf_pred(l)
        keep = keep_by((-c).masked_fill(~m, float("-inf")), n_) & m
        return torch.where(keep, p, tok), m & ~keep

    def all_positions(l, tok, m, n_):
        c, p = conf_pred(l)
        keep = keep_by(c, n_)
        return torch.where(keep, p, tok), m & ~keep

    def by_logit(l, tok, m, n_):
        c, p = l.max(-1)
        keep = keep_by(c.masked_fill(~m, float("-inf")), n_) & m
        return torch.where(keep, p, tok), m & ~keep

    def one_count(pick):
        def wrong(l, tok, m, n_):
            n_ = torch.as_tensor(n_)
            if n_.dim() == 0:
                raise ValueError("not this mistake")
            return _step_ref(l, tok, m, int(pick(n_)))
        return wrong

    mistakes = {
        "you kept the LEAST confident predictions; keep the n with the HIGHEST probability.": least,
        "you ranked every position, known ones too, and overwrote known codes: give the known positions "
        "confidence -inf (or rank only where mask is True).": all_positions,
        "you ranked by the raw logit; the confidence is the softmax probability of the predicted code.": by_logit,
        "you used one count for every row; n holds one count per row (holes differ in size): compare each row's "
        "ranks with its own count, rank < n.reshape(-1, 1).": one_count(lambda v: v[0]),
        "you used the largest count for every row; n holds one count per row: rank < n.reshape(-1, 1).":
            one_count(lambda v: v.max()),
        "you returned the input mask: the kept positions are no longer masked (mask & ~keep).":
            lambda *a: (_step_ref(*a)[0], a[2]),
        "you returned the kept positions as the mask; return the positions that are STILL masked.":
            lambda *a: (_step_ref(*a)[0], a[2] & ~_step_ref(*a)[1]),
        "you wrote predictions into every masked position; write only the n kept ones and leave the rest as "
        "they were.": lambda l, tok, m, n_: (torch.where(m, conf_pred(l)[1], tok), _step_ref(l, tok, m, n_)[1]),
    }

    def _works_with_an_int(args) -> bool:
        try:
            student_fn(*(a.clone() for a in args[:3]), int(args[3][0]))
            return True
        except Exception:
            return False

    def as_pair(*args):                                   # accept a list, NumPy arrays, int32 tokens, 0/1 masks
        try:
            out = call_student(student_fn, *args, name=name)
        except CheckFailed as exc:
            if isinstance(args[3], torch.Tensor) and " raised " in str(exc) and _works_with_an_int(args):
                raise CheckFailed(f"{name}: n can be a (B,) tensor, one count per row (holes differ in size), and "
                                  f"yours failed on one ({str(exc).split(' raised ', 1)[1]}). Compare each row's "
                                  "ranks with its own count: rank < n.reshape(-1, 1).") from None
            raise
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailed(f"{name}: return the pair (tokens, mask).")
        tok, m = (torch.as_tensor(v) for v in out)
        return tok.long(), m.bool()

    check_function(as_pair, _step_ref, make_inputs, name=name, mistakes=mistakes, trials=3,
                   output_names=("tokens", "mask"), announce=False)
    passed("masked_decode_step keeps the n most confident masked predictions, row by row, and leaves the known "
           "codes alone.")


check_masked_decode_step = records_result(check_masked_decode_step)
