"""Checks for notebook 06 (priors and sampling): the prior's training loss, the causal mask, top-k / temperature
probabilities, and the autoregressive sampling loop.

    from course_lib.checks.prior import check_prior_loss, check_causal_mask, check_top_k_probs, check_sampling_loop
    check_prior_loss(prior_loss)                   # prior_loss(prior, grids (B, h, w), labels (B,)) -> nats per code
    check_causal_mask(causal_mask)                 # causal_mask(T) -> (T, T) bool, True = may attend
    check_top_k_probs(top_k_probs)                 # top_k_probs(logits (B, K), k, temperature) -> probs (B, K)
    check_sampling_loop(sample_codes)              # sample_codes(prior, n, temperature, top_k, generator) -> (n, T)
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import CheckFailed, call_student, check_function, describe_mismatch, passed, records_result
from ..prior import CodePrior, causal_mask as _causal_mask_ref, flatten_grid, top_k_filter

__all__ = ["check_prior_loss", "check_causal_mask", "check_top_k_probs", "check_sampling_loop",
           "prior_loss_reference", "top_k_probs_reference", "sample_codes_reference"]


# ----------------------------------------------------------------------------------------------------------------
# The prior's training loss
# ----------------------------------------------------------------------------------------------------------------
def prior_loss_reference(prior: CodePrior, grids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-code cross-entropy (nats per code) of code grids (B, h, w) in raster order, class token first:
    ``CodePrior.nll`` on the flattened grids."""
    return prior.nll(flatten_grid(grids), labels)


def _prior_loss_mistakes():
    def ce(logits, targets, reduction="mean"):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)

    def inputs_for(prior, codes, labels):
        return torch.cat([prior.start_token_id(labels, len(codes))[:, None], codes[:, :-1]], dim=1)

    def no_shift(prior, grids, labels):
        codes = flatten_grid(grids)
        return ce(prior.next_code_logits(codes), codes)

    def no_class_token(prior, grids, labels):          # predicts c_1.. from c_0..; c_0 and the class are dropped
        codes = flatten_grid(grids)
        return ce(prior.next_code_logits(codes[:, :-1]), codes[:, 1:])

    def label_as_code(prior, grids, labels):           # the label itself (an id < K) read as a code
        codes = flatten_grid(grids)
        return ce(prior.next_code_logits(torch.cat([labels[:, None].long(), codes[:, :-1]], 1)), codes)

    def column_major(prior, grids, labels):
        return prior_loss_reference(prior, grids.transpose(1, 2), labels)

    def summed(prior, grids, labels):
        codes = flatten_grid(grids)
        return ce(prior.next_code_logits(inputs_for(prior, codes, labels)), codes, "sum")

    def summed_over_positions(prior, grids, labels):
        return prior_loss_reference(prior, grids, labels) * grids[0].numel()

    def summed_over_batch(prior, grids, labels):
        return prior_loss_reference(prior, grids, labels) * grids.shape[0]

    def in_bits(prior, grids, labels):
        return prior_loss_reference(prior, grids, labels) / math.log(2)

    return {
        "no shift: the input at position t is code t itself, so the network sees the code it must predict (the "
        "causal mask lets position t attend to itself). Shift the codes one place to the right, behind the class "
        "token.": no_shift,
        "the class token is missing: you predict c_1..c_(T-1) from c_0..c_(T-2), so c_0 is never predicted and the "
        "class never enters. The input starts with the class token (id K + label).": no_class_token,
        "the class token should be the id K + label. The label alone (an id below K) is read as a CODE.":
            label_as_code,
        "the codes are flattened column by column. Raster order is row by row, left to right: grids.reshape(B, -1) "
        "(or flatten(1)) of the (B, h, w) grid, without a transpose.": column_major,
        "you summed the cross-entropy over the batch and the positions; the loss is the MEAN over both (nats per "
        "code), which keeps the learning rate independent of the batch size and the grid size.": summed,
        "you summed over the positions and averaged over the batch; the loss is the mean over both (nats per "
        "code).": summed_over_positions,
        "you averaged over the positions but summed over the batch; the loss is the mean over both (nats per "
        "code).": summed_over_batch,
        "you returned bits (divided by log 2); the training loss is F.cross_entropy's natural log, nats per "
        "code.": in_bits,
    }


@records_result
def check_prior_loss(student_fn: Callable, seed: int = 0, grid=(2, 3), K: int = 6, num_classes: int = 3) -> None:
    """student_fn(prior, grids (B, h, w) int64, labels (B,) int64) -> scalar tensor: the mean next-code
    cross-entropy in nats per code, codes in raster order behind the class token (id K + label), computed with
    ``prior.next_code_logits(inputs)``. ``seed``, ``grid``, ``K`` and ``num_classes`` choose other cases (the hidden
    tests use them). Use an h != w grid: only then is a column-major flatten visible."""
    name = "prior_loss"
    h, w = (int(v) for v in grid)
    prior = _check_prior(K=K, T=h * w, num_classes=num_classes, seed=4321 + seed)
    mistakes = _prior_loss_mistakes()
    for trial in range(3):
        g = torch.Generator().manual_seed(1000 * seed + trial)
        B = (5, 3, 8)[trial]
        grids = torch.randint(0, K, (B, h, w), generator=g)
        labels = torch.randint(0, num_classes, (B,), generator=g)
        expected = prior_loss_reference(prior, grids, labels).detach()
        try:
            got = call_student(student_fn, prior, grids.clone(), labels.clone(), name=name)
        except CheckFailed as err:
            if "out of bounds" in str(err):            # cross_entropy: "Target 7 is out of bounds."
                raise CheckFailed(
                    f"{name}: the targets contain an id >= K: you are predicting the class token. It is only an "
                    "input; the targets are the K-valued codes c_0..c_(T-1).") from None
            raise
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise CheckFailed(f"{name} should return a scalar tensor (one number for the batch, with its gradient: no "
                              f".item()), got {tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}.")
        if not got.requires_grad:
            raise CheckFailed(f"{name} returned a number without a gradient (.item(), .detach() or torch.no_grad()?); "
                              "the optimiser needs the tensor that comes out of F.cross_entropy.")
        got = got.detach().reshape(())
        if describe_mismatch(got, expected, atol=1e-5, rtol=1e-4) is None:
            continue
        for hint, wrong_fn in mistakes.items():
            try:
                wrong = wrong_fn(prior, grids.clone(), labels.clone()).detach()
            except Exception:
                continue
            if describe_mismatch(got, wrong, atol=1e-5, rtol=1e-4) is None:
                raise CheckFailed(f"{name}: {hint}")
        raise CheckFailed(f"{name}: the loss is {float(got):.5f}, expected {float(expected):.5f} nats per code (grid "
                          f"{h}x{w}, batch {B}). Inputs: [K + label, c_0, ..., c_(T-2)]; targets: c_0, ..., c_(T-1); "
                          "the mean cross-entropy over batch and positions.")
    passed(f"{name}: raster order, the class token first, codes shifted by one, mean cross-entropy in nats per code.")


# ----------------------------------------------------------------------------------------------------------------
# The causal mask
# ----------------------------------------------------------------------------------------------------------------
@records_result
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
        "attend to (softmax of all -inf is nan). Keep the diagonal.":
            lambda T: torch.tril(T_(T), diagonal=-1),
        "you built the upper triangle: each position attends to the FUTURE and not the past. Row i (the query) "
        "may see columns j <= i.":
            lambda T: torch.triu(T_(T)),
        "you built the strict upper triangle (or inverted the mask): each position sees only the future. True "
        "means 'may attend', and row i may see columns j <= i.":
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


@records_result
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


@records_result
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

    # 2) top_k=3, temperature 0.7: every code among the top 3 of its own conditional, and at EVERY position the
    #    codes' frequencies match the distributions they should have been drawn from, given the drawn prefixes.
    n, k, temp = 3000, 3, 0.7
    got = call(n, temp, k, seed + 1)
    with torch.no_grad():
        logits = prior(got)                                                  # (n, T, K)
    top = torch.topk(logits, k, dim=-1).indices
    if not (top == got[..., None]).any(-1).all():
        bad = int((~(top == got[..., None]).any(-1)).sum())
        raise CheckFailed(
            f"sample_codes drew {bad} codes that are not among the top_k={k} most likely of their conditional; "
            "mask the logits outside the k largest with -inf before the softmax (keep the LARGEST k).")
    freq = F.one_hot(got, K).float().mean(0)                                 # (T, K) observed
    def expected(t_):                                                        # (T, K) what the loop should give
        return top_k_probs_reference(logits, k, t_).mean(0)
    err = (freq - expected(temp)).abs().max(-1).values                       # (T,)
    if bool((err > 0.05).any()):
        t = int((err > 0.05).nonzero()[0])
        where = "the first code" if t == 0 else f"code {t} (the codes before it were right)"
        hint = ""
        if (freq[t] - expected(1.0)[t]).abs().max() < 0.03:
            hint = (" They match temperature 1: divide the logits by the temperature"
                    + (" at EVERY step, not only at the first." if t > 0 else "."))
        elif (freq[t] - expected(1.0 / temp)[t]).abs().max() < 0.03:
            hint = " They match 1/temperature: divide the logits by the temperature, don't multiply."
        elif (freq[t] - F.one_hot(logits[:, t].argmax(-1), K).float().mean(0)).abs().max() < 0.03:
            hint = (" They are the argmax of each conditional: draw every code with torch.multinomial(probs, 1, "
                    "generator=generator), at every step.")
        raise CheckFailed(
            f"sample_codes: the frequencies of {where} {[round(v, 3) for v in freq[t].tolist()]} do not match the "
            f"top-{k} probabilities at temperature {temp} given the codes before it: "
            f"{[round(v, 3) for v in expected(temp)[t].tolist()]}.{hint}")
    # 3) the generator: the same seed must give the same samples (reproducible figures), another seed other ones
    a, b, c = (call(64, 1.0, None, s_) for s_ in (seed + 5, seed + 5, seed + 6))
    if not torch.equal(a, b):
        raise CheckFailed(
            "sample_codes: two calls with generators of the same seed gave different codes, so your loop ignores "
            "its `generator` argument (it draws from the global random state). Pass generator=generator to the "
            "function that draws.")
    if torch.equal(a, c):
        raise CheckFailed("sample_codes: generators with different seeds gave the same codes; draw at random (with "
                          "the generator), not by a fixed rule.")
    passed("sample_codes draws each code from p(c_t | c_<t) with temperature and top-k, one position at a time.")
