"""Checks for notebook 04 (VQ-VAE): bits per image and perplexity from code indices.

Each check compares the student's function with a reference on random inputs and, when the answer is wrong,
names the mistake it matches (natural log instead of log2, counts not normalised, per-image perplexity, ...).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch

from . import CheckFailed, call_student, check_function, passed

__all__ = ["reference_bits_per_image", "reference_perplexity", "check_bits_per_image", "check_perplexity"]


# ---------------------------------------------------------------------------------------------- bits
def reference_bits_per_image(latent_h: int, latent_w: int, num_codes: int) -> float:
    """h * w indices, each stored with a fixed-length code of ceil(log2 K) whole bits."""
    return float(latent_h * latent_w * math.ceil(math.log2(num_codes) - 1e-12))


def _as_number(fn: Callable) -> Callable:
    """Call ``fn`` and turn a NumPy scalar or a one-element array/tensor into a Python number, so that answers
    computed with ``np.ceil``, ``np.int64`` or ``torch`` are compared by value."""
    if not callable(fn):
        return fn  # call_student says "expected a function"

    def call(*args):
        out = fn(*args)
        if isinstance(out, np.generic) or (isinstance(out, np.ndarray) and out.size == 1):
            return out.item()
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            return out.item()
        return out

    call.__name__ = getattr(fn, "__name__", "student_fn")
    return call


_BITS_MISTAKES = {
    "you used the exact log2(num_codes): a fixed-length code stores each index in a whole number of bits, so round "
    "up, math.ceil(math.log2(num_codes)) (K = 1000 codes need 10 bits). h * w * log2 K is reached only by packing "
    "the whole map into one number or, on average, by entropy coding.":
        lambda h, w, k: h * w * math.log2(k),
    "you rounded log2(num_codes) down (int(), math.floor, or round() when the fraction is below 0.5): 1000 codes "
    "do not fit in 9 bits (2**9 = 512), 5 codes not in 2; round up with math.ceil.":
        lambda h, w, k: float(h * w * math.floor(math.log2(k))),
    "num_codes.bit_length() is one bit too many when K is a power of two (512 codes need 9 bits, not 10): use "
    "(num_codes - 1).bit_length() or math.ceil(math.log2(num_codes)).":
        lambda h, w, k: float(h * w * int(k).bit_length()),
    "you used the natural log: a bit is log base 2, use math.log2(num_codes) (math.log gives nats).":
        lambda h, w, k: h * w * math.log(k),
    "you used the natural log: a bit is log base 2, use math.ceil(math.log2(num_codes)) (math.log gives nats).":
        lambda h, w, k: float(h * w * math.ceil(math.log(k))),
    "you used log base 10: a bit is log base 2, use math.log2(num_codes).":
        lambda h, w, k: h * w * math.log10(k),
    "that is the cost of ONE index: the code map has latent_h * latent_w indices, multiply by both.":
        lambda h, w, k: float(math.ceil(math.log2(k))),
    "you multiplied by only one side of the grid: there are latent_h * latent_w positions.":
        lambda h, w, k: float(h * math.ceil(math.log2(k))),
    "you counted num_codes bits per position (a one-hot vector): an index into K codes needs only ceil(log2 K) bits.":
        lambda h, w, k: float(h * w * k),
    "you returned bytes: the exercise asks for bits (do not divide by 8).":
        lambda h, w, k: h * w * math.ceil(math.log2(k)) / 8,
}

# powers of two (where ceil changes nothing) and K that are not (where it does), K = 2 .. 8192
_BITS_CASES = [(7, 7, 512), (8, 8, 1000), (4, 6, 3), (16, 16, 8192), (5, 3, 5), (1, 1, 2)]


def _bits_cases(seed: Optional[int]):
    if seed is None:
        return list(_BITS_CASES)
    g = torch.Generator().manual_seed(int(seed))
    cases = []
    for i in range(6):
        h, w = (int(v) for v in torch.randint(1, 33, (2,), generator=g))
        e = int(torch.randint(1, 14, (1,), generator=g))
        k = 2**e if i % 3 == 0 else 2**e + 1 + int(torch.randint(0, max(1, 2**e - 1), (1,), generator=g))
        cases.append((h, w, k))
    return cases


def check_bits_per_image(student_fn: Callable[[int, int, int], float], seed: Optional[int] = None) -> None:
    """``student_fn(latent_h, latent_w, num_codes) -> bits`` must equal ``h * w * ceil(log2 K)``.

    ``seed=None`` tries six fixed grids; an integer seed draws six other grids (powers of two and not)."""
    cases = _bits_cases(seed)
    check_function(
        _as_number(student_fn),
        reference_bits_per_image,
        lambda i: cases[i],
        name="bits_per_image",
        mistakes=_BITS_MISTAKES,
        trials=len(cases),
        success=f"bits_per_image = h * w * ceil(log2 K) on {len(cases)} code-grid sizes.",
    )


# ---------------------------------------------------------------------------------------- perplexity
def reference_perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(entropy) of the code-usage distribution over ALL positions in ``indices`` (any shape)."""
    counts = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
    p = counts / counts.sum()
    entropy = -torch.special.xlogy(p, p).sum()  # 0 * log 0 = 0 for unused codes
    return float(torch.exp(entropy))


def _entropy_nats(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / counts.sum()
    return float(-torch.special.xlogy(p, p).sum())


def _unnormalised(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    return float(torch.exp(-torch.special.xlogy(counts, counts).sum()))


def _unnormalised_mean(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / k
    return float(torch.exp(-torch.special.xlogy(p, p).sum()))


def _per_image_mean(indices, k):
    return float(sum(reference_perplexity(row, k) for row in indices) / len(indices))


def _log2_then_exp(indices, k):
    counts = torch.bincount(indices.reshape(-1), minlength=k).double()
    p = counts / counts.sum()
    return float(torch.exp(-(p[p > 0] * torch.log2(p[p > 0])).sum()))


def _codes_used(indices, k):
    return float(torch.unique(indices).numel())


def _entropy_bits(indices, k):
    return _entropy_nats(indices, k) / math.log(2)


_PERPLEXITY_MISTAKES = {
    "you returned the entropy: perplexity is exp(entropy) (or 2**entropy when the entropy is in bits).":
        _entropy_nats,
    "you returned the entropy in bits: perplexity is 2**H when H uses log2 (or exp(H) with the natural log).":
        _entropy_bits,
    "you mixed log bases: the entropy used log2 but you exponentiated with exp. Use exp with ln, or 2** with log2.":
        _log2_then_exp,
    "you forgot to normalise: divide the counts by their total (the number of positions) to get probabilities.":
        _unnormalised,
    "you divided the counts by num_codes: probabilities are counts / (number of positions), so they sum to 1.":
        _unnormalised_mean,
    "you averaged a per-image perplexity: compute ONE usage distribution over all positions of all images "
    "(per-image or per-batch perplexity is bounded by the number of positions and is too small).":
        _per_image_mean,
    "you counted the distinct codes used: perplexity weighs codes by how often they are used, exp(-sum p log p).":
        _codes_used,
}


def _perplexity_inputs(seed: int, shape=(8, 7, 7)):
    g = torch.Generator().manual_seed(1000 + seed)
    k = [64, 512, 16][seed % 3]
    b, h, w = shape
    # a skewed usage: a few popular codes, many rare ones, many never used
    logits = torch.randn(k, generator=g) * 2.0
    probs = torch.softmax(logits, 0)
    probs[torch.randperm(k, generator=g)[: k // 3]] = 0  # a third of the codes are dead
    idx = torch.multinomial(probs / probs.sum(), b * h * w, replacement=True, generator=g).view(b, h, w)
    return idx, k


def check_perplexity(student_fn: Callable[[torch.Tensor, int], float], seed: int = 0) -> None:
    """``student_fn(indices (B, h, w) int64, num_codes) -> float``: exp of the entropy of code usage over all positions.

    ``seed=0`` is the visible check; another seed draws other usages, grid shapes and codebook sizes."""
    seed = int(seed)
    idx, k = _perplexity_inputs(seed)
    got = call_student(_as_number(student_fn), idx.clone(), k, name="perplexity")
    got_f = float(got) if isinstance(got, (int, float)) else None
    if got_f is not None and math.isnan(got_f):
        raise CheckFailed(
            "perplexity: you got nan. Unused codes have p = 0 and 0 * log(0) is nan in floating point: drop the "
            "zero entries (p = p[p > 0]) or use torch.special.xlogy(p, p), which defines 0 * log 0 = 0."
        )
    _run_perplexity_check(student_fn, seed)


def _run_perplexity_check(student_fn, seed: int = 0):
    # three random skewed usages, then two edge cases with known answers
    edge = [
        (torch.full((4, 3, 3), 5, dtype=torch.long), 16),  # one code everywhere: perplexity 1
        (torch.arange(64).view(1, 8, 8), 64),  # every code once: perplexity K
    ]
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 7, 7)] if seed == 0 else [tuple(int(v) for v in torch.randint(2, 9, (3,), generator=g))]
    shapes += [tuple(int(v) for v in torch.randint(2, 9, (3,), generator=g)) for _ in range(2)]

    def make(i):
        return edge[i - 3] if i >= 3 else _perplexity_inputs(seed * 3 + i, shapes[i])

    check_function(
        _as_number(student_fn),
        reference_perplexity,
        make,
        name="perplexity",
        mistakes=_PERPLEXITY_MISTAKES,
        atol=1e-6,
        rtol=1e-5,
        trials=5,
        success="perplexity = exp(-sum p log p) over all positions, 1 for a single code, K for uniform usage.",
    )
