"""Checks for notebook 00 (set-up): the warm-up exercise that shows how exercises and checks work, and the ten items
of the prerequisite self-check (Python/PyTorch, probability, linear algebra), each checked like an exercise.

Quiz items (each ``check_<item>(fn, seed=0)``): ``pairwise_differences`` (broadcasting), ``batched_scores`` (matrix
products and shapes), ``row_norms`` (norms), ``gradient_at`` (autograd), ``frozen_scale`` (``.detach()``),
``softmax`` (a stable softmax), ``gaussian_log_density``, ``kl_gaussians`` (KL of two Gaussians),
``expected_square`` (an expectation), ``entropy_bits`` (entropy, 0 log 0). A wrong try is answered with the mistake
and the explanation: the quiz is for self-study.
"""
from __future__ import annotations

import math

import torch

from . import CheckFailed, _record, check_function


def reference_to_signed(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1] (the range GAN decoders usually work in)."""
    return x * 2 - 1


def _inputs(seed: int, shape=(4, 1, 8, 8), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g).to(dtype)
    x.view(-1)[:2] = torch.tensor([0.0, 1.0], dtype=dtype)       # the end points are always tried
    return (x,)


def check_to_signed(fn, seed: int = 0, shape=(4, 1, 8, 8), dtype=torch.float32) -> None:
    """``fn(x)`` maps images in [0, 1] to [-1, 1] elementwise. ``seed``, ``shape`` and ``dtype`` choose other inputs
    (the hidden tests use them)."""
    check_function(
        fn,
        reference_to_signed,
        lambda i: _inputs(seed + i, tuple(shape), dtype),
        name="to_signed",
        mistakes={
            "you scaled by 2 but forgot to shift: [0, 1] * 2 is [0, 2]; subtract 1.": lambda x: x * 2,
            "you shifted but did not scale: x - 0.5 lies in [-0.5, 0.5]; multiply by 2 as well.": lambda x: x - 0.5,
            "you applied the inverse map ((x + 1) / 2 turns [-1, 1] into [0, 1]).": lambda x: (x + 1) / 2,
        },
        success="to_signed maps [0, 1] onto [-1, 1].",
    )


# ------------------------------------------------------------------------------ the prerequisite self-check (00)
# Ten short items, each a small function checked on random inputs like an exercise. A wrong try is answered with the
# mistake and the explanation (the quiz is for self-study: the message teaches the answer).

def _quiz(name: str, fn, reference, make_inputs, mistakes, explain: str, seed: int, **kw) -> None:
    try:
        check_function(fn, reference, lambda i: make_inputs(seed + i), name=name, mistakes=mistakes,
                       success=f"{name}: right. {explain}", **kw)
    except CheckFailed as exc:
        if getattr(exc, "unsolved", False):
            raise
        failure = CheckFailed(f"{exc} -- The answer: {explain}")
        _record(fn, failure)
        raise failure from None


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# 1. broadcasting ----------------------------------------------------------------------------------------------
def reference_pairwise_differences(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[:, None, :] - b[None, :, :]


def check_pairwise_differences(fn, seed: int = 0) -> None:
    """``fn(a (N, D), b (K, D)) -> (N, K, D)``: ``out[n, k] = a[n] - b[k]``, by broadcasting."""
    def inputs(s):
        g = _gen(s)
        n, k, d = 3 + s % 4, 5 + s % 3, 2 + s % 2
        return torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)

    _quiz("pairwise_differences", fn, reference_pairwise_differences, inputs, {
        "the axes are the wrong way round: out[n, k] should be a[n] - b[k], shape (N, K, D).":
            lambda a, b: a[None, :, :] - b[:, None, :],
        "the sign is flipped: a[n] - b[k], not b[k] - a[n].": lambda a, b: b[None] - a[:, None],
    }, "insert a new axis of size 1 where the other tensor has its rows: a[:, None, :] is (N, 1, D), b[None, :, :] "
       "is (1, K, D), and their difference broadcasts to (N, K, D).", seed)


# 2. matrix products and shapes --------------------------------------------------------------------------------
def reference_batched_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return q @ k.transpose(1, 2)


def check_batched_scores(fn, seed: int = 0) -> None:
    """``fn(q (B, T, D), k (B, S, D)) -> (B, T, S)``: every dot product of a row of q with a row of k, per batch."""
    def inputs(s):
        g = _gen(s)
        b, t, sz, d = 2 + s % 2, 3 + s % 3, 4 + s % 2, 5
        return torch.randn(b, t, d, generator=g), torch.randn(b, sz, d, generator=g)

    _quiz("batched_scores", fn, reference_batched_scores, inputs, {
        "the result is transposed: out[b, t, s] = q[b, t] . k[b, s], shape (B, T, S).":
            lambda q, k: k @ q.transpose(1, 2),
    }, "q @ k.transpose(1, 2): (B, T, D) @ (B, D, S) -> (B, T, S); the matrix product runs over the last axis of "
       "the first and the second-to-last of the second, batch axes in front. (torch.einsum('btd,bsd->bts', q, k) "
       "says the same.)", seed)


# 3. norms -----------------------------------------------------------------------------------------------------
def reference_row_norms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).sum(1).sqrt()


def check_row_norms(fn, seed: int = 0) -> None:
    """``fn(x (N, D)) -> (N,)``: the Euclidean norm of each row."""
    def inputs(s):
        g = _gen(s)
        return (torch.randn(4 + s % 3, 3 + s % 4, generator=g) * 2,)

    _quiz("row_norms", fn, reference_row_norms, inputs, {
        "you returned the squared norm: take the square root, |x| = sqrt(sum_j x_j^2).": lambda x: x.pow(2).sum(1),
        "you took the norm of each column (dim=0): each row is one vector, so sum over dim=1.":
            lambda x: x.pow(2).sum(0).sqrt(),
        "you summed absolute values (the L1 norm): the Euclidean norm squares, sums and takes the root.":
            lambda x: x.abs().sum(1),
    }, "x.pow(2).sum(dim=1).sqrt(), or x.norm(dim=1) / torch.linalg.vector_norm(x, dim=1).", seed)


# 4. autograd --------------------------------------------------------------------------------------------------
_FUNCTIONS = (lambda x: (x ** 2).sum(), lambda x: (x.sin() * x).sum(), lambda x: x.exp().mean(),
              lambda x: (x[:-1] * x[1:]).sum())


def reference_gradient_at(f, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


def check_gradient_at(fn, seed: int = 0) -> None:
    """``fn(f, x) -> df/dx at x``, by autograd, for a scalar function ``f`` of a 1-D tensor."""
    def inputs(s):
        return _FUNCTIONS[s % len(_FUNCTIONS)], torch.randn(5, generator=_gen(s), dtype=torch.float64)

    _quiz("gradient_at", fn, reference_gradient_at, inputs, {
        "you returned f(x), the value: return the gradient df/dx, a tensor shaped like x.": lambda f, x: f(x),
    }, "x = x.detach().clone().requires_grad_(True); torch.autograd.grad(f(x), x)[0] (or f(x).backward() and read "
       "x.grad). Autograd needs requires_grad on x before f is computed.", seed)


# 5. .detach() -------------------------------------------------------------------------------------------------
def reference_frozen_scale(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return x * s.detach()


def _probe_detach(fn):
    def probe(x, s, w):
        x = x.detach().clone().requires_grad_(True)
        s = s.detach().clone().requires_grad_(True)
        out = fn(x, s)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"frozen_scale should return a tensor, got {type(out).__name__}")
        grads = {"gradient to x": torch.zeros_like(x), "gradient to s": torch.zeros_like(s)}
        if out.requires_grad:
            gx, gs = torch.autograd.grad((out * w).sum(), (x, s), allow_unused=True)
            grads = {"gradient to x": torch.zeros_like(x) if gx is None else gx,
                     "gradient to s": torch.zeros_like(s) if gs is None else gs}
        return {"value": out.detach(), **grads}

    return probe


def check_frozen_scale(fn, seed: int = 0) -> None:
    """``fn(x, s) -> x * s`` in value, with gradients to ``x`` only (``s`` treated as a constant)."""
    def inputs(s):
        g = _gen(s)
        shape = (3, 4) if s % 2 == 0 else (5,)
        return (torch.randn(*shape, generator=g, dtype=torch.float64), torch.randn(*shape, generator=g, dtype=torch.float64),
                torch.randn(*shape, generator=g, dtype=torch.float64))

    explain = ("x * s.detach(): the value is x * s, but s.detach() is a constant to autograd, so no gradient reaches s "
               "and x's gradient is s times the incoming one.")
    try:
        check_function(_probe_detach(fn), _probe_detach(reference_frozen_scale), lambda i: inputs(seed + i),
                       name="frozen_scale", mistakes={
                           "a gradient still reaches s: detach s (not x, not the product).":
                               _probe_detach(lambda x, s: x * s),
                           "the detach is on x: now s gets the gradient and x none.":
                               _probe_detach(lambda x, s: x.detach() * s),
                           "the whole product is detached: x must still get its gradient.":
                               _probe_detach(lambda x, s: (x * s).detach()),
                       }, atol=1e-9, rtol=1e-7, success=f"frozen_scale: right. {explain}")
    except CheckFailed as exc:
        _record(fn, exc)
        if getattr(exc, "unsolved", False) or "not implemented" in str(exc):
            raise
        failure = CheckFailed(f"{exc} -- The answer: {explain}")
        _record(fn, failure)
        raise failure from None
    _record(fn, None)


# 6. softmax ---------------------------------------------------------------------------------------------------
def reference_softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1)


def check_softmax(fn, seed: int = 0) -> None:
    """``fn(logits (..., K)) -> probabilities (..., K)`` along the last axis, also for logits near 1000."""
    def inputs(s):
        g = _gen(s)
        x = torch.randn(3 + s % 2, 6, generator=g, dtype=torch.float64) * 3
        if s % 3 == 1:
            x = x + 1000.0                    # exp(1000) overflows: the stable form is needed
        return (x,)

    _quiz("softmax", fn, reference_softmax, inputs, {
        "you normalised over the wrong axis (dim=0): each row is one distribution, so use the last axis.":
            lambda x: x.exp() / x.exp().sum(0, keepdim=True),
        "the exponentials are not normalised: divide by their sum so each row adds up to 1.": lambda x: x.exp(),
        "you normalised the logits themselves: exponentiate first, softmax(x)_k = exp(x_k) / sum_j exp(x_j).":
            lambda x: x / x.sum(-1, keepdim=True),
    }, "exp(x - max) / sum(exp(x - max)) along the last axis: subtracting the row's maximum changes nothing "
       "mathematically but keeps exp from overflowing to inf (inf / inf = nan) for large logits. "
       "torch.softmax(x, dim=-1) does exactly this.", seed)


# 7. a Gaussian's log-density ------------------------------------------------------------------------------------
def reference_gaussian_log_density(x, mu, sigma):
    return -0.5 * math.log(2 * math.pi) - torch.log(sigma) - 0.5 * ((x - mu) / sigma) ** 2


def check_gaussian_log_density(fn, seed: int = 0) -> None:
    """``fn(x, mu, sigma) -> log N(x; mu, sigma^2)`` elementwise (sigma is the standard deviation)."""
    def inputs(s):
        g = _gen(s)
        n = 6 + s % 3
        return (torch.randn(n, generator=g, dtype=torch.float64) * 2, torch.randn(n, generator=g, dtype=torch.float64),
                0.3 + 2 * torch.rand(n, generator=g, dtype=torch.float64))

    c = 0.5 * math.log(2 * math.pi)
    _quiz("gaussian_log_density", fn, reference_gaussian_log_density, inputs, {
        "the constant -0.5 log(2 pi) is missing.": lambda x, m, s: -torch.log(s) - 0.5 * ((x - m) / s) ** 2,
        "the -log(sigma) term is missing: the density's normaliser is 1 / (sigma sqrt(2 pi)).":
            lambda x, m, s: -c - 0.5 * ((x - m) / s) ** 2,
        "the square is divided by sigma, not sigma^2: (x - mu)^2 / (2 sigma^2).":
            lambda x, m, s: -c - torch.log(s) - 0.5 * (x - m) ** 2 / s,
        "the sign is flipped: a log-density is the NEGATIVE of the squared-error term, plus constants.":
            lambda x, m, s: -(-c - torch.log(s) - 0.5 * ((x - m) / s) ** 2),
        "you returned the density, not its log.": lambda x, m, s: torch.exp(-c - torch.log(s) - 0.5 * ((x - m) / s) ** 2),
    }, "log N(x; mu, sigma^2) = -0.5 log(2 pi) - log sigma - (x - mu)^2 / (2 sigma^2). (Check: "
       "torch.distributions.Normal(mu, sigma).log_prob(x).)", seed)


# 8. KL of two Gaussians -----------------------------------------------------------------------------------------
def reference_kl_gaussians(mu1, s1, mu2, s2):
    return torch.log(s2 / s1) + (s1 ** 2 + (mu1 - mu2) ** 2) / (2 * s2 ** 2) - 0.5


def check_kl_gaussians(fn, seed: int = 0) -> None:
    """``fn(mu1, s1, mu2, s2) -> KL(N(mu1, s1^2) || N(mu2, s2^2))`` elementwise (s1, s2: standard deviations)."""
    def inputs(s):
        g = _gen(s)
        n = 5 + s % 3
        r = lambda: torch.randn(n, generator=g, dtype=torch.float64)  # noqa: E731
        p = lambda: 0.3 + 2 * torch.rand(n, generator=g, dtype=torch.float64)  # noqa: E731
        return r(), p(), r(), p()

    _quiz("kl_gaussians", fn, reference_kl_gaussians, inputs, {
        "you computed KL(q || p) the other way round: KL is not symmetric; the first Gaussian is the one the "
        "expectation is taken under.": lambda m1, s1, m2, s2: reference_kl_gaussians(m2, s2, m1, s1),
        "the -1/2 is missing (the KL of a Gaussian with itself must be 0).":
            lambda m1, s1, m2, s2: reference_kl_gaussians(m1, s1, m2, s2) + 0.5,
        "standard deviations are used where variances belong: s1^2 + (mu1 - mu2)^2 over 2 s2^2.":
            lambda m1, s1, m2, s2: torch.log(s2 / s1) + (s1 + (m1 - m2) ** 2) / (2 * s2) - 0.5,
    }, "KL(N(mu1, s1^2) || N(mu2, s2^2)) = log(s2 / s1) + (s1^2 + (mu1 - mu2)^2) / (2 s2^2) - 1/2: the expectation "
       "under the first Gaussian of log q - log p. With mu2 = 0, s2 = 1 it is notebook 01's KL term. (Check: "
       "torch.distributions.kl_divergence.)", seed)


# 9. an expectation ----------------------------------------------------------------------------------------------
def reference_expected_square(mu, sigma):
    return mu ** 2 + sigma ** 2


def check_expected_square(fn, seed: int = 0) -> None:
    """``fn(mu, sigma) -> E[z^2]`` for ``z ~ N(mu, sigma^2)``, exactly (no sampling)."""
    def inputs(s):
        g = _gen(s)
        return torch.randn(6, generator=g, dtype=torch.float64) * 2, 0.2 + 2 * torch.rand(6, generator=g, dtype=torch.float64)

    _quiz("expected_square", fn, reference_expected_square, inputs, {
        "the variance is missing: E[z^2] = Var(z) + E[z]^2.": lambda m, s: m ** 2,
        "sigma is the standard deviation: add sigma^2, not sigma.": lambda m, s: m ** 2 + s,
        "E[z]^2 is missing: E[z^2] = Var(z) + E[z]^2 = sigma^2 + mu^2.": lambda m, s: s ** 2,
    }, "E[z^2] = Var(z) + (E z)^2 = sigma^2 + mu^2 (the step notebook 01 uses to derive the Gaussian KL).",
        seed, atol=1e-4, rtol=1e-3)


# 10. entropy in bits ----------------------------------------------------------------------------------------------
def reference_entropy_bits(p: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum(-1) / math.log(2)


def check_entropy_bits(fn, seed: int = 0) -> None:
    """``fn(p (..., K)) -> (...)``: the entropy in bits of each distribution along the last axis; 0 log 0 = 0."""
    def inputs(s):
        g = _gen(s)
        p = torch.rand(4, 8, generator=g, dtype=torch.float64)
        p[:, :2] = 0.0                        # some zero probabilities
        p[0] = 0.0
        p[0, s % 8] = 1.0                     # a certain outcome: 0 bits
        p[1] = 1.0                            # a uniform one over 8: 3 bits
        return (p / p.sum(-1, keepdim=True),)

    _quiz("entropy_bits", fn, reference_entropy_bits, inputs, {
        "that is the entropy in nats (natural log): divide by log 2, or use log2, for bits.":
            lambda p: -torch.special.xlogy(p, p).sum(-1),
        "the sign is flipped: entropy is -sum p log p >= 0.": lambda p: torch.special.xlogy(p, p).sum(-1) / math.log(2),
    }, "H(p) = -sum_k p_k log2 p_k, with 0 log 0 = 0 (torch.special.xlogy(p, p) does that; p * log(p) gives nan at "
       "p = 0). A uniform distribution over K outcomes has log2 K bits: 3 bits for 8, the size of one code index.",
        seed)
