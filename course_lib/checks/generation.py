"""Checks for notebook 12 (generation with transformers): the nucleus (top-p) filter on logits, completing a
code sequence around known codes, and one attention step with a key/value cache
(:func:`check_cached_attention`, reference :func:`course_lib.prior.cached_attention_step`). The top-k *probabilities* and the plain sampling loop are checked in
:mod:`course_lib.checks.prior` (notebook 06); they are re-exported here.

    from course_lib.checks.generation import check_complete_codes, check_top_p_filter
    check_top_p_filter(top_p_filter)       # top_p_filter(logits (..., K), p) -> logits with -inf outside the nucleus
    check_complete_codes(complete_codes)   # complete_codes(prior, tokens, keep, labels, temperature, top_k, generator)
    check_top_p_filter(top_p_filter, seed=1, trials=(((5, 2, 9), 0.8, 2.0), ((3, 16), 0.95, 0.5)))   # hidden tests
    check_complete_codes(complete_codes, seed=1, temperature=0.5, top_k=2)
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import CheckFailed, call_student, check_function, outputs_match, passed, records_result
from ..prior import CodePrior, cached_attention_step as _cached_step_ref, top_k_filter as _top_k_filter_ref, top_p_filter as _top_p_filter_ref
from .prior import _check_prior, check_sampling_loop, check_top_k_probs, top_k_probs_reference

__all__ = ["check_complete_codes", "check_top_p_filter", "complete_codes_reference", "check_top_k_probs",
           "check_sampling_loop", "check_cached_attention"]


# ----------------------------------------------------------------------------------------------------------------
# Nucleus (top-p) filter on logits
# ----------------------------------------------------------------------------------------------------------------
def _mass_above(logits: torch.Tensor, descending: bool = True):
    """(probabilities sorted, the order, the mass ranked above each sorted entry), along the last dim."""
    probs = F.softmax(logits.double(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=descending)
    return sorted_probs, order, sorted_probs.cumsum(-1) - sorted_probs


def _unsort(mask_sorted: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(mask_sorted).scatter(-1, order, mask_sorted)


def _nucleus_logits(logits: torch.Tensor, p: float, rule: str) -> torch.Tensor:
    """Known wrong answers of top_p_filter, by name (used to name a student's mistake)."""
    neg = float("-inf")
    sorted_probs, order, above = _mass_above(logits)
    if rule == "no_shift":               # drop the code whose running sum crosses p (and so, often, all of them)
        return logits.masked_fill(_unsort(sorted_probs.cumsum(-1) > p, order), neg)
    if rule == "ascending":              # sorted from the least likely code
        s2, o2, above2 = _mass_above(logits, descending=False)
        return logits.masked_fill(_unsort(above2 >= p, o2), neg)
    if rule == "on_logits":              # running sum of the logits themselves, not of probabilities
        sl, ol = logits.sort(dim=-1, descending=True)
        return logits.masked_fill(_unsort(sl.cumsum(-1) - sl >= p, ol), neg)
    if rule == "no_unsort":              # the mask built in sorted order, applied to the unsorted logits
        return logits.masked_fill(above >= p, neg)
    if rule == "sorted_out":             # the right mask, but the logits returned in sorted order
        return logits.gather(-1, order).masked_fill(above >= p, neg)
    if rule == "zero":
        return logits.masked_fill(_unsort(above >= p, order), 0.0)
    if rule == "probs":
        return F.softmax(_top_p_filter_ref(logits, p), dim=-1)
    if rule == "wrong_dim":              # softmax and sort along dim 1 of a 3-D (B, T, K) input
        if logits.dim() != 3:
            raise ValueError("only for 3-D inputs")
        t = logits.transpose(1, 2)
        return _top_p_filter_ref(t, p).transpose(1, 2)
    raise ValueError(rule)


_TOP_P_TRIALS = (((4, 10), 0.9, 1.0), ((2, 3, 12), 0.5, 1.5), ((6, 8), 0.3, 3.0))


@records_result
def check_top_p_filter(student_fn: Callable, seed: int = 0, trials: tuple = _TOP_P_TRIALS) -> None:
    """student_fn(logits (..., K), p) -> logits of the same shape: the nucleus unchanged, every other entry -inf.

    The nucleus of one row is the smallest set of its most likely codes whose probabilities sum to at least p.
    ``trials``: (shape, p, scale of the random logits) per trial; the default tries (B, K) and (B, T, K) logits and
    peaked rows whose most likely code alone holds more than p (vary ``seed`` and ``trials`` for more cases).
    Random logits are redrawn until no code sits within 1e-4 of the cut, so float32 and float64 answers agree."""
    for shape, p, _ in trials:
        if not 0 < p < 1 or len(shape) < 2:
            raise ValueError(f"each trial needs 0 < p < 1 and logits of at least 2 dims, got {shape}, {p}")

    def make_inputs(trial):
        shape, p, scale = trials[trial]
        g = torch.Generator().manual_seed(300 + 31 * seed + trial)
        for _ in range(100):
            logits = scale * torch.randn(*shape, generator=g)
            _, _, above = _mass_above(logits)
            if bool(((above - p).abs() > 1e-4).all()):
                break
        return (logits.double() if trial == 1 else logits), p

    mistakes = {
        "you dropped the code whose probability takes the running sum past p. The nucleus is the smallest set whose "
        "mass REACHES p, so it includes that code (and always the most likely one).":
            lambda l, p: _nucleus_logits(l, p, "no_shift"),
        "you sorted from the least likely code. Sort in descending order (torch.sort(..., descending=True)) so that "
        "the running sum starts with the most likely code.":
            lambda l, p: _nucleus_logits(l, p, "ascending"),
        "you summed the logits, not probabilities. Take the softmax first: p is a share of the probability.":
            lambda l, p: _nucleus_logits(l, p, "on_logits"),
        "your mask is in sorted order but was applied to the unsorted logits. Scatter it back to each code's own "
        "position first (mask.scatter(-1, order, sorted_mask)).":
            lambda l, p: _nucleus_logits(l, p, "no_unsort"),
        "you returned the logits in sorted order. Keep each logit at its code's position: only the filtered ones "
        "change, to -inf.":
            lambda l, p: _nucleus_logits(l, p, "sorted_out"),
        "you set the filtered logits to 0, not -inf. exp(0) = 1 is a perfectly likely code after the softmax; use "
        "float('-inf') so that their probability becomes exactly 0.":
            lambda l, p: _nucleus_logits(l, p, "zero"),
        "you returned probabilities (a softmax). This function filters LOGITS: return them with -inf outside the "
        "nucleus, and let the sampler apply the softmax.":
            lambda l, p: _nucleus_logits(l, p, "probs"),
        "on (B, T, K) logits you worked along dim 1. The codes are along the LAST dim: use dim=-1 in the softmax, "
        "the sort and the cumsum, so that any leading shape works.":
            lambda l, p: _nucleus_logits(l, p, "wrong_dim"),
    }
    try:
        check_function(student_fn, _top_p_filter_ref, make_inputs, name="top_p_filter", mistakes=mistakes,
                       trials=len(trials),
                       success="top_p_filter keeps the smallest set of the most likely codes whose probabilities "
                               "reach p, on (B, K) and (B, T, K) logits.")
    except CheckFailed as exc:
        if not getattr(exc, "unsolved", False) and _is_top_k(student_fn, *make_inputs(0)):
            raise CheckFailed("top_p_filter: you kept a fixed number of codes (top-k). The nucleus changes size with "
                              "the row: few codes where the prior is sure, many where it is not.") from None
        raise


def _is_top_k(student_fn: Callable, logits: torch.Tensor, p: float) -> bool:
    """Whether the student's output on ``logits`` is top_k_filter(logits, k) for one k (a common wrong answer)."""
    try:
        with torch.no_grad():
            got = student_fn(logits.clone(), p)
    except Exception:
        return False
    if not isinstance(got, torch.Tensor) or got.shape != logits.shape:
        return False
    return any(outputs_match(got, _top_k_filter_ref(logits, k)) for k in range(1, logits.shape[-1]))


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


# ----------------------------------------------------------------------------------------------------------------
# One attention step with a key/value cache
# ----------------------------------------------------------------------------------------------------------------
_KV_CASES = ((2, 3, 8, 4), (1, 2, 16, 0), (3, 1, 5, 9))           # (B, H, d, S cached positions; 0: cache None)


def _kv_inputs(seed: int, cases=_KV_CASES):
    g = torch.Generator().manual_seed(700 + seed)
    B, H, d, S = cases[seed % len(cases)]
    q, k, v = (torch.randn(B, H, 1, d, generator=g, dtype=torch.float64) for _ in range(3))
    cache = None if S == 0 else (torch.randn(B, H, S, d, generator=g, dtype=torch.float64),
                                 torch.randn(B, H, S, d, generator=g, dtype=torch.float64))
    return q, k, v, cache


def _probe_kv(fn: Callable, name: str = "cached_attention_step") -> Callable:
    """fn(q, k, v, cache) -> {"output", "cached keys", "cached values"}, with shape problems named."""

    def probe(q, k, v, cache):
        B, H, _, d = q.shape
        S = 0 if cache is None else cache[0].shape[2]
        try:
            res = fn(q, k, v, cache)
        except NotImplementedError:
            raise
        except RuntimeError as exc:
            if "Sizes of tensors must match" in str(exc) or "size of tensor" in str(exc):
                raise CheckFailed(f"{name}: torch raised \"{str(exc).splitlines()[0]}\". Check the concatenation "
                                  f"axis: the cache grows along the positions axis, dim 2 of (B, H, S, d).") from None
            raise
        if not (isinstance(res, (tuple, list)) and len(res) == 2 and isinstance(res[1], (tuple, list))
                and len(res[1]) == 2):
            raise CheckFailed(f"{name} should return (out, (k_all, v_all)): the output and the updated cache.")
        out, (k_all, v_all) = res
        k_all, v_all = torch.as_tensor(k_all), torch.as_tensor(v_all)
        want = (B, H, S + 1, d)
        for what, t in (("keys", k_all), ("values", v_all)):
            if tuple(t.shape) != want:
                if S and tuple(t.shape) == (B, H, S, d):
                    raise CheckFailed(f"{name}: the cache is not updated: the returned {what} still hold the {S} "
                                      f"old positions. Append the new one, so the next step can attend to it.")
                axis = next((i for i in range(4) if t.dim() == 4 and t.shape[i] != want[i]), None)
                raise CheckFailed(f"{name}: the returned cached {what} have shape {tuple(t.shape)}, expected {want}"
                                  + (f": concatenated along dim {axis}, not along the positions axis (dim 2)."
                                     if axis is not None and axis != 2 else "."))
        return {"output": torch.as_tensor(out), "cached keys": k_all, "cached values": v_all}

    return probe


def _kv_variant(mode: str) -> Callable:
    """The reference with one mistake: the named mistakes of :func:`check_cached_attention`."""

    def fn(q, k, v, cache):
        k_all = k if cache is None else (torch.cat([k, cache[0]], 2) if mode == "prepend" else torch.cat([cache[0], k], 2))
        v_all = v if cache is None else (torch.cat([v, cache[1]], 2) if mode == "prepend" else torch.cat([cache[1], v], 2))
        keys, values = (k, v) if mode == "new only" else (k_all, v_all)
        scores = q @ keys.transpose(-2, -1)
        if mode != "no scale":
            scores = scores / (q.shape[-1] ** 0.5 if mode != "scale d" else q.shape[-1])
        if mode == "causal mask":                    # tril of a (1, S+1) block: the query sees key 0 only
            scores = scores.masked_fill(~torch.ones(1, keys.shape[2], dtype=torch.bool).tril(), float("-inf"))
        out = F.softmax(scores, dim=-1) @ values
        if mode == "softmax over queries":
            out = F.softmax(scores, dim=-2) @ values
        return out, (k_all, v_all)

    return fn


def _full_causal(q, k, v):
    T = q.shape[2]
    scores = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return F.softmax(scores, dim=-1) @ v


@records_result
def check_cached_attention(student_fn: Callable, seed: int = 0, cases=_KV_CASES, steps: int = 6) -> None:
    """Check ``student_fn(q, k, v, cache) -> (out, (k_all, v_all))`` (q, k, v: (B, H, 1, d); cache None or
    (k_past, v_past), each (B, H, S, d)) against :func:`course_lib.prior.cached_attention_step` on one step per case,
    then that ``steps`` cached steps from ``cache=None`` equal full causal attention over the same positions.
    ``seed`` and ``cases`` change the inputs (a hidden test uses others)."""
    name = getattr(student_fn, "__name__", "") or "cached_attention_step"
    name = name if name.isidentifier() else "cached_attention_step"
    mistakes = {
        "the query attends only to the new key and value: attend over the whole cache, old positions and new.":
            _kv_variant("new only"),
        "the scores are not scaled: divide q k^T by sqrt(d), d the size of one head.": _kv_variant("no scale"),
        "the scores are divided by d: the scale is 1 / sqrt(d).": _kv_variant("scale d"),
        "a causal mask cut the new query off from all keys but the first: the new position is the latest one, so "
        "every cached position is in its past; no mask is needed here.": _kv_variant("causal mask"),
        "the new key and value are put before the cached ones: append them at the end, so the cache keeps the "
        "positions in order.": _kv_variant("prepend"),
        "the softmax runs over the wrong axis: normalise over the keys (the last axis of the scores).":
            _kv_variant("softmax over queries"),
    }
    check_function(_probe_kv(student_fn, name), _probe_kv(_cached_step_ref), lambda i: _kv_inputs(seed + i, cases),
                   name=name, mistakes={hint: _probe_kv(fn) for hint, fn in mistakes.items()}, atol=1e-5, rtol=1e-4,
                   trials=len(cases), announce=False)
    g = torch.Generator().manual_seed(900 + seed)
    q, k, v = (torch.randn(2, 2, steps, 8, generator=g, dtype=torch.float64) for _ in range(3))
    cache, outs = None, []
    for t in range(steps):
        out, cache = call_student(student_fn, q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], cache, name=name)
        outs.append(torch.as_tensor(out).double())
    if not torch.allclose(torch.cat(outs, 2), _full_causal(q, k, v), atol=1e-5, rtol=1e-4):
        raise CheckFailed(f"{name}: {steps} cached steps from cache=None do not reproduce full causal attention "
                          f"over the {steps} positions. Does the first step (cache None) start the cache with the "
                          f"new key and value?")
    passed(f"{name}: the new key and value appended to the cache, the new query attending to every position with "
           f"1/sqrt(d); {steps} cached steps equal full causal attention.")
