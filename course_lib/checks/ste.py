"""Checks for notebook 03 (the straight-through estimator): the STE line and the two VQ-VAE loss terms.

Both checks compare VALUES and GRADIENTS with a reference, because the mistakes here do not change the values:
``mse(sg[z], e)`` and ``mse(z, sg[e])`` are the same number, only the gradients tell them apart.

* :func:`check_straight_through` -- ``straight_through(z, z_q)``: value ``z_q``, gradient copied to ``z``, none to
  ``z_q`` (reference :func:`course_lib.quantize.straight_through`).
* :func:`check_vq_loss` -- ``vq_loss(z_e, z_q, beta) -> (codebook, commitment)`` with
  ``codebook = mean((sg[z_e] - z_q)^2)`` and ``commitment = beta * mean((z_e - sg[z_q])^2)``
  (van den Oord et al. 2017, eq. 3; reference :func:`course_lib.losses.vq_loss`).
* :func:`check_soft_quantize` -- ``soft_quantize(z, codebook, tau, generator=None, hard=False) -> (weights,
  read_back)``: soft weights ``softmax(-|z - e_k|^2 / tau)``, Gumbel noise from the generator added to the logits,
  the straight-through one-hot for ``hard=True`` (reference :func:`course_lib.quantize.soft_quantize`).
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn.functional as F

from . import CheckFailed, check_function, records_result

__all__ = ["check_straight_through", "check_vq_loss", "check_soft_quantize", "reference_straight_through",
           "reference_vq_loss", "reference_soft_quantize"]


def student_name(fn, default: str) -> str:
    """The name of the student's function for messages (``my_vq_loss``), or ``default`` for a lambda or a wrapper."""
    name = getattr(fn, "__name__", "")
    return name if name.isidentifier() else default


def _grad_or_zero(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(t) if t.grad is None else t.grad.detach().clone()


# ------------------------------------------------------------------------------------------ straight-through
def reference_straight_through(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    return z + (z_q - z).detach()


def _probe_ste(fn: Callable, name: str = "straight_through") -> Callable:
    """Wrap fn(z, z_q) into a function returning its value and the gradients it sends to z and z_q."""

    def probe(z: torch.Tensor, z_q: torch.Tensor, w: torch.Tensor) -> Dict[str, torch.Tensor]:
        z = z.detach().requires_grad_(True)
        z_q = z_q.detach().requires_grad_(True)
        out = fn(z, z_q)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"{name} should return a tensor, got {type(out).__name__}")
        if out.shape != z.shape:
            raise CheckFailed(f"{name} should return the shape of z {tuple(z.shape)}, got {tuple(out.shape)}")
        if out.requires_grad:
            (out * w).sum().backward()
        return {"value": out.detach(), "gradient to z": _grad_or_zero(z), "gradient to z_q": _grad_or_zero(z_q)}

    return probe


_SHAPES = ((6, 4), (2, 3, 4, 4), (7,), (3, 5, 2))


def _ste_inputs(seed: int):
    """z, the "chosen codes" z_q and a made-up upstream gradient w, in a shape that changes with the seed."""
    g = torch.Generator().manual_seed(seed)
    shape = _SHAPES[seed % len(_SHAPES)]
    z = torch.randn(*shape, generator=g, dtype=torch.float64)
    z_q = z + 0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)
    w = torch.randn(*shape, generator=g, dtype=torch.float64)  # dL/dout of a made-up loss L = sum(w * out)
    return z, z_q, w


def check_straight_through(student_fn: Callable, seed: int = 0, trials: int = 3) -> None:
    """Check ``student_fn(z, z_q)``: value z_q, gradient w.r.t. z equal to the gradient w.r.t. the output, none to z_q.

    ``seed`` picks the random inputs (their shapes change with it too): a hidden test uses another seed.
    """
    mistakes = {
        "no gradient reaches z: the whole output is detached (or is z_q itself). Start from z, so that autograd sees "
        "it, and detach only the correction that turns its value into z_q.":
            lambda z, z_q: z_q.detach(),
        "the gradient goes to z_q, not z: without .detach() the two z's cancel in z + (z_q - z). Detach the "
        "correction.":
            lambda z, z_q: z + (z_q - z),
        "the detach is on the wrong term: your output has the value of z and sends the gradient to z_q.":
            lambda z, z_q: z_q + (z - z_q).detach(),
        "the output is z: the forward value must be z_q.":
            lambda z, z_q: z,
        "the correction has the wrong sign: the value is not z_q.":
            lambda z, z_q: z + (z - z_q).detach(),
    }
    name = student_name(student_fn, "straight_through")
    check_function(
        _probe_ste(student_fn, name),
        _probe_ste(reference_straight_through),
        lambda i: _ste_inputs(seed + i),
        name=name,
        mistakes={hint: _probe_ste(fn) for hint, fn in mistakes.items()},
        atol=1e-6,  # float32 arithmetic inside a correct answer is fine; every named mistake is off by O(1)
        rtol=1e-5,
        trials=trials,
        success=f"{name}: forward value z_q, gradient copied unchanged to z, none to z_q.",
    )


# ------------------------------------------------------------------------------------------ VQ loss
def reference_vq_loss(z_e: torch.Tensor, z_q: torch.Tensor, beta: float = 0.25):
    """(codebook, commitment): mean((sg[z_e] - z_q)^2), beta * mean((z_e - sg[z_q])^2)."""
    return F.mse_loss(z_q, z_e.detach()), beta * F.mse_loss(z_e, z_q.detach())


def _probe_vq(fn: Callable, fname: str = "vq_loss") -> Callable:
    """Wrap fn(z_e, z_q, beta) -> (codebook, commitment) into values and the gradients of each term."""

    def probe(z_e: torch.Tensor, z_q: torch.Tensor, beta: float) -> Dict[str, torch.Tensor]:
        result = {}
        terms = None
        for which in (0, 1):
            z = z_e.detach().requires_grad_(True)
            e = z_q.detach().requires_grad_(True)
            terms = fn(z, e, beta)
            if not isinstance(terms, (tuple, list)) or len(terms) != 2:
                raise CheckFailed(f"{fname} should return a pair (codebook_loss, commitment_loss), got "
                                  f"{type(terms).__name__}")
            name = ("codebook", "commitment")[which]
            term = terms[which]
            if not isinstance(term, torch.Tensor) or term.dim() != 0:
                got = type(term).__name__ if not isinstance(term, torch.Tensor) else f"shape {tuple(term.shape)}"
                raise CheckFailed(f"{fname}: the {name} loss should be a scalar tensor (use a mean), got {got}")
            if term.requires_grad:
                term.backward()
            result[f"{name} loss"] = term.detach()
            result[f"gradient of the {name} loss to the encoder output z_e"] = _grad_or_zero(z)
            result[f"gradient of the {name} loss to the codes z_q"] = _grad_or_zero(e)
        return result

    return probe


_BETAS = (0.25, 0.5, 1.7, 0.1)


def _vq_inputs(seed: int, beta=None):
    """z_e, z_q and beta; the shape and (unless given) beta change with the seed, so a hard-coded 0.25 fails."""
    g = torch.Generator().manual_seed(seed)
    shape = _SHAPES[seed % len(_SHAPES)]
    z_e = torch.randn(*shape, generator=g, dtype=torch.float64)
    z_q = z_e + torch.randn(*shape, generator=g, dtype=torch.float64)
    return z_e, z_q, float(_BETAS[seed % len(_BETAS)] if beta is None else beta)


def check_vq_loss(student_fn: Callable, seed: int = 0, beta=None, trials: int = 3) -> None:
    """Check ``student_fn(z_e, z_q, beta) -> (codebook_loss, commitment_loss)``: values and which way each pulls.

    The trials use different shapes and values of beta (0.25, 0.5, 1.7 from ``seed=0``), or ``beta`` in every
    trial when it is given: a hidden test uses another seed and beta.
    """
    mse = F.mse_loss
    mistakes = {
        "the stop-gradients are swapped: the codebook loss must move only the codes (detach z_e in it) and the "
        "commitment loss only the encoder (detach z_q in it).":
            lambda z, e, b: (mse(z, e.detach()), b * mse(z.detach(), e)),
        "beta is on the codebook term instead of the commitment term (the legacy=True bug of "
        "taming-transformers' VectorQuantizer2).":
            lambda z, e, b: (b * mse(e, z.detach()), mse(z, e.detach())),
        "a stop-gradient is missing: each term must move only one side (codes OR encoder); use .detach().":
            lambda z, e, b: (mse(e, z), b * mse(z, e)),
        "the codebook term lacks its stop-gradient: it must not move the encoder, so stop the gradient to z_e in it.":
            lambda z, e, b: (mse(e, z), b * mse(z, e.detach())),
        "the commitment term lacks its stop-gradient: it must not move the codes, so stop the gradient to z_q in it.":
            lambda z, e, b: (mse(e, z.detach()), b * mse(z, e)),
        "the commitment loss is missing beta: commitment = beta * mean((z_e - sg[z_q])^2).":
            lambda z, e, b: (mse(e, z.detach()), mse(z, e.detach())),
        "you hard-coded beta = 0.25: multiply by the argument beta.":
            lambda z, e, b: (mse(e, z.detach()), 0.25 * mse(z, e.detach())),
        "use the mean squared error, not the sum (F.mse_loss or .pow(2).mean()).":
            lambda z, e, b: ((e - z.detach()).pow(2).sum(), b * (z - e.detach()).pow(2).sum()),
        "you summed over the code dimension and averaged over positions, as the paper's squared norms read: this "
        "course (like Sonnet's code) takes the mean over ALL elements, D included (beta's ratio is the same).":
            lambda z, e, b: ((e - z.detach()).pow(2).sum(-1).mean(), b * (z - e.detach()).pow(2).sum(-1).mean()),
    }
    name = student_name(student_fn, "vq_loss")
    check_function(
        _probe_vq(student_fn, name),
        _probe_vq(reference_vq_loss),
        lambda i: _vq_inputs(seed + i, beta),
        name=name,
        mistakes={hint: _probe_vq(fn) for hint, fn in mistakes.items()},
        atol=1e-6,  # float32 arithmetic inside a correct answer is fine; every named mistake is off by O(1)
        rtol=1e-5,
        trials=trials,
        success=f"{name}: the codebook loss moves only the codes, beta * commitment moves only the encoder.",
    )


# ------------------------------------------------------------------------------------------ soft quantization
def reference_soft_quantize(z, codebook, tau, generator=None, hard=False):
    """The library's :func:`course_lib.quantize.soft_quantize` (imported late: quantize imports the losses)."""
    from ..quantize import soft_quantize

    return soft_quantize(z, codebook, tau, generator=generator, hard=hard)


#: The four ways the check calls the function: (name, Gumbel noise?, hard?).
_SOFT_MODES = (("soft", False, False), ("Gumbel", True, False), ("Gumbel hard", True, True), ("hard", False, True))
_TAUS = (0.5, 0.1, 2.0, 0.3)
_SOFT_SHAPES = ((6, 2, 4), (9, 3, 8), (5, 4, 3), (12, 2, 16))  # (N, D, K)


def _probe_soft(fn: Callable, name: str = "soft_quantize") -> Callable:
    """Wrap fn(z, codebook, tau, generator=, hard=) into its outputs and gradients in the four modes."""

    def probe(z, codebook, tau, seed, w_weights, w_read):
        result = {}
        for mode, noisy, hard in _SOFT_MODES:
            zz = z.detach().clone().requires_grad_(True)
            cb = codebook.detach().clone().requires_grad_(True)
            gen = torch.Generator().manual_seed(seed) if noisy else None
            out = fn(zz, cb, tau, generator=gen, hard=hard)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise CheckFailed(f"{name} should return a pair (weights, read_back), got {type(out).__name__}")
            weights, read_back = (torch.as_tensor(o) for o in out)
            if tuple(weights.shape) != tuple(w_weights.shape) or tuple(read_back.shape) != tuple(z.shape):
                raise CheckFailed(f"{name} should return weights of shape (N, K) = {tuple(w_weights.shape)} and a "
                                  f"read-back of the shape of z {tuple(z.shape)}, got {tuple(weights.shape)} and "
                                  f"{tuple(read_back.shape)}")
            loss = (weights * w_weights).sum() + (read_back * w_read).sum()
            if loss.requires_grad:
                loss.backward()
            tag = f"({mode}{', generator given' if noisy else ''}{', hard=True' if hard else ''})"
            result[f"weights {tag}"] = weights.detach()
            result[f"read-back {tag}"] = read_back.detach()
            result[f"gradient to z {tag}"] = _grad_or_zero(zz)
            result[f"gradient to the codebook {tag}"] = _grad_or_zero(cb)
        return result

    return probe


def _soft_inputs(seed: int, tau=None):
    """z (N, D), codebook (K, D), tau, the generator's seed and made-up upstream gradients; sizes change with seed."""
    g = torch.Generator().manual_seed(seed)
    n, d, k = _SOFT_SHAPES[seed % len(_SOFT_SHAPES)]
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    codebook = torch.randn(k, d, generator=g, dtype=torch.float64)
    w_weights = torch.randn(n, k, generator=g, dtype=torch.float64)
    w_read = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z, codebook, float(_TAUS[seed % len(_TAUS)] if tau is None else tau), 1000 + seed, w_weights, w_read


def _gumbel(logits, generator):
    if generator is None:
        return torch.zeros_like(logits)
    return -torch.log(-torch.log(torch.rand(logits.shape, generator=generator, dtype=logits.dtype)))


def _soft_variant(distances="squared", scale="divide", noise="logits", hard_st=True, axis=-1, noise_sign=1.0,
                  hard_from_noise=True, float32_noise=False):
    """A (possibly wrong) soft_quantize, for the named mistakes."""

    def fn(z, codebook, tau, generator=None, hard=False):
        d2 = (z[:, None, :] - codebook[None, :, :]).pow(2).sum(-1)
        d = {"squared": -d2, "positive": d2, "unsquared": -d2.sqrt()}[distances]
        logits = d / tau if scale == "divide" else d * tau
        if generator is not None and float32_noise:
            g = -torch.log(-torch.log(torch.rand(logits.shape, generator=generator))).to(logits.dtype)
        else:
            g = noise_sign * _gumbel(logits, generator)
        if noise == "logits":
            weights = (logits + g).softmax(dim=axis)
        elif noise == "tau":          # (-d^2 + g) / tau: the noise divided by the temperature too
            weights = ((d + g) / tau).softmax(dim=axis)
        else:                         # "after": added to the weights
            weights = logits.softmax(dim=axis) + g
        if hard:
            pick = (weights if hard_from_noise else logits.softmax(dim=axis)).argmax(dim=-1)
            one_hot = F.one_hot(pick, codebook.shape[0]).to(weights.dtype)
            weights = weights + (one_hot - weights).detach() if hard_st else one_hot
        return weights, weights @ codebook

    return fn


@records_result
def check_soft_quantize(student_fn: Callable, seed: int = 0, tau=None, trials: int = 3) -> None:
    """Check ``student_fn(z, codebook, tau, generator=None, hard=False) -> (weights, read_back)``.

    Each trial calls it four ways (soft; Gumbel noise from a generator; Gumbel with ``hard=True``; ``hard=True``
    without noise) and compares the weights, the read-back and their gradients to ``z`` and the codebook with
    :func:`course_lib.quantize.soft_quantize`. ``seed`` changes the sizes, ``tau`` and the noise; ``tau`` fixes the
    temperature in every trial.
    """
    mistakes = {
        "the logits have the wrong sign: a nearer code must get a LARGER weight, so use minus the squared distance.":
            _soft_variant(distances="positive"),
        "the temperature multiplies the logits: a low temperature must make the weights sharper, not flatter.":
            _soft_variant(scale="multiply"),
        "the distances are not squared: the logits are minus the SQUARED distances over tau.":
            _soft_variant(distances="unsquared"),
        "the softmax runs over the wrong axis: each row of weights (one per vector z) must sum to 1 over the K "
        "codes.":
            _soft_variant(axis=0),
        "the Gumbel noise is added after the softmax: add it to the logits, then take the softmax.":
            _soft_variant(noise="after"),
        "the Gumbel noise has the wrong sign: g = -log(-log u).":
            _soft_variant(noise_sign=-1.0),
        "the noise is divided by the temperature too: here it is added to the logits, which already hold 1/tau.":
            _soft_variant(noise="tau"),
        "the noise is drawn in float32: draw u in the dtype of z, so that the same generator gives the same noise.":
            _soft_variant(float32_noise=True),
        "the hard one-hot has no gradient: keep the soft weights' gradient with the straight-through trick.":
            _soft_variant(hard_st=False),
        "the hard sample ignores the noise: take the one-hot of the largest NOISY weight.":
            _soft_variant(hard_from_noise=False),
    }
    name = student_name(student_fn, "soft_quantize")
    check_function(
        _probe_soft(student_fn, name),
        _probe_soft(reference_soft_quantize),
        lambda i: _soft_inputs(seed + i, tau),
        name=name,
        mistakes={hint: _probe_soft(fn) for hint, fn in mistakes.items()},
        atol=1e-6,  # float32 arithmetic inside a correct answer is fine; every named mistake is off by far more
        rtol=1e-4,
        trials=trials,
        success=f"{name}: soft weights, Gumbel samples, the straight-through hard variant and their gradients match.",
    )
