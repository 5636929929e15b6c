"""Checks for notebook 12 (generation with transformers): completing a code sequence around known codes, and the
top-k filter on logits. The top-k *probabilities* and the plain sampling loop are checked in
:mod:`course_lib.checks.prior` (notebook 06); they are re-exported here.

    from course_lib.checks.generation import check_complete_codes, check_top_k_filter
    check_complete_codes(complete_codes)   # complete_codes(prior, tokens, keep, labels, temperature, top_k, generator)
    check_top_k_filter(top_k_filter)       # top_k_filter(logits (B, K), k) -> logits with -inf outside the top k
    check_complete_codes(complete_codes, seed=1, temperature=0.5, top_k=2)   # more cases (hidden tests)
    check_top_k_filter(top_k_filter, seed=1, shape=(3, 2, 7), ks=(2, 7))
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import CheckFailed, call_student, check_function, passed
from ..prior import CodePrior, top_k_filter as _top_k_filter_ref
from .prior import _check_prior, check_sampling_loop, check_top_k_probs, top_k_probs_reference

__all__ = ["check_complete_codes", "check_top_k_filter", "complete_codes_reference", "check_top_k_probs",
           "check_sampling_loop"]


# ----------------------------------------------------------------------------------------------------------------
# Top-k on logits
# ----------------------------------------------------------------------------------------------------------------
def _keep(logits: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    idx = torch.topk(logits, k, dim=-1, largest=largest).indices
    return torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)


def check_top_k_filter(student_fn: Callable, seed: int = 0, shape: tuple = (4, 10), ks: tuple = (3, 1, 6)) -> None:
    """student_fn(logits (B, K), k) -> (B, K): the k largest logits unchanged, every other entry -inf.

    One trial per k in ``ks`` on random logits of ``shape`` (vary ``seed``, ``shape`` and ``ks`` for more cases)."""
    if any(not 1 <= k <= shape[-1] for k in ks):
        raise ValueError(f"every k must lie in [1, {shape[-1]}], got {ks}")

    def make_inputs(trial):
        g = torch.Generator().manual_seed(200 + 17 * seed + trial)
        return 2.0 * torch.randn(*shape, generator=g), ks[trial]

    mistakes = {
        "you set the filtered logits to 0, not -inf. exp(0) = 1 is a perfectly likely code after the softmax; use "
        "float('-inf') so that their probability becomes exactly 0.":
            lambda l, k: l.masked_fill(~_keep(l, k), 0.0),
        "you kept the k SMALLEST logits. Keep the k largest (torch.topk(logits, k) returns the largest by default).":
            lambda l, k: l.masked_fill(~_keep(l, k, largest=False), float("-inf")),
        "you kept only k-1 logits: the k-th largest must survive (mask with `<` the k-th value, not `<=`).":
            lambda l, k: l.masked_fill(l <= torch.topk(l, k, -1).values[..., -1:], float("-inf")),
        "you returned probabilities (a softmax). This function filters LOGITS: return them with -inf outside the "
        "top k, and let the sampler apply the softmax.":
            lambda l, k: F.softmax(_top_k_filter_ref(l, k), dim=-1),
        "you masked the wrong entries: the k largest became -inf and the rest survived.":
            lambda l, k: l.masked_fill(_keep(l, k), float("-inf")),
    }
    check_function(student_fn, _top_k_filter_ref, make_inputs, name="top_k_filter", mistakes=mistakes, trials=len(ks),
                   success="top_k_filter keeps the k largest logits and sets the rest to -inf.")


# ----------------------------------------------------------------------------------------------------------------
# Completion around known codes
# ----------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def complete_codes_reference(prior: CodePrior, tokens: torch.Tensor, keep: torch.Tensor,
                             labels: Optional[torch.Tensor] = None, temperature: float = 1.0,
                             top_k: Optional[int] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Fill the positions where keep is False, in raster order, each from p(c_t | c_<t, label); keep the rest."""
    codes = tokens.clone()
    for t in range(prior.seq_len):
        logits = prior(codes, labels)[:, t]
        new = torch.multinomial(top_k_probs_reference(logits, top_k, temperature), 1, generator=generator).squeeze(1)
        codes[:, t] = torch.where(keep[:, t], tokens[:, t], new)
    return codes


@torch.no_grad()
def _greedy_variant(prior, tokens, keep, labels, mode: str) -> torch.Tensor:
    if mode == "paste_after":          # sample as if nothing were known, then paste the known codes in
        codes = torch.zeros_like(tokens)
        for t in range(prior.seq_len):
            codes[:, t] = prior(codes, labels)[:, t].argmax(-1)
        return torch.where(keep, tokens, codes)
    if mode == "no_labels":
        return complete_codes_reference(prior, tokens, keep, None, top_k=1)
    raise ValueError(mode)


def _one_free_position(prior: CodePrior, seed: int, copies: int):
    """A batch in which each of n contexts leaves exactly ONE position free (all others known), repeated `copies`
    times: the free code's distribution is then exactly p(c_t | c_<t, label) after temperature and top-k, which the
    check can compare with the student's empirical frequencies."""
    K, T = prior.num_codes, prior.seq_len
    g = torch.Generator().manual_seed(1000 + seed)
    n = 6
    ctx = torch.randint(0, K, (n, T), generator=g)
    free_at = torch.randint(1, T, (n,), generator=g)
    keep = torch.ones(n, T, dtype=torch.bool)
    keep[torch.arange(n), free_at] = False
    labels = torch.arange(n) % prior.num_classes
    rep = lambda t: t.repeat_interleave(copies, dim=0)  # noqa: E731
    return ctx, free_at, labels, rep(ctx), rep(keep), rep(labels)


def _tv(p: torch.Tensor, q: torch.Tensor) -> float:
    """Mean total-variation distance between rows of two (n, K) distributions."""
    return float(0.5 * (p - q).abs().sum(-1).mean())


def check_complete_codes(student_fn: Callable, seed: int = 0, temperature: float = 2.0, top_k: Optional[int] = 3,
                         copies: int = 1500, tolerance: float = 0.06) -> None:
    """student_fn(prior, tokens (n, T), keep (n, T) bool, labels (n,), temperature, top_k, generator) -> (n, T).

    Tried at the given ``temperature`` and ``top_k`` (vary them, and ``seed``, for more cases): the known codes must
    be kept; with top_k=1 the completion must be the greedy one; and at each free position the codes must be drawn
    from softmax(top_k_filter(logits / temperature, top_k)), compared as frequencies over ``copies`` draws (a mean
    total-variation distance below ``tolerance``)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    prior = _check_prior(K=6, T=8, num_classes=3, seed=4321 + seed)
    with torch.no_grad():
        prior.start_emb.weight.mul_(30.0)     # a class token that matters, so that ignoring the label shows
    K, T = prior.num_codes, prior.seq_len
    g = torch.Generator().manual_seed(seed)
    n = 6
    tokens = torch.randint(0, K, (n, T), generator=g)
    keep = torch.zeros(n, T, dtype=torch.bool)
    keep[:, 2 + seed % 3:4 + seed % 3] = True  # known codes in the middle: later codes must be conditioned on them
    keep[::2, 6] = True
    labels = (torch.arange(n) + seed) % prior.num_classes

    def call(temp, k, gen_seed, tok=tokens, kp=keep, lab=labels):
        out = call_student(student_fn, prior, tok.clone(), kp.clone(), lab.clone(), temp, k,
                           torch.Generator().manual_seed(gen_seed), name="complete_codes")
        if not isinstance(out, torch.Tensor) or out.shape != tok.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"complete_codes should return a tensor shaped like tokens {tuple(tok.shape)}, got {shape}.")
        if out.dtype != torch.long:
            raise CheckFailed(f"complete_codes should return int64 code indices, got {out.dtype}.")
        if int(out.min()) < 0 or int(out.max()) >= K:
            raise CheckFailed(f"codes must lie in [0, {K}), got range [{int(out.min())}, {int(out.max())}].")
        return out

    # 1) known codes are kept, also when sampling freely
    out = call(temperature, top_k, seed)
    if not torch.equal(out[keep], tokens[keep]):
        bad = int((out[keep] != tokens[keep]).sum())
        raise CheckFailed(
            f"complete_codes changed {bad} of the {int(keep.sum())} known codes: where keep is True, the output must "
            "be the given token (torch.where(keep[:, t], tokens[:, t], sampled)).")
    # 2) greedy (top_k=1) completion must match the reference exactly
    got = call(temperature, 1, seed + 1)
    expected = complete_codes_reference(prior, tokens, keep, labels, top_k=1)
    if not torch.equal(got, expected):
        for mode, hint in (
            ("paste_after", "you sampled the whole sequence first and pasted the known codes in afterwards, so the "
                            "free codes never saw them. Keep the known codes IN the sequence while you sample: the "
                            "code after a known one must be conditioned on it."),
            ("no_labels", "the class labels are ignored: pass them to the prior (prior(codes, labels)), so the "
                          "completion is conditioned on the class token."),
        ):
            if torch.equal(got, _greedy_variant(prior, tokens, keep, labels, mode)):
                raise CheckFailed(f"complete_codes: {hint}")
        bad = int((got != expected).sum())
        raise CheckFailed(
            f"complete_codes with top_k=1 should be the greedy completion (argmax of p(c_t | c_<t, label) at each "
            f"free position), but {bad} codes differ. Loop over t in raster order: run prior(codes, labels), take "
            "logits[:, t], draw, and keep the known code where keep[:, t] is True.")
    # 3) each free code is drawn from softmax(top_k_filter(logits / temperature, top_k)): frequencies over many draws
    ctx, free_at, ctx_labels, tok_rep, keep_rep, lab_rep = _one_free_position(prior, seed, copies)
    with torch.no_grad():
        logits = prior(ctx, ctx_labels)[torch.arange(len(ctx)), free_at]           # (n, K) at each free position
    for k in ((top_k, None) if top_k is not None else (None,)):
        many = call(temperature, k, seed + 2, tok=tok_rep, kp=keep_rep, lab=lab_rep)
        drawn = many[torch.arange(len(many)), free_at.repeat_interleave(copies)].view(len(ctx), copies)
        freq = F.one_hot(drawn, K).float().mean(1)                                  # (n, K) empirical
        if bool((freq.max(-1).values == 1).all()):
            raise CheckFailed(f"complete_codes: with temperature {temperature:g} and top_k={k}, {copies} completions of "
                              "each context are all identical: draw with torch.multinomial(probs, 1) instead of "
                              "taking the argmax.")
        expected_p = top_k_probs_reference(logits, k, temperature)
        distance = _tv(freq, expected_p)
        if distance <= tolerance:
            continue
        wrongs = {
            "you multiplied the logits by the temperature; divide instead (p ~ exp(logit / temperature), so a "
            "temperature above 1 flattens the distribution).": F.softmax(_top_k_filter_ref(logits * temperature, k), -1),
            "the temperature is ignored: divide the logits by it before the softmax.":
                F.softmax(_top_k_filter_ref(logits, k), -1),
        }
        if k is not None:
            wrongs["top_k is ignored: codes outside the k most likely ones are still drawn. Filter the logits with "
                   "top_k_filter(logits, top_k) before the softmax."] = F.softmax(logits / temperature, -1)
        hint, d = min(((h, _tv(freq, p)) for h, p in wrongs.items()), key=lambda hd: hd[1])
        if d <= tolerance:
            raise CheckFailed(f"complete_codes (temperature {temperature:g}, top_k={k}): {hint}")
        raise CheckFailed(
            f"complete_codes (temperature {temperature:g}, top_k={k}): the free codes are not drawn from "
            f"softmax(top_k_filter(logits / temperature, top_k)); their frequencies over {copies} draws are "
            f"{distance:.2f} away (total variation) from that distribution.")
    passed(f"complete_codes keeps the known codes and samples the rest conditioned on them and on the label "
           f"(temperature {temperature:g}, top_k={top_k}).")
