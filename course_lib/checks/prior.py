"""Checks for notebook 06 (priors and sampling): the causal mask, top-k / temperature probabilities, and the
autoregressive sampling loop.

    from course_lib.checks.prior import check_causal_mask, check_top_k_probs, check_sampling_loop
    check_causal_mask(causal_mask)                 # causal_mask(T) -> (T, T) bool, True = may attend
    check_top_k_probs(top_k_probs)                 # top_k_probs(logits (B, K), k, temperature) -> probs (B, K)
    check_sampling_loop(sample_codes)              # sample_codes(prior, n, temperature, top_k, generator) -> (n, T)
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import CheckFailed, call_student, check_function, describe_mismatch, passed
from ..prior import CodePrior, causal_mask as _causal_mask_ref, top_k_filter

__all__ = ["check_causal_mask", "check_top_k_probs", "check_sampling_loop", "top_k_probs_reference",
           "sample_codes_reference"]


# ----------------------------------------------------------------------------------------------------------------
# The causal mask
# ----------------------------------------------------------------------------------------------------------------
def check_causal_mask(student_fn: Callable[[int], torch.Tensor], sizes=(4, 1, 7)) -> None:
    """student_fn(T) must return the (T, T) bool mask with True where query i may attend to key j (j <= i).
    ``sizes``: the sequence lengths tried (the hidden tests try others)."""
    sizes = tuple(int(T) for T in sizes)
    got = call_student(student_fn, sizes[0], name="causal_mask")
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"causal_mask should return a torch.Tensor, got {type(got).__name__}.")
    if got.dtype != torch.bool:
        raise CheckFailed(
            f"causal_mask should return a boolean tensor (True = may attend), got dtype {got.dtype}; "
            "masked_fill needs a bool mask. torch.ones(T, T, dtype=torch.bool) is a good start."
        )
    T_ = lambda T: torch.ones(T, T, dtype=torch.bool)  # noqa: E731
    mistakes = {
        "the diagonal is False, so a position cannot attend to itself: the first row then has nothing to "
        "attend to (softmax of all -inf is nan). Keep the diagonal: torch.tril(..., diagonal=0).":
            lambda T: torch.tril(T_(T), diagonal=-1),
        "you built the upper triangle: each position attends to the FUTURE and not the past. Row i (the query) "
        "may see columns j <= i, i.e. the lower triangle (torch.tril).":
            lambda T: torch.triu(T_(T)),
        "you built the strict upper triangle (or inverted the mask): each position sees only the future. True "
        "means 'may attend', and row i may see columns j <= i: torch.tril(..., diagonal=0).":
            lambda T: torch.triu(T_(T), diagonal=1),
        "every entry is True, so nothing is masked: position t would see the code it must predict.":
            lambda T: T_(T),
    }
    check_function(
        student_fn, _causal_mask_ref, lambda i: (sizes[i],), name="causal_mask",
        mistakes=mistakes, trials=len(sizes),
        success="causal_mask is the lower triangle including the diagonal (position i sees j <= i).",
    )


# ----------------------------------------------------------------------------------------------------------------
# Top-k and temperature
# ----------------------------------------------------------------------------------------------------------------
def top_k_probs_reference(logits: torch.Tensor, k: Optional[int], temperature: float = 1.0) -> torch.Tensor:
    """softmax(top_k_filter(logits / temperature, k)): zero outside the k most likely codes, renormalised."""
    return F.softmax(top_k_filter(logits / temperature, k), dim=-1)


def _keep_mask(logits: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    idx = torch.topk(logits, k, dim=-1, largest=largest).indices
    return torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)


def _top_k_mistakes():
    def smallest(logits, k, temperature=1.0):
        z = (logits / temperature).masked_fill(~_keep_mask(logits, k, largest=False), float("-inf"))
        return F.softmax(z, dim=-1)

    def not_renormalised(logits, k, temperature=1.0):
        return F.softmax(logits / temperature, dim=-1) * _keep_mask(logits, k)

    def times_temperature(logits, k, temperature=1.0):
        return F.softmax(top_k_filter(logits * temperature, k), dim=-1)

    def no_temperature(logits, k, temperature=1.0):
        return F.softmax(top_k_filter(logits, k), dim=-1)

    def k_minus_one(logits, k, temperature=1.0):
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        return F.softmax((logits / temperature).masked_fill(logits <= kth, float("-inf")), dim=-1)

    def no_top_k(logits, k, temperature=1.0):
        return F.softmax(logits / temperature, dim=-1)

    return {
        "you kept the k SMALLEST logits (torch.topk(..., largest=False) or a sort in ascending order). Keep the "
        "k largest: torch.topk(logits, k).": smallest,
        "you zeroed the probabilities outside the top k after the softmax but did not renormalise, so they no "
        "longer sum to 1. Mask the logits with -inf BEFORE the softmax (or divide by the new sum).": not_renormalised,
        "you multiplied the logits by the temperature; divide instead (p ~ exp(logit / temperature), so a low "
        "temperature sharpens).": times_temperature,
        "the temperature is ignored: divide the logits by it before the softmax.": no_temperature,
        "you kept only k-1 codes: the k-th largest logit itself must survive (compare with `<` the k-th value, "
        "not `<=`).": k_minus_one,
        "the top-k filter is missing: codes outside the k most likely ones still get probability.": no_top_k,
    }


def check_top_k_probs(student_fn: Callable, seed: int = 0, ks=(3, 5, 1), temperatures=(0.7, 1.5, 0.5),
                      num_codes: int = 12) -> None:
    """student_fn(logits (B, K), k, temperature) -> probabilities (B, K) after temperature and top-k.
    ``seed``, ``ks``, ``temperatures`` and ``num_codes`` choose the cases (the hidden tests use others)."""
    def make_inputs(i):
        g = torch.Generator().manual_seed(100 + seed + i)
        logits = 2.0 * torch.randn(5, num_codes, generator=g)
        return logits, ks[i], temperatures[i]

    check_function(student_fn, top_k_probs_reference, make_inputs, name="top_k_probs",
                   mistakes=_top_k_mistakes(), trials=min(len(ks), len(temperatures)), atol=1e-5,
                   success="top_k_probs keeps the k most likely codes, renormalised, at the given temperature.")
    # k=None means no filtering
    logits = torch.randn(3, 7, generator=torch.Generator().manual_seed(7 + seed))
    got = call_student(student_fn, logits.clone(), None, 1.0, name="top_k_probs (with k=None: keep every code)")
    problem = describe_mismatch(got, F.softmax(logits, -1))
    if problem:
        raise CheckFailed(f"top_k_probs with k=None should be the plain softmax: {problem}.")


# ----------------------------------------------------------------------------------------------------------------
# The sampling loop
# ----------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def sample_codes_reference(prior: CodePrior, n: int, temperature: float = 1.0, top_k: Optional[int] = None,
                           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The loop written out: code t is drawn from p(c_t | c_<t), read from logits[:, t] of the current sequence."""
    codes = torch.zeros(n, prior.seq_len, dtype=torch.long, device=prior.pos_emb.device)
    for t in range(prior.seq_len):
        logits = prior(codes)[:, t]
        probs = top_k_probs_reference(logits, top_k, temperature)
        codes[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return codes


def _check_prior(K: int = 6, T: int = 5, num_classes: Optional[int] = None, seed: int = 1234) -> CodePrior:
    """A fixed tiny prior whose conditionals are sharp and differ between positions (also used by
    :mod:`course_lib.checks.generation`, with class labels)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        prior = CodePrior(num_codes=K, seq_len=T, d_model=16, n_layers=1, n_heads=2, num_classes=num_classes)
        with torch.no_grad():
            prior.head.weight.mul_(12.0)
            prior.tok_emb.weight.mul_(30.0)
            prior.pos_emb.mul_(30.0)
            prior.start_emb.weight.mul_(30.0)
    return prior.eval()


@torch.no_grad()
def _greedy(prior: CodePrior, n: int, shift: int = 0, parallel: bool = False) -> torch.Tensor:
    codes = torch.zeros(n, prior.seq_len, dtype=torch.long)
    if parallel:
        return prior(codes).argmax(-1)
    for t in range(prior.seq_len):
        pos = min(max(t + shift, 0), prior.seq_len - 1)
        codes[:, t] = prior(codes)[:, pos].argmax(-1)
    return codes


def check_sampling_loop(student_fn: Callable, seed: int = 0, K: int = 6, T: int = 5) -> None:
    """student_fn(prior, n, temperature, top_k, generator) -> (n, seq_len) int64 codes.
    ``seed``, ``K`` and ``T`` choose another tiny prior (the hidden tests use them)."""
    prior = _check_prior(K=K, T=T, seed=1234 + seed)
    K, T = prior.num_codes, prior.seq_len

    def call(n, temperature, top_k, seed):
        out = call_student(student_fn, prior, n, temperature, top_k, torch.Generator().manual_seed(seed),
                           name="sample_codes")
        if not isinstance(out, torch.Tensor) or out.shape != (n, T):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"sample_codes(prior, n={n}, ...) should return a ({n}, {T}) tensor, got {shape}.")
        if out.dtype != torch.long:
            raise CheckFailed(f"sample_codes should return int64 code indices, got {out.dtype}.")
        if int(out.min()) < 0 or int(out.max()) >= K:
            raise CheckFailed(f"codes must lie in [0, {K}), got range [{int(out.min())}, {int(out.max())}].")
        return out

    # 1) top_k=1 makes the loop deterministic: it must equal greedy decoding.
    got = call(4, 1.0, 1, seed)
    expected = _greedy(prior, 4)
    if not torch.equal(got, expected):
        if torch.equal(got, _greedy(prior, 4, parallel=True)):
            raise CheckFailed(
                "sample_codes: you read every position from ONE forward pass over the initial (all-zero) codes. "
                "Sampling is sequential: after drawing code t, write it into `codes` and run the prior again, so "
                "code t+1 is conditioned on it.")
        if torch.equal(got, _greedy(prior, 4, shift=+1)):
            raise CheckFailed(
                "sample_codes: off by one. logits[:, t] already predict code t (the prior prepends a start "
                "token), so draw code t from logits[:, t], not logits[:, t + 1].")
        if torch.equal(got, _greedy(prior, 4, shift=-1)):
            raise CheckFailed(
                "sample_codes: off by one. logits[:, t] predict code t (the prior prepends a start token), so "
                "draw code t from logits[:, t], not logits[:, t - 1].")
        with torch.no_grad():
            own_top1 = prior(got).argmax(-1)
        if not torch.equal(own_top1, got):
            bad = int((own_top1 != got).sum())
            raise CheckFailed(
                f"sample_codes with top_k=1 drew {bad} codes that are not among the top_k=1 most likely of their "
                "conditional p(c_t | c_<t); apply the top-k filter before the softmax, keeping the LARGEST k logits "
                "(the others -> -inf).")
        raise CheckFailed(
            "sample_codes with top_k=1 should equal greedy decoding (the argmax of p(c_t | c_<t) at every step), "
            "but it does not. Loop over t, run prior(codes), take logits[:, t], draw, and store it in codes[:, t].")

    # 2) top_k=3, temperature 0.7: every code among the top 3 of its own conditional, distribution right.
    n, k, temp = 3000, 3, 0.7
    got = call(n, temp, k, seed + 1)
    logits = prior(got)
    top = torch.topk(logits, k, dim=-1).indices
    if not (top == got[..., None]).any(-1).all():
        bad = int((~(top == got[..., None]).any(-1)).sum())
        raise CheckFailed(
            f"sample_codes drew {bad} codes that are not among the top_k={k} most likely of their conditional; "
            "mask the logits outside the k largest with -inf before the softmax (keep the LARGEST k).")
    p0 = top_k_probs_reference(logits[0, 0], k, temp)                    # code 0 has the same conditional for all
    freq = torch.bincount(got[:, 0], minlength=K).float() / n
    if (freq - p0).abs().max() > 0.05:
        hint = ""
        if (freq - top_k_probs_reference(logits[0, 0], k, 1.0)).abs().max() < 0.03:
            hint = " They match temperature 1: divide the logits by the temperature."
        elif (freq - top_k_probs_reference(logits[0, 0], k, 1.0 / temp)).abs().max() < 0.03:
            hint = " They match 1/temperature: divide the logits by the temperature, don't multiply."
        elif int((freq > 0).sum()) == 1:
            hint = " Only one code was ever drawn: sample with torch.multinomial(probs, 1) instead of argmax."
        raise CheckFailed(
            f"sample_codes: the first code's frequencies {[round(v, 3) for v in freq.tolist()]} do not match the "
            f"top-{k} probabilities at temperature {temp}: {[round(v, 3) for v in p0.tolist()]}.{hint}")
    passed("sample_codes draws each code from p(c_t | c_<t) with temperature and top-k, one position at a time.")
